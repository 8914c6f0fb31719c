"""The session over a fake transport: whatever way TCP splits the stream,
the stored body is the data exactly (dot-unstuffed), and replies are the
same.  Hypothesis drives message lines and split points."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport

from mailframe.smtp import Delivery, lmtp_factory, smtp_factory
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users

LINE = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
DOTTY = st.one_of(LINE, LINE.map(lambda b: b"." + b), st.just(b"."), st.just(b".."))


def run_session(stream: bytes, cuts: list[int], lmtp: bool = False) -> tuple[bytes, MemoryStore]:
    store = MemoryStore()
    make = lmtp_factory if lmtp else smtp_factory
    factory = make(Delivery(store, Users("alice", "bob")), ["example.org"], max_size=1 << 20)
    proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 2525))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
    proto.makeConnection(transport)
    pos = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        if cut > pos:
            proto.dataReceived(stream[pos:cut])
            pos = cut
    proto.connectionLost(None)
    return transport.value(), store


def stored(store: MemoryStore, user: str) -> list[bytes]:
    out: list[bytes] = []

    def read(account):  # type: ignore[no-untyped-def]
        def got(box):  # type: ignore[no-untyped-def]
            snap = box.snapshot().result
            for m in snap.messages:
                out.append(box.read(m.uid).result)

        account.mailbox("INBOX").addCallback(got)

    store.account(user).addCallback(read)
    return out


def session_bytes(lines: list[bytes], hello: bytes = b"EHLO c") -> bytes:
    data = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
    return (
        hello + b"\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        b"RCPT TO:<bob@example.org>\r\nDATA\r\n" + data + b".\r\nQUIT\r\n"
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(DOTTY, max_size=40).map(lambda ls: [b"Subject: t"] + ls),
    st.lists(st.integers(min_value=0, max_value=6000), max_size=12),
    st.booleans(),
)
def test_any_split_stores_the_exact_body(lines: list[bytes], cuts: list[int], lmtp: bool) -> None:
    stream = session_bytes(lines, b"LHLO c" if lmtp else b"EHLO c")
    replies, store = run_session(stream, cuts, lmtp)
    expected = b"".join(ln + b"\r\n" for ln in lines)
    for user in ("alice", "bob"):
        [msg] = stored(store, user)
        assert msg.endswith(b"\r\n" + expected)
        assert msg.startswith(b"Return-Path: <s@example.net>\r\nReceived: from c ([192.0.2.1])")
    unsplit, _ = run_session(stream, [], lmtp)
    strip = lambda r: re.sub(rb"[0-9A-F]{12}", b"ID", r)  # noqa: E731
    assert strip(replies) == strip(unsplit)  # the same replies, whatever the split
    assert replies.endswith(b"221 2.0.0 Bye\r\n")


def test_headerless_body_gets_blank_line_after_trace() -> None:
    replies, store = run_session(session_bytes([b"no header here", b"x"]), [40, 80, 95])
    [msg] = stored(store, "alice")
    assert b"; " in msg and msg.endswith(b"\r\n\r\nno header here\r\nx\r\n"), msg


def test_size_limit_in_bulk_path() -> None:
    big = [b"Subject: big"] + [b"y" * 1000] * 1100  # > 1 MiB
    replies, store = run_session(session_bytes(big), list(range(0, 1_200_000, 65536)))
    assert b"552 5.3.4 Message size exceeds fixed maximum message size\r\n" in replies
    assert stored(store, "alice") == []
    assert replies.endswith(b"221 2.0.0 Bye\r\n")


def test_overlong_line_refused_however_split() -> None:
    lines = [b"Subject: l", b"", b"z" * 300_000, b"after"]
    for cuts in ([], [200], list(range(0, 310_000, 65536)), [150_000]):
        replies, store = run_session(session_bytes(lines), cuts)
        assert b"\r\n500 5.5.2 Line too long\r\n221 2.0.0 Bye\r\n" in replies, (
            cuts,
            replies[-200:],
        )
        assert stored(store, "alice") == []


class _Gate:
    """Wraps a store so every append waits until the test opens the gate
    (a store whose disk is slow): the reply must wait too."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pending: list[tuple[Deferred[int], Deferred[Any]]] = []

    def account(self, username: str) -> Deferred[Any]:
        return self.inner.account(username).addCallback(lambda a: _GatedAccount(a, self))


class _GatedAccount:
    def __init__(self, inner: Any, gate: _Gate) -> None:
        self.inner, self.gate = inner, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def mailbox(self, name: str) -> Deferred[Any]:
        return self.inner.mailbox(name).addCallback(lambda b: _GatedBox(b, self.gate))


class _GatedBox:
    def __init__(self, inner: Any, gate: _Gate) -> None:
        self.inner, self.gate = inner, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def append(self, *args: Any) -> Deferred[int]:
        opened: Deferred[Any] = Deferred()
        done: Deferred[int] = opened.addCallback(lambda _: self.inner.append(*args))
        self.gate.pending.append((done, opened))
        return done


def test_reply_waits_until_every_copy_is_stored() -> None:
    for lmtp in (False, True):
        gate = _Gate(MemoryStore())
        make = lmtp_factory if lmtp else smtp_factory
        proto = make(Delivery(gate, Users("alice", "bob")), ["example.org"]).buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
        proto.makeConnection(transport)
        proto.dataReceived(
            session_bytes([b"Subject: slow", b"", b"body"], b"LHLO c" if lmtp else b"EHLO c")
        )
        assert b"354 " in transport.value()
        after_data = transport.value().split(b"354 ", 1)[1]
        assert b"250 2.0.0" not in after_data and b"221" not in after_data  # QUIT waits too
        assert len(gate.pending) == 2
        gate.pending[0][1].callback(None)
        after_data = transport.value().split(b"354 ", 1)[1]
        assert b"250 2.0.0" not in after_data  # one copy is not enough
        gate.pending[1][1].callback(None)
        tail = transport.value().split(b"354 ", 1)[1].split(b"\r\n")[1:]
        expected = 2 if lmtp else 1
        assert [ln[:9] for ln in tail[:expected]] == [b"250 2.0.0"] * expected, tail
        assert tail[expected] == b"221 2.0.0 Bye"
        proto.connectionLost(None)
