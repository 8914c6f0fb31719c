"""``HEADER name needle`` over many messages at once (issue 16): which
messages a header SEARCH surely matches, and which it may, from C-speed
passes over the joined header blocks, before :func:`header_matcher` is
asked about the rest (RFC 3501 §6.4.4, RFC 5322 §3.4 for the address
forms).  Split from :mod:`mailframe.message._search`, whose matching rules it mirrors: a
"yes" here is a yes there, and a message left out is one the matcher
says no for.
"""

from __future__ import annotations

import re

from ._decode import fold_case
from ._search import (
    _ADDRESS_UNSAFE,
    ADDRESS_FIELDS,
    _address_pieces,
    _named_field,
)

__all__ = ["header_candidates"]


def header_candidates(headers: list[bytes], name: str, needle: str) -> tuple[list[int], list[int]] | None:
    """``HEADER name needle`` over many messages at once (issue 16):
    ``(yes, maybe)``, positions in ``headers`` (top-level header blocks)
    of the messages :func:`mailframe.message._search.header_matches` surely says yes for, and of
    those it may say yes for (the caller asks the matcher about these);
    every other message gets the matcher's cheap "no".  The steps over
    all the headers are C-speed passes over their join, so a SEARCH that
    runs once does not pay a Python step per message (RFC 3501 §6.4.4
    answers, by the matcher's rules):

    * a field other than FROM / TO / CC / BCC, a needle without white
      space, every header plain (:func:`mailframe.message._search._plain`): all decided.  In a
      plain header a value's decoding is its unfolding, which only turns
      a line break and the white space after it into a space; a needle
      without white space is in the unfolded value exactly when it is in
      the value as written;
    * FROM / TO / CC / BCC: "maybe" where each atom run of the needle is
      in the field with its white space squeezed out, or where the field
      holds what the address parser rewrites
      (:func:`mailframe.message._search._address_surely_absent`); decided among those where the
      field is one plain address (:func:`_simple_address_hit`).

    None when neither applies."""
    folded = fold_case(needle)
    lname = name.lower()
    if not headers or not folded or not _FIELD_NAME.fullmatch(lname):
        return None
    if lname in ADDRESS_FIELDS:
        return _address_candidates(headers, lname, folded)
    if not folded.isascii() or any(c in folded for c in " \t\r\n\x00\x01"):
        return None
    texts = _field_texts(headers, lname, exact=True)
    if texts is None:
        return None
    quick = folded.encode("ascii")
    return [k for k, text in enumerate(texts) if quick in text], []


#: A CR not starting a CRLF (no such CR in a plain header).
_LONE_CR = re.compile(rb"\r(?!\n)")
#: A field name (RFC 5322 §3.6.8 ftext) a separator line can be made of.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def _field_texts(headers: list[bytes], lname: str, exact: bool) -> list[bytes] | None:
    """Each header's values of the field ``lname``, lower-cased, as
    written (not unfolded), joined by 0x01; from one regex pass over the
    blocks joined with a line ``<lname>:NUL`` between them (its value a
    NUL, marking where the next message begins; the line break around it
    ends any field before it and starts the next block's first one).  ``exact``: None unless
    every header is plain (:func:`mailframe.message._search._plain`) and no block starts with
    white space (which would run on as a continuation of the separator's
    value); else such a block only gets text of another field in its
    entry.  None too when a header holds a NUL."""
    sep = b"\n" + lname.encode("ascii") + b":\x00\n"
    blob = sep.join(headers)
    if blob.count(b"\x00") != len(headers) - 1:
        return None  # a NUL in a header: the messages cannot be told apart
    if exact and not (
        blob.isascii()
        and (b"?" not in blob or b"=?" not in blob)
        and _LONE_CR.search(blob) is None
        and b"\x00\n " not in blob
        and b"\x00\n\t" not in blob
        and headers[0][:1] not in (b" ", b"\t")
    ):
        return None  # some header is not plain: the matcher decodes
    values = _named_field(lname).findall(b"\n" + blob.lower())
    texts = b"\x01".join(values).split(b"\x00")
    return texts if len(texts) == len(headers) else None


def _address_candidates(headers: list[bytes], lname: str, folded: str) -> tuple[list[int], list[int]] | None:
    """:func:`header_candidates` of an address field."""
    pieces = _address_pieces(folded)
    texts = _field_texts(headers, lname, exact=False) if pieces else None
    if pieces is None or texts is None:
        return None
    joined = b"\x00".join(texts)
    squeezed = joined.translate(None, b" \t\r\n").split(b"\x00")
    first, *rest = sorted(pieces, key=len, reverse=True)
    found = [k for k, v in enumerate(squeezed) if first in v]
    for piece in rest:
        found = [k for k in found if piece in squeezed[k]]
    unsafe: set[int] = set()
    if _ADDRESS_UNSAFE.search(joined) is not None:  # no cheap "no" for such a field
        unsafe = {k for k, text in enumerate(texts) if _ADDRESS_UNSAFE.search(text)}
        found = sorted({*found, *unsafe})
    if not _ADDRESS_NEEDLE.fullmatch(folded):
        return [], found
    needle = folded.encode("ascii")
    yes: list[int] = []
    maybe: list[int] = []
    for k in found:
        hit = None if k in unsafe else _simple_address_hit(texts[k], needle)
        if hit is None:
            maybe.append(k)
        elif hit:
            yes.append(k)
    return yes, maybe


#: A needle made of atom text, dots and ``@`` only (no white space,
#: quote, bracket or comma): in an address written out by
#: :func:`mailframe.message._search.address_text` it can only lie within one display-name word or
#: within ``local@domain``.
_ADDRESS_NEEDLE = re.compile(r"[a-z0-9!#$%&'*+\-/=?^_`{|}~.@]+")
_ATOM = rb"[a-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_DOT_ATOM = _ATOM + rb"(?:\." + _ATOM + rb")*"
#: A field value (lower-cased, as written) that is one address, an
#: optional display name of plain words and ``<local@domain>``, or a bare
#: ``local@domain``, nothing else (RFC 5322 §3.4).
_SIMPLE_ADDRESS = re.compile(
    rb"[ \t]*(?:((?:" + _ATOM + rb"[ \t]+)*" + _ATOM + rb")?[ \t]*<(" + _DOT_ATOM + rb"@" + _DOT_ATOM
    + rb")>|(" + _DOT_ATOM + rb"@" + _DOT_ATOM + rb"))[ \t]*\r?"
)


def _simple_address_hit(text: bytes, needle: bytes) -> bool | None:
    """Whether :func:`mailframe.message._search.address_text` of the field value ``text`` (one
    value, lower-cased, no encoded word, quote or comment) holds
    ``needle`` (:data:`_ADDRESS_NEEDLE`), when the value is one plain
    address (:data:`_SIMPLE_ADDRESS`): written out, its display-name
    words and its ``local@domain`` are those of the value, so the
    needle is in one of them or nowhere.  None for any other value."""
    m = _SIMPLE_ADDRESS.fullmatch(text.strip(b"\x01"))  # (0x01: between values, and messages)
    if m is None:
        return None
    phrase, addr, bare = m.groups()
    if needle in (addr or bare):
        return True
    return phrase is not None and any(needle in word for word in phrase.split())
