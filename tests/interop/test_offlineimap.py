"""offlineimap (Debian ``offlineimap3``): sync to a local Maildir, then a
second sync carrying flag changes and new mail both ways."""

from __future__ import annotations

from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import need, run, seed, server_view
from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok
from tests.interop.maildir_view import deliver, folder_view, remove, set_flags

SEEN, FLAGGED, ANSWERED = b"\\Seen", b"\\Flagged", b"\\Answered"


def _mid(message: bytes) -> bytes:
    return message.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]


def _config(account: Account, home: Path) -> Path:
    cfg = home / "offlineimaprc"
    cfg.write_text(f"""\
[general]
accounts = test
metadata = {home}/meta
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {home}/mail

[Repository remote]
type = IMAP
remotehost = {account.host}
remoteport = {account.port}
remoteuser = {account.user}
remotepass = {account.password}
ssl = no
starttls = no
""")
    return cfg


def _sync(cfg: Path) -> None:
    binary = need("offlineimap", "offlineimap3")
    proc = run([binary, "-c", str(cfg), "-o", "-u", "basic"], timeout=90)
    err = proc.stdout + proc.stderr
    assert b"ERROR" not in err, err.decode(errors="replace")


def test_offlineimap_sync(account: Account, tmp_path: Path) -> None:
    need("offlineimap", "offlineimap3")
    a1, p1 = M.plain("oi-a1"), M.plain("oi-python-1")
    seed(account, "INBOX", [(M.SIMPLE, r"(\Seen)"), (M.MULTIPART, r"(\Flagged)"), (a1, None)])
    seed(account, "Lists/python", [(p1, r"(\Seen \Answered)")])
    cfg = _config(account, tmp_path)
    _sync(cfg)

    inbox, python = tmp_path / "mail/INBOX", tmp_path / "mail/Lists.python"
    assert folder_view(inbox) == {
        _mid(M.SIMPLE): {SEEN}, _mid(M.MULTIPART): {FLAGGED}, _mid(a1): set()}
    assert folder_view(python) == {_mid(p1): {SEEN, ANSWERED}}
    bodies = {p.read_bytes() for sub in ("cur", "new") for p in (inbox / sub).iterdir()}
    assert any(b.endswith(M.MULTIPART_TEXT) or b.endswith(M.MULTIPART_TEXT.replace(b"\r\n", b"\n"))
               for b in bodies)

    # Server side: a flag and a new message; local side: a flag and new mail.
    c = connect(account)
    ok(c.select("INBOX"))
    ok(c.store("3", "+FLAGS.SILENT", r"\Answered"))
    a2 = M.plain("oi-a2-server")
    ok(c.append("INBOX", None, None, a2))
    c.logout()
    set_flags(inbox, _mid(M.MULTIPART), "FS")
    p2 = M.plain("oi-python-2-local")
    deliver(python, "1700000000.oi1.host", p2)

    _sync(cfg)
    want_inbox = {_mid(M.SIMPLE): {SEEN}, _mid(M.MULTIPART): {FLAGGED, SEEN},
                  _mid(a1): {ANSWERED}, _mid(a2): set()}
    want_python = {_mid(p1): {SEEN, ANSWERED}, _mid(p2): set()}
    assert folder_view(inbox) == want_inbox
    assert folder_view(python) == want_python
    assert server_view(account, "INBOX") == want_inbox
    assert server_view(account, "Lists/python") == want_python

    # Deletions both ways: one expunged on the server, one removed locally.
    c = connect(account)
    ok(c.select("INBOX"))
    ok(c.store("1", "+FLAGS.SILENT", r"\Deleted"))  # SIMPLE
    ok(c.expunge())
    c.logout()
    remove(python, _mid(p1))
    _sync(cfg)
    del want_inbox[_mid(M.SIMPLE)]
    del want_python[_mid(p1)]
    assert folder_view(inbox) == want_inbox
    assert folder_view(python) == want_python
    assert server_view(account, "INBOX") == want_inbox
    assert server_view(account, "Lists/python") == want_python


def test_offlineimap_utf8_folder_names(account: Account, tmp_path: Path) -> None:
    """With ``utf8foldernames`` offlineimap decodes modified UTF-7 names
    (RFC 3501 5.1.3) to UTF-8 directories, and encodes new local ones."""
    need("offlineimap", "offlineimap3")
    m1 = M.plain("utf8-1")
    seed(account, "R&AOk-sum&AOk-", [(m1, r"(\Seen)")])  # "Résumé"
    cfg = _config(account, tmp_path)
    cfg.write_text(cfg.read_text().replace("[Account test]\n", "[Account test]\nutf8foldernames = yes\n"))
    _sync(cfg)
    assert folder_view(tmp_path / "mail/Résumé") == {_mid(m1): {SEEN}}
    m2 = M.plain("utf8-2")
    deliver(tmp_path / "mail/Ünïcödé", "1700000002.oi3.host", m2)
    _sync(cfg)
    c = connect(account)
    names = sorted(ok(c.list()))
    c.logout()
    assert b'(\\HasNoChildren) "/" &ANw-n&AO8-c&APY-d&AOk-' in names, names
    assert server_view(account, "&ANw-n&AO8-c&APY-d&AOk-") == {_mid(m2): set()}
