"""neomutt (Debian ``neomutt``), driven in a pseudo-terminal by ``script``
with pushed key commands: open an IMAP INBOX, find a message by its
(encoded-word) subject, pipe it to a file, flag it and sync the flag back."""

from __future__ import annotations

import os
from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import need, run, seed, server_view
from tests.interop.conftest import Account


def _neomutt(account: Account, home: Path, keys: str) -> bytes:
    """Run neomutt on the account's INBOX with ``keys`` pushed; return what
    it drew on the terminal."""
    neomutt = need("neomutt", "neomutt")
    script = need("script", "bsdutils")
    rc = home / "muttrc"
    rc.write_text(f"""\
set imap_user="{account.user}"
set imap_pass="{account.password}"
set ssl_starttls=no
set ssl_force_tls=no
set folder="imap://{account.host}:{account.port}/"
set spoolfile="+INBOX"
set header_cache=""
set message_cachedir=""
set mail_check=0
set wait_key=no
set sort=date
set charset="utf-8"
set mark_old=no
set confirmappend=no
set delete=yes
""")
    cmd = (f"{neomutt} -n -F {rc} -f imap://{account.host}:{account.port}/INBOX "
           f"-e 'push \"{keys}\"'")
    env = dict(os.environ, TERM="xterm", LC_ALL="C.UTF-8", HOME=str(home))
    return run([script, "-qec", cmd, "/dev/null"], env=env, timeout=20).stdout


def test_neomutt_reads_and_flags(account: Account, tmp_path: Path) -> None:
    need("neomutt", "neomutt")
    seed(account, "INBOX", [(M.SIMPLE, None), (M.MULTIPART, None), (M.plain("filler"), None)])
    out = tmp_path / "piped.eml"
    screen = _neomutt(account, tmp_path, (
        "<limit>~s Grüße<enter>"
        f"<pipe-message>cat > {out}<enter>"
        "<flag-message><sync-mailbox><quit>"))
    # The index showed the decoded sender and subject (RFC 2047).
    assert "Grüße and a file".encode() in screen
    assert "Jürgen".encode() in screen
    # The piped message is the stored one (neomutt writes LF line ends).
    assert out.read_bytes() == M.MULTIPART.replace(b"\r\n", b"\n")
    # The flag set in neomutt reached the server; nothing else changed.
    view = server_view(account, "INBOX")
    assert view[b"<multi-1@example.de>"] == {b"\\Flagged"}
    assert view[b"<simple-1@example.org>"] == set()


def test_neomutt_server_search_save_and_delete(account: Account, tmp_path: Path) -> None:
    """``=b`` makes neomutt search message bodies on the server (UID SEARCH
    BODY); saving to another folder copies the message there and deletes it
    from INBOX when neomutt syncs (UID COPY/MOVE, STORE \\Deleted, EXPUNGE)."""
    need("neomutt", "neomutt")
    keep = M.plain("quarterly figures", "the numbers are in\r\n")
    seed(account, "INBOX", [(M.SIMPLE, None), (keep, None), (M.plain("other"), None)])
    seed(account, "Archive", [])
    out = tmp_path / "found.txt"
    _neomutt(account, tmp_path, (
        "<limit>=b numbers<enter>"
        f"<pipe-message>cat > {out}<enter>"
        "<save-message>=Archive<enter><sync-mailbox><quit>"))
    assert out.read_bytes() == keep.replace(b"\r\n", b"\n")
    inbox = server_view(account, "INBOX")
    assert sorted(inbox) == sorted([b"<simple-1@example.org>", keep_id(M.plain("other"))])
    assert list(server_view(account, "Archive")) == [keep_id(keep)]


def keep_id(message: bytes) -> bytes:
    return message.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]
