"""fetchmail (Debian ``fetchmail``): fetch-and-keep and fetch-and-delete of
an IMAP folder into an mbox through an MDA (no local MTA needed)."""

from __future__ import annotations

import mailbox
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import need, run, seed, server_view
from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok
from tests.support.server import PLUGIN_ROOT


def _mid(message: bytes) -> bytes:
    return message.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]


def _setup(account: Account, home: Path) -> tuple[Path, Path]:
    """An MDA script appending to ``home/box.mbox`` and the mbox path."""
    box = home / "box.mbox"
    mda = home / "mda.sh"
    mda.write_text(
        "#!/bin/sh\n"
        f"{{ echo 'From fetchmail@localhost Thu Jan  1 00:00:00 1970'; cat; echo; }} >> '{box}'\n")
    mda.chmod(0o755)
    return box, mda


def _fetch(account: Account, home: Path, mda: Path, *options: str) -> None:
    binary = need("fetchmail", "fetchmail")
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll {account.host} service {account.port} protocol IMAP auth password\n"
        f"  user \"{account.user}\" password \"{account.password}\" is root here\n"
        f"  folder \"Work\" sslproto '' mda \"{mda}\" {' '.join(options)}\n")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    run([binary, "-f", str(rc), "--nodetach", "-v"], env=env, timeout=60)


def _box_ids(box: Path) -> list[bytes]:
    return [str(m["Message-ID"]).encode() for m in mailbox.mbox(box)]


def test_fetchmail_keep_then_delete(account: Account, tmp_path: Path) -> None:
    need("fetchmail", "fetchmail")
    w1, w2 = M.plain("fm-1"), M.plain("fm-2")
    seed(account, "Work", [(M.MULTIPART, None), (w1, r"(\Seen)"), (w2, None)])
    box, mda = _setup(account, tmp_path)

    # Keep: unseen messages only (fetchmail's default), left on the server and now \Seen.
    _fetch(account, tmp_path, mda, "keep")
    assert _box_ids(box) == [_mid(M.MULTIPART), _mid(w2)]
    got = next(iter(mailbox.mbox(box)))
    text, attachment = got.get_payload()  # type: ignore[str-unpack]
    assert attachment.get_payload(decode=True) == M.ATTACHMENT  # type: ignore[union-attr]
    assert text.get_payload(decode=True) == M.TEXT_PART_BODY[:-2]  # type: ignore[union-attr]
    assert server_view(account, "Work") == {
        _mid(M.MULTIPART): {b"\\Seen"}, _mid(w1): {b"\\Seen"}, _mid(w2): {b"\\Seen"}}

    # New mail arrives; a second keep run fetches just that one.
    w3 = M.plain("fm-3")
    c = connect(account)
    ok(c.append("Work", None, None, w3))
    c.logout()
    _fetch(account, tmp_path, mda, "keep")
    assert _box_ids(box) == [_mid(M.MULTIPART), _mid(w2), _mid(w3)]

    # Fetch-and-delete, all messages: the folder is emptied.
    _fetch(account, tmp_path, mda, "fetchall", "no keep")
    assert sorted(_box_ids(box)[3:]) == sorted([_mid(M.MULTIPART), _mid(w1), _mid(w2), _mid(w3)])
    assert server_view(account, "Work") == {}


def test_fetchmail_into_mailframe_deliver(account: Account, tmp_path: Path,
                                          account_factory: Callable[[], Account]) -> None:
    """fetchmail pulls from one account and hands each message to
    ``mailframe deliver`` (our MDA), which stores it in another user's
    folder in the Maildir the running server serves: an IMAP client of that
    user then reads it."""
    need("fetchmail", "fetchmail")
    target = account_factory()
    w1 = M.plain("fm-relay-1", "relayed body\r\n")
    seed(account, "Work", [(M.MULTIPART, None), (w1, None)])
    mda = tmp_path / "deliver.sh"
    mda.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH='{PLUGIN_ROOT}' exec '{sys.executable}' -m mailframe.smtp.deliver_tool"
        f" --store '{account.server.store}' -u {target.user} -m Fetched --create\n")
    mda.chmod(0o755)
    _fetch(account, tmp_path, mda, "fetchall", "no keep")
    assert server_view(account, "Work") == {}
    got = server_view(target, "Fetched")
    assert got == {_mid(M.MULTIPART): set(), _mid(w1): set()}
    c = connect(target)
    ok(c.select("Fetched"))
    data = ok(c.uid("SEARCH", "BODY", "relayed"))
    assert len(data[0].split()) == 1
    body = ok(c.fetch(data[0].decode(), "(BODY.PEEK[TEXT])"))[0][1]
    assert body == b"relayed body\r\n"
    c.logout()
