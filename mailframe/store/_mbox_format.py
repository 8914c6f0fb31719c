"""The mbox file format as Dovecot reads and writes it, one message at a time.

Reading (:func:`scan`) accepts mboxo/mboxrd (messages separated by a
``From_`` line after an empty line; body lines are served as stored, as
Dovecot does) and Dovecot's mboxcl2 (a ``Content-Length:`` header, trusted
only when a valid ``From_`` line or the end of the file follows the body).
The headers Dovecot keeps its state in are recognised and never served:

- ``X-IMAPbase: <uidvalidity> <last uid> [keywords...]`` in the first
  message, or ``X-IMAP:`` (same fields) on the "DON'T DELETE THIS MESSAGE
  -- FOLDER INTERNAL DATA" pseudo-message, which is not a message at all;
- ``X-UID:`` (valid only above the previous message's UID and not above
  the last UID), ``Status:`` (``R`` = \\Seen, ``O`` = not \\Recent),
  ``X-Status:`` (``A`` \\Answered, ``F`` \\Flagged, ``T`` \\Draft, ``D``
  \\Deleted), ``X-Keywords:`` (only keywords declared in the base header
  count) and ``Content-Length:``.

A message is served as its other header lines, then its body: the bytes
as delivered.  The scan keeps offsets, not bytes (:class:`Entry`), so a
message is read from the file only when asked for.

Writing (:func:`message_bytes`, :func:`pseudo_message`) follows Dovecot:
the pseudo-message first, then per message the kept header, then ``X-UID``,
``Status``, ``X-Status`` and ``X-Keywords`` (padded with spaces so a later
flag change fits in place) and ``Content-Length``, an empty line, the body
unchanged (no ``>From`` escaping: Content-Length marks the end), and the
separating empty line.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

__all__ = [
    "Entry",
    "Scan",
    "scan",
    "flag_block",
    "message_bytes",
    "pseudo_message",
    "base_line",
    "from_line",
    "PSEUDO_SUBJECT",
    "KEYWORD_PAD",
]

PSEUDO_SUBJECT = b"DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"
#: spaces after X-Keywords / X-IMAP values, room for later changes in place.
KEYWORD_PAD = 50
_XSTATUS = (("A", "\\Answered"), ("F", "\\Flagged"), ("T", "\\Draft"), ("D", "\\Deleted"))
_OURS = {b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imapbase", b"x-imap",
         b"content-length", b"x-mailframe-trim"}
#: "From sender Www Mmm dd hh:mm[:ss] [zone] yyyy" (asctime, as mutt, procmail,
#: Dovecot write it).
_FROM = re.compile(
    rb"^From \S*\s+[A-Za-z]{3} [A-Za-z]{3} [ \d]?\d \d?\d:\d\d(:\d\d)?( [-+A-Za-z0-9]+)? \d{4}\s*$"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def is_from_line(line: bytes) -> bool:
    """A ``From_`` separator line with a date (mbox(5))."""
    return bool(_FROM.match(line))


def date_of(line: bytes) -> datetime:
    """The internal date in a ``From_`` line (UTC; now when unreadable)."""
    parts = line.decode("ascii", "replace").split()
    try:
        clock = parts[5]
        year = parts[-1]
        fmt = "%b %d %H:%M:%S %Y" if clock.count(":") == 2 else "%b %d %H:%M %Y"
        return datetime.strptime(f"{parts[3]} {parts[4]} {clock} {year}", fmt).replace(tzinfo=UTC)
    except (ValueError, IndexError):
        return datetime.now(UTC).replace(microsecond=0)


def from_line(when: datetime, sender: bytes = b"MAILER-DAEMON") -> bytes:
    """``From sender Www Mmm dd hh:mm:ss yyyy`` in UTC (asctime, as Dovecot writes)."""
    t = when.astimezone(UTC)
    stamp = f"{_DAYS[t.weekday()]} {_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S} {t.year}"
    return b"From " + sender + b" " + stamp.encode() + b"\n"


@dataclass
class Entry:
    """One message's place in the file.

    ``start``: its ``From_`` line; ``header``: the first header line;
    ``body``: the first body byte (after the empty line); ``end``: one past
    its last byte (the separating empty line excluded); ``kept``: the
    (offset, length) runs of header lines served to clients, including the
    empty line; ``flagspan``: (offset, length) of our contiguous
    Status/X-Status/X-Keywords lines when present (rewritable in place).
    """

    start: int
    header: int
    body: int
    end: int
    kept: list[tuple[int, int]]
    uid: int  # 0: none valid in the file
    flags: frozenset[str]
    internaldate: datetime
    digest: str
    lf_only: bool = False  # holds bare LFs: served with CRLF (RFC 5322 §2.1)
    extra: int = 0  # bare LFs in the served bytes (each served as CRLF)
    flagspan: tuple[int, int] | None = None
    from_line: bytes = b""
    trim: int = 0  # bytes the file adds at the end (a message without an empty line)

    def with_flags(self, flags: frozenset[str]) -> Entry:
        """A copy holding ``flags`` (several times cheaper than
        ``dataclasses.replace``, which STORE 1:* calls per message)."""
        new = Entry.__new__(Entry)
        new.__dict__.update(self.__dict__)
        new.flags = flags
        return new

    @property
    def raw_size(self) -> int:
        return sum(n for _, n in self.kept) + self.end - self.body

    @property
    def served_size(self) -> int:
        """RFC822.SIZE: the message as served, bare LFs counted as CRLF."""
        return self.raw_size + self.extra - self.trim

    def to_json(self) -> list[object]:
        return [self.start, self.header, self.body, self.end, self.kept, self.uid,
                sorted(self.flags), self.internaldate.timestamp(), self.digest, self.extra,
                list(self.flagspan) if self.flagspan else None, self.from_line.decode("latin-1"),
                self.trim]

    @classmethod
    def from_json(cls, v: list[object]) -> Entry:
        kept = [(int(a), int(b)) for a, b in v[4]]  # type: ignore[attr-defined]
        span = v[10]
        return cls(int(v[0]), int(v[1]), int(v[2]), int(v[3]), kept,  # type: ignore[call-overload]
                   int(v[5]), frozenset(v[6]),  # type: ignore[call-overload]
                   datetime.fromtimestamp(float(v[7]), UTC),  # type: ignore[arg-type]
                   str(v[8]), bool(v[9]), int(v[9]),  # type: ignore[call-overload]
                   (int(span[0]), int(span[1])) if span else None,  # type: ignore[index]
                   str(v[11]).encode("latin-1"), trim=int(v[12]))  # type: ignore[call-overload]


@dataclass
class Scan:
    """What a scan found: the base header and the messages, in file order."""

    uidvalidity: int = 0
    last_uid: int = 0
    keywords: list[str] = field(default_factory=list)
    pseudo: tuple[int, int] | None = None  # (start, end) of the pseudo-message
    base_span: tuple[int, int] | None = None  # the X-IMAP/X-IMAPbase line
    base_in_pseudo: bool = False
    entries: list[Entry] = field(default_factory=list)
    size: int = 0


def _flags_of(status: bytes | None, xstatus: bytes | None, keywords: bytes | None,
              declared: Iterable[str]) -> frozenset[str]:
    flags: set[str] = set()
    if status is not None and b"R" in status:
        flags.add("\\Seen")
    if xstatus is not None:
        text = xstatus.decode("ascii", "replace")
        flags.update(f for c, f in _XSTATUS if c in text)
    if keywords is not None:
        known = set(declared)
        flags.update(k for k in keywords.decode("utf-8", "replace").replace(",", " ").split()
                     if k in known)
    return frozenset(flags)


def parse_flag_block(block: bytes, declared: Iterable[str]) -> frozenset[str] | None:
    """The flags in a Status/X-Status/X-Keywords block read back from its
    recorded place; ``None`` when the bytes there are not that block."""
    lines = block.split(b"\n")
    if len(lines) != 4 or lines[3] != b"":
        return None
    values = []
    for line, name in zip(lines[:3], (b"status", b"x-status", b"x-keywords"), strict=True):
        key, sep, value = line.partition(b":")
        if not sep or key.strip().lower() != name:
            return None
        values.append(value.strip())
    return _flags_of(values[0], values[1], values[2], declared)


def parse_base(value: bytes, result: Scan) -> None:
    words = value.decode("utf-8", "replace").split()
    if len(words) >= 2 and words[0].isdigit() and words[1].isdigit():
        result.uidvalidity = int(words[0])
        result.last_uid = int(words[1])
        result.keywords = words[2:]


def scan(f: BinaryIO, start: int = 0, base: Scan | None = None) -> Scan:
    """Scan the mbox open as ``f`` from offset ``start`` (0, or the offset of
    a ``From_`` line when only a grown tail is read).  ``base`` carries the
    base header already known (for a tail scan).  Reads line by line: one
    line in memory at a time."""
    result = base if base is not None else Scan()
    f.seek(0, 2)
    size = f.tell()
    result.size = size
    f.seek(start)
    pos = start
    line = f.readline()
    # leading garbage before the first From_ line is skipped, as Dovecot does
    while line and not is_from_line(line):
        pos += len(line)
        line = f.readline()
    prev_uid = result.entries[-1].uid if result.entries else 0
    while line:
        msg_start = pos
        fline = line
        pos += len(line)
        header_start = pos
        kept: list[tuple[int, int]] = []
        run_start = pos
        values: dict[bytes, bytes] = {}
        spans: dict[bytes, tuple[int, int]] = {}
        digest = hashlib.sha1()
        extra = 0
        last_key = b""
        while True:
            line = f.readline()
            if not line:
                break
            if line in (b"\n", b"\r\n"):
                extra += line == b"\n"
                pos += len(line)
                break
            if line[:1] in (b" ", b"\t"):
                key = last_key
            else:
                key = line.split(b":", 1)[0].strip().lower() if b":" in line else b""
                last_key = key
            if key in _OURS:
                if pos > run_start:
                    kept.append((run_start, pos - run_start))
                if key not in values:
                    values[key] = line.split(b":", 1)[1].strip() if line[:1] not in b" \t" else b""
                    spans[key] = (pos, len(line))
                pos += len(line)
                run_start = pos
            else:
                digest.update(line.rstrip(b"\r\n"))
                extra += line.endswith(b"\n") and not line.endswith(b"\r\n")
                pos += len(line)
        body = pos
        # the empty line ending the header is served (kept) as part of it
        if body > run_start:
            kept.append((run_start, body - run_start))
        subject_pseudo = False
        if not result.entries and result.pseudo is None and msg_start == 0:
            if b"x-imap" in values:
                subject_pseudo = True
            elif b"x-imapbase" in values:
                parse_base(values[b"x-imapbase"], result)
                result.base_span = spans[b"x-imapbase"]
        if subject_pseudo:
            parse_base(values[b"x-imap"], result)
            result.base_span = spans[b"x-imap"]
            result.base_in_pseudo = True
        # where the body ends: a trusted Content-Length, else the next From_
        end = -1
        length = values.get(b"content-length", b"")
        if length.isdigit():
            candidate = body + int(length)
            if candidate == size or candidate + 1 == size:
                end = candidate
            elif candidate < size:
                f.seek(candidate)
                peek = f.readline()
                if peek in (b"\n", b"\r\n"):
                    following = f.readline()
                    if is_from_line(following):
                        end = candidate
                elif is_from_line(peek):
                    end = candidate
        if end >= 0:
            extra += _bare_lfs(f, body, end)
            f.seek(end)
            pos = end
            line = f.readline()
            if line in (b"\n", b"\r\n"):
                pos += len(line)
                line = f.readline()
            nxt = pos
        else:
            f.seek(body)
            pos = body
            blank_before = False
            blank_len = 0
            while True:
                line = f.readline()
                if not line:
                    break
                if blank_before and is_from_line(line):
                    break
                extra += line.endswith(b"\n") and not line.endswith(b"\r\n")
                blank_before = line in (b"\n", b"\r\n")
                blank_len = len(line)
                pos += len(line)
            nxt = pos
            end = pos - blank_len if blank_before and pos - blank_len >= body else pos
            if end < pos and blank_len == 1:
                extra -= 1  # the separator is not part of the message
        if subject_pseudo:
            result.pseudo = (msg_start, nxt)
        else:
            uid = 0
            text = values.get(b"x-uid", b"")
            if text.isdigit() and prev_uid < int(text) <= result.last_uid:
                uid = int(text)
                prev_uid = uid
            flags = _flags_of(values.get(b"status"), values.get(b"x-status"),
                              values.get(b"x-keywords"), result.keywords)
            span = None
            if all(k in spans for k in (b"status", b"x-status", b"x-keywords")):
                s, xs, kw = spans[b"status"], spans[b"x-status"], spans[b"x-keywords"]
                if s[0] + s[1] == xs[0] and xs[0] + xs[1] == kw[0]:
                    span = (s[0], kw[0] + kw[1] - s[0])
            trim = values.get(b"x-mailframe-trim", b"")
            result.entries.append(Entry(msg_start, header_start, body, end, kept, uid, flags,
                                        date_of(fline), digest.hexdigest(), extra > 0, extra, span,
                                        fline.rstrip(b"\r\n"),
                                        int(trim) if trim.isdigit() and int(trim) <= 4 else 0))
        pos = nxt
        f.seek(pos)
        line = f.readline()
    return result


def _bare_lfs(f: BinaryIO, start: int, end: int) -> int:
    """Bare LFs in ``[start, end)``, read in 1 MiB chunks into one buffer
    (a 2 GB body costs about a second, never its size in memory)."""
    try:
        fd = f.fileno()
    except (OSError, ValueError):  # not a real file: read through ``f``
        fd = -1
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    pos = start
    count = 0
    prev_cr = False
    while pos < end:
        want = min(len(buf), end - pos)
        if fd >= 0:
            n = os.preadv(fd, [view[:want]], pos)
        else:
            f.seek(pos)
            n = f.readinto(view[:want])  # type: ignore[attr-defined]
        if not n:
            break
        lfs = buf.count(b"\n", 0, n)
        if lfs:
            lfs -= buf.count(b"\r\n", 0, n)
            if prev_cr and buf[0] == 0x0A:
                lfs -= 1
        count += lfs
        prev_cr = buf[n - 1] == 0x0D
        pos += n
    return count


def flag_block(flags: Iterable[str], pad_to: int = 0, crlf: bool = False) -> bytes:
    """``Status``, ``X-Status`` and ``X-Keywords`` lines for ``flags``; the
    keyword line padded with spaces to make the block ``pad_to`` bytes (or
    :data:`KEYWORD_PAD` spaces when 0)."""
    flags = frozenset(flags)
    nl = b"\r\n" if crlf else b"\n"
    status = b"Status: " + (b"RO" if "\\Seen" in flags else b"O") + nl
    xs = "".join(c for c, f in _XSTATUS if f in flags).encode()
    xstatus = b"X-Status: " + xs + nl
    kw = " ".join(sorted(f for f in flags if not f.startswith("\\"))).encode("utf-8")
    head = status + xstatus + b"X-Keywords: " + kw
    if pad_to:
        room = pad_to - len(head) - len(nl)
        if room < 0:
            raise ValueError("does not fit")
        return head + b" " * room + nl
    return head + b" " * KEYWORD_PAD + nl


def base_line(name: bytes, uidvalidity: int, last_uid: int, keywords: Iterable[str],
              pad_to: int = 0) -> bytes:
    """``X-IMAP:`` / ``X-IMAPbase:`` with the last UID in 10 digits (so it is
    rewritten in place) and the declared keywords, padded with spaces."""
    head = name + b": %d %010d" % (uidvalidity, last_uid)
    kws = " ".join(keywords).encode("utf-8")
    if kws:
        head += b" " + kws
    if pad_to:
        room = pad_to - len(head) - 1
        if room < 0:
            raise ValueError("does not fit")
        return head + b" " * room + b"\n"
    return head + b" " * KEYWORD_PAD + b"\n"


def pseudo_message(uidvalidity: int, last_uid: int, keywords: Iterable[str]) -> bytes:
    """Dovecot's (and UW imapd's) folder-data pseudo-message."""
    now = datetime.now(UTC).replace(microsecond=0)
    return (
        from_line(now)
        + b"Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()).encode() + b"\n"
        + b"From: Mail System Internal Data <MAILER-DAEMON@localhost>\n"
        + b"Subject: " + PSEUDO_SUBJECT + b"\n"
        + b"Message-ID: <%d@mailframe>\n" % uidvalidity
        + base_line(b"X-IMAP", uidvalidity, last_uid, keywords)
        + b"Status: RO\n\n"
        + b"This text is part of the internal format of your mail folder, and is not\n"
        + b"a real message.  It is created automatically by the mail system software.\n"
        + b"If deleted, important folder data will be lost, and it will be re-created\n"
        + b"with the data reset to initial values.\n\n"
    )


def message_bytes(fline: bytes, header: bytes, body_len: int, uid: int,
                  flags: Iterable[str], trim: int = 0) -> bytes:
    """The file bytes before the body of one message: its ``From_`` line,
    kept ``header`` (ending in its empty line), our headers inserted before
    that empty line.  The caller writes the body and then ``b"\\n"``."""
    crlf = header.endswith(b"\r\n")
    nl = b"\r\n" if crlf else b"\n"
    if header.endswith(b"\r\n"):
        fields, blank = header[:-2], b"\r\n"
    elif header.endswith(b"\n"):
        fields, blank = header[:-1], b"\n"
    else:
        fields, blank = header, nl
    if fields and not fields.endswith(b"\n"):
        fields += nl
    ours = b"X-UID: %d" % uid + nl + flag_block(flags, crlf=crlf) + b"Content-Length: %d" % body_len + nl
    if trim:
        # the message had no empty line ending its header: the one the
        # mbox format needs is not served (mailframe's own header)
        ours += b"X-Mailframe-Trim: %d" % trim + nl
    return fline.rstrip(b"\r\n") + b"\n" + fields + ours + blank


def split_message(content: bytes) -> tuple[bytes, bytes, int]:
    """(header including its empty line, body, trim) of a message as
    delivered; headers Dovecot keeps state in are dropped from the header
    (RFC 5322 §2.1: the header ends at the first empty line).  ``trim``:
    how many bytes at the end of header + body were added because the
    message had no empty line (served without them)."""
    i = 0
    lines: list[bytes] = []
    drop = False
    n = len(content)
    while i < n:
        j = content.find(b"\n", i)
        j = n if j < 0 else j + 1
        line = content[i:j]
        i = j
        if line in (b"\n", b"\r\n"):
            lines.append(line)
            return b"".join(lines), content[i:], 0
        if line[:1] in (b" ", b"\t"):
            if not drop:
                lines.append(line)
            continue
        key = line.split(b":", 1)[0].strip().lower()
        drop = key in _OURS
        if not drop:
            lines.append(line)
    # no empty line: all header, no body
    head = b"".join(lines)
    nl = b"\n" if head.endswith(b"\n") and not head.endswith(b"\r\n") else b"\r\n"
    added = (b"" if head.endswith(b"\n") or not head else nl) + nl
    return head + added, b"", len(added)
