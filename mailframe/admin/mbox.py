"""Plain mbox files (mboxrd), read and written a message at a time.

Each message starts with a ``From `` line carrying its internal date (UTC,
``asctime`` form); body lines that begin with ``>*From `` get one more
``>`` (mboxrd, so any message round-trips).  Flags travel in the headers
mutt, UW imapd and Dovecot use: ``Status:`` (``R`` = \\Seen, ``O`` = old),
``X-Status:`` (``A`` \\Answered, ``F`` \\Flagged, ``T`` \\Draft, ``D``
\\Deleted), ``X-Keywords:``, ``X-UID:`` and, on the first message,
``X-IMAPbase: <uidvalidity> <uidnext>``.  Reading strips those headers and
gives the message back with CRLF line ends (RFC 5322 §2.1), its flags, UID
and date.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

__all__ = ["MboxMessage", "read_mbox", "count_mbox", "format_message", "resume_point"]

_QUOTED = re.compile(rb"^>*From ")
_OURS = (b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imapbase", b"x-imap")
_XSTATUS = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}


@dataclass
class MboxMessage:
    content: bytes  # CRLF line ends
    flags: frozenset[str]
    internaldate: datetime | None
    uid: int | None
    uidvalidity: int | None = None  # from X-IMAPbase (first message)
    uidnext: int | None = None


def _date_of(from_line: bytes) -> datetime | None:
    parts = from_line.decode("ascii", "replace").split()
    # "From sender Www Mmm dd hh:mm:ss yyyy"
    try:
        return datetime.strptime(" ".join(parts[2:7]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _finish(from_line: bytes, lines: list[bytes]) -> MboxMessage:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()  # the separating blank line
    flags: set[str] = set()
    uid: int | None = None
    validity: int | None = None
    uidnext: int | None = None
    out: list[bytes] = []
    in_header = True
    for line in lines:
        if in_header:
            if line in (b"\n", b"\r\n"):
                in_header = False
            else:
                name, sep, value = line.partition(b":")
                key = name.strip().lower()
                if sep and key in _OURS and not line[:1].isspace():
                    text = value.decode("ascii", "replace").strip()
                    if key == b"status" and "R" in text:
                        flags.add("\\Seen")
                    elif key == b"x-status":
                        flags.update(f for c, f in _XSTATUS.items() if c in text)
                    elif key == b"x-keywords":
                        flags.update(k for k in text.replace(",", " ").split() if k)
                    elif key == b"x-uid" and text.isdigit():
                        uid = int(text)
                    elif key in (b"x-imapbase", b"x-imap"):
                        words = text.split()
                        if words and words[0].isdigit():
                            validity = int(words[0])
                        if len(words) > 1 and words[1].isdigit():
                            uidnext = int(words[1])
                    continue
        elif _QUOTED.match(line) and line.startswith(b">"):
            line = line[1:]
        out.append(line.rstrip(b"\r\n") + b"\r\n")
    return MboxMessage(b"".join(out), frozenset(flags), _date_of(from_line), uid, validity,
                       uidnext)


def read_mbox(f: BinaryIO) -> Iterator[MboxMessage]:
    """The messages of an mbox file, in order (one in memory at a time)."""
    from_line: bytes | None = None
    lines: list[bytes] = []
    for line in f:
        if line.startswith(b"From "):
            if from_line is not None:
                yield _finish(from_line, lines)
            from_line, lines = line, []
        elif from_line is not None:
            lines.append(line)
    if from_line is not None:
        yield _finish(from_line, lines)


def count_mbox(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.startswith(b"From "))


def format_message(content: bytes, flags: frozenset[str], internaldate: datetime | None,
                   uid: int | None, base: tuple[int, int] | None = None) -> bytes:
    """One message as mboxrd bytes (LF line ends), ending in a blank line."""
    when = (internaldate or datetime.now(UTC)).astimezone(UTC)
    head = [b"From MAILER-DAEMON " + when.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n"]
    body = content.replace(b"\r\n", b"\n")
    sep = body.find(b"\n\n")
    header, rest = (body, b"") if sep < 0 else (body[: sep + 1], body[sep + 1 :])
    if header and not header.endswith(b"\n"):
        header += b"\n"
    ours: list[bytes] = []
    if base is not None:
        ours.append(b"X-IMAPbase: %d %d\n" % base)
    ours.append(b"Status: " + (b"RO" if "\\Seen" in flags else b"O") + b"\n")
    xs = "".join(c for c, f in _XSTATUS.items() if f in flags)
    if xs:
        ours.append(b"X-Status: " + xs.encode() + b"\n")
    keywords = sorted(f for f in flags if not f.startswith("\\"))
    if keywords:
        ours.append(b"X-Keywords: " + " ".join(keywords).encode("utf-8") + b"\n")
    if uid is not None:
        ours.append(b"X-UID: %d\n" % uid)
    lines = (header + b"".join(ours) + (rest or b"\n")).split(b"\n")
    quoted = [b">" + ln if _QUOTED.match(ln) else ln for ln in lines]
    data = b"\n".join(quoted)
    if not data.endswith(b"\n"):
        data += b"\n"
    return b"".join(head) + data + b"\n"


def resume_point(path: str) -> tuple[int, int | None]:
    """For an mbox file a previous export left: (offset to truncate to,
    the UID to continue from).  The last message is written again, in
    case it was cut off; (0, None) for a missing or empty file."""
    if not os.path.exists(path):
        return 0, None
    last_start: int | None = None
    last_uid: int | None = None
    pos = 0
    uid_here: int | None = None
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"From "):
                last_start, last_uid, uid_here = pos, None, None
            elif line.lower().startswith(b"x-uid:") and uid_here is None:
                value = line.split(b":", 1)[1].strip()
                if value.isdigit():
                    uid_here = last_uid = int(value)
            pos += len(line)
    if last_start is None:
        return 0, None
    return last_start, last_uid
