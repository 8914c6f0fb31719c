"""The imaptest runner's parsing and its mbox corpus (the runs themselves
are the tox env ``imaptest``: they need imaptest and take minutes)."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.imaptest_mbox import CORPUS, mbox_entry, write_mbox
from tests.conformance.imaptest_run import (
    Result,
    error_kinds,
    parse_scripted,
    parse_stress,
    qresync_args,
    server_tracebacks,
)

SCRIPTED = """\
*** Test atoms command 3/5 (line 12)
 - failed: Expected tagged reply 'no', got 'BAD Invalid name'
 - Command (tag 5.7): select !#$$&

Error: alice[10]: Keyword used without being in FLAGS: $kw: * 5 FETCH (FLAGS ($kw))
*** Test select command 3/9 (line 7)
 - failed: Missing 1 untagged replies (4 mismatches)
 - Command: examine $mailbox

71 test groups: 2 failed, 1 skipped due to missing capabilities
base protocol: 2/455 individual commands failed
extensions: 0/137 individual commands failed
"""

CLEAN = """\
71 test groups: 0 failed, 3 skipped due to missing capabilities
base protocol: 0/455 individual commands failed
extensions: 0/137 individual commands failed
"""


def test_scripted_summary_failures_and_errors() -> None:
    r = Result("scripted", "maildir", Path("out"))
    parse_scripted(r, SCRIPTED)
    assert (r.groups, r.base, r.ext) == ((71, 2, 1), (2, 455), (0, 137))
    assert [f.splitlines()[0] for f in r.failures] == [
        "*** Test atoms command 3/5 (line 12)", "*** Test select command 3/9 (line 7)"]
    assert r.failures[1].endswith("Command: examine $mailbox")
    assert len(r.errors) == 1 and not r.ok


def test_scripted_clean_run_with_skipped_groups_passes() -> None:
    r = Result("scripted", "memory", Path("out"))
    parse_scripted(r, CLEAN)
    assert r.ok and r.groups == (71, 0, 3)


def test_scripted_without_summary_is_a_problem() -> None:
    r = Result("scripted", "maildir", Path("out"))
    parse_scripted(r, "Fatal: connect(127.0.0.1) failed\n")
    assert r.problem and r.errors == ["Fatal: connect(127.0.0.1) failed"] and not r.ok


def test_stress_errors_grouped_by_kind() -> None:
    r = Result("stress", "maildir", Path("out"))
    parse_stress(r, "Error: alice[3]: Keyword used without being in FLAGS: $Label1: * 2 FETCH (FLAGS ($Label1))\n"
                    "Error: alice[7]: Keyword used without being in FLAGS: $Label4: * 9 FETCH (FLAGS ($Label4))\n"
                    "Error: alice[1]: Unexpected BYE\n"
                    "Totals:\n")
    assert r.problem is None and len(r.errors) == 3 and not r.ok
    kinds = error_kinds(r.errors)
    assert [(k, n) for k, n, _ in kinds] == [
        ("Error: Keyword used without being in FLAGS: $LabelN", 2), ("Error: Unexpected BYE", 1)]
    assert kinds[0][2].startswith("Error: alice[3]:")


# imaptest's panic as a qresync run printed it (mailframe, 10x30, msgs=30).
RESTORED_VIEW_PANIC = (
    "Panic: file array.c: line 10 (array_idx_modifiable_i): assertion failed: "
    "(idx < array->buffer->used / array->element_size)\n"
    "Error: Raw backtrace: #0 t_askpass[0x7f4a95940430] -> #1 backtrace_append[0x7f4a959406a0] -> "
    "#6 fs_wrapper_unlock[0x7f4a9589f231] -> #7 mailbox_state_handle_fetch[0x5650f46ab130] -> "
    "#8 imap_client_handle_untagged[0x5650f46a71e0] -> #9 imap_client_input[0x5650f46a79a0]\n")


def test_stress_names_imaptests_restored_view_panic() -> None:
    r = Result("qresync 10x30s", "maildir", Path("out"))
    parse_stress(r, RESTORED_VIEW_PANIC)
    assert not r.ok and len(r.errors) == 2
    assert r.problem is not None and "restoring a saved view" in r.problem
    other = Result("qresync 10x30s", "maildir", Path("out"))
    parse_stress(other, "Panic: file client.c: line 3 (x): assertion failed: (y)\n")
    assert other.problem == "no Totals (imaptest stopped early?)" and not other.ok


def test_qresync_runs_steer_imaptest_to_50_messages_unless_told() -> None:
    mbox = Path("/w/corpus.mbox")
    assert qresync_args(mbox, 10, 30, 1, 50) == [
        "mbox=/w/corpus.mbox", "clients=10", "secs=30", "seed=1", "qresync", "msgs=50"]
    assert qresync_args(mbox, 10, 30, 1, 0)[-1] == "qresync"


def test_server_traceback_found_in_twistd_log() -> None:
    log = ("2026-12-07T04:38:09+0000 [x#info] authenticated 'alice'\n"
           "2026-12-07T04:38:09+0000 [mailframe.server.protocol#critical] IMAP session failed\n"
           "\tTraceback (most recent call last):\n"
           '\t  File "<string>", line 7, in <module>\n'
           "\tbuiltins.ZeroDivisionError: division by zero\n"
           "\t\n"
           "2026-12-07T04:38:09+0000 [x#info] next\n")
    assert server_tracebacks(log) == [
        "2026-12-07T04:38:09+0000 [mailframe.server.protocol#critical] IMAP session failed"
        " ... builtins.ZeroDivisionError: division by zero"]
    assert server_tracebacks("2026-12-07T04:38:09+0000 [x#info] next\n") == []


def test_mbox_entry_gets_own_message_id_and_escapes_from_lines() -> None:
    raw = b"Message-Id: <same@x>\r\nSubject: s\r\n\r\nFrom here\r\n>From there\r\nMessage-Id: body\r\n"
    entry = mbox_entry("07-name", raw)
    assert entry.split(b"\n") == [
        b"From imaptest@corpus.mailframe.test Mon Dec  7 04:00:00 2026",
        b"Message-ID: <07-name@corpus.mailframe.test>",
        b"X-Corpus-Message-Id: <same@x>",
        b"Subject: s",
        b"",
        b">From here",
        b">>From there",
        b"Message-Id: body",
        b"", b""]


def test_corpus_mbox_has_one_message_id_per_message(tmp_path: Path) -> None:
    count = write_mbox(tmp_path / "c.mbox")
    data = (tmp_path / "c.mbox").read_bytes()
    non_empty = [p for p in CORPUS.glob("*.eml") if p.read_bytes().strip()]
    assert count == len(non_empty) > 40
    assert data.count(b"\nFrom imaptest@") + data.startswith(b"From imaptest@") == count
    ids = [line for line in data.split(b"\n")
           if line.startswith(b"Message-ID: <") and line.endswith(b"@corpus.mailframe.test>")]
    assert len(ids) == len(set(ids)) == count
