"""PREVIEW (RFC 8970): the text rules, computed once per message (a
second FETCH reads nothing), and a real client (IMAPClient) over a real
socket."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from twisted.trial.unittest import TestCase

from mailframe.imap.commands.preview import preview_of
from mailframe.message import parse
from mailframe.message.preview import PREVIEW_MAX, READ_MAX, make_preview, preview_range
from mailframe.store.memory import MemoryAccount, MemoryMailbox, MemoryStore
from tests.support.server import ServerProcess


def preview(raw: bytes) -> str:
    info = parse(raw)
    rng = preview_range(info)
    return make_preview(info, b"" if rng is None else raw[rng[0] : rng[1]])


def test_rules() -> None:
    assert preview(b"Subject: x\r\n\r\n  a\r\n\r\n\tb  c \r\n") == "a b c"
    assert preview(b"Subject: x\r\n\r\n") == ""
    long = b"Subject: x\r\n\r\n" + "\u00e9".encode() * 300 + b"\r\n"
    text = preview(long)
    assert text == "\u00e9" * 128  # 200 characters would be 400 octets: cut to 256
    assert len(text.encode()) <= 256
    assert len(preview(b"Subject: x\r\n\r\n" + b"x" * 1000)) == PREVIEW_MAX
    # a part larger than what is read: base64 cut on a quantum, UTF-8 on a character
    body = ("\u00fc" * (READ_MAX)).encode()
    import base64

    b64 = base64.encodebytes(body).replace(b"\n", b"\r\n")
    raw = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + b64)
    assert preview(raw) == "\u00fc" * 128
    attached = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n"
                b"--b\r\nContent-Type: text/plain\r\n\r\nouter text\r\n--b--\r\n")
    assert preview(attached) == "outer text"


class _Counting(MemoryMailbox):
    reads = 0

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        type(self).reads += 1
        return super().read_range(uid, start, end)


class _Account(MemoryAccount):
    def make_mailbox(self, name: str, uidvalidity: int) -> Any:
        return _Counting(self, name, uidvalidity)


class _Store(MemoryStore):
    def make_account(self, username: str) -> Any:
        return _Account(self, username)


class CacheTests(TestCase):
    async def test_computed_once(self) -> None:
        account = await _Store().account("alice")
        box = await account.mailbox("INBOX")
        uid = await box.append(b"Subject: x\r\n\r\nhello there\r\n")
        [record] = await box.records([uid])
        _Counting.reads = 0
        self.assertEqual(await preview_of(box, uid, record), "hello there")
        self.assertEqual(await preview_of(box, uid, record), "hello there")
        self.assertEqual(_Counting.reads, 1)


def test_imapclient_fetches_preview(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "srv") as proc:
        c = IMAPClient("127.0.0.1", port=proc.imap_port, ssl=False, timeout=10)
        c.login("alice", "secret")
        try:
            assert b"PREVIEW" in c.capabilities()
            c.append("INBOX", b"Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                              b"Gr\xc3\xbc\xc3\x9fe,\r\n  bis morgen.\r\n")
            c.select_folder("INBOX")
            answer: dict[int, Any] = c.fetch([1], ["PREVIEW"])
            assert answer[1][b"PREVIEW"] == "Grüße, bis morgen.".encode()
            lazy: Sequence[Any] = c._imap._simple_command("FETCH", "1", "(PREVIEW (LAZY))")
            assert lazy[0] == "OK"
        finally:
            c.logout()
