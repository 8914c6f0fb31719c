"""The zope.interface seams: where mail lives and who may log in.

Every method that may touch storage returns a ``Deferred`` (DESIGN.md:
"always — never a value or a Deferred"); ``async def`` methods wrapped with
``Deferred.fromCoroutine`` are fine.  Mailbox names are ``str`` (already
decoded from modified UTF-7) with ``/`` as the hierarchy separator; the
name ``INBOX`` is always spelt in capitals.  A backend never sees sequence
numbers, tags or sessions: the session view in :mod:`mailframe.imap.view`
keeps those.

The mailbox is a log: every append, flag change and expunge gets a new,
larger modseq; expunges leave tombstones so :meth:`IMailbox.changes_since`
can report them.  :meth:`IMailbox.watch` delivers hints only ("something
changed"); sessions catch up by asking ``changes_since``.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

SEPARATOR = "/"


class IMailStore(Interface):
    """A whole store: the accounts of every user."""

    def account(username: str):  # type: ignore[no-untyped-def]
        """Deferred[IAccount] for ``username`` (created on first use)."""

    def close():  # type: ignore[no-untyped-def]
        """Deferred[None]: release files, connections and watchers."""


class IAccount(Interface):
    """One user's mailboxes.  The cred avatar of an IMAP login."""

    username = Attribute("str: the user this account belongs to")

    def list_mailboxes():  # type: ignore[no-untyped-def]
        """Deferred[list[MailboxEntry]]: every mailbox, INBOX included."""

    def mailbox(name: str):  # type: ignore[no-untyped-def]
        """Deferred[IMailbox]; fails with NonexistentMailbox."""

    def create_mailbox(name: str, special_use: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
        """Deferred[None]; creates missing parents too (RFC 3501 §6.3.3).
        Fails with MailboxExists, InvalidMailboxName."""

    def delete_mailbox(name: str):  # type: ignore[no-untyped-def]
        """Deferred[None].  A mailbox with children becomes \\Noselect
        (its messages go); one that is already \\Noselect and has
        children fails with MailboxHasChildren (RFC 3501 §6.3.4)."""

    def rename_mailbox(old: str, new: str):  # type: ignore[no-untyped-def]
        """Deferred[None]; moves children along.  Renaming INBOX moves its
        messages to the new mailbox and leaves INBOX empty (§6.3.5)."""

    def subscriptions():  # type: ignore[no-untyped-def]
        """Deferred[set[str]]."""

    def subscribe(name: str):  # type: ignore[no-untyped-def]
        """Deferred[None]."""

    def unsubscribe(name: str):  # type: ignore[no-untyped-def]
        """Deferred[None]."""


class IMailbox(Interface):
    """One mailbox, seen as a log of changes."""

    name = Attribute("str: the mailbox's name")
    uidvalidity = Attribute("int: constant for the mailbox's life")

    def status():  # type: ignore[no-untyped-def]
        """Deferred[MailboxStatus]."""

    def snapshot():  # type: ignore[no-untyped-def]
        """Deferred[Snapshot]: every message's (uid, flags, modseq)."""

    def changes_since(modseq: int):  # type: ignore[no-untyped-def]
        """Deferred[Changes] after ``modseq``."""

    def records(uids):  # type: ignore[no-untyped-def]
        """Deferred[list[MessageRecord]] for those of ``uids`` (ascending
        ints) that still exist, in UID order."""

    def open(uid: int):  # type: ignore[no-untyped-def]
        """Deferred[BinaryIO]: the message's bytes, exactly as stored,
        seekable; the caller closes it.  Fails with ExpungeIssued."""

    def append(content: bytes, flags: frozenset[str], internaldate):  # type: ignore[no-untyped-def]
        """Deferred[int]: the new UID, once the message is durable."""

    def store(uids, mode: str, flags: frozenset[str], unchangedsince=None):  # type: ignore[no-untyped-def]
        """Deferred[StoreResult].  ``mode`` is ``"set"``, ``"add"`` or
        ``"remove"``; a message whose flags do not change keeps its modseq.
        ``\\Recent`` is never stored."""

    def expunge(uids=None):  # type: ignore[no-untyped-def]
        """Deferred[list[int]]: remove the messages flagged ``\\Deleted``
        (among ``uids`` when given) and return their UIDs."""

    def copy(uids, destination):  # type: ignore[no-untyped-def]
        """Deferred[list[tuple[int, int]]]: (source uid, new uid) pairs.
        ``destination`` is another IMailbox of the same account."""

    def move(uids, destination):  # type: ignore[no-untyped-def]
        """Deferred[list[tuple[int, int]]]: copy then expunge the sources,
        as one step where the backend can (RFC 6851)."""

    def claim_recent():  # type: ignore[no-untyped-def]
        """Deferred[tuple[int, int]]: a half-open UID range [lo, hi) whose
        messages are \\Recent for the caller alone.  The first caller after
        new mail arrives gets it; later callers get an empty range
        (RFC 3501 §2.3.2)."""

    def watch(callback):  # type: ignore[no-untyped-def]
        """Register ``callback()`` (no arguments) to be called, soon, after
        any change to this mailbox by anyone.  Returns a zero-argument
        function that unregisters it."""


class IUserDirectory(Interface):
    """Who has a mailbox here: SMTP/LMTP ask it at RCPT time.

    Checkers that know their users (a passwd-file, the ``--user`` list)
    provide it alongside twisted.cred's ICredentialsChecker.
    """

    def exists(username: str):  # type: ignore[no-untyped-def]
        """Deferred[bool]: whether ``username`` may receive mail."""
