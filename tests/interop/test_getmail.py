"""getmail6 (Debian ``getmail6``): read messages from two IMAP folders into
a Maildir, remember what it has seen, then fetch-and-delete.

The destination is an external MDA writing into Maildir/new, because
getmail's own Maildir destination refuses to deliver as root (CI runs as
root)."""

from __future__ import annotations

from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import need, run, seed, server_view
from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok


def _getmail(account: Account, home: Path, delete: bool) -> None:
    binary = need("getmail", "getmail6")
    (home / "Maildir").mkdir(exist_ok=True)
    for sub in ("cur", "new", "tmp"):
        (home / "Maildir" / sub).mkdir(exist_ok=True)
    rc = home / "getmailrc"
    rc.write_text(f"""\
[retriever]
type = SimpleIMAPRetriever
server = {account.host}
port = {account.port}
username = {account.user}
password = {account.password}
mailboxes = ("INBOX", "Work")

[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat > $(mktemp -p {home}/Maildir/new msg.XXXXXX)")
allow_root_commands = true

[options]
read_all = false
delete = {"true" if delete else "false"}
verbose = 0
""")
    run([binary, "--rcfile", str(rc), "--getmaildir", str(home)], timeout=60)


def _messages(home: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in (home / "Maildir/new").iterdir())


def test_getmail_reads_keeps_state_and_deletes(account: Account, tmp_path: Path) -> None:
    need("getmail", "getmail6")
    w1 = M.plain("gm-work-1", "from the Work folder\r\n")
    seed(account, "INBOX", [(M.MULTIPART, None), (M.SIMPLE, r"(\Seen)")])
    seed(account, "Work", [(w1, None)])
    _getmail(account, tmp_path, delete=False)
    got = _messages(tmp_path)
    assert len(got) == 3
    # Each message arrives whole; getmail only prepends its trace headers.
    for original in (M.MULTIPART, M.SIMPLE, w1):
        body = original.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n")
        assert sum(g.replace(b"\r\n", b"\n").endswith(body) for g in got) == 1
    assert any(b"Subject: Lunch on Friday" in g for g in got)

    # Nothing new: nothing fetched twice.  New mail: only that one.
    _getmail(account, tmp_path, delete=False)
    assert len(_messages(tmp_path)) == 3
    c = connect(account)
    w2 = M.plain("gm-work-2", "second\r\n")
    ok(c.append("Work", None, None, w2))
    c.logout()
    _getmail(account, tmp_path, delete=False)
    got = _messages(tmp_path)
    assert len(got) == 4 and sum(g.endswith(b"\nsecond\n") or g.endswith(b"second\r\n") for g in got) == 1

    # delete = true: the messages it already has are removed from the server.
    _getmail(account, tmp_path, delete=True)
    assert server_view(account, "Work") == {}
    assert server_view(account, "INBOX") == {}
