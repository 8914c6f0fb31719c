"""``parse(raw) -> MessageInfo``: everything FETCH and SEARCH need, computed
once at delivery and cached by backends (DESIGN.md, "Backends").

A :class:`MessageInfo` holds the size, the top-level header block, the
ENVELOPE / BODYSTRUCTURE / BODY values already in wire form, the sent date
and the part tree with byte offsets.  ``dump()`` / ``load()`` are a
versioned ``marshal`` of plain tuples: no pickle, no classes, cheap to
load.
"""

from __future__ import annotations

import datetime
import marshal
from typing import Any

from ._envelope import sent_date
from ._headers import unfold
from ._structure import LEAF, Budget, Node, build, node_from_plain, node_to_plain

__all__ = ["MessageInfo", "parse", "FORMAT_VERSION"]

#: Bumped whenever the dump layout or the meaning of a field changes;
#: ``load`` refuses other versions (re-parse the message then).
FORMAT_VERSION = 3  # 2: a closing boundary line keeps its CRLF (issue 11); 3: non-MIME messages


class MessageInfo:
    """The parsed, cacheable view of one message.

    ``header`` is the top-level header block exactly as stored, *including*
    the blank line that ends it (so it is ``BODY[HEADER]`` byte for byte);
    a message without a blank line is all header.  ``tree`` is the root
    part ``Node`` (see :mod:`mailframe.message._structure`).
    """

    __slots__ = (
        "size",
        "header",
        "envelope_wire",
        "bodystructure_wire",
        "body_wire",
        "sent_date",
        "_tree",
        "_plain_tree",
        "_cache",
    )

    def __init__(
        self,
        size: int,
        header: bytes,
        envelope_wire: bytes,
        bodystructure_wire: bytes,
        body_wire: bytes,
        sent_date: datetime.date | None,
        tree: Node | None,
        plain_tree: Any = None,
    ) -> None:
        self.size = size
        self.header = header
        self.envelope_wire = envelope_wire
        self.bodystructure_wire = bodystructure_wire
        self.body_wire = body_wire
        self.sent_date = sent_date
        self._tree = tree
        #: the part tree as dumped (:func:`node_to_plain`), made into Nodes
        #: on first use: a header sync or a header SEARCH never needs it
        self._plain_tree = plain_tree
        self._cache: dict[str, Any] | None = None

    @property
    def tree(self) -> Node:
        """The root part ``Node`` (made from the loaded form on first use)."""
        plain = self._plain_tree  # read first: safe when two threads race here
        tree = self._tree
        if tree is None:
            tree = self._tree = node_from_plain(plain)
            self._plain_tree = None
        return tree

    def dump(self) -> bytes:
        """Compact versioned serialisation (marshal of tuples)."""
        return marshal.dumps(
            (
                FORMAT_VERSION,
                self.size,
                self.header,
                self.envelope_wire,
                self.bodystructure_wire,
                self.body_wire,
                self.sent_date.toordinal() if self.sent_date else 0,
                node_to_plain(self._tree) if self._tree is not None else self._plain_tree,
            )
        )

    @classmethod
    def load(cls, data: bytes) -> MessageInfo:
        """Inverse of :meth:`dump`; raises ``ValueError`` on a foreign or
        corrupt blob (the caller re-parses the message)."""
        try:
            t = marshal.loads(data)
            if t[0] != FORMAT_VERSION:
                raise ValueError(f"MessageInfo format {t[0]!r}, expected {FORMAT_VERSION}")
            _, size, header, env, bs, body, sd, tree = t
            if not (isinstance(tree, tuple) and len(tree) == 9):
                raise ValueError("corrupt MessageInfo: no part tree")
        except ValueError:
            raise
        except Exception as e:
            raise ValueError(f"corrupt MessageInfo: {e}") from None
        return cls(
            size, header, env, bs, body, datetime.date.fromordinal(sd) if sd else None, None, tree
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageInfo):
            return NotImplemented
        return (
            self.size == other.size
            and self.header == other.header
            and self.envelope_wire == other.envelope_wire
            and self.bodystructure_wire == other.bodystructure_wire
            and self.body_wire == other.body_wire
            and self.sent_date == other.sent_date
            and self.tree == other.tree
        )

    def __hash__(self) -> int:
        return hash((self.size, self.header, self.bodystructure_wire))

    def __repr__(self) -> str:
        return f"<MessageInfo size={self.size} bodystructure={self.bodystructure_wire[:60]!r}...>"


def parse(raw: bytes) -> MessageInfo:
    """Parse a message; never raises for any bytes (RFC 5322, MIME)."""
    raw = bytes(raw)
    try:
        budget = Budget()
        node, bs, body, env = build(raw, 0, len(raw), 0, budget, want_env=True)
        header = raw[node.header_start : node.body_start]
        dates = budget.top.get(b"date")
        date = unfold(dates[-1]) if dates else None  # the ENVELOPE's date
        return MessageInfo(len(raw), header, env, bs, body, sent_date(date), node)
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps us far away
        return _fallback(raw)
    except Exception:  # pragma: no cover - defensive: never raise
        return _fallback(raw)


def _fallback(raw: bytes) -> MessageInfo:
    """A structure for bytes we could not make sense of: one text part."""
    node = Node(LEAF, 0, 0, len(raw), b"text", b"plain", b"", b"", ())
    bs = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d NIL NIL NIL NIL)' % (
        len(raw),
        raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0),
    )
    body = bs[: bs.rindex(b" NIL NIL NIL NIL)")] + b")"
    env = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    return MessageInfo(len(raw), b"", env, bs, body, None, node)
