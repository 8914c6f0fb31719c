"""Splitting the client's byte stream into commands (RFC 3501 §2.2, §4.3).

Sans-IO: :meth:`Framer.feed` takes whatever bytes arrived and returns
events.  A command is one line, or several lines joined by literals:

- ``{n}`` synchronizing literal (RFC 3501 §4.3): the server must answer a
  continuation request before the client sends the ``n`` octets, so the
  framer emits :class:`ContinuationRequest` — or refuses an oversized one
  *before* its bytes are sent (``NO [TOOBIG]``), and the client drops the
  command; the connection stays in step;
- ``{n+}`` non-synchronizing literal (RFC 7888 LITERAL+ / LITERAL-): the
  octets follow at once.  An oversized one no longer than ``max_line`` is
  read and thrown away, with the rest of its command, before the error is
  emitted (the stream stays in step); a longer one is answered at once with
  ``BAD [TOOBIG]`` and the connection is closed (RFC 7888 §4 allows either;
  reading gigabytes to stay in step is no option) — a :class:`FrameError`
  with ``close`` set;
- ``~{n}`` / ``~{n+}`` literal8 (RFC 3516 §4.4): framed the same way; the
  grammar sees the ``~``.

How big a literal may be depends on the command: APPEND's message literals
up to ``max_literal``; any other command's literals count, with its lines,
against ``max_line`` (Dovecot counts them against
``imap_max_line_length`` the same way), so a LOGIN or SELECT argument can
never make the server wait for gigabytes.  Before login the adapter gives
the framer :meth:`Limits.preauth` limits and sets :attr:`Framer.hold`, so an
unauthenticated client can make the server buffer one command of at most
``max_line`` octets, with literals of a few kilobytes.
Literal lengths may have leading zeros; a length of any size is compared
without converting more than 20 significant digits.

Lines end in CRLF; a bare LF is accepted too (as Dovecot does).  The framer
knows nothing of IDLE or AUTHENTICATE: their continuation lines come out as
one-part frames for the session to interpret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailframe.imap._chars import read_tag
from mailframe.imap.limits import DEFAULT_LIMITS, Limits

__all__ = ["Frame", "ContinuationRequest", "FrameError", "Event", "Framer", "literal_marker",
           "LiteralSink", "SpooledFrame"]


@dataclass(frozen=True)
class Frame:
    """One complete client command: its lines and literals, in order.

    ``parts[0]`` is the first line (no CRLF); then, alternately, literal data
    and the text of the following line.  ``b'a LOGIN {3}\\r\\nfoo {3}\\r\\nbar\\r\\n'``
    gives ``(b'a LOGIN {3}', b'foo', b' {3}', b'bar', b'')``.
    """

    parts: tuple[bytes, ...]


@dataclass(frozen=True)
class ContinuationRequest:
    """A synchronizing literal was accepted: the adapter now writes
    ``+ Ready for literal data`` (RFC 3501 §7.5)."""


@dataclass(frozen=True)
class FrameError:
    """The command could not be framed; the adapter answers
    ``<tag or *> <status> [<code>] <text>``.  The framer has already
    re-synchronised on the next command."""

    tag: str | None
    status: str
    text: str
    code: str | None = None
    #: The stream cannot be re-synchronised cheaply (a non-synchronizing
    #: literal far over the limit is on its way): after this answer the
    #: adapter says BYE and closes the connection (RFC 7888 §4).
    close: bool = False


class LiteralSink(Protocol):
    """Where :class:`Framer` puts the octets of a large APPEND literal
    instead of its own memory (:attr:`Framer.spool`): the adapter's
    temporary file, filled off the reactor."""

    def write(self, data: bytes) -> None:
        """The next octets of the literal, in order."""

    def discard(self) -> None:
        """The command was abandoned: forget the octets."""


@dataclass(frozen=True)
class SpooledFrame:
    """A complete command some of whose literals went to a
    :class:`LiteralSink`: ``parts`` as in :class:`Frame`, with the sink in
    place of each such literal's bytes.  The adapter turns it into a
    :class:`Frame` once it has the octets back, in command order."""

    parts: tuple[bytes | LiteralSink, ...]


Event = Frame | ContinuationRequest | FrameError | SpooledFrame

# More significant digits than this in a literal length is absurd (beyond
# 2^64): treat it as too big without converting (int() of a huge digit
# string is slow, and refused past 4300 digits).
_MAX_LENGTH_DIGITS = 20
_HUGE = 1 << 80
# Octets kept from the end of an over-long line: enough to see a marker.
_TAIL = 64


def literal_marker(line: bytes) -> tuple[int, bool, bool] | None:
    """``(length, non_sync, literal8)`` when ``line`` ends in a literal
    marker ``[~]{n[+]}`` (RFC 3501 §9 ``literal``, RFC 7888, RFC 3516),
    else None.  ``n`` may have leading zeros (``number = 1*DIGIT``); a
    length beyond 20 significant digits comes out as a huge number."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        return None
    digits = line[start + 1 : -1]
    non_sync = digits.endswith(b"+")
    if non_sync:
        digits = digits[:-1]
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    significant = digits.lstrip(b"0")
    length = int(significant or b"0") if len(significant) <= _MAX_LENGTH_DIGITS else _HUGE
    literal8 = start > 0 and line[start - 1] == 0x7E  # "~"
    return length, non_sync, literal8


def _is_append(line: bytes) -> bool:
    """Whether a command's first line is an APPEND (whose literals are
    messages, bounded by ``max_literal``, not by the line limit)."""
    words = line.split(b" ", 3)
    if len(words) > 2 and words[1].upper() == b"UID":
        return words[2].upper() == b"REPLACE"  # RFC 8508
    return len(words) > 1 and words[1].upper() in (b"APPEND", b"REPLACE")


class Framer:
    """Bytes in, :data:`Event` list out.  One per connection."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        #: May be replaced between commands (the adapter does at login).
        self.limits = limits
        #: Stop after each complete command: :meth:`feed` returns at most one
        #: :class:`Frame` and keeps the octets after it buffered until the
        #: next ``feed`` (``feed(b"")`` to go on).  Used before login, so one
        #: command is framed under the limits that hold when it runs.
        self.hold = False
        #: ``spool(length)`` gives the sink for an APPEND literal of at
        #: least :attr:`spool_min` octets (None: every literal is kept in
        #: memory here); the command then comes out as a SpooledFrame.
        self.spool: Callable[[int], LiteralSink] | None = None
        self.spool_min = 1 << 20
        self.closed = False  # after a FrameError with close set: input ignored
        self._buf = bytearray()
        self._pos = 0  # first unconsumed octet of _buf
        self._scan = 0  # where to resume looking for LF
        self._sink: LiteralSink | None = None  # the literal being read goes here
        self._parts: list[bytes | LiteralSink] = []
        self._reset_command()
        self._skip_line = False  # inside an over-long line: dropping octets up to LF
        self._skip_tail = b""  # its last octets, to see a literal marker at its end

    def _reset_command(self) -> None:
        abandoned = [p for p in self._parts if not isinstance(p, bytes)]
        if self._sink is not None:
            abandoned.append(self._sink)
        for sink in abandoned:  # an abandoned command's spooled literals
            sink.discard()
        self._sink = None
        self._parts = []
        self._tag: str | None = None
        self._size = 0  # octets of the command so far
        self._literal_left = 0
        self._literal = bytearray()  # one buffer: a trickle of tiny reads costs no per-read objects
        self._discarding = False  # dropping the rest of a refused command
        self._append = False  # the command is an APPEND
        self._pending: FrameError | None = None

    def discard_buffered(self) -> None:
        """Forget every buffered octet and any partial command (after
        STARTTLS, plaintext that followed the command must be ignored:
        RFC 3501 §6.2.1, RFC 2595 §3.1).

        Events already returned by :meth:`feed` are not recalled: a caller
        that gets ``[Frame(STARTTLS), Frame(...)]`` from one ``feed`` must
        drop the events after the STARTTLS frame itself."""
        self._buf = bytearray()
        self._pos = self._scan = 0
        self._skip_line = False
        self._skip_tail = b""
        self._reset_command()

    def feed(self, data: bytes) -> list[Event]:
        """Take newly received octets; return the events they complete."""
        if self.closed:
            return []
        buf = self._buf
        sink = self._sink
        if sink is not None and self._pos == len(buf) and data and not self._discarding:
            # A spooled literal with nothing buffered before it: its octets
            # go to the sink as received, never copied into the buffer.
            take = min(len(data), self._literal_left)
            sink.write(data if take == len(data) else data[:take])
            self._literal_left -= take
            data = data[take:]
            if not self._literal_left:
                self._end_spooled_literal()
        buf += data
        events: list[Event] = []
        while True:
            if self.closed:
                self._buf = bytearray()
                self._pos = self._scan = 0
                return events
            if self.hold and events and isinstance(events[-1], Frame | SpooledFrame):
                break
            if self._literal_left:
                if not self._take_literal():
                    break
                continue
            nl = buf.find(b"\n", self._scan)
            if nl < 0:
                self._scan = len(buf)
                if len(buf) - self._pos > self.limits.max_line + 1:
                    # Too long already: answer now, drop octets up to the LF.
                    if not self._skip_line:
                        self._skip_line = True
                        if not self._discarding:
                            if not self._parts:
                                head = bytes(buf[self._pos : self._pos + 1024])
                                self._tag = read_tag(head) if b" " in head else None
                            events.append(self._error("BAD", "Command line too long"))
                            self._discarding = True  # answered: drop the rest silently
                    tail = bytes(buf[max(self._pos, len(buf) - _TAIL) :])
                    self._skip_tail = (self._skip_tail + tail)[-_TAIL:]
                    self._pos = self._scan = len(buf)
                break
            line = bytes(buf[self._pos : nl])
            self._pos = self._scan = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._skip_line:
                # The end of an over-long line: only its literal marker matters.
                line = self._skip_tail + line
                self._skip_line = False
                self._skip_tail = b""
            self._line(line, events)
        if self._pos:
            del buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        return events

    def _take_literal(self) -> bool:
        """Consume literal octets; False when the buffer is exhausted."""
        avail = len(self._buf) - self._pos
        if not avail:
            return False
        take = min(avail, self._literal_left)
        start = self._pos
        self._pos = self._scan = start + take
        self._literal_left -= take
        if self._discarding:
            return True
        if self._sink is not None:
            with memoryview(self._buf) as view:
                self._sink.write(bytes(view[start : start + take]))
            if not self._literal_left:
                self._end_spooled_literal()
            return True
        if not self._literal_left and not self._literal:
            # The whole literal arrived in one read: a single copy.
            with memoryview(self._buf) as view:
                self._parts.append(bytes(view[start : start + take]))
            return True
        with memoryview(self._buf) as view:  # released before _buf is resized
            self._literal += view[start : start + take]
        if not self._literal_left:
            self._parts.append(bytes(self._literal))
            self._literal = bytearray()
        return True

    def _end_spooled_literal(self) -> None:
        assert self._sink is not None
        self._parts.append(self._sink)
        self._sink = None

    def _error(self, status: str, text: str, code: str | None = None) -> FrameError:
        """A FrameError for the current command, which is abandoned."""
        err = FrameError(self._tag, status, text, code)
        self._reset_command()
        return err

    def _line(self, line: bytes, events: list[Event]) -> None:
        """One complete line of the current command."""
        limits = self.limits
        if not self._discarding:
            if not self._parts:
                self._tag = read_tag(line)
                self._append = _is_append(line)
            if len(line) > limits.max_line:
                events.append(self._error("BAD", "Command line too long"))
                self._discarding = True  # answered: drop the rest silently
        marker = literal_marker(line)
        if self._discarding:
            if marker is not None and marker[1]:
                # A non-synchronizing literal is on its way: drop it too, or
                # its octets would be read as commands -- unless it is too
                # big to wait for.
                if marker[0] > limits.max_line:
                    self._close(events, "Non-synchronizing literal too big")
                    return
                self._literal_left = marker[0]
            else:
                # End of the refused command (a sync literal will not be
                # sent until we say "+", which we never do).
                if self._pending is not None:
                    events.append(self._pending)
                self._reset_command()
            return
        self._size += len(line) + 2
        if marker is None:
            if self._size > limits.max_command:
                events.append(self._error("BAD", "Command too long"))
                return
            self._parts.append(line)
            parts = tuple(self._parts)
            self._parts = []  # handed on: not discarded by the reset
            plain = [p for p in parts if isinstance(p, bytes)]
            if len(plain) == len(parts):
                events.append(Frame(tuple(plain)))
            else:
                events.append(SpooledFrame(parts))
            self._reset_command()
            return
        length, non_sync, _ = marker
        limit = min(limits.max_literal, limits.max_nonsync_literal) if non_sync else limits.max_literal
        text = ""
        if length > limit or self._size + length > limits.max_command:
            text = "Literal too big"
        elif not self._append and self._size + length > limits.max_line:
            text = f"Literal too big outside APPEND (at most {limits.max_line} octets per command)"
        if text:
            if not non_sync:
                # RFC 3501 §7.5: refusing the continuation makes the client
                # abandon the command; its literal is never sent.
                events.append(self._error("NO", text, "TOOBIG"))
                return
            if length > limits.max_line:
                # RFC 7888 §4: too much to read and drop; answer, then close.
                self._close(events, "Non-synchronizing literal too big")
                return
            # RFC 7888 §4: the octets are on their way; read and drop them.
            self._pending = FrameError(self._tag, "BAD", "Non-synchronizing literal too big", "TOOBIG")
            self._parts = []
            self._discarding = True
            self._literal_left = length
            return
        self._parts.append(line)
        self._size += length
        if not non_sync:
            events.append(ContinuationRequest())
        if length:
            self._literal_left = length
            if self.spool is not None and self._append and length >= self.spool_min:
                self._sink = self.spool(length)
        else:
            self._parts.append(b"")

    def _close(self, events: list[Event], text: str) -> None:
        """Answer the command and give up on the stream (RFC 7888 §4)."""
        err = FrameError(self._tag, "BAD", text, "TOOBIG", close=True)
        if self._pending is not None:
            err = FrameError(self._pending.tag, "BAD", text, "TOOBIG", close=True)
        self._reset_command()
        self.closed = True
        events.append(err)
