"""Change notification across accounts and processes (issue 13): bob,
IDLE on alice's folder in one server process, hears alice's append and
expunge made through another process on the same Maildir, and alice,
IDLE in her process, hears bob's.  The shared mailbox is the owner's own
folder, so the Maildir store's change hints (inotify, else its poll)
carry it.  The latency is measured, not asserted (see the printed
figure with ``-s``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b"}
MESSAGE = b"Subject: across\r\n\r\nbody\r\n"


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    store = "maildir:" + str(tmp_path / "mail")
    with ServerProcess(tmp_path / "a", "--acl", users=USERS, store=store) as one:
        with ServerProcess(tmp_path / "b", "--acl", users=USERS, store=store) as two:
            yield one, two


def login(server: ServerProcess, user: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", server.imap_port, ssl=False, timeout=30)
    c.login(user, USERS[user])
    return c


def wait_for(c: IMAPClient, word: bytes) -> float:
    """Seconds until an untagged response ending in ``word`` arrives in
    IDLE (fails after 30 s: a bound, not a timing assertion)."""
    start = time.monotonic()
    while time.monotonic() - start < 30:
        for response in c.idle_check(timeout=1):
            if response[-1:] == (word,) or (len(response) > 1 and response[1] == word):
                return time.monotonic() - start
    raise AssertionError(f"no {word!r} within 30 s")


def test_idle_across_accounts_and_processes(two_servers: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = two_servers
    alice = login(two, "alice")
    alice.create_folder("Projects")
    alice.setacl("Projects", "bob", "lrswite")
    bob = login(one, "bob")
    bob.select_folder("shared/alice/Projects")
    bob.idle()
    alice.append("Projects", MESSAGE)
    appended = wait_for(bob, b"EXISTS")
    alice.select_folder("Projects")
    alice.add_flags([1], ["\\Deleted"])
    alice.expunge()
    expunged = wait_for(bob, b"EXPUNGE")
    bob.idle_done()

    alice.idle()
    bob.append("shared/alice/Projects", MESSAGE)
    back = wait_for(alice, b"EXISTS")
    alice.idle_done()
    print(f"\nIDLE across processes: append {appended:.3f}s, expunge {expunged:.3f}s, back {back:.3f}s")
    bob.logout()
    alice.logout()
