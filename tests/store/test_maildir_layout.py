"""Maildir specifics: on-disk names, file formats, other writers, repair."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from twisted.internet import task

from mailframe.errors import InvalidMailboxName
from mailframe.store._maildir_files import flags_from_name, info_for
from mailframe.store._maildir_names import (
    check_name,
    folder_for,
    mutf7_decode,
    mutf7_encode,
    name_for,
)
from mailframe.store.maildir import MaildirStore, from_url
from tests.support.deferreds import result

MSG = b"From: a@example.org\r\nSubject: hi %d\r\n\r\nbody %d\r\n"




@pytest.fixture
def root() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mf-layout-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def inbox(path: str, clock: Any = None) -> Any:
    store = MaildirStore(path, clock=clock)
    return result(result(store.account("u")).mailbox("INBOX"))


# -- names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("INBOX", ""),
        ("Work", ".Work"),
        ("Work/Sub", ".Work.Sub"),
        ("Café", ".Caf&AOk-"),
        ("a&b", ".a&-b"),
        ("v1.2", ".v1\\2e2"),
        ("back\\slash", ".back\\5cslash"),
        ("INBOX/child", ".INBOX.child"),
        ("日本語/x", ".&ZeVnLIqe-.x"),
    ],
)
def test_folder_names_round_trip(name: str, folder: str) -> None:
    assert folder_for(check_name(name)) == folder
    if name != "INBOX":
        assert name_for(folder) == name


@pytest.mark.parametrize(
    "bad",
    ["", "/a", "a/", "a//b", "..", "a/../b", ".", "x\x00y", "tab\there", "del\x7f", "a*", "b%"],
)
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidMailboxName):
        check_name(bad)


def test_internal_entries_are_not_mailboxes() -> None:
    for entry in ("cur", "new", "tmp", "dovecot-uidlist", ".", "..", "..x", ".a..b", ".INBOX"):
        assert name_for(entry) is None, entry


def test_mutf7_matches_rfc3501_example() -> None:
    # RFC 3501 §5.1.3
    name = "~peter/mail/台北/日本語"
    assert mutf7_encode(name) == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == name


def test_flag_letters() -> None:
    kw = ["$Junk", "Work"]
    assert info_for({"\\Seen", "\\Flagged", "Work", "\\Recent"}, kw) == ":2,FSb"
    flags, unknown = flags_from_name("123.host,S=5:2,DFPRSTab,extra", kw)
    assert flags == {
        "\\Draft",
        "\\Flagged",
        "$Forwarded",
        "\\Answered",
        "\\Seen",
        "\\Deleted",
        "$Junk",
        "Work",
    }
    assert unknown == ",extra"
    flags, unknown = flags_from_name("123.host:2,Sz", kw)
    assert flags == {"\\Seen"} and unknown == "z"
    assert info_for({"\\Seen"}, kw, unknown) == ":2,Sz"


# -- files -------------------------------------------------------------


def test_files_are_dovecot_format(root: str) -> None:
    box = inbox(root)
    when = datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
    uid = result(box.append(MSG % (1, 1), frozenset({"\\Seen", "$Junk"}), when))
    assert uid == 1
    maildir = os.path.join(root, "u")
    with open(os.path.join(maildir, "dovecot-uidlist")) as f:
        lines = f.read().splitlines()
    head = lines[0].split()
    assert head[0] == "3" and head[1] == f"V{result(box.status()).uidvalidity}" and head[2].startswith("N")
    assert head[3].startswith("G") and len(head[3]) == 33
    assert lines[1].startswith("1 :") and lines[1].endswith(":2,Sa")
    with open(os.path.join(maildir, "dovecot-keywords")) as f:
        assert f.read() == "0 $Junk\n"
    (name,) = os.listdir(os.path.join(maildir, "cur"))
    assert name == lines[1][3:] and f",S={len(MSG % (1, 1))}:" in name
    assert os.stat(os.path.join(maildir, "cur", name)).st_mtime == when.timestamp()
    assert os.listdir(os.path.join(maildir, "tmp")) == []


def test_subscriptions_file_is_dovecot_v2(root: str) -> None:
    account = result(MaildirStore(root).account("u"))
    result(account.subscribe("Lists/python"))
    result(account.subscribe("Café/Sub"))
    with open(os.path.join(root, "u", "subscriptions")) as f:
        # as Dovecot 2.3 writes it: levels in modified UTF-7, tab-separated
        assert f.read() == "V\t2\n\nCaf&AOk-\tSub\nLists\tpython\n"
    assert result(account.subscriptions()) == {"Lists/python", "Café/Sub"}


def test_per_user_roots(root: str) -> None:
    store = from_url(f"maildir:{root}/mail/%u/Maildir")
    result(store.account("bob"))
    assert os.path.isdir(os.path.join(root, "mail", "bob", "Maildir", "cur"))
    plain = from_url(f"maildir:{root}/plain")
    result(plain.account("carol"))
    assert os.path.isdir(os.path.join(root, "plain", "carol", "new"))
    for bad in ("..", "a/b", "", "x\x00"):
        failure: list[Any] = []
        store.account(bad).addErrback(failure.append)
        assert failure and failure[0].check(InvalidMailboxName), bad


# -- other writers -----------------------------------------------------


def test_mda_delivery_and_foreign_renames_are_noticed(root: str) -> None:
    box = inbox(root)
    result(box.append(MSG % (1, 1), frozenset(), None))
    before = result(box.snapshot())
    maildir = os.path.join(root, "u")
    # an MDA drops a file with LF line ends into new/
    with open(os.path.join(maildir, "tmp", "999.mda.host"), "wb") as f:
        f.write(b"Subject: via mda\n\nhello\n")
    os.rename(
        os.path.join(maildir, "tmp", "999.mda.host"), os.path.join(maildir, "new", "999.mda.host")
    )
    changes = result(box.changes_since(before.highestmodseq))
    assert [s.uid for s in changes.changed] == [2]
    assert result(box.read(2)) == b"Subject: via mda\r\n\r\nhello\r\n"
    (rec,) = result(box.records([2]))
    assert rec.size == len(b"Subject: via mda\r\n\r\nhello\r\n")
    assert os.listdir(os.path.join(maildir, "new")) == []
    # mutt marks it seen and flagged by renaming
    (name,) = [n for n in os.listdir(os.path.join(maildir, "cur")) if n.startswith("999.")]
    os.rename(os.path.join(maildir, "cur", name), os.path.join(maildir, "cur", "999.mda.host:2,FS"))
    mark = result(box.status()).highestmodseq
    changes = result(box.changes_since(mark - 1))
    assert [(s.uid, s.flags) for s in changes.changed] == [(2, frozenset({"\\Seen", "\\Flagged"}))]
    # ... and deletes message 1 behind our back
    (first,) = [n for n in os.listdir(os.path.join(maildir, "cur")) if not n.startswith("999.")]
    os.unlink(os.path.join(maildir, "cur", first))
    changes = result(box.changes_since(mark))
    assert changes.expunged == (1,)
    assert [s.uid for s in result(box.snapshot()).messages] == [2]


def test_second_store_sees_changes_and_shares_modseqs(root: str) -> None:
    one, two = inbox(root), inbox(root)
    u1 = result(one.append(MSG % (1, 1), frozenset(), None))
    u2 = result(two.append(MSG % (2, 2), frozenset(), None))
    assert (u1, u2) == (1, 2)
    result(one.store([2], "add", frozenset({"\\Seen"})))
    s1, s2 = result(one.snapshot()), result(two.snapshot())
    assert s1 == s2
    assert s2.messages[1].flags == {"\\Seen"}


def test_watchers_hear_other_processes_by_polling(root: str) -> None:
    clock = task.Clock()
    box = inbox(root, clock)
    calls: list[int] = []
    box.watch(lambda: calls.append(1))
    other = inbox(root)
    result(other.append(MSG % (1, 1), frozenset(), None))
    assert calls == []
    clock.advance(1.0)
    assert calls, "the poll should have noticed the other store's append"


def test_index_repairs_itself(root: str) -> None:
    box = inbox(root)
    for i in range(5):
        result(box.append(MSG % (i, i), frozenset({"\\Seen"} if i % 2 else ()), None))
    result(box.store([3], "add", frozenset({"\\Deleted"})))
    result(box.expunge())
    good = result(box.snapshot())
    index = os.path.join(root, "u", "mailframe-index")
    for damage in (b"", b"MFIDX1 {not json\n", b"\xff\xfe garbage"):
        with open(index, "wb") as f:
            f.write(damage)
        fresh = inbox(root)
        snap = result(fresh.snapshot())
        assert snap.uidvalidity == good.uidvalidity
        assert [(s.uid, s.flags) for s in snap.messages] == [
            (s.uid, s.flags) for s in good.messages
        ]
        assert snap.highestmodseq > good.highestmodseq  # modseqs never go back
        assert snap.uidnext == good.uidnext
        assert result(fresh.read(5)) == MSG % (4, 4)
    os.unlink(index)
    assert [s.uid for s in result(inbox(root).snapshot()).messages] == [1, 2, 4, 5]


def test_lost_uidlist_means_new_uidvalidity(root: str) -> None:
    box = inbox(root)
    result(box.append(MSG % (1, 1), frozenset(), None))
    old = result(box.status()).uidvalidity
    os.unlink(os.path.join(root, "u", "dovecot-uidlist"))
    fresh = inbox(root)
    snap = result(fresh.snapshot())
    assert snap.uidvalidity != old
    assert len(snap.messages) == 1


def test_stale_lock_of_a_dead_process_is_broken(root: str) -> None:
    box = inbox(root)
    lock = os.path.join(root, "u", "dovecot-uidlist.lock")
    import socket

    with open(lock, "w") as f:
        f.write(f"999999999:{socket.gethostname()}")
    assert result(box.append(MSG % (1, 1), frozenset(), None)) == 1
    assert not os.path.exists(lock)


def test_many_keywords_beyond_26_letters(root: str) -> None:
    box = inbox(root)
    uid = result(box.append(MSG % (1, 1), frozenset(), None))
    words = frozenset(f"kw{i}" for i in range(30))
    result(box.store([uid], "add", words))
    assert result(box.snapshot()).messages[0].flags == words
    fresh = inbox(root)
    assert result(fresh.snapshot()).messages[0].flags == words


def test_reopening_a_quiet_folder_lists_and_opens_nothing(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SELECT of a big mailbox must not list or open every file: once a
    scan has seen the directories quiet, their mtimes go into the index
    and a later open trusts them."""
    box = inbox(root)
    for i in range(20):
        result(box.append(MSG % (i, i), frozenset(), None))
    time.sleep(1.1)  # past the same-second window: the next scan is trusted
    result(box.snapshot())
    listed: list[str] = []
    opened: list[str] = []
    real_listdir, real_open = os.listdir, open

    def listdir(path: Any = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if "/cur/" in str(file) or "/new/" in str(file):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr("builtins.open", spy_open)
    fresh = inbox(root)
    snap = result(fresh.snapshot())
    records = result(fresh.records([s.uid for s in snap.messages]))
    assert len(records) == 20 and records[5].info.header.startswith(b"From:")
    assert not [p for p in listed if p.endswith(("cur", "new"))], listed
    assert opened == []
    # ... yet a message dropped into new/ afterwards is still noticed
    monkeypatch.undo()
    with open(os.path.join(root, "u", "new", "1.drop.host"), "wb") as f:
        f.write(b"Subject: late\r\n\r\nx\r\n")
    assert len(result(fresh.snapshot()).messages) == 21


def test_uids_given_by_dovecot_are_kept_even_in_the_same_mtime_tick(root: str) -> None:
    """Dovecot appends a file and its uidlist record; even if cur/'s mtime
    looks unchanged (same tick), our next APPEND finds it first, keeps its
    UID and takes the one after."""
    box = inbox(root)
    assert result(box.append(MSG % (1, 1), frozenset(), None)) == 1
    maildir = os.path.join(root, "u")
    cur = os.path.join(maildir, "cur")
    st = os.stat(cur)
    with open(os.path.join(cur, "1700000000.M1P2.dovecot,S=20:2,S"), "wb") as f:
        f.write(b"Subject: dovecot\r\n\r\n")
    with open(os.path.join(maildir, "dovecot-uidlist"), "a") as f:
        f.write("2 :1700000000.M1P2.dovecot,S=20:2,S\n")
    os.utime(cur, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert result(box.append(MSG % (3, 3), frozenset(), None)) == 3
    snap = result(box.snapshot())
    assert [(s.uid, s.flags) for s in snap.messages] == [
        (1, frozenset()),
        (2, frozenset({"\\Seen"})),
        (3, frozenset()),
    ]


def test_compaction_keeps_state_and_shrinks_files(root: str) -> None:
    box = inbox(root)
    uids = [result(box.append(MSG % (i, i) * 40, frozenset(), None)) for i in range(30)]
    result(box.store(uids[:25], "add", frozenset({"\\Deleted"})))
    result(box.expunge())
    folder = box.folder
    index = folder.index
    with index.lock:
        folder.scanner.catch_up()
        big = os.path.getsize(index.cache.path)
        index.cache.file_size = lambda: 10**9  # force the cache rewrite
        index.checkpoint()
    assert os.path.getsize(index.cache.path) < big / 2
    fresh = inbox(root)
    snap = result(fresh.snapshot())
    assert [s.uid for s in snap.messages] == uids[25:]
    assert result(fresh.changes_since(0)).expunged == tuple(uids[:25])
    for rec in result(fresh.records(uids[25:])):
        assert rec.info.header.startswith(b"From: a@example.org")
    # the writer that compacted still reads its blobs at their new offsets
    index.infos.clear()
    assert folder.info(uids[-1]).header.startswith(b"From:")
    with open(os.path.join(root, "u", "mailframe-index")) as f:
        lines = f.read().splitlines()
    # one checkpoint line, and the modseq reservation carried over
    assert len(lines) == 2 and lines[1].startswith("R\t"), lines[1:]


def test_uidvalidity_is_reserved_across_processes_like_dovecot(root: str) -> None:
    seen = set()
    for _ in range(5):
        # a new store object each time: no in-process memory of past values
        account = result(MaildirStore(root).account("u"))
        result(account.create_mailbox("Again"))
        seen.add(result(result(account.mailbox("Again")).status()).uidvalidity)
        result(account.delete_mailbox("Again"))
    assert len(seen) == 5
    with open(os.path.join(root, "u", "dovecot-uidvalidity")) as f:
        last = int(f.read(), 16)
    assert last == max(seen)
    assert os.path.exists(os.path.join(root, "u", f"dovecot-uidvalidity.{last:08x}"))


def test_flags_that_could_break_the_files_are_refused(root: str) -> None:
    from mailframe.errors import CannotDo

    box = inbox(root)
    uid = result(box.append(MSG % (1, 1), frozenset({"$a:b/c,d"}), None))
    for bad in ("two words", "tab\there", "new\nline", "", "paren("):
        failures: list[Any] = []
        box.store([uid], "add", frozenset({bad})).addErrback(failures.append)
        assert failures and failures[0].check(CannotDo), bad
    assert result(inbox(root).snapshot()).messages[0].flags == {"$a:b/c,d"}


def test_leftovers_of_a_crash_are_swept(root: str) -> None:
    account = result(MaildirStore(root).account("u"))
    result(account.create_mailbox("Gone"))
    maildir = os.path.join(root, "u")
    os.rename(os.path.join(maildir, ".Gone"), os.path.join(maildir, "..mailframe-deleted.1.0"))
    old = os.path.join(maildir, "tmp", "123.half.written")
    fresh = os.path.join(maildir, "tmp", "124.being.written")
    for path in (old, fresh):
        with open(path, "wb") as f:
            f.write(b"Subject: half")
    os.utime(old, (time.time() - 40 * 3600,) * 2)
    account = result(MaildirStore(root).account("u"))
    assert sorted(os.listdir(os.path.join(maildir, "tmp"))) == ["124.being.written"]
    assert not [e for e in os.listdir(maildir) if e.startswith("..")]
    assert {e.name for e in result(account.list_mailboxes())} == {"INBOX"}


def test_an_empty_lock_is_dovecots_and_is_respected_until_stale(root: str) -> None:
    """Dovecot writes the new uidlist into its (at first empty) lock file:
    a young empty lock is waited for, one older than Dovecot's two-minute
    stale timeout is broken.  Our own lock files always name their owner."""
    from mailframe.store._maildir_files import LockTimeout

    box = inbox(root)
    lock = os.path.join(root, "u", "dovecot-uidlist.lock")
    open(lock, "wb").close()
    box.folder.lock.timeout = 0.2
    failures: list[Any] = []
    box.append(MSG % (1, 1), frozenset(), None).addErrback(failures.append)
    assert failures and failures[0].check(LockTimeout)
    assert os.path.exists(lock)
    os.utime(lock, (time.time() - 200,) * 2)
    assert result(box.append(MSG % (1, 1), frozenset(), None)) == 1
    assert not os.path.exists(lock)
    assert os.listdir(os.path.join(root, "u", "tmp")) == []


def test_mda_file_with_mixed_line_ends_is_served_with_crlf(root: str) -> None:
    """A file another program wrote with some bare LF is seen with CRLF
    throughout, its size counting the octets served (issue 11 defect 13)."""
    box = inbox(root)
    maildir = os.path.join(root, "u")
    with open(os.path.join(maildir, "new", "998.mda.host"), "wb") as f:
        f.write(b"Subject: mixed\r\n\r\nline 1\nline 2\r\n")
    [uid] = [s.uid for s in result(box.snapshot()).messages]
    assert result(box.read(uid)) == b"Subject: mixed\r\n\r\nline 1\r\nline 2\r\n"
    assert result(box.read(uid, 18, 26)) == b"line 1\r\n"
    (rec,) = result(box.records([uid]))
    assert rec.size == rec.info.size == len(b"Subject: mixed\r\n\r\nline 1\r\nline 2\r\n")
