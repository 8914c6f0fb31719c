"""ACL together with QUOTA, METADATA and OBJECTID over a real socket
(``--acl``): the session's account spans every namespace
(:class:`mailframe.acl.account.SharedAccount`) and must still offer and
serve the extensions its own account has, on own and shared mailboxes.

- QUOTA (RFC 9208): a shared mailbox is under its owner's root, and a
  write into it is charged to the owner (as Dovecot charges the owner).
- METADATA (RFC 5464): /shared entries of a shared mailbox are the
  owner's mailbox's; the owner's /private ones stay private, and a reader
  cannot set /private ones there (refused clearly).
- OBJECTID (RFC 8474): a shared mailbox has one MAILBOXID for every reader.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b"}
MESSAGE = b"From: alice@example.org\r\nSubject: x\r\n\r\nbody\r\n"
for _name in ("GETQUOTAROOT", "GETQUOTA", "GETMETADATA", "SETMETADATA", "SETACL", "NOTIFY"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))


@pytest.fixture(scope="module", params=["memory", "maildir"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp(f"aclext-{request.param}") / "server"
    store = "memory" if request.param == "memory" else None
    with ServerProcess(workdir, "--acl", "--quota-messages", "4", users=USERS, store=store) as proc:
        yield proc


def login(server: ServerProcess, user: str) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=20)
    c.login(user, USERS[user])
    return c


def run(c: imaplib.IMAP4, *args: str) -> tuple[str, bytes]:
    """Tagged result and every line the server sent for the command."""
    typ, data = c._simple_command(*args)
    lines = [d if isinstance(d, bytes) else b"".join(x for x in d if isinstance(x, bytes)) for d in data if d]
    for name in ("QUOTA", "QUOTAROOT", "METADATA", "STATUS", "OK"):
        for extra in c.untagged_responses.pop(name, []):
            if extra:
                lines.append(extra if isinstance(extra, bytes) else b" ".join(
                    x for x in extra if isinstance(x, bytes)))
    return typ, b"\n".join(lines)


def usage(c: imaplib.IMAP4, root: str) -> int:
    typ, text = run(c, "GETQUOTA", f'"{root}"')
    assert typ == "OK", text
    found = re.search(rb"MESSAGE (\d+) 4", text)
    assert found, text
    return int(found.group(1))


def mailbox_id(c: imaplib.IMAP4, name: str) -> bytes:
    typ, text = run(c, "STATUS", f'"{name}"', "(MAILBOXID)")
    assert typ == "OK", text
    found = re.search(rb"MAILBOXID \((\w+)\)", text)
    assert found, text
    return found.group(1)


@pytest.fixture(scope="module")
def shared(server: ServerProcess) -> str:
    """alice's "Team", shared with bob (every right)."""
    alice = login(server, "alice")
    assert alice.create("Team")[0] == "OK"
    assert run(alice, "SETACL", "Team", "bob", "lrswipkxtea")[0] == "OK"
    alice.logout()
    return "shared/alice/Team"


def test_capabilities_together(server: ServerProcess, shared: str) -> None:
    bob = login(server, "bob")
    typ, data = bob.capability()
    caps = set(data[0].decode().split())
    assert {"ACL", "QUOTA", "METADATA", "METADATA-SERVER", "OBJECTID"} <= caps, caps
    bob.logout()


def test_quota_owner_root_and_charge(server: ServerProcess, shared: str) -> None:
    bob = login(server, "bob")
    alice = login(server, "alice")
    typ, text = run(bob, "GETQUOTAROOT", "INBOX")
    assert typ == "OK" and b'"User quota"' in text and b"User quota/" not in text, text
    typ, text = run(bob, "GETQUOTAROOT", f'"{shared}"')
    assert typ == "OK", text
    assert b"User quota/alice" in text, text
    own_before, alice_before = usage(bob, "User quota"), usage(alice, "User quota")
    assert usage(bob, "User quota/alice") == alice_before
    assert bob.append(shared, None, None, MESSAGE)[0] == "OK"
    assert usage(alice, "User quota") == alice_before + 1  # the owner is charged
    assert usage(bob, "User quota") == own_before  # not the writer
    # Fill alice's root: bob's write into her mailbox is refused, his own not.
    while usage(alice, "User quota") < 4:
        assert alice.append("Team", None, None, MESSAGE)[0] == "OK"
    typ, data = bob.append(shared, None, None, MESSAGE)
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    assert bob.append("INBOX", None, None, MESSAGE)[0] == "OK"
    # COPY and MOVE from bob's INBOX into the full shared mailbox: refused.
    bob.select("INBOX")
    typ, data = bob.copy("1", shared)
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    typ, data = bob._simple_command("MOVE", "1", f'"{shared}"')
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    # A root bob shares nothing with is unknown.
    typ, data = bob._simple_command("GETQUOTA", '"User quota/nobody"')
    assert typ == "NO", data
    bob.logout()
    alice.logout()


def test_metadata_own_and_shared(server: ServerProcess, shared: str) -> None:
    bob = login(server, "bob")
    alice = login(server, "alice")
    assert run(bob, "SETMETADATA", "INBOX", '(/private/comment "mine")')[0] == "OK"
    typ, text = run(bob, "GETMETADATA", "INBOX", "/private/comment")
    assert typ == "OK" and b"mine" in text, text
    assert run(alice, "SETMETADATA", "Team", '(/private/comment "alice only")')[0] == "OK"
    typ, text = run(bob, "SETMETADATA", f'"{shared}"', '(/shared/comment "for the team")')
    assert typ == "OK", text
    typ, text = run(alice, "GETMETADATA", "Team", "/shared/comment")
    assert typ == "OK" and b"for the team" in text, text  # the owner's mailbox holds it
    typ, text = run(bob, "GETMETADATA", f'"{shared}"', "(/shared/comment /private/comment)")
    assert typ == "OK" and b"for the team" in text and b"alice only" not in text, text
    typ, data = bob._simple_command("SETMETADATA", f'"{shared}"', '(/private/comment "x")')
    assert typ == "NO" and b"Private" in data[0], data
    bob.logout()
    alice.logout()


def test_mailboxid_shared_is_the_owners(server: ServerProcess, shared: str) -> None:
    bob = login(server, "bob")
    alice = login(server, "alice")
    assert mailbox_id(bob, shared) == mailbox_id(alice, "Team")
    assert mailbox_id(bob, "INBOX") != mailbox_id(alice, "INBOX")
    typ, data = bob.select(f'"{shared}"')
    assert typ == "OK"
    assert mailbox_id(alice, "Team").decode() in str(bob.untagged_responses.get("OK")), bob.untagged_responses
    bob.logout()
    alice.logout()


def test_metadata_needs_l_and_one_more_right(server: ServerProcess, shared: str) -> None:
    """RFC 5464 §3.3: "l" and any one of "r", "s", "w", "i", "p"."""
    alice = login(server, "alice")
    bob = login(server, "bob")
    assert alice.create("Peek")[0] == "OK"
    assert run(alice, "SETACL", "Peek", "bob", "l")[0] == "OK"
    typ, data = bob._simple_command("GETMETADATA", '"shared/alice/Peek"', "/shared/comment")
    assert typ == "NO" and b"NOPERM" in data[0], data
    assert run(alice, "SETACL", "Peek", "bob", "lp")[0] == "OK"
    typ, text = run(bob, "SETMETADATA", '"shared/alice/Peek"', '(/shared/comment "posted")')
    assert typ == "OK", text
    typ, text = run(bob, "GETMETADATA", '"shared/alice/Peek"', "/shared/comment")
    assert typ == "OK" and b"posted" in text, text
    bob.logout()
    alice.logout()


@pytest.mark.parametrize("store", ["memory", "maildir"])
def test_notify_owner_of_shared_metadata_change(tmp_path: Path, store: str) -> None:
    """RFC 5465 §5.6: a /shared entry bob sets on alice's shared mailbox
    is told to alice's NOTIFY session, under her name for it.  Events are
    told within one process, so one worker here (--workers 2 may put the
    two sessions in different processes)."""
    with ServerProcess(tmp_path / "srv", "--acl", "--workers", "1", users=USERS,
                       store="memory" if store == "memory" else None) as server:
        alice = login(server, "alice")
        bob = login(server, "bob")
        assert alice.create("Team")[0] == "OK"
        assert run(alice, "SETACL", "Team", "bob", "lr")[0] == "OK"
        typ, data = alice._simple_command("NOTIFY", "SET", "(personal (MailboxMetadataChange))")
        assert typ == "OK", data
        typ, text = run(bob, "SETMETADATA", '"shared/alice/Team"', '(/shared/topic "news")')
        assert typ == "OK", text
        alice.noop()
        told = alice.untagged_responses.pop("METADATA", [])
        assert any(b"Team" in t and b"/shared/topic" in t for t in told if isinstance(t, bytes)), told
        bob.logout()
        alice.logout()
