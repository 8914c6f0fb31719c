"""NOTIFY (RFC 5465) at work: watching mailboxes for one session and
telling its client what changed, between commands and during IDLE.

Message events come through the same change hints IDLE uses
(``IMailbox.watch``: in-process for the memory and SQL stores, inotify
and the notification socket for Maildir and mbox, so changes made by
other worker processes arrive too).  A hint only marks the mailbox; the
session then asks ``status()`` and compares with what it last told the
client, as DESIGN.md's log model has it: hints never carry data.

METADATA events (MailboxMetadataChange, ServerMetadataChange, §5.6,
§5.7) are published by SETMETADATA (:func:`metadata_changed`) the same
way (those of other processes: see below, the metadata read again and
compared).  Mailbox events (MailboxName, SubscriptionChange, §5.4, §5.5) are
published by the sessions of this process that CREATE, DELETE, RENAME,
SUBSCRIBE or UNSUBSCRIBE (:func:`mailbox_command_done`), to the other
sessions of the same user; the session that made the change is not told
(§5: "SHOULD omit notifying the client if the event is caused by this
client").  Changes made by another process (``--workers``, another
server on the same Maildir) arrive as a hint from the account
(``watch_mailboxes``: inotify on the Maildir root), again without data:
the session lists the mailboxes and subscriptions again and tells the
client what differs from what it last saw (a RENAME there is told as the
old name gone and the new one made: nothing says it was one), leaving out
what this process's own events already told.

A client that stops reading makes the session wait in ``drain()``
(TCP backpressure) while hints keep arriving; they only mark mailboxes,
so what waits is bounded by the watched set, never a growing queue.  The
watched set itself is bounded (``ServerConfig.notify_max_mailboxes``):
past it NOTIFY is refused, or ended with ``* OK [NOTIFICATIONOVERFLOW]``
(§5.8) when mailboxes created later would take it past.

Sans-IO: no twisted here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from weakref import WeakSet

from mailframe.imap import command as c
from mailframe.imap.registry import REGISTRY
from mailframe.imap.serialize import Atom, Raw, Value, astring
from mailframe.imap.types import SequenceSet
from mailframe.imap.utf8 import enabled as utf8_enabled
from mailframe.imap.utf8 import mailbox_name

__all__ = ["NotifyState", "mailbox_command_starting", "mailbox_command_done", "metadata_changing",
           "metadata_changed", "MESSAGE_EVENTS",
           "MAILBOX_EVENTS", "METADATA_EVENTS", "OVERFLOW"]

MESSAGE_EVENTS = frozenset({"MessageNew", "MessageExpunge", "FlagChange"})
#: RFC 5465 §5.6, §5.7 (served where METADATA is).
METADATA_EVENTS = frozenset({"MailboxMetadataChange", "ServerMetadataChange"})
#: Events SELECTED / SELECTED-DELAYED may not take (§6.1).
MAILBOX_EVENTS = frozenset({"MailboxName", "SubscriptionChange"}) | METADATA_EVENTS
SEP = "/"
#: ``* OK [NOTIFICATIONOVERFLOW]`` (RFC 5465 §5.8).
OVERFLOW = "NOTIFICATIONOVERFLOW"

#: NotifyStates with mailbox events wanted, by user name (this process).
_LISTENERS: dict[str, WeakSet[NotifyState]] = {}


def _matches(group: c.NotifyGroup, name: str, subscribed: set[str]) -> bool:
    """Whether a non-selected filter covers ``name`` (RFC 5465 §6.2-§6.6).
    INBOXES is PERSONAL: SMTP and LMTP deliver to ``user+folder``
    mailboxes too, so any mailbox may receive mail (§6.3: then "MUST
    treat inboxes as equivalent to personal"; Dovecot does the same)."""
    f = group.filter
    if f in ("PERSONAL", "INBOXES"):
        return True
    if f == "SUBSCRIBED":
        return name in subscribed
    if f == "SUBTREE":
        return any(name == m or name.startswith(m + SEP) for m in group.mailboxes)
    if f == "MAILBOXES":
        return name in group.mailboxes
    return False


def _nothing() -> None:
    """The unregister of a watch that was not made."""


K = TypeVar("K")


class _Covered(Generic[K]):
    """What this process's own events already told (or this session did),
    kept until a read of the store is sure to show it.

    A read (the mailbox list, the metadata) is compared with the last one
    and the differences told, but those covered here.  A mark made while a
    read is under way may or may not be in what that read returns, so it
    is kept for the next read too; a mark made before a read began is
    dropped after that read.  Dropping marks at the first read after them,
    as one set swapped out per read did, told a change made during the
    read twice: once by its own event, once as a difference the next
    read found."""

    def __init__(self) -> None:
        self._marks: dict[K, int] = {}
        self._reads = 0

    def add(self, key: K) -> None:
        self._marks[key] = self._reads

    def begin(self) -> int:
        """A read starts; returns its number for :meth:`settle`."""
        self._reads += 1
        return self._reads

    def settle(self, read: int) -> set[K]:
        """The marks to leave out of read ``read``'s differences; those
        made before it began are dropped from here on."""
        keys = set(self._marks)
        self._marks = {k: n for k, n in self._marks.items() if n >= read}
        return keys


@dataclass
class _Watched:
    """One non-selected mailbox being watched and what the client knows."""

    mailbox: Any
    unwatch: Callable[[], None]
    status: Any
    events: frozenset[str]


@dataclass(eq=False)
class NotifyState:
    """The NOTIFY SET in force on one session."""

    groups: tuple[c.NotifyGroup, ...]
    user: str
    wake: Callable[[], None]
    limit: int
    selected: c.NotifyGroup | None = None
    watched: dict[str, _Watched] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    #: LIST responses waiting: (name, old name or None, event).
    pending: list[tuple[str, str | None, str]] = field(default_factory=list)
    #: METADATA responses waiting: mailbox ("" the server) → entry names.
    metadata: dict[str, set[str]] = field(default_factory=dict)
    #: The subscriptions and the mailbox list as last seen.
    subscribed: set[str] = field(default_factory=set)
    entries: dict[str, frozenset[str]] = field(default_factory=dict)
    stale: bool = False  # the watched set must be evaluated again
    #: The account's mailbox-list hint's unregister (changes made by
    #: other processes); None before the first :meth:`watch`.
    unwatch_list: Callable[[], None] | None = None
    #: Names this process's own events covered since the last evaluation
    #: (told through ``pending``, or made by this session): not told again
    #: as differences.
    covered: _Covered[str] = field(default_factory=_Covered)
    #: Whether ``entries`` and ``subscribed`` hold a listing yet.
    listed: bool = False
    #: METADATA as last read (mailbox, "" the server → entries), where
    #: metadata events are wanted and the account reads it all at once;
    #: and the (mailbox, entry) pairs this process's own events covered.
    metadata_seen: dict[str, dict[str, bytes]] | None = None
    metadata_covered: _Covered[tuple[str, str]] = field(default_factory=_Covered)
    #: The selected mailbox changed since it was last looked at.
    selected_dirty: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        for g in self.groups:
            if g.filter in ("SELECTED", "SELECTED-DELAYED") and g.events:
                self.selected = g
        # Every state listens: a new mailbox may join the watched set.
        _LISTENERS.setdefault(self.user, WeakSet()).add(self)

    # --- which events for which mailbox --------------------------------------

    def events_for(self, name: str, subscribed: set[str]) -> frozenset[str]:
        """Events the non-selected filters ask for on ``name``."""
        out: set[str] = set()
        for g in self.groups:
            if g.filter not in ("SELECTED", "SELECTED-DELAYED") and _matches(g, name, subscribed):
                out.update(g.events)
        return frozenset(out)

    @property
    def has_work(self) -> bool:
        """Something to tell (or re-evaluate) is waiting.  A hint that
        arrives while the session is busy cannot wake it, so the session
        asks this after each command and :meth:`deliver` before it
        returns."""
        return bool(self.pending or self.stale or self.dirty or self.selected_dirty or self.metadata)

    @property
    def wants_selected(self) -> bool:
        """Changes of the selected mailbox are to be told at once."""
        return self.selected is not None

    # --- the watched set -----------------------------------------------------

    async def watch(self, account: Any) -> list[str]:
        """(Re)compute the mailboxes to watch for message events and watch
        them; returns the names newly watched.  Raises OverflowError past
        ``limit`` mailboxes (RFC 5465 §3.1: "too expensive")."""
        if self.unwatch_list is None:
            watch_list = getattr(account, "watch_mailboxes", None)
            self.unwatch_list = (watch_list(self._list_hint) if watch_list is not None else None) or _nothing
        entries = await account.list_mailboxes()
        subscribed = self.subscribed = set(await account.subscriptions())
        self.entries = {e.name: e.attributes for e in entries}
        self.listed = True
        wanted: dict[str, frozenset[str]] = {}
        for entry in entries:
            if entry.attributes & {"\\Noselect", "\\NonExistent"}:
                continue
            events = self.events_for(entry.name, subscribed) & MESSAGE_EVENTS
            if events:
                wanted[entry.name] = events
        if len(wanted) > self.limit:
            raise OverflowError(f"NOTIFY would watch {len(wanted)} mailboxes (at most {self.limit})")
        for name in list(self.watched):
            if name not in wanted:
                self.watched.pop(name).unwatch()
        added = []
        for name, events in wanted.items():
            known = self.watched.get(name)
            if known is not None:
                known.events = events
                continue
            try:
                mailbox = await account.mailbox(name)
                status = await mailbox.status()
            except Exception:  # deleted meanwhile: RFC 5465 §3.1, ignore it
                continue
            unwatch = mailbox.watch(self._hint(name))
            self.watched[name] = _Watched(mailbox, unwatch, status, events)
            added.append(name)
        self.stale = False
        await self._metadata_since(account)
        return added

    async def _metadata_since(self, account: Any) -> None:
        """Metadata changes made by other processes (RFC 5465 §5.6, §5.7):
        the entries that differ from the last read, but those this
        process's own events covered (:func:`metadata_changed`)."""
        read = self.metadata_covered.begin()
        wanted = any(METADATA_EVENTS.intersection(g.events) for g in self.groups
                     if g.filter not in ("SELECTED", "SELECTED-DELAYED"))
        snapshot = getattr(account, "metadata_snapshot", None)
        if not wanted or snapshot is None:
            self.metadata_covered.settle(read)
            return
        now: dict[str, dict[str, bytes]] | None = await snapshot()
        covered = self.metadata_covered.settle(read)
        if now is None:
            return
        before, self.metadata_seen = self.metadata_seen, now
        if before is None:
            return
        for mailbox in sorted(set(before) | set(now)):
            old, new = before.get(mailbox, {}), now.get(mailbox, {})
            changed = sorted(e for e in set(old) | set(new)
                             if old.get(e) != new.get(e) and (mailbox, e) not in covered)
            if changed and (mailbox == "" or mailbox in self.entries):
                self.publish_metadata(mailbox, changed)

    def cover_metadata(self, mailbox: str, entries: list[str]) -> None:
        """Entries changed by this process (told already, or made by this
        session): not told again when metadata is compared."""
        for e in entries:
            self.metadata_covered.add((mailbox, e))

    def _hint(self, name: str) -> Callable[[], None]:
        def changed() -> None:
            if not self.closed:
                self.dirty.add(name)
                self.wake()

        return changed

    def _list_hint(self) -> None:
        """The mailbox list or subscriptions may have changed (possibly in
        another process): evaluate them again."""
        if not self.closed:
            self.stale = True
            self.wake()

    def close(self) -> None:
        self.closed = True
        if self.unwatch_list is not None:
            try:
                self.unwatch_list()
            except Exception:  # a store's unwatch must not break logout
                pass
            self.unwatch_list = None
        for w in self.watched.values():
            try:
                w.unwatch()
            except Exception:  # a store's unwatch must not break logout
                pass
        self.watched.clear()
        listeners = _LISTENERS.get(self.user)
        if listeners is not None:
            listeners.discard(self)
            if not listeners:
                del _LISTENERS[self.user]

    # --- delivery --------------------------------------------------------------

    async def deliver(self, session: Any, idle: bool = False) -> None:
        """Tell the client what changed (RFC 5465 §5): LIST responses for
        mailbox events, STATUS for other mailboxes, and the selected
        mailbox's changes when SELECTED / SELECTED-DELAYED asks for them
        (expunges only where allowed: always in IDLE, never between
        commands with SELECTED-DELAYED, §6.1.2)."""
        while not self.closed and self.has_work:
            await self._deliver_once(session, idle)

    async def _deliver_once(self, session: Any, idle: bool) -> None:
        if self.pending or self.stale:
            await self._mailbox_events(session)
            if self.closed:
                return
        self.metadata_events(session)
        while self.dirty:
            name = self.dirty.pop()
            w = self.watched.get(name)
            if w is None:
                continue
            try:
                status = await w.mailbox.status()
            except Exception:  # deleted: MailboxName tells of that
                continue
            before, w.status = w.status, status
            selected = session.mailbox is not None and session.mailbox.name == name
            if not selected:
                values = self._status_change(session, before, status, w.events)
                if values:
                    session.untagged(Atom("STATUS"), Raw(mailbox_name(name, utf8_enabled(session))), values)
        self.selected_dirty = False
        if self.selected is not None and session.view is not None:
            await self._selected(session, idle)
        await session.io.drain()  # a client that does not read holds us here

    def _status_change(self, session: Any, before: Any, now: Any, events: frozenset[str]) -> list[Value]:
        """The STATUS data for a change of a non-selected mailbox
        (§5.1-§5.3), in Dovecot's order; empty when nothing asked for
        changed."""
        condstore = "CONDSTORE" in session.enabled or "QRESYNC" in session.enabled
        out: list[Value] = []
        counts = (before.messages, before.uidnext, before.uidvalidity) != (now.messages, now.uidnext, now.uidvalidity)
        if counts and events & {"MessageNew", "MessageExpunge"}:
            out += [Atom("MESSAGES"), now.messages, Atom("UIDNEXT"), now.uidnext]
            if before.uidvalidity != now.uidvalidity:
                out += [Atom("UIDVALIDITY"), now.uidvalidity]
            out += [Atom("UNSEEN"), now.unseen]
            if condstore:
                out += [Atom("HIGHESTMODSEQ"), now.highestmodseq]
            return out
        if "FlagChange" not in events:
            return out
        if condstore and (before.highestmodseq != now.highestmodseq or before.uidvalidity != now.uidvalidity):
            # §5.1: "at least HIGHESTMODSEQ and UIDVALIDITY" (Dovecot 2.3
            # leaves UIDVALIDITY out); UNSEEN when it changed, as Dovecot.
            out += [Atom("UIDVALIDITY"), now.uidvalidity]
            if before.unseen != now.unseen:
                out += [Atom("UNSEEN"), now.unseen]
            out += [Atom("HIGHESTMODSEQ"), now.highestmodseq]
        elif before.uidvalidity != now.uidvalidity:
            out += [Atom("UIDVALIDITY"), now.uidvalidity]
        elif before.unseen != now.unseen:
            out += [Atom("UNSEEN"), now.unseen]
        return out

    async def _selected(self, session: Any, idle: bool) -> None:
        """Changes of the selected mailbox, as IDLE would send them, with
        UID in the FETCH of flag changes (§5.1) and MessageNew's fetch
        attributes for the new messages (§5.2)."""
        assert self.selected is not None
        view = session.view
        newest = view.uids[-1] if len(view.uids) else 0
        allow_expunge = idle or self.selected.filter == "SELECTED"
        await session.catch_up(allow_expunge, True)
        view = session.view
        if view is None or not self.selected.fetch or "MessageNew" not in self.selected.events:
            return
        new = [u for u in view.uids if u > newest]
        if new:
            handler = REGISTRY[c.Fetch]
            uids = SequenceSet(tuple((u, u) for u in new))
            await handler.fn(session, c.Fetch("*", uids, self.selected.fetch, uid=True))

    async def _mailbox_events(self, session: Any) -> None:
        """The watched set evaluated again, then LIST responses for
        MailboxName and SubscriptionChange (§5.4, §5.5): in that order, so
        that a mailbox the client hears of is already watched, and a change
        right after the LIST is told."""
        account = session.account
        before = (self.entries, self.subscribed) if self.listed else None
        overflow = False
        read = self.covered.begin()
        try:
            await self.watch(account)
        except OverflowError:
            overflow = True
        pending, self.pending = self.pending, []
        covered = self.covered.settle(read)
        if before is not None:
            pending += self._differences(*before, covered | {n for p in pending for n in p[:2] if n})
        if pending:
            entries, subscribed = self.entries, self.subscribed
            utf8 = utf8_enabled(session)
            for name, old, _event in pending:
                attrs: list[str] = []
                if name not in entries or entries[name] & {"\\NonExistent"}:
                    attrs.append("\\NonExistent")
                else:
                    attrs += sorted(a for a in entries[name] if a != "\\NonExistent")
                    children = any(n.startswith(name + SEP) for n in entries)
                    attrs.append("\\HasChildren" if children else "\\HasNoChildren")
                if name in subscribed:
                    attrs.append("\\Subscribed")
                line: list[Value] = [Atom("LIST"), [Atom(a) for a in attrs], b"/", Raw(mailbox_name(name, utf8))]
                if old is not None:
                    line.append([b"OLDNAME", [Raw(mailbox_name(old, utf8))]])
                session.untagged(*line)
        if overflow:
            # RFC 5465 §5.8: say so, then behave as after NOTIFY NONE.
            session.untagged_ok("Too many mailboxes to watch", OVERFLOW)
            self.close()
            session.notify = None

    def _differences(self, entries: dict[str, frozenset[str]], subscribed: set[str],
                     covered: set[str]) -> list[tuple[str, str | None, str]]:
        """MailboxName for each mailbox made or removed, SubscriptionChange
        for each name (un)subscribed, since ``entries``/``subscribed`` were
        listed, that no event of this process's covered (``covered``:
        names, their inferiors with them)."""

        def told(name: str) -> bool:
            return any(name == k or name.startswith(k + SEP) for k in covered)

        out: list[tuple[str, str | None, str]] = []
        subs = subscribed | self.subscribed
        for name in sorted(set(entries) ^ set(self.entries)):
            if not told(name) and "MailboxName" in self.events_for(name, subs):
                out.append((name, None, "MailboxName"))
        for name in sorted(subscribed ^ self.subscribed):
            if not told(name) and "SubscriptionChange" in self.events_for(name, subs):
                out.append((name, None, "SubscriptionChange"))
        return out

    def metadata_events(self, session: Any) -> None:
        """Unsolicited METADATA responses (RFC 5464 §4.4.2) naming the
        changed entries, removed ones included (RFC 5465 §5.6, §5.7).  The
        session also calls it before each tagged reply, so a change made
        before a command ends is told within it (as message events are)."""
        changed, self.metadata = self.metadata, {}
        utf8 = utf8_enabled(session)
        for name in sorted(changed):
            where: Value = b"" if name == "" else Raw(mailbox_name(name, utf8))
            entries: list[Value] = [Raw(astring(e.encode("ascii"))) for e in sorted(changed[name])]
            session.untagged(Atom("METADATA"), where, *entries)

    def publish_metadata(self, mailbox: str, entries: list[str]) -> None:
        """Entries of ``mailbox`` ("" the server) changed by another
        session of this user: told when a group asks for
        MailboxMetadataChange on that mailbox, or ServerMetadataChange
        (any non-selected group) for the server's."""
        if self.closed:
            return
        if mailbox == "":
            wanted = any(
                "ServerMetadataChange" in g.events
                for g in self.groups if g.filter not in ("SELECTED", "SELECTED-DELAYED")
            )
        else:
            wanted = "MailboxMetadataChange" in self.events_for(mailbox, self.subscribed)
        if wanted:
            self.metadata.setdefault(mailbox, set()).update(entries)
            self.wake()

    def cover(self, name: str, old: str | None) -> None:
        """``name`` (and ``old``) changed, or are about to, by this
        process: not told again when the listing is compared."""
        self.covered.add(name)
        if old:
            self.covered.add(old)

    def publish(self, name: str, old: str | None, event: str, own: bool) -> None:
        """A mailbox event of this user; ``own`` when this session caused
        it (then only the watched set is evaluated again)."""
        if self.closed:
            return
        self.stale = True
        self.cover(name, old)
        if not own:
            subs = self.subscribed | {name}  # (un)subscribing concerns the SUBSCRIBED filter too
            wanted = self.events_for(name, subs) | (self.events_for(old, subs) if old else frozenset())
            if event in wanted:
                self.pending.append((name, old, event))
        self.wake()


def _mailbox_events_of(cmd: c.Command) -> list[tuple[str, str | None, str]]:
    """The MailboxName / SubscriptionChange events (RFC 5465 §5.4, §5.5)
    a mailbox command makes when it succeeds: (name, old name, event)."""
    if isinstance(cmd, c.Create):
        return [(cmd.mailbox.rstrip(SEP), None, "MailboxName")]
    if isinstance(cmd, c.Delete):
        return [(cmd.mailbox, None, "MailboxName")]
    if isinstance(cmd, c.Rename):
        # RENAME INBOX: a new INBOX is assumed; no event for INBOX (§5.4).
        return [(cmd.new.rstrip(SEP), None if cmd.old == "INBOX" else cmd.old, "MailboxName")]
    if isinstance(cmd, (c.Subscribe, c.Unsubscribe)):
        return [(cmd.mailbox, None, "SubscriptionChange")]
    return []


def _listeners_of(session: Any) -> list[NotifyState]:
    account = getattr(session, "account", None)
    if account is None:
        return []
    return list(_LISTENERS.get(str(account.username), ()))


def mailbox_command_starting(session: Any, cmd: c.Command) -> None:
    """Before a mailbox command runs: its names are covered in the user's
    NOTIFY sessions here, so that a listing read while the command runs
    does not tell its change as another process's; the event itself is
    told by :func:`mailbox_command_done` (RFC 5465 §5: once)."""
    events = _mailbox_events_of(cmd)
    if not events:
        return
    for state in _listeners_of(session):
        for name, old, _event in events:
            state.cover(name, old)


def mailbox_command_done(session: Any, cmd: c.Command) -> None:
    """After a successful mailbox command: publish its MailboxName or
    SubscriptionChange event to the user's NOTIFY sessions here."""
    events = _mailbox_events_of(cmd)
    if not events:
        return
    for state in _listeners_of(session):
        for name, old, event in events:
            state.publish(name, old, event, state is session.notify)


def _metadata_listeners(session: Any, mailbox: str,
                        entries: list[str]) -> list[tuple[NotifyState, str, list[str], bool]]:
    """Who hears of a SETMETADATA of ``entries`` on ``mailbox``: (state,
    the mailbox as that state names it, the entries, whether it is told
    or only covered).  The user's NOTIFY sessions in this process, told
    but for the one that made the change (RFC 5465 §5); for /shared
    entries of another user's mailbox (:mod:`mailframe.acl`), that
    owner's sessions under the owner's name."""
    account = getattr(session, "account", None)
    if account is None or not entries:
        return []
    if mailbox.upper() == "INBOX":
        mailbox = "INBOX"
    user = str(account.username)
    out = [(state, mailbox, entries, state is not getattr(session, "notify", None))
           for state in list(_LISTENERS.get(user, ()))]
    owner_of = getattr(account, "owner_of", None)  # mailframe.acl: another user's mailbox
    if mailbox and owner_of is not None:
        try:
            owner, name = owner_of(mailbox)
        except Exception:  # not a name that leads anywhere: nobody to tell
            return out
        shared = [e for e in entries if e.startswith("/shared/")]
        if owner != user and shared:
            out += [(state, name, shared, True) for state in list(_LISTENERS.get(owner, ()))]
    return out


def metadata_changing(session: Any, mailbox: str, entries: list[str]) -> None:
    """Before SETMETADATA writes: the entries are covered in every
    session :func:`metadata_changed` will tell, so that a metadata read
    made while the write lands does not tell it as another process's
    change (RFC 5465 §5.6, §5.7: once)."""
    for state, name, names, _tell in _metadata_listeners(session, mailbox, entries):
        state.cover_metadata(name, names)


def metadata_changed(session: Any, mailbox: str, entries: list[str]) -> None:
    """After a successful SETMETADATA: tell the user's other NOTIFY
    sessions in this process (RFC 5465 §5.6, §5.7; §5: not the session
    that made the change), and, for /shared entries of another user's
    mailbox, that owner's sessions.  Other processes' sessions learn of
    it by comparing (:meth:`NotifyState._metadata_since`); other readers
    of a shared mailbox are not told."""
    for state, name, names, tell in _metadata_listeners(session, mailbox, entries):
        state.cover_metadata(name, names)
        if tell:
            state.publish_metadata(name, names)
