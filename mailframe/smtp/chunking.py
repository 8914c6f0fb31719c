"""CHUNKING (RFC 3030): ``BDAT n [LAST]`` and its n octets, on top of the
SMTP session of :mod:`mailframe.smtp._session`.

BDAT chunks are binary: their octets are cut out of the byte stream before
the session splits it into lines, so a pipelined ``BDAT n`` and the chunk
that follows wait their turn in order like any other command (RFC 3030
§4.2, RFC 2920).  A chunk is answered ``250`` once taken; the ``LAST`` one
is answered with the outcome of the whole message.  DATA after BDAT in one
transaction is ``503`` (RFC 3030 §3), a chunk beyond the size limit is
read and discarded, then refused with ``552`` (RFC 1870).

A session class that offers CHUNKING derives from :class:`ChunkingSession`
and says what to do with a complete message in :meth:`bdat_complete`.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.mail import smtp

from mailframe.smtp._message import Outcome, Transaction
from mailframe.smtp._session import COMMAND_LINE_LIMIT, DeliverySession

__all__ = ["ChunkingSession"]

_log = Logger()
_BDAT_RE = re.compile(rb"^BDAT +(\d{1,12})( +LAST)? *$", re.I)


class _Bdat(bytes):
    """A BDAT command line carrying its chunk (None: too big, discarded)."""

    payload: bytes | None = None


class ChunkingSession(DeliverySession):
    """A :class:`DeliverySession` that also takes BDAT (RFC 3030)."""

    _pre = b""  # bytes of an unfinished command line
    _bdat_line: bytes | None = None  # the BDAT line whose chunk is being read
    _bdat_need = 0  # octets of that chunk still to come
    _bdat_chunks: list[bytes] | None = None  # its octets so far
    _bdat_tx: Transaction | None = None  # the message the chunks build
    _data_queued = False  # a DATA line went through: what follows is its text

    def bdat_complete(self, tx: Transaction, origin: Any, recipients: list[Any]) -> Deferred[Outcome]:
        """Deliver the message of a ``BDAT ... LAST``; its outcome is the reply.

        ``recipients`` are the session's accepted ``(user, factory)`` pairs."""
        raise NotImplementedError

    def do_RSET(self, rest: bytes) -> None:
        self._bdat_tx = None
        DeliverySession.do_RSET(self, rest)

    def do_DATA(self, rest: bytes) -> None:
        self._data_queued = False
        if self._bdat_tx is not None:
            self.sendCode(503, b"5.5.1 DATA after BDAT is not allowed")
            return
        DeliverySession.do_DATA(self, rest)

    def dataReceived(self, data: bytes) -> None:
        """Cut BDAT chunks out of the byte stream before line splitting, so
        a pipelined ``BDAT n`` and its n octets wait in order like any line."""
        buf = self._pre + data
        self._pre = b""
        if self._partial and self._bdat_chunks is None:
            buf, self._partial = self._partial + buf, b""
        pos = 0
        while pos < len(buf) and not self._tr.disconnecting:
            if self._bdat_chunks is not None:
                take = buf[pos : pos + self._bdat_need]
                pos += len(take)
                self._bdat_need -= len(take)
                if self._bdat_chunks is not None and len(take) and not self._discard_chunk():
                    self._bdat_chunks.append(take)
                self.resetTimeout()  # type: ignore[no-untyped-call]
                if self._bdat_need == 0:
                    self._chunk_done()
                continue
            if self.mode == smtp.DATA or self._data_queued:
                DeliverySession.dataReceived(self, buf[pos:])
                return
            end = buf.find(b"\r\n", pos)
            if end < 0:
                rest = buf[pos:]
                if len(rest) > COMMAND_LINE_LIMIT:
                    DeliverySession.dataReceived(self, rest)
                else:
                    self._pre = rest
                return
            line = buf[pos:end]
            pos = end + 2
            m = _BDAT_RE.match(line)
            if m:
                self._bdat_line = line
                self._bdat_need = int(m.group(1))
                self._bdat_chunks = []
                if self._bdat_need == 0:
                    self._chunk_done()
                continue
            if line.strip().upper() == b"DATA":
                self._data_queued = True
            tls_before = self.startedTLS
            DeliverySession.dataReceived(self, line + b"\r\n")
            if self.startedTLS and not tls_before:
                return  # RFC 3207 §4.2: what followed STARTTLS was plaintext

    def _discard_chunk(self) -> bool:
        m = _BDAT_RE.match(self._bdat_line or b"")
        return m is None or int(m.group(1)) > self.max_size

    def _chunk_done(self) -> None:
        line = _Bdat(self._bdat_line or b"")
        line.payload = None if self._discard_chunk() else b"".join(self._bdat_chunks or [])
        self._bdat_chunks = None
        self._bdat_line = None
        self.lineReceived(line)

    def _dispatch(self, line: bytes) -> None:
        if isinstance(line, _Bdat):
            self.resetTimeout()  # type: ignore[no-untyped-call]
            self._do_bdat(line)
            return
        DeliverySession._dispatch(self, line)

    def _do_bdat(self, line: _Bdat) -> None:
        m = _BDAT_RE.match(line)
        assert m is not None
        size, last = int(m.group(1)), bool(m.group(2))
        if self._from is None or not self._to:
            self._bdat_tx = None
            self.sendCode(503, b"5.5.1 Need MAIL and RCPT before BDAT")
            return
        if self._bdat_tx is None:
            self._bdat_tx = Transaction(self.max_size)
        try:
            if line.payload is None:
                raise smtp.SMTPServerError(552, "5.3.4 Message size exceeds fixed maximum message size")
            self._bdat_tx.feed_bulk(line.payload)
        except smtp.SMTPServerError as e:
            self._bdat_tx = None
            self._from = None
            self._to = []
            self.sendCode(e.code, e.resp.encode() if isinstance(e.resp, str) else e.resp)
            return
        if not last:
            self.sendCode(250, b"2.0.0 %d octets received" % size)
            return
        tx, origin, recipients = self._bdat_tx, self._from, self._to
        self._bdat_tx = None
        self._from = None
        self._to = []
        self._busy = True
        d = self.bdat_complete(tx, origin, recipients)
        d.addCallback(lambda o: self.sendCode(o.code, o.line()))
        d.addErrback(lambda f: _log.failure("BDAT message failed", f))
        d.addBoth(lambda _: self._resume())
