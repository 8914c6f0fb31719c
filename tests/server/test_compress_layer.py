"""The DEFLATE layer (RFC 4978) in-process: bounded inflating, pipelined
commands in one compressed packet held back while reading is paused,
one sync flush per burst of responses, corrupt input."""

from __future__ import annotations

import zlib
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import deferLater
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from mailframe.server.compress import CompressionError, Deflate
from mailframe.server.protocol import IMAPServerProtocol
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import context_for

SYNC = b"\x00\x00\xff\xff"  # the empty stored block a Z_SYNC_FLUSH ends with


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


class DeflateTests(TestCase):
    def test_inflate_is_bounded_by_chunk(self) -> None:
        d = Deflate(chunk=4096)
        bomb = _deflate(b"\0" * (8 << 20))
        self.assertLess(len(bomb), 20_000)
        d.receive(bomb)
        total = 0
        while d.pending:
            out = d.inflate()
            self.assertLessEqual(len(out), 4096)
            if not out:
                break
            total += len(out)
        self.assertEqual(total, 8 << 20)
        self.assertEqual(d.counters.plain_in, 8 << 20)

    def test_output_round_trips_with_one_flush(self) -> None:
        d = Deflate()
        out = b"".join(d.compress(b"* %d EXISTS\r\n" % i) for i in range(1000))
        self.assertTrue(d.dirty)
        out += d.flush()
        self.assertFalse(d.dirty)
        self.assertEqual(d.flush(), b"")  # nothing new: no empty block
        self.assertTrue(out.endswith(SYNC))
        self.assertEqual(out.count(SYNC), 1)
        plain = zlib.decompressobj(-15).decompress(out)
        self.assertEqual(plain, b"".join(b"* %d EXISTS\r\n" % i for i in range(1000)))

    def test_corrupt_input(self) -> None:
        d = Deflate()
        d.receive(b"\xff\xfe garbage")
        with self.assertRaises(CompressionError):
            d.inflate()

    def test_data_after_the_end(self) -> None:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        d = Deflate()
        d.receive(c.compress(b"a NOOP\r\n") + c.flush(zlib.Z_FINISH) + b"more")
        with self.assertRaises(CompressionError):
            d.inflate()


class _Recording(StringTransport):
    """Keeps each write apart, to count flushes."""

    def __init__(self) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(data)
        super().write(data)


class ProtocolTests(TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.transport = _Recording()
        self.proto = IMAPServerProtocol(context_for(self.store))
        self.proto.makeConnection(self.transport)  # type: ignore[no-untyped-call]
        self.addCleanup(self.proto.connectionLost, None)  # type: ignore[arg-type]
        self.inflater: Any = None
        self.deflater: Any = None
        self.text = b""

    async def turn(self, n: int = 3) -> None:
        for _ in range(n):
            await deferLater(reactor, 0.001, lambda: None)

    def read(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        if self.inflater is not None:
            data = self.inflater.decompress(data)
        self.text += data
        return data

    def send(self, data: bytes) -> None:
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.proto.dataReceived(data)

    async def until(self, marker: bytes, turns: int = 5000) -> None:
        for _ in range(turns):
            self.read()
            if marker in self.text:
                return
            await self.turn(1)
        self.fail(f"never saw {marker!r}; got {self.text[-300:]!r}")

    async def compressed_session(self) -> None:
        self.send(b"a1 LOGIN alice secret\r\n")
        await self.until(b"a1 OK")
        self.send(b"a2 COMPRESS DEFLATE\r\n")
        await self.until(b"a2 OK DEFLATE active\r\n")
        self.assertEqual(self.text.split(b"a2 OK DEFLATE active\r\n", 1)[1], b"")
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.text = b""

    async def test_pipelined_flood_is_inflated_as_the_session_keeps_up(self) -> None:
        """A long FETCH (which yields to the reactor between batches) and
        5000 commands behind it in one small compressed packet: frames
        queue up to about max_pending, reading pauses, the rest stays
        compressed until the session catches up; every command is
        answered, in order."""
        await self.compressed_session()
        for i in range(300):
            self.send(b"p%d APPEND INBOX {4+}\r\nx\r\n\r\n" % i)
        await self.until(b"p299 OK")
        self.send(b"s SELECT INBOX\r\n")
        await self.until(b"s OK")
        self.text = b""
        n = 5000
        flood = b"f FETCH 1:* FLAGS\r\n" + b"".join(b"n%d NOOP\r\n" % i for i in range(n))
        deflate = self.proto.deflate
        assert deflate is not None
        deflate.chunk = 1024  # a chunk holds about 100 commands
        self.send(flood)
        bound = self.proto.context.config.limits.max_pending + 1024 // 8
        self.assertLessEqual(len(self.proto.queue), bound)
        self.assertTrue(self.proto.reading_paused)
        self.assertTrue(deflate.pending)
        for _ in range(20000):
            self.assertLessEqual(len(self.proto.queue), bound)
            self.read()
            if b"n%d OK" % (n - 1) in self.text:
                break
            await self.turn(1)
        tags = [line.split(b" ")[0] for line in self.text.split(b"\r\n")
                if line and not line.startswith(b"* ")]
        self.assertEqual(tags, [b"f"] + [b"n%d" % i for i in range(n)])
        self.assertFalse(self.proto.reading_paused)
        self.assertFalse(deflate.pending)

    async def test_one_sync_flush_per_burst(self) -> None:
        """A FETCH answer of 200 responses leaves in few writes and ends in
        one sync flush, not one per response."""
        await self.compressed_session()
        for i in range(200):
            body = b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
            self.send(b"p%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(body), body))
        await self.until(b"p199 OK")
        self.send(b"s SELECT INBOX\r\n")
        await self.until(b"s OK")
        self.transport.writes.clear()
        self.send(b"f FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
        await self.until(b"f OK")
        flushes = sum(1 for w in self.transport.writes if w.endswith(SYNC))
        self.assertEqual(self.text.count(b" FETCH ("), 200)
        self.assertLessEqual(flushes, 2)  # the answer, maybe a batch boundary
        self.assertTrue(self.transport.writes[-1].endswith(SYNC))

    async def test_literal_continuation_is_flushed_at_once(self) -> None:
        await self.compressed_session()
        self.send(b"c APPEND INBOX {5}\r\n")
        self.read()
        self.assertEqual(self.text, b"+ Ready for literal data\r\n")  # no reactor turn needed
        self.send(b"hello\r\n")
        await self.until(b"c OK")

    async def test_pipelined_after_compress_is_dropped(self) -> None:
        """RFC 4978 §3: the client waits for COMPRESS's result; plaintext
        sent behind it is not run (as after STARTTLS)."""
        self.send(b"a1 LOGIN alice secret\r\n")
        await self.until(b"a1 OK")
        self.send(b"a2 COMPRESS DEFLATE\r\na3 CREATE injected\r\n")
        await self.until(b"a2 OK DEFLATE active\r\n")
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.text = b""
        self.send(b"a4 LIST \"\" *\r\n")
        await self.until(b"a4 OK")
        self.assertNotIn(b"injected", self.text)
        self.assertNotIn(b"a3", self.text)

    async def test_corrupt_stream_says_bye(self) -> None:
        await self.compressed_session()
        self.proto.dataReceived(b"\xff\xff\xff\xff")
        self.read()
        self.assertTrue(self.text.startswith(b"* BYE Invalid compressed data"))
        self.assertTrue(self.transport.disconnecting)

    async def test_large_literal_waits_for_the_transport(self) -> None:
        """A 2 MB FETCH literal under COMPRESS streams chunk by chunk: while
        the transport says "pause" (its push producer) the session writes
        no more than the chunk in hand, and after "resume" the rest
        follows; the client inflates exactly the message."""
        await self.compressed_session()
        body = b"".join(b"line %07d of a large message, not very random\r\n" % i for i in range(40000))
        msg = b"Subject: big\r\n\r\n" + body
        self.send(b"p APPEND INBOX {%d+}\r\n%s\r\n" % (len(msg), msg))
        await self.until(b"p OK")
        self.send(b"s SELECT INBOX\r\n")
        await self.until(b"s OK")
        self.text = b""
        self.proto.pauseProducing()  # the transport's buffer is "full"
        self.send(b"f FETCH 1 BODY.PEEK[]\r\n")
        await self.turn(20)
        self.read()
        self.assertLess(len(self.text), 3 * 64 * 1024)  # one chunk or two, not 2 MB
        self.assertTrue(self.proto.drainers)  # the session waits on drain()
        self.proto.resumeProducing()
        for _ in range(500):
            self.read()
            if b"f OK" in self.text:
                break
            self.proto.resumeProducing()  # StringTransport never pauses again
            await self.turn(1)
        head = b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg)
        self.assertTrue(self.text.startswith(head), self.text[:80])
        self.assertEqual(self.text[len(head):len(head) + len(msg)], msg)
        self.assertTrue(self.text.endswith(b")\r\nf OK Fetch completed\r\n"))

    async def test_compressed_input_split_anywhere(self) -> None:
        """The compressed stream cut at arbitrary points (one octet at a
        time, then random sizes) still frames every command, literals
        included."""
        import random

        await self.compressed_session()
        rng = random.Random(4978)
        assert self.deflater is not None
        commands = b"".join(
            b"t%d APPEND INBOX {%d+}\r\n%s\r\nn%d NOOP\r\n" % (i, 10 + i, b"y" * (10 + i), i)
            for i in range(40))
        data = self.deflater.compress(commands) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        pos = 0
        while pos < len(data):
            step = 1 if pos < 200 else rng.randint(1, 50)
            self.proto.dataReceived(data[pos:pos + step])
            pos += step
        await self.until(b"n39 OK")
        for i in range(40):
            self.assertIn(b"t%d OK [APPENDUID " % i, self.text)
            self.assertIn(b"n%d OK NOOP completed" % i, self.text)
