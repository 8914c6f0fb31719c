"""The cursor the grammar reads a framed command with (RFC 3501 §9 tokens).

:class:`Reader` walks a :class:`mailframe.imap.framing.Frame`: text parts,
and the literal data that follows a text part ending in ``{n}``.  Each
method reads one ABNF token and advances, or raises :class:`ParseError`.
Token runs are matched with single-character-class regexes (linear, no
backtracking); nothing slices the remaining input repeatedly.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import NoReturn

from mailframe import vocabulary
from mailframe.errors import ProtocolError
from mailframe.imap import mutf7
from mailframe.imap._chars import ASTRING_CHARS, ATOM_CHARS, LIST_CHARS, TAG_CHARS
from mailframe.imap.limits import Limits
from mailframe.imap.types import STAR, SequenceSet

__all__ = ["ParseError", "Reader", "SYSTEM_FLAGS", "MONTHS"]


class ParseError(ProtocolError):
    """A malformed command: answered ``BAD`` (RFC 3501 §7.1.3).

    ``tag`` is the command's tag when it could be read, for a tagged BAD.
    A few grammar-level refusals are ``NO`` (an unknown CHARSET:
    ``NO [BADCHARSET]``, RFC 3501 §6.4.4); ``status`` says which.
    """

    def __init__(
        self, text: str, tag: str | None = None, code: str | None = None, status: str = "BAD"
    ) -> None:
        super().__init__(text, code)
        self.tag = tag
        self.status = status
        #: The command name, once read ("" before).
        self.command = ""


def _run(chars: frozenset[int]) -> re.Pattern[bytes]:
    """A regex matching one or more octets of ``chars``."""
    return re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in sorted(chars)) + b"]+")


_ATOM = _run(ATOM_CHARS)
_ASTRING = _run(ASTRING_CHARS)
_TAG = _run(TAG_CHARS)
_LIST = _run(LIST_CHARS)
_DIGITS = re.compile(rb"[0-9]+")
_QUOTED_RUN = re.compile(rb'[^"\\\r\n\x00]+')
_LITERAL = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}")
_DATE_TIME = re.compile(rb'"( [0-9]|[0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"')
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")

MONTHS = {m: i + 1 for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}

#: System flags in their RFC 3501 §2.3.2 spelling, keyed by upper case.
SYSTEM_FLAGS = {f.upper(): f for f in (*vocabulary.SYSTEM_FLAGS, vocabulary.RECENT)}

#: The system flags a client may store (all but \\Recent).
SETTABLE_FLAGS = frozenset(SYSTEM_FLAGS.values()) - {"\\Recent"}

MAX_NUMBER = 0xFFFFFFFF  # number / nz-number (RFC 3501 §9)
MAX_MODSEQ = 0x7FFFFFFFFFFFFFFF  # mod-sequence-value (RFC 7162 §7)


class Reader:
    """Token reader over one frame's parts."""

    def __init__(self, parts: tuple[bytes, ...], limits: Limits, utf8: bool = False, rev2: bool = False) -> None:
        if not parts:
            parts = (b"",)
        self.parts = parts
        self.idx = 0
        self.text = parts[0]
        self.pos = 0
        self.tag: str | None = None
        self.depth = 0
        self.limits = limits
        self.utf8 = utf8  # mailbox names in UTF-8, not modified UTF-7
        self.rev2 = rev2  # the client enabled IMAP4rev2: its grammar (RFC 9051 §9)

    # --- basics -------------------------------------------------------------

    def fail(self, reason: str) -> NoReturn:
        raise ParseError(reason, self.tag)

    def peek(self) -> int:
        """The next octet, or -1 at the end of the current text part."""
        try:
            return self.text[self.pos]
        except IndexError:  # cheaper than a length test on the hot path
            return -1

    def at_end(self) -> bool:
        return self.pos >= len(self.text) and self.idx >= len(self.parts) - 1

    def end(self) -> None:
        """The command must be complete here."""
        if not self.at_end():
            self.fail("Unexpected characters at end of command")

    def sp(self) -> None:
        """``SP``"""
        if not self.skip(0x20):
            self.fail("Expected a space")

    def skip(self, octet: int) -> bool:
        """Consume ``octet`` if it is next."""
        try:
            if self.text[self.pos] == octet:
                self.pos += 1
                return True
        except IndexError:
            pass
        return False

    def expect(self, octet: int, what: str) -> None:
        if not self.skip(octet):
            self.fail(f"Expected {what}")

    def open(self) -> None:
        """``"("``, counting nesting against ``limits.max_depth``."""
        self.expect(0x28, '"("')
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self.fail("Too deeply nested")

    def close(self) -> None:
        self.expect(0x29, '")"')
        self.depth -= 1

    def _match(self, pattern: re.Pattern[bytes]) -> bytes:
        m = pattern.match(self.text, self.pos)
        if m is None:
            return b""
        self.pos = m.end()
        return m.group()

    def tag_token(self) -> str:
        raw = self._match(_TAG)
        if not raw:
            self.fail("Missing or invalid tag")
        self.tag = raw.decode("ascii")
        return self.tag

    def atom(self, what: str = "atom") -> str:
        """``atom``, as text."""
        raw = self._match(_ATOM)
        if not raw:
            self.fail(f"Expected {what}")
        return raw.decode("ascii")

    def keyword(self, what: str = "keyword") -> str:
        """An atom compared case-insensitively: upper-cased."""
        return self.atom(what).upper()

    def word(self, word: str) -> None:
        """Exactly the (case-insensitive) atom ``word``."""
        if self.keyword(word) != word:
            self.fail(f"Expected {word}")

    def peek_word(self) -> str:
        """The next atom upper-cased, without consuming it ("" if none)."""
        m = _ATOM.match(self.text, self.pos)
        return m.group().decode("ascii").upper() if m else ""

    # --- numbers ------------------------------------------------------------

    def number(self, limit: int = MAX_NUMBER, what: str = "number") -> int:
        """``number`` (RFC 3501 §9): digits, at most ``limit``."""
        raw = self._match(_DIGITS)
        if not raw:
            self.fail(f"Expected {what}")
        if len(raw) > 20 or int(raw) > limit:
            self.fail(f"{what.capitalize()} too large")
        return int(raw)

    def nz_number(self, limit: int = MAX_NUMBER, what: str = "number") -> int:
        n = self.number(limit, what)
        if n == 0:
            self.fail(f"{what.capitalize()} must not be zero")
        return n

    # --- strings ------------------------------------------------------------

    def quoted(self) -> bytes:
        """``quoted``: only ``\\"`` and ``\\\\`` may be escaped (RFC 3501 §9)."""
        self.expect(0x22, "quoted string")
        out = bytearray()
        text = self.text
        while True:
            out += self._match(_QUOTED_RUN)
            c = self.peek()
            if c == 0x22:
                self.pos += 1
                return bytes(out)
            if c == 0x5C:
                nxt = text[self.pos + 1] if self.pos + 1 < len(text) else -1
                if nxt not in (0x22, 0x5C):
                    self.fail("Invalid escape in quoted string")
                out.append(nxt)
                self.pos += 2
                continue
            if c == -1:
                self.fail("Unterminated quoted string")
            self.fail("Invalid character in quoted string")

    def literal(self, allow8: bool = False) -> tuple[bytes, bool]:
        """``literal`` (or ``literal8`` when ``allow8``): its data, and
        whether it was a literal8 (RFC 3516 §4.4)."""
        m = _LITERAL.match(self.text, self.pos)
        if m is None:
            self.fail("Invalid literal")
        binary = bool(m.group(1))
        if binary and not allow8:
            self.fail("literal8 not allowed here")
        if m.end() != len(self.text) or self.idx + 1 >= len(self.parts):
            self.fail("Missing literal data")
        data = self.parts[self.idx + 1]
        if len(data) != int(m.group(2)):
            self.fail("Literal length mismatch")
        if not binary and b"\x00" in data:
            self.fail("NUL in literal")  # RFC 3501 §4.3: CHAR8 excludes NUL
        self.idx += 2
        self.text = self.parts[self.idx] if self.idx < len(self.parts) else b""
        self.pos = 0
        return data, binary

    def string(self) -> bytes:
        """``string = quoted / literal``"""
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()[0]
        self.fail("Expected string")

    def astring(self, what: str = "string") -> bytes:
        """``astring = 1*ASTRING-CHAR / string``"""
        c = self.peek()
        if c == 0x22 or c == 0x7B:
            return self.string()
        raw = self._match(_ASTRING)
        if not raw:
            self.fail(f"Expected {what}")
        return raw

    def nil(self) -> bool:
        """Consume ``NIL`` if it is next."""
        if self.text[self.pos : self.pos + 3].upper() == b"NIL":
            end = self.pos + 3
            if end >= len(self.text) or self.text[end] not in ATOM_CHARS:
                self.pos = end
                return True
        return False

    def nstring(self) -> bytes | None:
        """``nstring = string / nil``"""
        return None if self.nil() else self.string()

    def text_of(self, data: bytes, what: str) -> str:
        """UTF-8 text of a string (RFC 9051 §4.3: strings are UTF-8)."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"Invalid UTF-8 in {what}")

    # --- IMAP values --------------------------------------------------------

    def mailbox(self) -> str:
        """``mailbox = "INBOX" / astring``, decoded (see :meth:`name_text`);
        INBOX in any case is ``"INBOX"`` (RFC 3501 §5.1)."""
        name = self.name_text(self.astring("mailbox name"), "mailbox name")
        return "INBOX" if name.upper() == "INBOX" else name

    def name_text(self, raw: bytes, what: str) -> str:
        """A mailbox name or pattern as text.

        In IMAP4rev1 names are modified UTF-7 (RFC 3501 §5.1.3), though
        8-bit names are taken as UTF-8.  A name that is not valid modified
        UTF-7 is well-formed IMAP syntax (an astring) naming no mailbox
        that can exist: ``NO``, as Dovecot answers, not ``BAD``.  Once the
        client has enabled UTF8=ACCEPT or IMAP4rev2 (``utf8``), names are
        plain UTF-8 (RFC 6855 §3, RFC 9051 §5.1) and ``&`` is just a
        character.
        """
        if raw.isascii() and not self.utf8:
            try:
                return mutf7.decode(raw)
            except ValueError as exc:
                raise ParseError(
                    f"Mailbox name is not valid mUTF-7: {exc}", self.tag, status="NO"
                ) from exc
        return self.text_of(raw, what)

    def list_mailbox_astring(self) -> str:
        """The LIST reference: a ``mailbox``, decoded but not normalised."""
        return self.name_text(self.astring("mailbox name"), "mailbox name")

    def list_mailbox(self) -> str | None:
        """``list-mailbox = 1*list-char / string`` (wildcards kept); None
        for a pattern that is not valid modified UTF-7: it can match no
        mailbox, so LIST answers nothing for it (as Dovecot does)."""
        c = self.peek()
        if c == 0x22 or c == 0x7B:
            raw = self.string()
        else:
            raw = self._match(_LIST)
            if not raw:
                self.fail("Expected mailbox pattern")
        try:
            return self.name_text(raw, "mailbox pattern")
        except ParseError as exc:
            if exc.status == "NO":
                return None
            raise

    def flag(self) -> str:
        """``flag``: a system flag (canonical spelling), ``\\`` atom
        (flag-extension) or a keyword (case kept).  ``NIL`` is an atom, so
        a keyword like any other (RFC 3501 §9 ``flag-keyword = atom``), as
        Dovecot and imaptest's ``nil`` test take it."""
        if self.skip(0x5C):
            name = "\\" + self.atom("flag")
            return SYSTEM_FLAGS.get(name.upper(), name)
        return self.atom("flag")

    def store_flag(self) -> str:
        """A flag a client may set (STORE, APPEND): a keyword or one of the
        five settable system flags.  ``\\Recent`` is the server's
        (RFC 3501 §2.3.2) and any other ``\\`` name is a flag-extension no
        standard defines, which a server must not then announce (RFC 3501
        §9, ``flag-extension``): both are BAD, as in Dovecot."""
        flag = self.flag()
        if flag.startswith("\\") and (flag not in SETTABLE_FLAGS):
            self.fail(f"Invalid system flag {flag.upper()}")
        return flag

    def flag_list(self) -> frozenset[str]:
        """``flag-list = "(" [flag *(SP flag)] ")"``"""
        self.open()
        flags = []
        if self.peek() != 0x29:
            flags.append(self.store_flag())
            while self.skip(0x20):
                flags.append(self.store_flag())
        self.close()
        return frozenset(flags)

    def date(self) -> date:
        """``date = date-text / DQUOTE date-text DQUOTE`` (RFC 3501 §9)."""
        quoted = self.skip(0x22)
        m = _DATE.match(self.text, self.pos)
        if m is None:
            self.fail("Invalid date")
        month = MONTHS.get(m.group(2).decode("ascii").upper())
        try:
            if month is None:
                raise ValueError
            value = date(int(m.group(3)), month, int(m.group(1)))
        except ValueError:
            self.fail("Invalid date")
        self.pos = m.end()
        if quoted:
            self.expect(0x22, "closing quote of date")
        return value

    def date_time(self) -> datetime:
        """``date-time`` (RFC 3501 §9): ``"dd-Mon-yyyy hh:mm:ss +zzzz"``."""
        m = _DATE_TIME.match(self.text, self.pos)
        if m is None:
            self.fail("Invalid date-time")
        g = m.groups()
        month = MONTHS.get(g[1].decode("ascii").upper())
        try:
            if month is None or int(g[8]) > 59:
                raise ValueError
            offset = timedelta(hours=int(g[7]), minutes=int(g[8]))
            tz = timezone(-offset if g[6] == b"-" else offset)
            value = datetime(int(g[2]), month, int(g[0]), int(g[3]), int(g[4]), int(g[5]), tzinfo=tz)
        except ValueError:
            self.fail("Invalid date-time")
        self.pos = m.end()
        return value

    def sequence_set(self) -> SequenceSet:
        """``sequence-set`` (RFC 3501 §9), or ``$`` (RFC 5182 §2)."""
        if self.skip(0x24):  # "$", RFC 5182 §2
            return SequenceSet((), saved=True)
        ranges = []
        while True:
            lo = self._seq_number()
            hi = self._seq_number() if self.skip(0x3A) else lo
            ranges.append((lo, hi))
            if not self.skip(0x2C):
                break
        return SequenceSet(tuple(ranges))

    def _seq_number(self) -> int:
        """``seq-number = nz-number / "*"``"""
        if self.skip(0x2A):
            return STAR
        if not _DIGITS.match(self.text, self.pos):
            self.fail("Invalid sequence set")
        raw = self._match(_DIGITS)
        if len(raw) > 10 or not 0 < int(raw) <= MAX_NUMBER:
            self.fail("Invalid sequence set")
        return int(raw)

