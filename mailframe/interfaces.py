"""The zope.interface seams: where mail lives and who may log in.

The contract a store signs (checked by :mod:`mailframe.testing`; run
``python -m mailframe.testing module.path:factory`` against yours):

**Deferreds.** Every method that may touch storage returns a ``Deferred``
(never "a value or a Deferred"); ``async def`` methods wrapped with
``Deferred.fromCoroutine`` are fine.  A store never blocks the reactor on
disk or network work: it runs that in a thread or an async driver.

**Names.** Mailbox names are ``str`` (already decoded from modified UTF-7)
with ``/`` (:data:`SEPARATOR`) as the hierarchy separator.  ``INBOX`` is
case-insensitive (RFC 3501 §5.1) and always spelt ``INBOX`` in what a
store returns; it always exists and cannot be deleted.  A store refuses,
with :class:`mailframe.errors.InvalidMailboxName` (or ``NonexistentMailbox``
when only looking a name up), the names in
:data:`mailframe.testing.INVALID_NAMES`: empty names, empty levels
(``"a//b"``, ``"/a"``, ``"a/"``), ``.`` and ``..`` levels, and control
characters.

**Hierarchy.** CREATE makes missing parents (RFC 3501 §6.3.3).  DELETE of a
mailbox with children keeps the name as ``\\Noselect`` and drops its
messages; DELETE of a ``\\Noselect`` name with children fails with
``MailboxHasChildren`` (§6.3.4).  RENAME moves the children along, creates
missing parents of the new name, refuses a name that exists
(``MailboxExists``) and a rename into the mailbox's own hierarchy
(``CannotDo``); RENAME of INBOX moves its messages to the new mailbox and
leaves INBOX empty (§6.3.5).  A ``\\Noselect`` name is listed but
``mailbox(name)`` fails with ``NonexistentMailbox``.

**Handed-out objects.** An :class:`IMailbox` already handed out stays
usable: after DELETE of it its messages read as expunged
(``changes_since`` reports them, watchers hear of it) and appending to it
fails (``TryCreate`` or another ``CommandFailed``); after RENAME it keeps working under the new
name.

**Errors.** Fail with the typed exceptions of :mod:`mailframe.errors`
(``NonexistentMailbox``, ``MailboxExists``, ``MailboxHasChildren``,
``TryCreate``, ``ExpungeIssued``, ``OverQuota``, ``CannotDo``...); the
session turns them into ``NO [CODE]``.  Anything else becomes
``NO [SERVERBUG]`` and is logged with its traceback.

**The mailbox is a log.** Every append, flag change and expunge gets a new,
larger modseq; expunges leave tombstones so :meth:`IMailbox.changes_since`
can report them.  :meth:`IMailbox.watch` delivers hints only ("something
changed"); sessions catch up by asking ``changes_since``.  A store never
sees sequence numbers, tags or sessions: the session view in
:mod:`mailframe.imap.view` keeps those.  :class:`mailframe.store.LogMailbox`
keeps this bookkeeping for you.

**Optional interfaces.** A mailbox may also provide
:class:`ISearchableMailbox`, and must provide :class:`IExpungeHistory` if
it ever forgets tombstones (QRESYNC then answers the RFC 7162 §3.2.5.2
way); an account or store may provide the capability
interfaces listed in :data:`OPTIONAL_CAPABILITIES`.  The framework finds
them with ``providedBy`` and advertises an extension only where the store
provides what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

from mailframe.records import StoreMode

if TYPE_CHECKING:
    from datetime import datetime

    from twisted.internet.defer import Deferred

    from mailframe.imap.types import SearchKey
    from mailframe.quota import QuotaLimits, QuotaUsage
    from mailframe.records import (
        AppendResult,
        Changes,
        CopyResult,
        MailboxEntry,
        MailboxStatus,
        MessageRecord,
        MessageState,
        NewMessage,
        Snapshot,
        StoreResult,
    )

__all__ = [
    "SEPARATOR",
    "StoreMode",
    "IMailStore",
    "IAccount",
    "IMailbox",
    "ISearchableMailbox",
    "IQuotaAccount",
    "IMetadataAccount",
    "IObjectIdAccount",
    "IACLStore",
    "IACLAccount",
    "IUserDirectory",
    "IExpungeHistory",
    "ISortableMailbox",
    "OPTIONAL_CAPABILITIES",
    "optional_capabilities",
]

SEPARATOR = "/"


class IMailStore(Interface):
    """A whole store: the accounts of every user."""

    def account(username: str) -> Deferred[IAccount]:
        """The account of ``username`` (created on first use)."""

    def close() -> Deferred[None]:
        """Release files, connections and watchers."""


class IAccount(Interface):
    """One user's mailboxes.  The cred avatar of an IMAP login."""

    username = Attribute("str: the user this account belongs to")

    def list_mailboxes() -> Deferred[list[MailboxEntry]]:
        """Every mailbox, INBOX included; ``\\Noselect`` placeholders carry
        that attribute, others their special-use attributes (RFC 6154)."""

    def mailbox(name: str) -> Deferred[IMailbox]:
        """The mailbox ``name``; fails with NonexistentMailbox (also for a
        ``\\Noselect`` name)."""

    def create_mailbox(name: str, special_use: frozenset[str] = frozenset()) -> Deferred[None]:
        """Create ``name`` and its missing parents (RFC 3501 §6.3.3).
        Fails with MailboxExists, InvalidMailboxName, or CannotDo with code
        ``USEATTR`` for an attribute outside
        :data:`mailframe.vocabulary.SPECIAL_USE` (RFC 6154 §3)."""

    def delete_mailbox(name: str) -> Deferred[None]:
        """A mailbox with children becomes ``\\Noselect`` (its messages
        go); one that is already ``\\Noselect`` and has children fails with
        MailboxHasChildren; INBOX fails with CannotDo (RFC 3501 §6.3.4)."""

    def rename_mailbox(old: str, new: str) -> Deferred[None]:
        """Rename, children along.  Renaming INBOX moves its messages to
        the new mailbox and leaves INBOX empty (§6.3.5)."""

    def subscriptions() -> Deferred[set[str]]:
        """LSUB's names (RFC 3501 §6.3.6); they need not exist."""

    def subscribe(name: str) -> Deferred[None]:
        """Add ``name`` to the subscriptions."""

    def unsubscribe(name: str) -> Deferred[None]:
        """Remove ``name`` from the subscriptions."""


class IMailbox(Interface):
    """One mailbox, seen as a log of changes.

    Reads come in three weights, so nobody asks for more than a response
    needs: :meth:`states` (flags, modseq, size, internal date: FLAGS,
    RFC822.SIZE, INTERNALDATE and most SEARCH keys), :meth:`records` (plus
    the parsed structure: ENVELOPE, BODYSTRUCTURE, header searches) and
    :meth:`read` (bytes, whole or a range: body sections, text searches).
    UIDVALIDITY comes with :meth:`status`, :meth:`snapshot` and the results
    of appends and copies; there is no synchronous attribute for it.
    """

    name = Attribute("str: the mailbox's name (it follows a RENAME)")

    def status() -> Deferred[MailboxStatus]:
        """Counters for STATUS and SELECT (RFC 3501 §6.3.10)."""

    def snapshot() -> Deferred[Snapshot]:
        """Every message's (uid, flags, modseq): what SELECT starts from."""

    def changes_since(modseq: int) -> Deferred[Changes]:
        """What was appended, changed or expunged after ``modseq``."""

    def states(uids: Sequence[int]) -> Deferred[list[MessageState]]:
        """The cheap state of those of ``uids`` (ascending) that still
        exist, in UID order; no parsing, no message bytes."""

    def records(uids: Sequence[int]) -> Deferred[list[MessageRecord]]:
        """State plus parsed structure (computed when the message arrived)
        of those of ``uids`` that still exist, in UID order."""

    def read(uid: int, start: int = 0, end: int | None = None) -> Deferred[bytes]:
        """The message's bytes exactly as stored, ``[start:end]`` (``end``
        ``None``: to the end), so a store can serve a range from a file, a
        row or a socket without loading the rest.  Fails with
        ExpungeIssued when ``uid`` is gone."""

    def append(
        content: bytes, flags: frozenset[str] = frozenset(), internaldate: datetime | None = None
    ) -> Deferred[int]:
        """One message; its new UID once it is durable.  The same as
        :meth:`append_many` with one message (``internaldate`` ``None``:
        now)."""

    def append_many(messages: Sequence[NewMessage]) -> Deferred[AppendResult]:
        """Append ``messages`` all or none (RFC 3502): either every one is
        stored, durable, and watchers hear of them, or none is and the
        Deferred fails.  ``\\Recent`` in flags is ignored."""

    def store(
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> Deferred[StoreResult]:
        """Change flags (RFC 3501 §6.4.6; UNCHANGEDSINCE RFC 7162 §3.1.3);
        a message whose flags do not change keeps its modseq.  ``\\Recent``
        is never stored."""

    def expunge(uids: Sequence[int] | None = None) -> Deferred[list[int]]:
        """Remove the messages flagged ``\\Deleted`` (among ``uids`` when
        given) and return their UIDs."""

    def can_copy_to(destination: IMailbox) -> bool:
        """Whether :meth:`copy` and :meth:`move` can take ``destination``
        (typically: a mailbox of the same store).  No I/O.  When not, the
        framework copies through the public methods
        (:func:`mailframe.crossstore.copy_across`)."""

    def copy(uids: Sequence[int], destination: IMailbox) -> Deferred[CopyResult]:
        """Copy (RFC 3501 §6.4.7): flags and internal dates kept, new UIDs
        in ``destination``, all or none."""

    def move(uids: Sequence[int], destination: IMailbox) -> Deferred[CopyResult]:
        """Copy then expunge the sources whatever their flags, as one step
        where the store can (RFC 6851)."""

    def claim_recent() -> Deferred[tuple[int, int]]:
        """A half-open UID range [lo, hi) whose messages are ``\\Recent``
        for the caller alone.  The first caller after new mail arrives gets
        it; later callers get an empty range (RFC 3501 §2.3.2)."""

    def peek_recent() -> Deferred[tuple[int, int]]:
        """The range :meth:`claim_recent` would give, without claiming it:
        what EXAMINE shows as ``\\Recent`` (RFC 3501 §6.3.2)."""

    def watch(callback: Callable[[], object]) -> Callable[[], None]:
        """Register ``callback()`` to be called, soon, after any change to
        this mailbox by anyone.  Returns a function that unregisters it."""


class ISearchableMailbox(IMailbox):
    """A mailbox that can answer some SEARCH keys itself (from an index).

    The framework hands over a key in which sequence numbers are already
    UID sets and ``\\Recent`` (RECENT, NEW, OLD) is resolved by the session,
    and the UIDs to search among; the store answers the matching ones, or
    ``None`` ("not answerable"), and the framework's own matcher takes
    over.  Both must give identical answers (RFC 3501 §6.4.4).
    """

    def search(key: SearchKey, uids: Sequence[int]) -> Deferred[list[int] | None]:
        """The UIDs among ``uids`` (ascending) matching ``key``, ascending;
        or ``None`` when this store cannot answer ``key``."""


class IBatchReadMailbox(IMailbox):
    """A mailbox that reads several whole messages in one call (optional).

    FETCH of many small messages (``BODY[]``, ``RFC822``, ``BODY[TEXT]``)
    asks for their bytes in groups bounded in total size, so a store pays
    its per-call cost (a refresh, a round trip, a thread hop) once per
    group.  Without it the framework calls :meth:`IMailbox.read` per
    message; the answers are the same.
    """

    def read_many(uids: Sequence[int]) -> Deferred[dict[int, bytes]]:
        """The whole bytes, exactly as :meth:`IMailbox.read` gives them, of
        those of ``uids`` that still exist, keyed by UID (a message gone
        is left out, not an error)."""


class IExpungeHistory(IMailbox):
    """A mailbox that can say how far back its expunge tombstones go.

    A store that prunes tombstones (to bound its index) provides this so
    that QRESYNC answers the RFC way once they are gone (RFC 7162
    §3.2.5.2, §3.2.6: "a mod-sequence smaller than <minmodseq> ... MUST
    behave as if it was requested to report all expunged messages"): the
    session then reports every UID of the client's known range that no
    longer exists.  A mailbox without it is taken to keep every tombstone
    (``changes_since`` is complete, as the contract above asks).
    """

    def expunged_since(modseq: int) -> Deferred[list[int] | None]:
        """The UIDs expunged after ``modseq``, ascending; ``None`` when
        tombstones that old have been pruned (so the answer would be
        incomplete)."""


class IQuotaAccount(Interface):
    """An account with a quota (RFC 9208): one root
    (:data:`mailframe.quota.QUOTA_ROOT`), resources ``STORAGE`` and
    ``MESSAGE``.  :class:`mailframe.store.quota.QuotaStore` gives it to
    any store's accounts."""

    def quota() -> Deferred[tuple[QuotaUsage, QuotaLimits]]:
        """The account's current usage (octets as stored, messages) and
        its limits, for GETQUOTA and for the check before each write
        (:func:`mailframe.quota.ensure_room`)."""


class IMetadataAccount(Interface):
    """An account that keeps METADATA entries (RFC 5464) on its mailboxes
    and on the server (mailbox ``""``, METADATA-SERVER).  Entry names are
    lower-case (§3.2: case-insensitive); values are octets.
    :class:`mailframe.store.metadata.MetadataStore` gives it to the
    stores we ship."""

    def get_metadata(mailbox: str) -> Deferred[dict[str, bytes]]:
        """Every entry of ``mailbox`` (``""``: the server's); fails with
        NonexistentMailbox for a mailbox that does not exist."""

    def set_metadata(mailbox: str, changes: Mapping[str, bytes | None]) -> Deferred[None]:
        """Set (``None``: remove) entries, all or none (§4.3); fails with
        ``[METADATA MAXSIZE n]`` or ``[METADATA TOOMANY]`` past the
        limits.  Entries follow their mailbox through RENAME and go with
        it on DELETE (§4.1)."""


class IObjectIdAccount(Interface):
    """An account whose mailboxes keep their UIDVALIDITY through RENAME and
    whose messages' bytes never change, so the framework can give them
    stable object identifiers (RFC 8474 OBJECTID: MAILBOXID from the user
    and UIDVALIDITY, EMAILID from the content; see
    :mod:`mailframe.imap.commands.objectid`).  A marker: no methods.
    :class:`mailframe.store.objectid.ObjectIdStore` gives it to the stores
    we ship."""

    username = Attribute("str: the user this account belongs to")


class IUserDirectory(Interface):
    """Who has a mailbox here: SMTP/LMTP ask it at RCPT time.

    Checkers that know their users (a passwd-file, the ``--user`` list)
    provide it alongside twisted.cred's ICredentialsChecker.
    """

    def exists(username: str) -> Deferred[bool]:
        """Whether ``username`` may receive mail."""


#: Capability interfaces an account may provide, and the IMAP capability
#: each makes possible once the command handlers for it exist.  The session
#: advertises a capability only where the account provides the interface
#: (:func:`optional_capabilities`) and the framework serves the extension.
OPTIONAL_CAPABILITIES: dict[str, type[Interface]] = {"QUOTA": IQuotaAccount}
# RFC 9208 §3.1: the resources the quota roots may have.
OPTIONAL_CAPABILITIES["QUOTA=RES-STORAGE"] = IQuotaAccount
OPTIONAL_CAPABILITIES["QUOTA=RES-MESSAGE"] = IQuotaAccount
# RFC 5464: mailbox and server annotations.
OPTIONAL_CAPABILITIES["METADATA"] = IMetadataAccount
OPTIONAL_CAPABILITIES["METADATA-SERVER"] = IMetadataAccount
# RFC 8474: MAILBOXID, EMAILID, THREADID.
OPTIONAL_CAPABILITIES["OBJECTID"] = IObjectIdAccount


def optional_capabilities(account: object, served: frozenset[str]) -> list[str]:
    """The capabilities in ``served`` (those the framework has handlers
    for) whose interface ``account`` provides, in table order."""
    return [
        cap
        for cap, iface in OPTIONAL_CAPABILITIES.items()
        if cap in served and iface.providedBy(account)
    ]


class IACLStore(Interface):
    """A store that keeps access control lists (RFC 4314) for its
    mailboxes, so users can share them (:mod:`mailframe.acl`).

    An ACL maps identifiers (user names, ``anyone``, ``authenticated``,
    and ``-``-prefixed negative entries) to sets of right letters; the
    owner appears under their own user name.  ``None`` means "none stored":
    the default applies (the owner holds every right).  DELETE of a mailbox
    drops its ACL; RENAME keeps it (RFC 4314 §4).
    """

    def get_acl(owner: str, name: str) -> Deferred[dict[str, frozenset[str]] | None]:
        """The ACL of ``owner``'s mailbox ``name``; NonexistentMailbox when
        there is no such selectable mailbox."""

    def set_acl(owner: str, name: str, acl: dict[str, frozenset[str]] | None) -> Deferred[None]:
        """Replace the ACL of ``owner``'s mailbox ``name`` (None: back to
        the default)."""

    def sharers(user: str) -> Deferred[set[str]]:
        """Owners who grant ``user`` (or anyone) a right on some mailbox."""

    def has_account(owner: str) -> Deferred[bool]:
        """Whether ``owner`` has an account here (never creates one)."""


class IACLAccount(IAccount):
    """An account whose mailbox names reach other users' shared mailboxes
    under access control (RFC 4314, RFC 2342 namespaces): what the session
    needs to serve ACL, MYRIGHTS, LISTRIGHTS, SETACL, DELETEACL, GETACL."""

    def namespaces() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        """NAMESPACE's personal, other users' and shared (prefix,
        separator) lists (RFC 2342 §5)."""

    def myrights(name: str) -> Deferred[frozenset[str]]:
        """The logged-in user's rights on ``name`` (RFC 4314 §3.5); fails
        with NonexistentMailbox where the user may not even see it."""

    def get_acl(name: str) -> Deferred[dict[str, frozenset[str]]]:
        """GETACL (needs ``a``)."""

    def set_rights(name: str, identifier: str, mode: str, rights: frozenset[str]) -> Deferred[None]:
        """SETACL (``mode`` ``+``, ``-`` or ``=``) and DELETEACL (``mode``
        ``delete``); needs ``a``."""

    def listrights(name: str, identifier: str) -> Deferred[tuple[str, list[str]]]:
        """LISTRIGHTS: the rights always granted and the groups that may
        be (RFC 4314 §3.7); needs ``a``."""


OPTIONAL_CAPABILITIES["ACL"] = IACLAccount
OPTIONAL_CAPABILITIES["RIGHTS=texk"] = IACLAccount
OPTIONAL_CAPABILITIES["LIST-MYRIGHTS"] = IACLAccount


class ISortableMailbox(IMailbox):
    """A mailbox that orders messages for SORT itself (optional), from
    sort keys it computed once per message (RFC 5256 §3; DISPLAYFROM and
    DISPLAYTO, RFC 5957 §3).

    The keys must be those of :func:`mailframe.message.sortkeys.sort_keys`
    and compared as the framework compares them (strings code point by
    code point, ties by UID ascending even under REVERSE), so the answer
    is the one the framework would give; the framework still finds the
    messages (SEARCH) and maps UIDs to sequence numbers.
    """

    def sort_uids(
        criteria: Sequence[tuple[str, bool]], uids: Sequence[int]
    ) -> Deferred[list[int] | None]:
        """Those of ``uids`` (ascending) that still exist, ordered by
        ``criteria`` ((key, reverse) pairs, most significant first; keys
        as RFC 5256/5957 spell them: ARRIVAL, CC, DATE, FROM, SIZE,
        SUBJECT, TO, DISPLAYFROM, DISPLAYTO); ``None`` when this store
        cannot answer (then the framework sorts)."""
