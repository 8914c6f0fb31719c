"""FETCH attributes: ``fetch-att``, sections and partials.

RFC 3501 §6.4.5 and §9 (``fetch-att``, ``section``), RFC 3516 §4.2
(BINARY, BINARY.PEEK, BINARY.SIZE with ``section-binary``), RFC 7162 §3.1.4
(MODSEQ).  Macros ALL, FAST and FULL are expanded here (RFC 3501 §6.4.5).
"""

from __future__ import annotations

import re

from mailframe.imap.grammar_reader import MAX_MODSEQ, Reader
from mailframe.imap.types import FetchAtt, Section

__all__ = ["fetch_atts", "fetch_att", "MACROS", "SIMPLE_ATTS"]

_NAME = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TEXT = re.compile(rb"[A-Za-z.]+")

#: Items that take no section (RFC 3501 §9 ``fetch-att``; MODSEQ RFC 7162).
SIMPLE_ATTS = frozenset({
    "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
    "RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ", "SAVEDATE",
    "EMAILID", "THREADID",  # RFC 8474 §5
})

_FAST = (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"))
#: ``"ALL" / "FULL" / "FAST"`` (RFC 3501 §6.4.5)
MACROS = {
    "FAST": _FAST,
    "ALL": _FAST + (FetchAtt("ENVELOPE"),),
    "FULL": _FAST + (FetchAtt("ENVELOPE"), FetchAtt("BODY")),
}

_MSGTEXT = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"})


def fetch_atts(r: Reader) -> tuple[FetchAtt, ...]:
    """``"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``"""
    if r.peek() == 0x28:
        r.open()
        atts = [fetch_att(r)]
        while r.skip(0x20):
            atts.append(fetch_att(r))
        r.close()
        return tuple(atts)
    m = _NAME.match(r.text, r.pos)
    if m is not None:
        macro = MACROS.get(m.group().decode("ascii").upper())
        if macro is not None and (m.end() == len(r.text) or r.text[m.end()] == 0x20):
            r.pos = m.end()
            return macro
    return (fetch_att(r),)


def fetch_att(r: Reader) -> FetchAtt:
    """One ``fetch-att``."""
    m = _NAME.match(r.text, r.pos)
    if m is None:
        r.fail("Expected fetch attribute")
    name = m.group().decode("ascii").upper()
    r.pos = m.end()
    has_section = r.peek() == 0x5B  # "["
    if name == "PREVIEW":  # RFC 8970 §5: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]
        return _preview(r)
    if name in SIMPLE_ATTS and not (name == "BODY" and has_section):
        return FetchAtt(name)
    if name in ("BODY", "BODY.PEEK"):
        if not has_section:
            r.fail("BODY.PEEK needs a section")
        sec = section(r)
        return FetchAtt("BODY[]", sec, peek=name == "BODY.PEEK", partial=partial(r))
    if name in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        if not has_section:
            r.fail(f"{name} needs a section")
        sec = Section(section_part(r))
        if name == "BINARY.SIZE":
            return FetchAtt("BINARY.SIZE", sec)
        return FetchAtt("BINARY[]", sec, peek=name == "BINARY.PEEK", partial=partial(r))
    r.fail(f"Unknown fetch attribute {name}")


def section(r: Reader) -> Section:
    """``section = "[" [section-spec] "]"``;
    ``section-spec = section-msgtext / (section-part ["." section-text])``"""
    r.expect(0x5B, '"["')
    if r.skip(0x5D):
        return Section()
    part: list[int] = []
    text: str | None = None
    fields: tuple[str, ...] = ()
    if r.peek() in range(0x30, 0x3A):
        part.append(r.nz_number(what="section part"))
        while r.skip(0x2E):
            if r.peek() in range(0x30, 0x3A):
                part.append(r.nz_number(what="section part"))
            else:
                text, fields = _section_text(r, allow_mime=True)
                break
    else:
        text, fields = _section_text(r, allow_mime=False)
    r.expect(0x5D, '"]"')
    return Section(tuple(part), text, fields)


def _section_text(r: Reader, allow_mime: bool) -> tuple[str, tuple[str, ...]]:
    """``section-text = section-msgtext / "MIME"``;
    ``section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"``"""
    m = _SECTION_TEXT.match(r.text, r.pos)
    word = m.group().decode("ascii").upper() if m else ""
    if word not in _MSGTEXT and not (allow_mime and word == "MIME"):
        r.fail("Invalid section")
    assert m is not None
    r.pos = m.end()
    if not word.startswith("HEADER.FIELDS"):
        return word, ()
    r.sp()
    return word, header_list(r)


def header_list(r: Reader) -> tuple[str, ...]:
    """``header-list = "(" header-fld-name *(SP header-fld-name) ")"``,
    names upper-cased."""
    r.open()
    names = [_field_name(r)]
    while r.skip(0x20):
        names.append(_field_name(r))
    r.close()
    return tuple(names)


def _field_name(r: Reader) -> str:
    raw = r.astring("header field name")
    if not raw or not raw.isascii():
        r.fail("Invalid header field name")
    return raw.decode("ascii").upper()


def section_part(r: Reader) -> tuple[int, ...]:
    """``section-binary = "[" [section-part] "]"`` (RFC 3516 §4.2)."""
    r.expect(0x5B, '"["')
    part: list[int] = []
    if not r.skip(0x5D):
        part.append(r.nz_number(what="section part"))
        while r.skip(0x2E):
            part.append(r.nz_number(what="section part"))
        r.expect(0x5D, '"]"')
    return tuple(part)


def partial(r: Reader) -> tuple[int, int] | None:
    """``partial = "<" number "." nz-number ">"`` (64-bit per RFC 9051)."""
    if not r.skip(0x3C):
        return None
    origin = r.number(MAX_MODSEQ, "partial origin")
    r.expect(0x2E, '"."')
    count = r.nz_number(MAX_MODSEQ, "partial count")
    r.expect(0x3E, '">"')
    return origin, count


def _preview(r: Reader) -> FetchAtt:
    """The modifiers of PREVIEW (RFC 8970 §5): only ``LAZY`` is defined;
    another is BAD.  (A ``(`` after a space cannot start the next
    fetch-att, so it is the modifier list.)"""
    if r.text[r.pos : r.pos + 2] == b" (":
        r.pos += 1
        r.open()
        while True:
            if r.atom("preview modifier").upper() != "LAZY":
                r.fail("Unknown PREVIEW modifier")
            if not r.skip(0x20):
                break
        r.close()
    return FetchAtt("PREVIEW")
