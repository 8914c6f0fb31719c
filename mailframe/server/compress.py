"""The DEFLATE layer of COMPRESS=DEFLATE (RFC 4978).

Raw deflate both ways (no zlib header: window bits -15, RFC 4978 §4 asks
for -8 to -15; RFC 1951).  The layer sits between the IMAP session and the
transport -- under TLS when TLS is on, which gives the order RFC 4978 §3
demands: compress first, then encrypt.

Output is compressed as it is written; zlib emits octets when its buffer
fills, so a large FETCH literal streams out without being held whole.  At
the end of each burst of responses the protocol calls :meth:`flush`
(``Z_SYNC_FLUSH``), so the client can decode everything it was sent
without the server flushing after every response (which costs 4+ octets
and the compressor's look-ahead each time).

Input is inflated in bounded steps (:meth:`inflate` returns at most
``chunk`` octets per call, keeping the rest of the compressed input
pending), so a small "decompression bomb" never expands in memory: the
framer sees the inflated bytes piece by piece and applies its line and
literal limits to them, and the protocol stops inflating while reading is
paused (a long queue of pipelined commands).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["Deflate", "CompressionError", "DEFAULT_LEVEL", "INFLATE_CHUNK"]

#: The compression level Dovecot uses by default (imap_compress_deflate_level).
DEFAULT_LEVEL = 6
#: Most octets one :meth:`Deflate.inflate` call hands to the framer.
INFLATE_CHUNK = 64 * 1024
#: Raw deflate, largest window (RFC 4978 §4).
WBITS = -15


class CompressionError(Exception):
    """The client's compressed stream is corrupt (or went on after its end)."""


@dataclass
class Counters:
    """Octets through the layer, for logs and the bench: ``plain`` is what
    the session wrote / the framer read, ``wire`` what crossed the socket."""

    plain_out: int = 0
    wire_out: int = 0
    wire_in: int = 0
    plain_in: int = 0


class Deflate:
    """One connection's compressor and decompressor."""

    def __init__(self, level: int = DEFAULT_LEVEL, chunk: int = INFLATE_CHUNK) -> None:
        if chunk < 1:
            raise ValueError("chunk must be positive")
        self._out = zlib.compressobj(level, zlib.DEFLATED, WBITS)
        self._in = zlib.decompressobj(WBITS)
        self._pending = b""  # compressed input not inflated yet
        self._full = False  # the last inflate filled its chunk: zlib may hold more output
        self._dirty = False  # written since the last flush
        self.chunk = chunk
        self.counters = Counters()

    # --- output -------------------------------------------------------------

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``; returns what zlib lets out now (often nothing
        until its buffer fills or :meth:`flush` is called)."""
        if not data:
            return b""
        self._dirty = True
        self.counters.plain_out += len(data)
        out = self._out.compress(data)
        self.counters.wire_out += len(out)
        return out

    @property
    def dirty(self) -> bool:
        """Whether something was written since the last flush."""
        return self._dirty

    def flush(self) -> bytes:
        """Everything written so far, decodable by the peer
        (``Z_SYNC_FLUSH``); empty when nothing was written since the last
        flush."""
        if not self._dirty:
            return b""
        self._dirty = False
        out = self._out.flush(zlib.Z_SYNC_FLUSH)
        self.counters.wire_out += len(out)
        return out

    # --- input --------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Queue compressed octets from the peer (inflated by :meth:`inflate`)."""
        self.counters.wire_in += len(data)
        if self._in.eof:
            if data:
                raise CompressionError("Data after the end of the compressed stream")
            return
        self._pending = self._pending + data if self._pending else data

    @property
    def pending(self) -> bool:
        """Compressed input waits to be inflated."""
        return bool(self._pending) or self._full

    def inflate(self) -> bytes:
        """At most :attr:`chunk` inflated octets of the pending input;
        empty when the pending input gives nothing more (yet)."""
        while self._pending or self._full:
            data, self._pending = self._pending, b""
            try:
                out = self._in.decompress(data, self.chunk)
            except zlib.error as e:
                raise CompressionError(f"Invalid compressed data: {e}") from e
            self._pending = self._in.unconsumed_tail
            # A full chunk may leave output inside zlib (the rest of a long
            # match) even with all input consumed: ask again next time.
            self._full = len(out) >= self.chunk
            if self._in.eof and self._in.unused_data:
                raise CompressionError("Data after the end of the compressed stream")
            if out:
                self.counters.plain_in += len(out)
                return out
        return b""
