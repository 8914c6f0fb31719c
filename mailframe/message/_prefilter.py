"""A first pass over many messages' headers at once for ``HEADER name
needle`` (RFC 3501 §6.4.4: SUBJECT, FROM ...), issue 16.

:func:`mailframe.message.header_matcher` tells most messages "no" cheaply
(the needle is not in the lower-cased raw header of a plain one; for an
address field, some atom run of the needle is not in any of its values
with white space squeezed out), but it is still a Python call per
message.  :class:`HeaderText` holds the lower-cased headers of a
mailbox's messages as one string, so the same "no" is given to all
messages at once by ``bytes.find`` at C speed; the matcher then runs only
on the messages left (:meth:`HeaderText.candidates`), and the answer is
the matcher's by construction (``tests/message/test_prefilter.py``).

Soundness: a message is left out only when the matcher's own quick check
would say "no":

* any field: the message's header is plain (no encoded word, 8-bit
  octet, NUL or bare CR: then decoding a value is unfolding it and
  folding case is lower-casing) and the needle (ASCII, no white space) is
  not in its lower-cased header;
* an address field: none of its fields of that name holds what the
  address parser rewrites (quotes, comments, backslash, ``]``, encoded
  words, 8-bit), and one atom run of the needle is not in its whole
  lower-cased header with white space squeezed out (a value squeezed is
  part of the header squeezed).

A hit that spans two messages (the separator in the needle) only adds a
candidate.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate, repeat
from operator import add

from ._decode import fold_case
from ._search import ADDRESS_FIELDS, _address_pieces

__all__ = ["HeaderText"]

#: Between two messages' headers in :attr:`HeaderText.text`.
SEP = b"\x01"
#: What makes a header not plain (mailframe.message._search._plain).
_NOT_PLAIN = re.compile(rb"=\?|[\x00\x80-\xff]|\r(?!\n)")
_SQUEEZE = b" \t\r\n\x00"


@lru_cache(maxsize=64)
def _unsafe_field(lname: str) -> re.Pattern[bytes]:
    """A field called ``lname`` (at a line or header start, in a
    lower-cased text) whose value holds what the address parser rewrites
    (mailframe.message._search._ADDRESS_UNSAFE)."""
    name = re.escape(lname.encode("latin-1"))
    return re.compile(rb"(?:^|[\n\x01])" + name + rb'[ \t]*:(?:[^\n]|\n[ \t])*?(?:[^\x00-\x7f]|["()\\\]]|=\?)')


def _starts(parts: list[bytes]) -> array[int]:
    """Where each part begins in ``SEP.join(parts)``; one more entry past the end."""
    return array("q", accumulate(map(add, map(len, parts), repeat(1)), initial=0))


def _rows_with(text: bytes, starts: array[int], needle: bytes) -> set[int]:
    """Positions of the parts of ``text`` in which ``needle`` occurs (one
    that spans a separator counts for the part it starts in)."""
    out: set[int] = set()
    at = text.find(needle)
    while at >= 0:
        k = bisect_right(starts, at) - 1
        out.add(k)
        at = text.find(needle, starts[k + 1])
    return out


def _rows_matching(pattern: re.Pattern[bytes], text: bytes, starts: array[int]) -> set[int]:
    out: set[int] = set()
    found = pattern.search(text)
    while found is not None:
        k = bisect_right(starts, found.start()) - 1
        if found.group(0)[:1] == SEP and found.start() + 1 == starts[k + 1]:
            k += 1  # the match starts on the separator in front of part k + 1
        out.add(k)
        if k + 1 >= len(starts) - 1:
            break
        found = pattern.search(text, starts[k + 1] - 1)  # the separator: a field start
    return out


class HeaderText:
    """The top-level header blocks of some messages, lower-cased, as one
    string (parts in the order given)."""

    __slots__ = ("text", "starts", "_odd", "_squeezed", "_unsafe")

    def __init__(self, headers: list[bytes]) -> None:
        lowered = list(map(bytes.lower, headers))
        self.text = SEP.join(lowered)
        self.starts = _starts(lowered)
        #: messages whose header is not plain (found once)
        self._odd: set[int] | None = None
        #: the parts with white space squeezed out, and their starts
        self._squeezed: tuple[bytes, array[int]] | None = None
        self._unsafe: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self.starts) - 1

    def candidates(self, name: str, needle: str) -> set[int] | None:
        """Positions of the messages ``header_matcher(name, needle)`` may
        say yes to (a superset); None when no first pass applies."""
        folded = fold_case(needle)
        lname = name.lower()
        if not folded:
            return None
        if lname in ADDRESS_FIELDS:
            pieces = _address_pieces(folded)
            if pieces is None:
                return None
            text, starts = self._squeezed_text()
            found = _rows_with(text, starts, pieces[0])
            for piece in pieces[1:]:
                if not found:
                    break
                found &= _rows_with(text, starts, piece)
            return found | self._unsafe_rows(lname)
        if not folded.isascii() or " " in folded or "\t" in folded:
            return None
        return _rows_with(self.text, self.starts, folded.encode("ascii")) | self._odd_rows()

    def _odd_rows(self) -> set[int]:
        if self._odd is None:
            self._odd = _rows_matching(_NOT_PLAIN, self.text, self.starts)
        return self._odd

    def _squeezed_text(self) -> tuple[bytes, array[int]]:
        if self._squeezed is None:
            parts = self.text.split(SEP) if SEP not in _SQUEEZE else []
            if len(parts) != len(self):  # a header holding the separator itself
                parts = [self.text[self.starts[k] : self.starts[k + 1] - 1] for k in range(len(self))]
            squeezed = list(map(bytes.translate, parts, repeat(None), repeat(_SQUEEZE)))
            self._squeezed = (SEP.join(squeezed), _starts(squeezed))
        return self._squeezed

    def _unsafe_rows(self, lname: str) -> set[int]:
        rows = self._unsafe.get(lname)
        if rows is None:
            rows = self._unsafe[lname] = _rows_matching(_unsafe_field(lname), self.text, self.starts)
        return rows
