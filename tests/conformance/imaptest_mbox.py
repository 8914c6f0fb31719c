"""Turn the message corpus (``tests/data/messages``) into an mbox for
imaptest's stress mode (``mbox=``).

imaptest keys everything it learns about a message on its Message-ID
(``mailbox-state.c``): two different messages with one Message-ID (most of
the corpus reuses RFC 3501's ``<B27397-0100000@Blurdybloop.COM>``) or none
at all look to it like one message whose size and headers changed, an
error that is the corpus's, not the server's.  So each message gets a
Message-ID of its own, made from its file name, and keeps the old one as
``X-Corpus-Message-ID``.

The mbox is the mboxrd flavour imaptest reads (``mailbox-source-mbox.c``):
a ``From `` separator line with a date it can parse, LF line ends (it
reads lines and sends them CRLF), ``>`` before any body line that would
otherwise read as a separator, and a blank line after each message.
Empty messages are left out: imaptest cannot append them.
"""

from __future__ import annotations

import re
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "data" / "messages"
SEPARATOR = b"From imaptest@corpus.mailframe.test Mon Dec  7 04:00:00 2026\n"
_FROM_LINE = re.compile(rb"^>*From ")


def mbox_entry(name: str, raw: bytes) -> bytes:
    """One message as an mbox entry with the unique Message-ID ``<name@corpus.mailframe.test>``."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [SEPARATOR.rstrip(b"\n"), b"Message-ID: <%s@corpus.mailframe.test>" % name.encode()]
    in_header = True
    for line in lines:
        if in_header and line.strip(b"\r") == b"":
            in_header = False
        if in_header and line.lower().startswith(b"message-id:"):
            line = b"X-Corpus-" + line
        if _FROM_LINE.match(line):
            line = b">" + line
        out.append(line)
    return b"\n".join(out) + b"\n\n"


def write_mbox(path: Path, corpus: Path = CORPUS) -> int:
    """Write every non-empty ``*.eml`` of *corpus* to *path*; return how many."""
    count = 0
    with open(path, "wb") as f:
        for eml in sorted(corpus.glob("*.eml")):
            raw = eml.read_bytes()
            if not raw.strip():
                continue
            f.write(mbox_entry(eml.stem, raw))
            count += 1
    return count
