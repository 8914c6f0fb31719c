"""THREAD algorithms of RFC 5256 §2.2 and §2.1 ... §2.3: ORDEREDSUBJECT and
REFERENCES, over :class:`mailframe.message.sortkeys.SortKeys`.

Input is the matching messages in mailbox order as ``(number, keys)``
pairs (``number`` is what the answer shows: a sequence number or a UID);
output is a list of :class:`Node` trees, written on the wire by
:func:`thread_wire`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sortkeys import SortKeys

__all__ = ["Node", "ordered_subject", "references", "thread_wire"]


class Node:
    """One container of the threading algorithm: a message (``number``,
    ``index`` its position in mailbox order) or a dummy (``number`` None)."""

    __slots__ = ("number", "index", "keys", "parent", "children")

    def __init__(self, number: int | None = None, index: int = -1, keys: SortKeys | None = None) -> None:
        self.number = number
        self.index = index
        self.keys = keys
        self.parent: Node | None = None
        self.children: list[Node] = []

    def __repr__(self) -> str:
        return f"<Node {self.number} {self.children!r}>"

    def sort_key(self) -> tuple[float, int]:
        """Sent date, then mailbox order (RFC 5256 §2.2); a dummy sorts as
        its first child (§2.1 step 4, as the children are already sorted)."""
        node = self
        while node.keys is None and node.children:
            node = node.children[0]
        if node.keys is None:
            return (0.0, -1)
        return (node.keys.date, node.index)


def ordered_subject(messages: Sequence[tuple[int, SortKeys]]) -> list[Node]:
    """THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base
    subject; each group's first message (by sent date) is the root and the
    others its children, in date order; threads ordered by their root."""
    order = sorted(range(len(messages)), key=lambda i: (messages[i][1].subject, messages[i][1].date, i))
    roots: list[Node] = []
    current: Node | None = None
    subject: str | None = None
    for i in order:
        number, keys = messages[i]
        node = Node(number, i, keys)
        if current is not None and keys.subject == subject:
            node.parent = current
            current.children.append(node)
        else:
            current, subject = node, keys.subject
            roots.append(node)
    roots.sort(key=Node.sort_key)
    return roots


def _ancestor(a: Node, b: Node) -> bool:
    """True when ``a`` is ``b`` or one of ``b``'s ancestors."""
    node: Node | None = b
    while node is not None:
        if node is a:
            return True
        node = node.parent
    return False


def _link(parent: Node, child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def references(messages: Sequence[tuple[int, SortKeys]]) -> list[Node]:
    """THREAD=REFERENCES (RFC 5256 §3 and the algorithm of its §2.2's
    references to JWZ threading, steps 1-6)."""
    table: dict[str, Node] = {}

    def container(ident: str) -> Node:
        node = table.get(ident)
        if node is None:
            node = table[ident] = Node()
        return node

    nodes: list[Node] = []
    for i, (number, keys) in enumerate(messages):
        # (1) A Message-ID seen before (or none) gets a unique id: only
        # the first message with a given id is reachable by it.
        ident = keys.message_id
        node = table.get(ident) if ident is not None else None
        if node is not None and node.keys is None:
            node.number, node.index, node.keys = number, i, keys
        else:
            node = Node(number, i, keys)
            if ident is not None and ident not in table:
                table[ident] = node
        nodes.append(node)
        refs = keys.references or keys.in_reply_to[:1]
        # (1A) link the references in order, never changing an existing
        # parent and never making a loop
        prev: Node | None = None
        for ref in refs:
            cur = container(ref)
            # (only a container with children can be above another)
            if prev is not None and cur.parent is None and cur is not prev:
                if not cur.children or not _ancestor(cur, prev):
                    _link(prev, cur)
            prev = cur
        # (1B) the last reference is the parent of this message
        if node.parent is not None:
            node.parent.children.remove(node)
            node.parent = None
        if prev is not None and prev is not node:
            if not node.children or not _ancestor(node, prev):
                _link(prev, node)
    # (2) the root set; (3) the table is no longer needed
    roots = [n for n in table.values() if n.parent is None]
    seen = {id(n) for n in roots}
    roots += [n for n in nodes if n.parent is None and id(n) not in seen]
    # (4) prune dummies
    roots = _prune(roots)
    # (5) sort the root set, dummies by their first child
    _sort_trees(roots)
    roots.sort(key=Node.sort_key)
    # (5) merge threads with the same base subject
    roots = _merge_subjects(roots)
    # (6) sort every level
    _sort_trees(roots)
    roots.sort(key=Node.sort_key)
    return roots


def _descendants_first(roots: Sequence[Node]) -> list[Node]:
    """Every node below ``roots`` (included), each after all of its
    descendants: no recursion, so a thread thousands of messages deep
    costs no stack."""
    order: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    order.reverse()
    return order


def _prune_level(level: list[Node], top: bool) -> list[Node]:
    """Step 4 on one list of siblings whose own children are pruned:
    dummies without children go; a dummy's children take its place,
    except at the top when there is more than one of them."""
    out: list[Node] = []
    for node in level:
        if node.keys is not None:
            out.append(node)
        elif not node.children:
            continue
        elif top and len(node.children) > 1:
            out.append(node)
        else:
            for child in node.children:
                child.parent = node.parent
            out.extend(node.children)
            node.children = []
    return out


def _prune(roots: list[Node]) -> list[Node]:
    for node in _descendants_first(roots):
        if node.children:
            node.children = _prune_level(node.children, top=False)
            for child in node.children:
                child.parent = node
    return _prune_level(roots, top=True)


def _sort_trees(roots: Sequence[Node]) -> None:
    """Sort every list of siblings below ``roots``, the deepest first (a
    dummy sorts as its first child, which must be in place)."""
    for node in _descendants_first(roots):
        if len(node.children) > 1:
            node.children.sort(key=Node.sort_key)


def _subject_of(node: Node) -> Node | None:
    """The message whose subject a root container stands for: itself, or
    a dummy's first child."""
    if node.keys is not None:
        return node
    return node.children[0] if node.children and node.children[0].keys is not None else None


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """Step 5 of the REFERENCES algorithm: root threads with one base
    subject are gathered under one container."""
    subjects: dict[str, Node] = {}
    for node in roots:
        msg = _subject_of(node)
        if msg is None or msg.keys is None or not msg.keys.subject:
            continue
        subject = msg.keys.subject
        old = subjects.get(subject)
        if old is None:
            subjects[subject] = node
            continue
        # RFC 5256 §2.2 step 5.B: a dummy, or a non-reply over a reply,
        # takes the place of a message (never of a dummy)
        if old.keys is not None and (node.keys is None or (old.keys.reply and not node.keys.reply)):
            subjects[subject] = node
    out: list[Node] = []
    replaced: dict[int, Node] = {}
    for node in roots:
        msg = _subject_of(node)
        target = None
        if msg is not None and msg.keys is not None and msg.keys.subject:
            target = subjects.get(msg.keys.subject)
        if target is None or target is node:
            out.append(replaced.get(id(node), node))
            continue
        holder = replaced.get(id(target), target)
        if holder.keys is None and node.keys is None:
            for child in node.children:
                child.parent = holder
            holder.children.extend(node.children)
            node.children = []
        elif holder.keys is None:
            _link(holder, node)
        elif (
            node.keys is not None
            and holder.keys is not None
            and not holder.keys.reply
            and node.keys.reply
        ):
            _link(holder, node)
        else:
            dummy = Node()
            _link(dummy, holder)
            _link(dummy, node)
            replaced[id(target)] = dummy
            # the dummy takes the target's place, wherever it stands
            for k, n in enumerate(out):
                if n is holder:
                    out[k] = dummy
    return out


def thread_wire(roots: Sequence[Node]) -> str:
    """``1*thread-list`` text (RFC 5256 §4): a chain of single children
    as numbers, several children as nested lists.  Iterative, so any
    depth is fine."""
    parts: list[str] = []
    stack: list[str | Node] = []
    for root in reversed(roots):
        stack += [")", root, "("]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node = item
        words: list[str] = []
        while True:
            if node.number is not None:
                words.append(str(node.number))
            if len(node.children) != 1:
                break
            node = node.children[0]
        if node.children:
            parts.append(" ".join(words) + (" " if words else ""))
            for child in reversed(node.children):
                stack += [")", child, "("]
        else:
            parts.append(" ".join(words))
    return "".join(parts)
