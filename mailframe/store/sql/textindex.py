"""The full-text prefilter for SEARCH BODY / TEXT / HEADER (RFC 3501 §6.4.4).

IMAP text search is a case-insensitive *substring* test on decoded text
(RFC 3501 §6.4.4; RFC 9051 §6.4.4 leaves the comparator to the server:
full Unicode case folding here, as in :mod:`mailframe.message._search`).
A word index breaks that (``user@example.com`` is one token, so ``TO
"example"`` would miss), so the index is over *trigrams*: SQLite FTS5's
``trigram`` tokenizer, PostgreSQL's ``pg_trgm`` (GIN, serving ``LIKE
'%...%'``).

What is indexed, per message, computed once at APPEND
(:func:`documents`): the texts the framework's matcher compares a needle
with, already case-folded, in four columns --

- ``hdr``: the whole decoded top-level header exactly as TEXT reads it
  (:func:`mailframe.message._search._header_text`, field names included);
- ``fields``: each field's decoded value (HEADER, SUBJECT) and each
  address field written as :func:`mailframe.message._search.address_text`
  writes it (FROM, TO, CC, BCC, as Dovecot);
- ``body``: each text/* and message/* leaf decoded (transfer encoding,
  charset), HTML both as source and as rendered text -- what BODY reads;
- ``nested``: the headers of parts and encapsulated messages (TEXT reads
  those too).

Texts of one column are joined by line breaks.  The documents *contain*
every string any key could match, so a message whose documents lack one
of the needle's whitespace-separated words cannot match, and the index
answers that without reading a body.  For most messages more holds.  On
a message whose :data:`state` has neither :data:`CUT` (a column longer
than :data:`MAX_DOCUMENT`) nor :data:`INEXACT` (the matcher's ASCII fast
path reads a leaf otherwise than its decoding does, e.g. an EBCDIC
charset, or a NUL or lone surrogate had to be replaced for the
database), and for a needle ``w`` without a line break (which could
span two joined texts) -- :func:`exact_for`:

- *sure*: ``w`` in ``body`` means BODY ``w`` matches, ``w`` in ``hdr``,
  ``body`` or ``nested`` that TEXT ``w`` does (each is one of the texts
  the matcher compares with, or for HTML the rendered text, where the
  matcher's white-space rule only adds matches);
- *exact*: when ``w`` also holds no white space, the converse too (the
  matcher's only non-substring rule, a white-space run of the needle
  matching any run of rendered HTML, RFC 3501 §6.4.4 leaving the
  comparator to the server, is then out of play).

Such answers need no confirmation; every other candidate is confirmed by
the framework's own matcher (:mod:`mailframe.store.sql.query`), so the
answers are exactly the matcher's.
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
    "UNUSUAL",
    "COLUMNS",
    "exact_for",
    "like_pattern",
    "grams",
    "fts_phrase",
]

#: Documents longer than this (characters, per column) are cut; the
#: message is then marked :data:`CUT` and always confirmed by the matcher.
MAX_DOCUMENT = 4 * 1024 * 1024
#: bits of ``messages.text_state``: a document was cut (every text key
#: confirms such a message); the documents are not the matcher's texts
#: (every BODY / TEXT key confirms it).
CUT, INEXACT = 1, 2
#: the bits that make a message a candidate of every BODY / TEXT key.
UNUSUAL = CUT | INEXACT
#: the columns of the text index, in order.
COLUMNS = ("hdr", "fields", "body", "nested")
#: Bumped when :func:`documents` changes what it extracts: a store opened
#: on older documents rebuilds them (:mod:`mailframe.store.sql.migrate`).
#: 2: ``hdr`` split into ``hdr`` and ``fields``, ``extra`` into
#: ``nested`` (the ASCII alternatives became :data:`INEXACT`).  3: octets
#: invalid in their charset are replaced, not the whole part read as
#: Latin-1, and parts in an unknown transfer encoding are not indexed.
TEXT_VERSION = 3


def _clean(text: str) -> str:
    """Text both engines store: no NUL (PostgreSQL refuses it), no lone
    surrogate (not UTF-8).  A needle holds neither (IMAP strings carry no
    NUL; needles come from UTF-8), so no occurrence of one is lost; a
    text this changes is marked :data:`INEXACT` (a needle with a space
    could meet the NUL's stand-in)."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _leaf_texts(raw: bytes, node: Node, out: list[str]) -> int:
    """What :func:`mailframe.message._search._part_matches` may compare
    with: the decoded text and for HTML the rendered text (``out``);
    :data:`INEXACT` when its ASCII fast path reads other text (the
    lower-cased bytes differ from the case-folded decoding)."""
    body = raw[node.body_start : node.end]
    decoded = decode_cte(node.cte, body)
    if decoded is None:
        return 0  # not searched: _part_matches skips an unknown transfer encoding
    text = to_text(decoded, node.charset)
    state = 0
    if len(text) > MAX_DOCUMENT:
        # the column is cut at MAX_DOCUMENT anyway (folding never
        # shortens, and folds each character alone, so the folded prefix
        # is the prefix of the folded whole): fold no more than that --
        # one str.casefold() of a 50 MB leaf holds the GIL ~200 ms, the
        # reactor's NOOPs waiting -- and mark the message CUT (every text
        # key then confirms it with the matcher, so INEXACT is moot)
        text = text[: MAX_DOCUMENT + 1]
        state |= CUT
    folded = fold_case(text)
    out.append(folded)
    if state & CUT:
        return state  # the rendered HTML would come after the cut
    if decoded.isascii() and not node.charset.startswith(_NOT_ASCII_COMPATIBLE):
        if decoded.lower().decode("ascii") != folded:
            state |= INEXACT
    if node.subtype in _HTML:
        out.append(fold_case(html_to_text(text)))
    return state


def _nested_headers(node: Node, raw: bytes, out: list[str]) -> None:
    for kid in node.children:
        if kid.body_start > kid.header_start:
            out.append(fold_case(decode_words(raw[kid.header_start : kid.body_start])))
        _nested_headers(kid, raw, out)


class Documents(NamedTuple):
    hdr: str
    fields: str
    body: str
    nested: str
    #: :data:`CUT` | :data:`INEXACT` bits.
    state: int


def documents(info: MessageInfo, raw: bytes) -> Documents:
    """The case-folded texts to index for one message (see the module
    docstring)."""
    _, fields = _fields(info)
    values = []
    for name, value in fields:
        unfolded = unfold(value)
        values.append(fold_case(decode_words(unfolded)))
        if name in ADDRESS_FIELDS:
            values.append(fold_case(decode_words(address_text(unfolded))))
    leaves: list[Node] = []
    _text_leaves(info.tree, leaves)
    body: list[str] = []
    state = 0
    for leaf in leaves:
        state |= _leaf_texts(raw, leaf, body)
    nested: list[str] = []
    _nested_headers(info.tree, raw, nested)
    texts = [_header_text(info), "\n".join(values), "\n".join(body), "\n".join(nested)]
    if any(len(t) > MAX_DOCUMENT for t in texts):
        state |= CUT
    cleaned = [_clean(t[:MAX_DOCUMENT]) for t in texts]
    if any(c != t[:MAX_DOCUMENT] for c, t in zip(cleaned, texts, strict=True)):
        state |= INEXACT
    hdr, fields_, body_, nested_ = cleaned
    return Documents(hdr, fields_, body_, nested_, state)


def exact_for(needle: str) -> str | None:
    """The case-folded ``needle`` when BODY or TEXT of it is a substring
    test on the documents of a message not :data:`UNUSUAL` (sure; exact
    when it holds no white space either, see the module docstring): no
    line break in it, nothing :func:`_clean` would change; else None."""
    folded = fold_case(needle)
    if not folded or "\n" in folded or _clean(folded) != folded:
        return None
    return folded


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


def grams(words: set[str]) -> set[str]:
    """Every 1- and 2-character substring of ``words``: a needle of one
    or two characters without white space is in a document exactly when
    it is one of these for the document's words (the index of short
    needles: :mod:`mailframe.store.sql.wordindex`,
    :mod:`mailframe.store.sql.gramindex`)."""
    out: set[str] = set()
    for word in words:
        out.update(word)
        out.update(word[i : i + 2] for i in range(len(word) - 1))
    return out


def like_pattern(word: str) -> str:
    """``%word%`` for ``LIKE`` (backslash, the default escape, before
    ``%`` and ``_``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(word: str) -> str:
    """An FTS5 string (a phrase: with the trigram tokenizer, a substring
    test) for ``word``: double quotes doubled."""
    return '"' + word.replace('"', '""') + '"'
