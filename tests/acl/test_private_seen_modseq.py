"""A reader's private ``\\Seen`` (``--acl-private-seen shared``) moves the
modseq that reader sees (RFC 7162 §3.1; Dovecot's private index does the
same): STORE answers a new MODSEQ, FETCH CHANGEDSINCE and SEARCH MODSEQ
find the message, UNCHANGEDSINCE refuses it, the reader's session in
another server process on the same Maildir hears it in IDLE with its
MODSEQ, and a later shared change still comes after it.  The owner sees
none of it.  Real server processes, IMAPClient over real sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b"}
MESSAGE = b"Subject: private\r\n\r\nbody\r\n"
BOX = "shared/alice/Projects"


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    store = "maildir:" + str(tmp_path / "mail")
    args = ("--acl", "--acl-private-seen", "shared")
    with ServerProcess(tmp_path / "a", *args, users=USERS, store=store) as one:
        with ServerProcess(tmp_path / "b", *args, users=USERS, store=store) as two:
            yield one, two


def login(server: ServerProcess, user: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", server.imap_port, ssl=False, timeout=30)
    c.login(user, USERS[user])
    c.enable("CONDSTORE")
    return c


def share(server: ServerProcess) -> IMAPClient:
    alice = login(server, "alice")
    alice.create_folder("Projects")
    for _ in range(3):
        alice.append("Projects", MESSAGE)
    alice.setacl("Projects", "bob", "lrswite")
    return alice


def modseq(c: IMAPClient, uid: int) -> int:
    found: Any = c.fetch([uid], ["MODSEQ"])[uid][b"MODSEQ"]
    return int(found[0])


def highest(c: IMAPClient, name: str) -> int:
    return int(c.folder_status(name, ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"])


def unseen_unchangedsince(c: IMAPClient, uid: int, since: int) -> bytes:
    """``UID STORE uid (UNCHANGEDSINCE since) -FLAGS (\\Seen)``; the
    tagged answer's text."""
    typ, data = c._imap._simple_command("UID", "STORE", str(uid), f"(UNCHANGEDSINCE {since})",
                                        "-FLAGS", "(\\Seen)")
    assert typ == "OK", data
    return b" ".join(d for d in data if isinstance(d, bytes))


def test_private_seen_moves_the_readers_modseq(two_servers: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = two_servers
    alice = share(one)
    alice.select_folder("Projects")
    alice_highest = highest(alice, "Projects")
    bob = login(one, "bob")
    h0 = int(bob.select_folder(BOX)[b"HIGHESTMODSEQ"])

    bob.add_flags([2], ["\\Seen"])
    m2 = modseq(bob, 2)
    assert m2 > h0 and m2 > modseq(bob, 1)
    assert highest(bob, BOX) == m2
    changed = bob.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {h0}"])
    assert list(changed) == [2] and b"\\Seen" in changed[2][b"FLAGS"]
    assert bob.search(["MODSEQ", str(h0 + 1)]) == [2]
    assert bob.search(["SEEN"]) == [2]

    # RFC 7162 §3.1.3: the private change is a change since h0
    assert b"[MODIFIED 2]" in unseen_unchangedsince(bob, 2, h0)
    assert bob.search(["SEEN"]) == [2]
    assert b"MODIFIED" not in unseen_unchangedsince(bob, 2, m2)
    assert bob.search(["SEEN"]) == [] and modseq(bob, 2) > m2

    # a shared change after it comes after it for bob too
    last = highest(bob, BOX)
    alice.add_flags([3], ["\\Flagged"])
    bob.noop()
    assert modseq(bob, 3) > modseq(bob, 2)
    assert list(bob.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq(bob, 2)}"])) == [3]
    assert last < highest(bob, BOX)

    # the owner's view: no \Seen, and only her own change moved her modseq
    assert alice.search(["SEEN"]) == []
    assert list(alice.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {alice_highest}"])) == [3]
    bob.logout()
    alice.logout()


def wait_for_fetch(c: IMAPClient) -> tuple[Any, ...]:
    """The first FETCH an IDLE hears (fails after 30 s: a bound, not a
    timing assertion)."""
    start = time.monotonic()
    while time.monotonic() - start < 30:
        for response in c.idle_check(timeout=1):
            if len(response) > 2 and response[1] == b"FETCH":
                return tuple(response)
    raise AssertionError("no FETCH within 30 s")


def test_private_seen_reaches_the_readers_idle_in_another_process(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = two_servers
    alice = share(one)
    idler = login(one, "bob")
    h0 = int(idler.select_folder(BOX)[b"HIGHESTMODSEQ"])
    setter = login(two, "bob")
    setter.select_folder(BOX)
    idler.idle()
    setter.add_flags([1], ["\\Seen"])
    response = wait_for_fetch(idler)
    idler.idle_done()
    items = dict(zip(response[2][::2], response[2][1::2], strict=True))
    assert b"\\Seen" in items[b"FLAGS"]
    assert int(items[b"MODSEQ"][0]) == modseq(setter, 1) > h0
    setter.logout()
    idler.logout()
    alice.logout()


def test_private_state_file_round_trip_and_the_older_form() -> None:
    from mailframe.acl.private_seen import SCALE, SeenState, format_state, parse_state

    state = SeenState(7, frozenset({1, 2, 3, 9}), 5 * SCALE + 2, {1: 5 * SCALE + 1, 2: 5 * SCALE + 2, 3: 5 * SCALE + 2})
    assert parse_state(format_state(state)) == state
    # a file written before private modseqs: the seen set, no modseqs
    old = parse_state("7\n1:3,9\n")
    assert old == SeenState(7, frozenset({1, 2, 3, 9}))
    assert old.message_modseq(1, 4) == 4 * SCALE and old.highest_modseq(4) == 4 * SCALE
