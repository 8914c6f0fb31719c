"""NOTIFY's mailbox events across processes (RFC 5465 §5.4, §5.5): a
CREATE, SUBSCRIBE, RENAME, UNSUBSCRIBE or DELETE made through another
server process on the same Maildir (as under ``--workers``) reaches a
NOTIFY session in this one as its LIST response, and the session that
made the change, and a session without those events, hear nothing.
Real server processes, a bare client over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.test_notify import Client
from tests.support.server import ServerProcess


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    store = "maildir:" + str(tmp_path / "mail")
    users = {"alice": "secret"}
    with ServerProcess(tmp_path / "one", users=users, store=store) as one:
        with ServerProcess(tmp_path / "two", users=users, store=store) as two:
            yield one, two


def heard(c: Client, count: int) -> set[bytes]:
    """The next ``count`` lines, then whatever else comes (none must)."""
    got = c.unsolicited(count)
    return set(got + c.silence())


def test_mailbox_events_from_another_process(two_processes: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = two_processes
    watcher, messages_only, writer = Client(one.imap_port), Client(one.imap_port), Client(two.imap_port)
    try:
        watcher.command(b"NOTIFY SET (personal (MailboxName SubscriptionChange))")
        messages_only.command(b"NOTIFY SET (personal (MessageNew MessageExpunge))")
        writer.command(b"NOTIFY SET (personal (MailboxName SubscriptionChange))")
        writer.command(b"CREATE Projects")
        assert heard(watcher, 1) == {b'* LIST (\\HasNoChildren) "/" Projects'}
        writer.command(b"SUBSCRIBE Projects")
        assert heard(watcher, 1) == {b'* LIST (\\HasNoChildren \\Subscribed) "/" Projects'}
        writer.command(b"CREATE Projects/2026")
        assert heard(watcher, 1) == {b'* LIST (\\HasNoChildren) "/" Projects/2026'}
        writer.command(b"UNSUBSCRIBE Projects")
        assert heard(watcher, 1) == {b'* LIST (\\HasChildren) "/" Projects'}
        # another process's RENAME: the old names gone, the new ones made
        writer.command(b"RENAME Projects Archive")
        assert heard(watcher, 4) == {
            b'* LIST (\\NonExistent) "/" Projects',
            b'* LIST (\\NonExistent) "/" Projects/2026',
            b'* LIST (\\HasChildren) "/" Archive',
            b'* LIST (\\HasNoChildren) "/" Archive/2026',
        }
        writer.command(b"DELETE Archive/2026")
        assert heard(watcher, 1) == {b'* LIST (\\NonExistent) "/" Archive/2026'}
        # the session that made the changes, and one without mailbox
        # events, were told nothing (RFC 5465 §5)
        assert writer.silence() == []
        assert messages_only.silence() == []
    finally:
        watcher.close()
        messages_only.close()
        writer.close()


def test_metadata_events_from_another_process(two_processes: tuple[ServerProcess, ServerProcess]) -> None:
    """RFC 5465 §5.6, §5.7: SETMETADATA through another process reaches
    the NOTIFY session as an unsolicited METADATA response naming the
    changed entries; the session's own SETMETADATA is not told back."""
    one, two = two_processes
    watcher, writer = Client(one.imap_port), Client(two.imap_port)
    try:
        writer.command(b"CREATE box2")
        watcher.command(b"NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
        writer.command(b'SETMETADATA box2 (/shared/comment "Team box" /private/comment "mine")')
        assert heard(watcher, 1) == {b"* METADATA box2 /private/comment /shared/comment"}
        writer.command(b'SETMETADATA "" (/shared/comment "server")')
        assert heard(watcher, 1) == {b'* METADATA "" /shared/comment'}
        writer.command(b"SETMETADATA box2 (/private/comment NIL)")
        assert heard(watcher, 1) == {b"* METADATA box2 /private/comment"}
        watcher.command(b'SETMETADATA INBOX (/private/comment "x")')
        assert watcher.silence() == []
    finally:
        watcher.close()
        writer.close()
