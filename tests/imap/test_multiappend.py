"""MULTIAPPEND is all or none (RFC 3502 §6.3.11: "If the server fails to
append any of the messages, none of them are appended"), on memory and
Maildir alike: a batch whose third message is bad stores nothing, and a
session that has the mailbox selected hears no EXISTS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mailframe.records import NewMessage
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.deferreds import result as _result

M1 = b"Subject: one\r\n\r\n1\r\n"
M2 = b"Subject: two\r\n\r\n2\r\n"


def _store(kind: str, tmp_path: Any) -> Any:
    return MemoryStore() if kind == "memory" else MaildirStore(str(tmp_path / "mail"))


def _login(context: Any) -> Any:
    conn = connect(context)
    conn.protocol.dataReceived(b"l LOGIN alice secret\r\ns SELECT INBOX\r\n")
    assert b"s OK" in conn.transport.value()
    conn.transport.clear()
    return conn


def _literal(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


THIRD_BAD = [
    # a zero-length message: refused by the handler, before any is stored
    # (NO as Dovecot answers; BAD before issue 11's fix)
    pytest.param(b" " + _literal(b""), "NO|BAD", id="empty-third"),
    # a malformed date-time on the third: refused by the grammar
    pytest.param(b' "31-Apr-1994 21:52:25 -0800" ' + _literal(b"x\r\n"), "BAD", id="bad-date-third"),
]


@pytest.mark.parametrize("kind", ["memory", "maildir"])
@pytest.mark.parametrize(("third", "status"), THIRD_BAD)
def test_multiappend_with_a_bad_third_stores_none(kind: str, third: bytes, status: str, tmp_path: Any) -> None:
    store = _store(kind, tmp_path)
    context = context_for(store)
    watcher = _login(context)
    writer = _login(context)
    writer.protocol.dataReceived(
        b"a APPEND INBOX " + _literal(M1) + b" " + _literal(M2) + third + b"\r\n"
    )
    out = writer.transport.value()
    assert re.search(rb"^a (%s) " % status.encode(), out, re.M), out
    assert b"EXISTS" not in out
    watcher.protocol.dataReceived(b"n NOOP\r\n")
    heard = watcher.transport.value()
    assert b"n OK" in heard and b"EXISTS" not in heard, heard
    writer.transport.clear()
    writer.protocol.dataReceived(b"t STATUS INBOX (MESSAGES UIDNEXT)\r\n")
    assert b"(MESSAGES 0 UIDNEXT 1)" in writer.transport.value()
    for conn in (watcher, writer):
        conn.protocol.connectionLost(None)
    store.close()


@pytest.mark.parametrize("kind", ["memory", "maildir"])
def test_multiappend_of_three_is_one_exists(kind: str, tmp_path: Any) -> None:
    store = _store(kind, tmp_path)
    context = context_for(store)
    watcher = _login(context)
    writer = _login(context)
    writer.protocol.dataReceived(
        b"a APPEND INBOX " + _literal(M1) + b" " + _literal(M2) + b" " + _literal(M1) + b"\r\n"
    )
    out = writer.transport.value()
    assert b"a OK [APPENDUID " in out and b" 1:3] " in out, out
    watcher.protocol.dataReceived(b"n NOOP\r\n")
    assert watcher.transport.value().count(b"EXISTS") == 1
    assert b"* 3 EXISTS" in watcher.transport.value()
    for conn in (watcher, writer):
        conn.protocol.connectionLost(None)
    store.close()


@pytest.mark.parametrize("kind", ["memory", "maildir"])
def test_append_many_failing_part_way_stores_none(kind: str, tmp_path: Any) -> None:
    """At the seam: a batch whose third item cannot be stored (not bytes)
    fails as a whole and leaves the mailbox as it was."""
    store = _store(kind, tmp_path)
    box = _result(_result(store.account("u")).mailbox("INBOX"))
    before = _result(box.status())
    failures: list[Any] = []
    batch = [NewMessage(M1), NewMessage(M2), NewMessage(object())]  # type: ignore[arg-type]
    box.append_many(batch).addErrback(failures.append)
    assert failures, "the batch should have failed"
    after = _result(box.status())
    assert (after.messages, after.uidnext, after.highestmodseq) == (
        before.messages,
        before.uidnext,
        before.highestmodseq,
    )
    store.close()


