"""THREAD algorithms (RFC 5256 §2.2, §3): ORDEREDSUBJECT, REFERENCES and
the thread-list syntax of §4."""

from __future__ import annotations

from mailframe.message.sortkeys import SortKeys, base_subject
from mailframe.message.threads import Node, ordered_subject, references, thread_wire


def msg(
    subject: str = "",
    date: float = 0.0,
    mid: str | None = None,
    refs: tuple[str, ...] = (),
    irt: tuple[str, ...] = (),
) -> SortKeys:
    base, reply = base_subject(subject)
    return SortKeys(0.0, 0, date, base, reply, "", "", "", "", "", mid, refs, irt)


def numbered(*keys: SortKeys) -> list[tuple[int, SortKeys]]:
    return list(enumerate(keys, 1))


def tree(number: int | None, *children: Node) -> Node:
    node = Node(number)
    node.children = list(children)
    return node


def test_wire_syntax_of_the_rfc_example() -> None:
    """RFC 5256 §4: ``(2)(3 6 (4 23)(44 7 96))``."""
    roots = [tree(2), tree(3, tree(6, tree(4, tree(23)), tree(44, tree(7, tree(96)))))]
    assert thread_wire(roots) == "(2)(3 6 (4 23)(44 7 96))"
    assert thread_wire([tree(None, tree(1), tree(2))]) == "((1)(2))"
    assert thread_wire([]) == ""


def test_ordered_subject() -> None:
    """RFC 5256 §3 ORDEREDSUBJECT: grouped by base subject, the first by
    date is the parent of the others, threads in the order of their first
    message."""
    messages = numbered(
        msg("b", 5), msg("Re: a", 3), msg("a", 4), msg("c", 1), msg("Re: b", 2), msg("A", 6)
    )
    assert thread_wire(ordered_subject(messages)) == "(4)(5 1)(2 (3)(6))"


def test_references_chain_and_in_reply_to() -> None:
    messages = numbered(
        msg("x", 1, "a"), msg("Re: x", 2, "b", irt=("a",)), msg("Re: x", 3, "c", refs=("a", "b"))
    )
    assert thread_wire(references(messages)) == "(1 2 3)"


def test_references_dummy_parent_and_sibling_order() -> None:
    """Two replies to a message we do not have: a dummy at the top with
    both, sorted by date (step 4 keeps a top dummy with several children)."""
    messages = numbered(msg("p", 9, "a", refs=("gone",)), msg("q", 3, "b", refs=("gone",)), msg("r", 5, "c"))
    assert thread_wire(references(messages)) == "((2)(1))(3)"


def test_references_dummy_with_one_child_is_dropped() -> None:
    messages = numbered(msg("p", 1, "a", refs=("gone",)), msg("q", 2, "b", refs=("gone", "a")))
    assert thread_wire(references(messages)) == "(1 2)"


def test_references_subject_merge() -> None:
    """Step 5: a reply whose references are lost joins the thread of its
    base subject; two non-replies with one subject get a dummy parent."""
    messages = numbered(msg("Hello", 1, "a"), msg("Re: Hello", 2, "b"), msg("Other", 3, "c"), msg("Other", 4, "d"))
    assert thread_wire(references(messages)) == "(1 2)((3)(4))"


def test_references_loops_and_duplicates_terminate() -> None:
    """Links that would make a loop are not made (step 1A/1B); a second
    message with a Message-ID already seen gets an id of its own."""
    messages = numbered(
        msg("l", 1, "a", refs=("b",)),
        msg("m", 2, "b", refs=("a",)),
        msg("n", 3, "a"),
        msg("o", 4, "c", refs=("c",)),
    )
    out = thread_wire(references(messages))
    assert sorted(int(n) for n in out.replace("(", " ").replace(")", " ").split()) == [1, 2, 3, 4]
    assert out == "(2 1)(3)(4)"  # b was a parent of a before message 2 arrived


def test_deep_threads_need_no_recursion() -> None:
    """A 5 000-message reply chain, and one where every message also has
    a second reply (nesting 2 500 lists deep), thread without hitting
    Python's recursion limit."""
    chain = numbered(*(msg("s", i, f"m{i}", irt=(f"m{i - 1}",) if i else ()) for i in range(5000)))
    assert thread_wire(references(chain)) == "(" + " ".join(str(n) for n in range(1, 5001)) + ")"
    keys = []
    for i in range(2500):
        keys.append(msg(f"c{i}", 2 * i, f"c{i}", irt=(f"c{i - 1}",) if i else ()))
        keys.append(msg(f"l{i}", 2 * i + 1, f"l{i}", irt=(f"c{i}",)))
    out = thread_wire(references(numbered(*keys)))
    assert out.count("(") == out.count(")") == 1 + 2 * 2499
    assert ordered_subject(chain)[0].number == 1
