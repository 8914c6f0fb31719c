"""curl's imap:// client (Debian ``curl``): LIST, EXAMINE, FETCH by UID and
by section, over plaintext loopback (LOGIN/AUTHENTICATE allowed there)."""

from __future__ import annotations

import re

from tests.interop import messages as M
from tests.interop.cli_support import need, run, seed
from tests.interop.conftest import Account


def _curl(account: Account, path: str, *args: str) -> bytes:
    curl = need("curl", "curl")
    url = f"imap://{account.host}:{account.port}/{path}"
    return run([curl, "-sS", "--max-time", "20", "-u", f"{account.user}:{account.password}",
                *args, url]).stdout


def test_curl_list(account: Account) -> None:
    seed(account, "Work/Reports", [(M.SIMPLE, None)])
    seed(account, "Work", [])
    lines = sorted(_curl(account, "").splitlines())
    assert lines == [
        b'* LIST (\\HasChildren) "/" Work',
        b'* LIST (\\HasNoChildren) "/" INBOX',
        b'* LIST (\\HasNoChildren) "/" Work/Reports',
    ]


def test_curl_examine(account: Account) -> None:
    seed(account, "INBOX", [(M.SIMPLE, r"(\Seen)"), (M.MULTIPART, None), (M.plain("x"), None)])
    out = _curl(account, "INBOX", "-X", "EXAMINE INBOX").splitlines()
    assert b"* 3 EXISTS" in out
    assert any(line.startswith(b"* OK [UNSEEN 2]") for line in out)
    assert any(re.fullmatch(rb"\* OK \[UIDVALIDITY \d+\].*", line) for line in out)
    assert any(line.startswith(b"* OK [UIDNEXT 4]") for line in out)
    assert any(line.startswith(b"* OK [PERMANENTFLAGS ()]") for line in out)


def test_curl_fetch_by_uid_and_section(account: Account) -> None:
    seed(account, "INBOX", [(M.SIMPLE, None), (M.MULTIPART, None), (M.plain("three"), None)])
    # Expunge UID 1 so sequence numbers and UIDs differ: UID 2 is message 1.
    from tests.interop.imaplib_support import connect, ok

    c = connect(account)
    ok(c.select("INBOX"))
    ok(c.store("1", "+FLAGS.SILENT", "\\Deleted"))
    ok(c.expunge())
    c.logout()
    assert _curl(account, "INBOX/;UID=2") == M.MULTIPART
    assert _curl(account, "INBOX/;UID=2;SECTION=HEADER") == M.MULTIPART_HEADER
    assert _curl(account, "INBOX/;UID=2;SECTION=1") == M.TEXT_PART_BODY[:-2]
    assert _curl(account, "INBOX/;UID=2;SECTION=1.MIME") == M.TEXT_PART_MIME
    # A sequence number by MAILINDEX (curl >= 7.62): message 2 is UID 3.
    assert b"Subject: three\r\n" in _curl(account, "INBOX/;MAILINDEX=2")
    # Searching through the URL query.
    assert _curl(account, "INBOX?SUBJECT%20three").strip() == b"* SEARCH 2"


def test_curl_append_and_custom_commands(account: Account, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``curl -T`` APPENDs a file; ``-X`` sends any command on the mailbox
    and prints the untagged answers."""
    message = tmp_path / "upload.eml"
    message.write_bytes(M.MULTIPART)
    _curl(account, "INBOX", "-T", str(message))
    assert _curl(account, "INBOX/;UID=1") == M.MULTIPART
    # curl fetched BODY[] (not PEEK) above, so the message is now Seen.
    out = _curl(account, "INBOX", "-X", "STORE 1 +FLAGS (\\Flagged $Curl)")
    assert out.splitlines() == [b"* 1 FETCH (FLAGS (\\Flagged \\Seen $Curl))"]
    out = _curl(account, "INBOX", "-X", "UID FETCH 1 (FLAGS RFC822.SIZE)")
    assert out.splitlines() == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen $Curl) RFC822.SIZE %d)" % len(M.MULTIPART)]
    out = _curl(account, "", "-X", 'STATUS INBOX (MESSAGES UNSEEN)')
    assert out.splitlines() == [b"* STATUS INBOX (MESSAGES 1 UNSEEN 0)"]
