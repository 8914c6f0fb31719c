"""The isolation matrix (issue 13): users × rights × commands over real
sockets with IMAPClient, on every store that holds ACLs.

For every command RFC 4314 §4 ties to a right, alice (the owner) sets
up a fresh mailbox and three phases run:

1. bob holds every right the command needs but one (the "base"):
   refused, with ``[NOPERM]`` or, where he may not even see the mailbox,
   ``[NONEXISTENT]``/``[TRYCREATE]`` (§6);
2. bob holds those rights too: allowed; carol, granted nothing, is
   refused the same command;
3. ``anyone`` holds them all and ``-bob`` takes the command's right away
   (a negative right, §2): bob refused, carol allowed (as anyone).
"""

from __future__ import annotations

import imaplib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b", "carol": "pw-c"}
MESSAGE = b"From: alice@example.org\r\nSubject: matrix\r\n\r\nbody\r\n"
REFUSED = ("[NOPERM]", "[NONEXISTENT]", "[TRYCREATE]")
imaplib.Commands.setdefault("LISTRIGHTS", ("AUTH", "SELECTED"))


@pytest.fixture(scope="module", params=["memory", "maildir"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp(f"acl-{request.param}") / "server"
    store = "memory" if request.param == "memory" else None
    with ServerProcess(workdir, "--acl", users=USERS, store=store) as proc:
        yield proc


def client(server: ServerProcess, user: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", server.imap_port, ssl=False, timeout=20)
    c.login(user, USERS[user])
    return c


def raw(c: IMAPClient, *args: str) -> list[bytes]:
    """A command IMAPClient has no method for; its untagged data."""
    typ, data = c._imap._simple_command(*args)
    if typ != "OK":
        raise IMAPClientError(f"{args[0]} failed: {data}")
    return [d for d in data if isinstance(d, bytes)]


Action = Callable[[IMAPClient, str, IMAPClient], bool]


def attempt(action: Action, c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    """True when allowed; False when refused with one of the codes RFC
    4314 calls for (anything else, BAD included, fails the test)."""
    try:
        return action(c, box, owner)
    except IMAPClientError as e:
        if not any(code in str(e) for code in REFUSED):
            raise AssertionError(f"refused without a NOPERM-like code: {e}") from e
        return False
    finally:
        try:
            c.unselect_folder()
        except IMAPClientError:
            pass


def shared(box: str) -> str:
    return "shared/alice/Mat/" + box


def _list(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    return any(name == shared(box) for _, _, name in c.list_folders("", "shared/*"))


def _select(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box))
    return True


def _examine(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box), readonly=True)
    return True


def _status(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    return c.folder_status(shared(box), ["MESSAGES"])[b"MESSAGES"] == 1


def _fetch(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box), readonly=True)
    return bool(c.fetch([1], ["BODY.PEEK[]"]))


def _search(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box), readonly=True)
    return c.search(["SUBJECT", "matrix"]) == [1]


def _idle(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box), readonly=True)
    c.idle()
    owner.append("Mat/" + box, MESSAGE)
    got = c.idle_check(timeout=10)
    c.idle_done()
    return any(r[1:] == (b"EXISTS",) for r in got)


def _store(flag: str) -> Action:
    def act(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
        c.select_folder(shared(box))
        c.add_flags([1], [flag], silent=True)
        owner.select_folder("Mat/" + box)
        return flag.encode() in owner.get_flags([1])[1]

    return act


def _fetch_sets_seen(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box))
    c.fetch([1], ["BODY[]"])
    owner.select_folder("Mat/" + box)
    return b"\\Seen" in owner.get_flags([1])[1]


def _expunge(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box))
    c.add_flags([1], ["\\Deleted"], silent=True)
    c.expunge()
    return owner.folder_status("Mat/" + box, ["MESSAGES"])[b"MESSAGES"] == 0


def _append(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.append(shared(box), MESSAGE)
    return True


def _copy_into(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder("INBOX")
    c.copy([1], shared(box))
    return True


def _copy_out(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box), readonly=True)
    c.copy([1], "INBOX")
    return True


def _move_out(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.select_folder(shared(box))
    c.move([1], "INBOX")
    return owner.folder_status("Mat/" + box, ["MESSAGES"])[b"MESSAGES"] == 0


def _move_into(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.append("INBOX", MESSAGE)
    c.select_folder("INBOX")
    c.move([1], shared(box))
    return True


def _create(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.create_folder(shared(box) + "/child")
    return True


def _delete(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.delete_folder(shared(box))
    return True


def _rename(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.rename_folder(shared(box), shared(box) + "-renamed")
    return True


def _subscribe(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.subscribe_folder(shared(box))
    return True


def _getacl(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    return bool(c.getacl(shared(box)))


def _setacl(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    c.setacl(shared(box), "dave", "lr")
    return True


def _deleteacl(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    raw(c, "DELETEACL", f'"{shared(box)}"', "dave")
    return True


def _listrights(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    return bool(raw(c, "LISTRIGHTS", f'"{shared(box)}"', "dave"))


def _myrights(c: IMAPClient, box: str, owner: IMAPClient) -> bool:
    return bool(raw(c, "MYRIGHTS", f'"{shared(box)}"'))


@dataclass(frozen=True)
class Case:
    name: str
    base: str  # rights held in the refused phase
    need: str  # the right(s) the command adds
    action: Action


CASES = [
    Case("LIST", "", "l", _list),
    Case("MYRIGHTS", "", "l", _myrights),
    Case("SUBSCRIBE", "", "l", _subscribe),
    # "li": imaplib refuses a SELECT answered READ-ONLY (as "lr" alone is)
    Case("SELECT", "li", "r", _select),
    Case("EXAMINE", "l", "r", _examine),
    Case("STATUS", "l", "r", _status),
    Case("FETCH", "l", "r", _fetch),
    Case("SEARCH", "l", "r", _search),
    Case("IDLE", "l", "r", _idle),
    Case("COPY-out", "l", "r", _copy_out),
    Case("STORE-Seen", "lri", "s", _store("\\Seen")),
    Case("FETCH-sets-Seen", "lri", "s", _fetch_sets_seen),
    Case("STORE-Flagged", "lri", "w", _store("\\Flagged")),
    Case("STORE-keyword", "lri", "w", _store("$Label")),
    Case("STORE-Deleted", "lri", "t", _store("\\Deleted")),
    Case("EXPUNGE", "lrit", "e", _expunge),
    Case("MOVE-out", "lri", "te", _move_out),
    Case("APPEND", "l", "i", _append),
    Case("COPY-into", "l", "i", _copy_into),
    Case("MOVE-into", "l", "i", _move_into),
    Case("CREATE", "l", "k", _create),
    Case("DELETE", "l", "x", _delete),
    Case("RENAME", "l", "x", _rename),
    Case("GETACL", "lr", "a", _getacl),
    Case("SETACL", "lr", "a", _setacl),
    Case("DELETEACL", "lr", "a", _deleteacl),
    Case("LISTRIGHTS", "lr", "a", _listrights),
]

_counter = itertools.count()


def fresh_mailbox(alice: IMAPClient, acl: dict[str, str]) -> str:
    """A new mailbox of alice's under Mat/ (bob may create and rename
    below Mat), with one message and ``acl`` (and not the ACL it
    inherited from Mat, RFC 4314 §4)."""
    box = f"box{next(_counter)}"
    if not alice.folder_exists("Mat"):
        alice.create_folder("Mat")
        alice.setacl("Mat", "bob", "k")
        alice.setacl("Mat", "anyone", "k")
    alice.create_folder("Mat/" + box)
    for who in ("bob", "anyone"):  # not what it inherited from Mat
        raw(alice, "DELETEACL", f"Mat/{box}", who)
    alice.append("Mat/" + box, MESSAGE)
    for who, rights in acl.items():
        alice.setacl("Mat/" + box, who, rights)
    return box


@pytest.fixture(scope="module")
def alice(server: ServerProcess) -> Iterator[IMAPClient]:
    c = client(server, "alice")
    yield c
    c.logout()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix(server: ServerProcess, alice: IMAPClient, case: Case) -> None:
    bob, carol = client(server, "bob"), client(server, "carol")
    bob.append("INBOX", MESSAGE)
    carol.append("INBOX", MESSAGE)
    try:
        # 1. one right short: refused
        box = fresh_mailbox(alice, {"bob": case.base} if case.base else {})
        assert not attempt(case.action, bob, box, alice), f"{case.name} allowed with {case.base!r}"
        # 2. with it: allowed; carol, granted nothing, refused
        box = fresh_mailbox(alice, {"bob": case.base + case.need})
        assert not attempt(case.action, carol, box, alice), f"{case.name} allowed to carol"
        assert attempt(case.action, bob, box, alice), f"{case.name} refused with {case.base + case.need!r}"
        # 3. anyone may; -bob takes the right away from bob alone
        box = fresh_mailbox(alice, {"anyone": case.base + case.need, "-bob": case.need})
        assert not attempt(case.action, bob, box, alice), f"{case.name} allowed despite -bob"
        assert attempt(case.action, carol, box, alice), f"{case.name} refused to anyone"
    finally:
        bob.logout()
        carol.logout()


def test_close_without_expunge_right_just_closes(server: ServerProcess, alice: IMAPClient) -> None:
    """RFC 4314 §4: CLOSE without "e" ignores the expunge and says OK."""
    box = fresh_mailbox(alice, {"bob": "lrit"})
    bob = client(server, "bob")
    try:
        bob.select_folder(shared(box))
        bob.add_flags([1], ["\\Deleted"])
        bob.close_folder()
        assert alice.folder_status("Mat/" + box, ["MESSAGES"])[b"MESSAGES"] == 1
    finally:
        bob.logout()


def test_only_permitted_flags_survive_append_and_copy(server: ServerProcess, alice: IMAPClient) -> None:
    """RFC 4314 §4: APPEND/COPY keep only the flags the rights allow."""
    box = fresh_mailbox(alice, {"bob": "lris"})
    bob = client(server, "bob")
    try:
        bob.append(shared(box), MESSAGE, flags=["\\Seen", "\\Deleted", "$Label", "\\Answered"])
        bob.select_folder("INBOX")
        uid = bob.append("INBOX", MESSAGE, flags=["\\Seen", "\\Flagged"])
        assert uid
        seq = bob.search(["FLAGGED"])[-1]
        bob.copy([seq], shared(box))
        alice.select_folder("Mat/" + box)
        flags = alice.get_flags([2, 3])
        assert set(flags[2]) - {b"\\Recent"} == {b"\\Seen"}
        assert set(flags[3]) - {b"\\Recent"} == {b"\\Seen"}
    finally:
        bob.logout()


def test_acl_advertised(server: ServerProcess, alice: IMAPClient) -> None:
    caps = alice.capabilities()
    assert b"ACL" in caps and b"LIST-MYRIGHTS" in caps
    assert any(c.upper() == b"RIGHTS=TEXK" for c in caps)
    assert Path(server.workdir).exists()


def test_lsub_after_the_lookup_right_goes(server: ServerProcess, alice: IMAPClient) -> None:
    """RFC 4314 §4/§6: SUBSCRIBE needs "l"; once "l" is gone, LSUB shows
    the name as it shows a deleted mailbox (\\Noselect), so it tells
    nothing of the mailbox, and never fails."""
    hidden = fresh_mailbox(alice, {"bob": "l"})
    gone = fresh_mailbox(alice, {"bob": "l"})
    bob = client(server, "bob")
    try:
        for box in (hidden, gone):
            bob.subscribe_folder(shared(box))

        def lsub() -> dict[str, tuple[bytes, ...]]:
            return {n: flags for flags, _, n in bob.list_sub_folders()}

        assert lsub()[shared(hidden)] == lsub()[shared(gone)] == ()
        raw(alice, "DELETEACL", f"Mat/{hidden}", "bob")
        alice.delete_folder(f"Mat/{gone}")
        assert lsub()[shared(hidden)] == lsub()[shared(gone)] == (b"\\Noselect",)
        alice.setacl("Mat/" + hidden, "bob", "l")
        assert lsub()[shared(hidden)] == ()
    finally:
        bob.logout()


def test_rename_keeps_the_acl_and_delete_drops_it(server: ServerProcess, alice: IMAPClient) -> None:
    """RFC 4314 §4: RENAME SHOULD NOT change the ACL (children's too);
    DELETE MUST delete it, so a new mailbox of the same name starts
    without bob's rights."""
    box = fresh_mailbox(alice, {"bob": "lr"})
    alice.create_folder(f"Mat/{box}/child")  # inherits bob's lr
    bob = client(server, "bob")

    def rights(name: str) -> list[bytes]:
        typ, data = bob._imap.myrights(f'"{name}"')
        return [d for d in data if isinstance(d, bytes)] if typ == "OK" else []

    try:
        alice.rename_folder(f"Mat/{box}", f"Mat/{box}-moved")
        moved = shared(box) + "-moved"
        assert rights(moved) == [f"{moved} lr".encode()]
        assert rights(moved + "/child") == [f"{moved}/child lr".encode()]
        assert rights(shared(box)) == []
        for who in ("bob", "anyone"):  # the parent no longer grants bob anything
            raw(alice, "DELETEACL", f"Mat/{box}-moved", who)
        alice.delete_folder(f"Mat/{box}-moved/child")
        alice.create_folder(f"Mat/{box}-moved/child")
        assert rights(moved + "/child") == []
    finally:
        bob.logout()
