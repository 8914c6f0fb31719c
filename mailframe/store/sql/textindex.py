"""The full-text prefilter for SEARCH BODY / TEXT / HEADER (RFC 3501 §6.4.4).

IMAP text search is a case-insensitive *substring* test on decoded text
(RFC 3501 §6.4.4; RFC 9051 §6.4.4 leaves the comparator to the server:
full Unicode case folding here, as in :mod:`mailframe.message._search`).
A word index breaks that (``user@example.com`` is one token, so ``TO
"example"`` would miss), so the index is over *trigrams*: SQLite FTS5's
``trigram`` tokenizer, PostgreSQL's ``pg_trgm`` (GIN, serving ``LIKE
'%...%'``).

What is indexed, per message, computed once at APPEND
(:func:`documents`): every text the framework's matcher compares a needle
with, already case-folded --

- ``hdr``: the whole decoded top-level header (what TEXT searches, field
  names included), each field's decoded value (HEADER, SUBJECT) and each
  address field written as :func:`mailframe.message._search.address_text`
  writes it (FROM, TO, CC, BCC, as Dovecot);
- ``body``: each text/* and message/* leaf decoded (transfer encoding,
  charset), HTML both as source and as rendered text;
- ``extra``: the headers of parts and encapsulated messages (TEXT searches
  those too) and, where it differs from the decoded text, a leaf's ASCII
  lower-casing (the matcher's fast path for ASCII needles).

So the documents *contain* every string any key could match: a message
whose documents lack one of the needle's whitespace-separated words
cannot match, and the index answers that without reading a body.  The
converse is not promised in general (words in different places, HTML
whitespace rules, a text larger than :data:`MAX_DOCUMENT`): a message the
index lets through is confirmed by the framework's own matcher
(:mod:`mailframe.store.sql.query`), so the answers are exactly the
matcher's.  One case is exact and needs no confirmation: ``BODY w`` with
no white space in ``w``, on a message whose ``body`` is complete and
whose ASCII fast path reads the same text (:data:`INEXACT` clear): then
the matcher's answer *is* "``w`` is a substring of ``body``" (the leaves
are joined by line breaks, which ``w`` cannot span).
"""

from __future__ import annotations

from typing import NamedTuple

from mailframe.message import MessageInfo
from mailframe.message._decode import decode_words, fold_case, html_to_text, to_text
from mailframe.message._headers import unfold
from mailframe.message._search import (
    _HTML,
    _NOT_ASCII_COMPATIBLE,
    ADDRESS_FIELDS,
    _fields,
    _header_text,
    _text_leaves,
    address_text,
)
from mailframe.message._sections import decode_cte
from mailframe.message._structure import Node

__all__ = [
    "documents",
    "Documents",
    "words",
    "MAX_DOCUMENT",
    "TEXT_VERSION",
    "CUT",
    "INEXACT",
    "like_pattern",
    "fts_phrase",
]

#: Documents longer than this (characters, per column) are cut; the
#: message is then marked :data:`CUT` and always confirmed by the matcher.
MAX_DOCUMENT = 4 * 1024 * 1024
#: bits of ``messages.text_state``: a document was cut (every text key
#: confirms such a message); ``body`` alone is not the matcher's BODY text.
CUT, INEXACT = 1, 2
#: Bumped when :func:`documents` changes what it extracts: a store opened
#: on older documents rebuilds them (:mod:`mailframe.store.sql.migrate`).
TEXT_VERSION = 1


def _clean(text: str) -> str:
    """Text both engines store: no NUL (PostgreSQL refuses it), no lone
    surrogate (not UTF-8).  A needle holds neither (IMAP strings carry no
    NUL; needles come from UTF-8), so no occurrence of one is lost."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _leaf_texts(raw: bytes, node: Node, out: list[str], extra: list[str]) -> None:
    """What :func:`mailframe.message._search._part_matches` may compare
    with: the decoded text and for HTML the rendered text (``out``), and
    the ASCII lower-casing of the fast path where it differs (``extra``)."""
    body = raw[node.body_start : node.end]
    decoded = decode_cte(node.cte, body)
    if decoded is None:
        decoded = body
    text = to_text(decoded, node.charset)
    folded = fold_case(text)
    out.append(folded)
    if decoded.isascii() and not node.charset.startswith(_NOT_ASCII_COMPATIBLE):
        lowered = decoded.lower().decode("ascii")
        if lowered != folded and node.subtype not in _HTML:
            extra.append(lowered)
    if node.subtype in _HTML:
        out.append(fold_case(html_to_text(text)))


def _nested_headers(node: Node, raw: bytes, out: list[str]) -> None:
    for kid in node.children:
        if kid.body_start > kid.header_start:
            out.append(fold_case(decode_words(raw[kid.header_start : kid.body_start])))
        _nested_headers(kid, raw, out)


class Documents(NamedTuple):
    hdr: str
    body: str
    extra: str
    #: :data:`CUT` | :data:`INEXACT` bits.
    state: int


def documents(info: MessageInfo, raw: bytes) -> Documents:
    """The case-folded texts to index for one message (see the module
    docstring)."""
    _, fields = _fields(info)
    hdr = [_header_text(info)]
    for name, value in fields:
        unfolded = unfold(value)
        hdr.append(fold_case(decode_words(unfolded)))
        if name in ADDRESS_FIELDS:
            hdr.append(fold_case(decode_words(address_text(unfolded))))
    leaves: list[Node] = []
    _text_leaves(info.tree, leaves)
    body: list[str] = []
    extra: list[str] = []
    for leaf in leaves:
        _leaf_texts(raw, leaf, body, extra)
    state = INEXACT if extra else 0
    _nested_headers(info.tree, raw, extra)
    texts = ["\n".join(hdr), "\n".join(body), "\n".join(extra)]
    if any(len(t) > MAX_DOCUMENT for t in texts):
        state |= CUT
    hdr_text, body_text, extra_text = (_clean(t[:MAX_DOCUMENT]) for t in texts)
    return Documents(hdr_text, body_text, extra_text, state)


def words(needle: str) -> list[str]:
    """The case-folded, whitespace-separated words of a needle, each of
    which a matching message's document holds (the matcher's HTML rule
    lets a whitespace run match any run, never a word change)."""
    seen: list[str] = []
    for word in fold_case(needle).split():
        word = _clean(word)
        if word not in seen:
            seen.append(word)
    return seen


def like_pattern(word: str) -> str:
    """``%word%`` for ``LIKE`` (backslash, the default escape, before
    ``%`` and ``_``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(word: str) -> str:
    """An FTS5 string (a phrase: with the trigram tokenizer, a substring
    test) for ``word``: double quotes doubled."""
    return '"' + word.replace('"', '""') + '"'
