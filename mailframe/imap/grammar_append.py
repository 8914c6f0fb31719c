"""The grammar of APPEND and REPLACE.

``append = "APPEND" SP mailbox 1*append-message`` (RFC 3501 §9,
MULTIAPPEND RFC 3502 §6.3.11), with:

- ``append-message = append-opts SP append-data``,
  ``append-opts = [SP flag-list] [SP date-time] *(SP append-ext)``
  (RFC 4466 §2.1; no append-ext is known, so none is taken);
- ``append-data = literal / literal8 / append-data-ext``
  (literal8: RFC 3516 §4.4);
- ``append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"``,
  ``cat-part = text-literal / url``, ``text-literal = "TEXT" SP literal``,
  ``url = "URL" SP astring`` (CATENATE, RFC 4469 §5);
- ``utf8-literal = "UTF8" SP "(" literal8 ")"``,
  ``append-data =/ utf8-literal``, ``cat-part =/ utf8-literal``
  (RFC 6855 §4);

and ``replace = "REPLACE" SP seq-number SP mailbox append-message``,
``uid-replace = "UID" SP replace`` (RFC 8508 §6).
"""

from __future__ import annotations

from mailframe.imap import command as c
from mailframe.imap.command import Replace
from mailframe.imap.grammar_reader import Reader
from mailframe.imap.types import AppendMessage

__all__ = ["parse_append", "parse_replace", "append_message"]


def _utf8_literal(r: Reader) -> bytes:
    """``"UTF8" SP "(" literal8 ")"`` after the word UTF8 (RFC 6855 §4);
    a plain literal is taken too, as RFC 9051 does not tell them apart."""
    r.sp()
    r.open()
    data, _ = r.literal(allow8=True)
    r.close()
    return data


def _catenate(r: Reader) -> tuple[tuple[str, bytes], ...]:
    """``"(" cat-part *(SP cat-part) ")"`` (RFC 4469 §5)."""
    r.open()
    parts: list[tuple[str, bytes]] = []
    while True:
        kind = r.keyword("cat-part")
        if kind == "TEXT":
            r.sp()
            parts.append(("TEXT", r.literal()[0]))
        elif kind == "URL":
            r.sp()
            parts.append(("URL", r.astring("URL")))
        elif kind == "UTF8":
            parts.append(("UTF8", _utf8_literal(r)))
        else:
            r.fail(f"Unknown CATENATE part {kind}")
        if not r.skip(0x20):
            break
    r.close()
    return tuple(parts)


def append_message(r: Reader) -> AppendMessage:
    """``append-opts SP append-data``, after the SP that starts it."""
    flags: frozenset[str] = frozenset()
    when = None
    if r.peek() == 0x28:
        flags = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        when = r.date_time()
        r.sp()
    word = r.peek_word()
    if word == "CATENATE":
        r.keyword()
        r.sp()
        return AppendMessage(b"", flags, when, catenate=_catenate(r))
    if word == "UTF8":
        r.keyword()
        return AppendMessage(_utf8_literal(r), flags, when, utf8=True)
    content, binary = r.literal(allow8=True)
    return AppendMessage(content, flags, when, binary)


def parse_append(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"APPEND" SP mailbox 1*append-message``, each message starting
    with its SP."""
    r.sp()
    mailbox = r.mailbox()
    messages = []
    while r.skip(0x20):
        messages.append(append_message(r))
    if not messages:
        r.fail("APPEND needs a message literal")
    return c.Append(tag, mailbox, tuple(messages))


def parse_replace(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"REPLACE" SP seq-number SP mailbox append-message`` (RFC 8508 §6):
    one message only, MULTIAPPEND or not (§3.1)."""
    r.sp()
    numbers = r.sequence_set()
    if numbers.saved or len(numbers.ranges) != 1 or numbers.ranges[0][0] != numbers.ranges[0][1]:
        r.fail("REPLACE takes one message number")
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    return Replace(tag, numbers, mailbox, append_message(r), uid)
