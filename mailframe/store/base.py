"""A public base for store authors: an IMailbox over a :class:`MailboxLog`.

:class:`LogMailbox` does everything of :class:`mailframe.interfaces.IMailbox`
that is bookkeeping: UIDs, modseqs, tombstones, ``\\Recent``, watchers,
STORE, EXPUNGE, batch APPEND (all or none), COPY and MOVE, and SEARCH
over the cheap state (:class:`mailframe.interfaces.ISearchableMailbox`).
A subclass implements only where the bytes live, with four primitives:

- :meth:`LogMailbox.put_messages` — make a batch of new messages durable,
  all or none;
- :meth:`LogMailbox.message_meta` — a message's internal date and parsed
  structure (:class:`StoredMeta`);
- :meth:`LogMailbox.read_range` — a message's bytes, ``[start:end]``;
- :meth:`LogMailbox.drop_messages` — forget expunged messages.

Each primitive may return its value directly or an awaitable (a Deferred
or a coroutine), so a store that reads files in a thread or talks to a
database fits as well as a dict.  The log itself lives in memory
(``self.log``); a store that must survive restarts saves
``self.log.to_state()`` in :meth:`LogMailbox.log_changed` and gives
:meth:`MailboxLog.from_state` back to the constructor.

``examples/dict_store.py`` is a complete store on this base;
:mod:`mailframe.store.memory` is another.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, Union, cast

from twisted.internet import defer
from zope.interface import implementer

from mailframe.errors import CannotDo, ExpungeIssued, TryCreate
from mailframe.interfaces import IExpungeHistory, IMailbox, ISearchableMailbox
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)
from mailframe.store._log import MailboxLog
from mailframe.store.statesearch import answerable, match
from mailframe.vocabulary import RECENT

if TYPE_CHECKING:
    from mailframe.imap.types import SearchKey
    from mailframe.message import MessageInfo

__all__ = ["LogMailbox", "StoredMeta", "StoredMessage", "MaybeAwaitable"]

T = TypeVar("T")
#: What a primitive may return: the value, or something to await for it.
MaybeAwaitable: TypeAlias = Union[T, Awaitable[T]]  # noqa: UP007


@dataclass(frozen=True)
class StoredMeta:
    """What a store keeps beside a message's bytes, computed once when it
    arrived: its internal date (with a time zone) and parsed structure."""

    internaldate: datetime
    info: MessageInfo
    #: When it entered this mailbox (RFC 8514 SAVEDATE); set by the base.
    savedate: datetime | None = None


@dataclass(frozen=True)
class StoredMessage:
    """One message for :meth:`LogMailbox.put_messages`: the UID the log will
    give it, its bytes, and its :class:`StoredMeta`."""

    uid: int
    content: bytes
    meta: StoredMeta


async def _resolved(value: MaybeAwaitable[T]) -> T:
    if inspect.isawaitable(value):
        return cast(T, await value)
    return value


def _run(coro: Coroutine[Any, Any, T]) -> defer.Deferred[T]:
    return defer.Deferred.fromCoroutine(coro)


def _parse(content: bytes) -> MessageInfo:
    from mailframe.message import parse

    return parse(content)


def _to_crlf(content: bytes) -> bytes:
    from mailframe.message import to_crlf

    return to_crlf(content)


def _zoned(when: datetime | None) -> datetime:
    """INTERNALDATE always has a zone (RFC 3501 §2.3.3); default now."""
    if when is None:
        return datetime.now(UTC).replace(microsecond=0)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@implementer(IMailbox, ISearchableMailbox, IExpungeHistory)
class LogMailbox:
    """An IMailbox whose bookkeeping is a :class:`MailboxLog`.

    ``name`` follows RENAME (the account sets it).  After :meth:`mark_deleted`
    the mailbox's messages read as expunged and appends fail with
    TryCreate, as the interface contract asks of handed-out objects.
    """

    def __init__(self, name: str, log: MailboxLog) -> None:
        self.name = name
        self.log = log
        self.deleted = False
        self._append_lock = defer.DeferredLock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} uidvalidity={self.log.uidvalidity}>"

    # ------------------------------------------------------------ primitives

    def put_messages(self, messages: Sequence[StoredMessage]) -> MaybeAwaitable[None]:
        """Make ``messages`` durable, all or none (raise to refuse all)."""
        raise NotImplementedError(f"{type(self).__name__} must implement put_messages()")

    def message_meta(self, uid: int) -> MaybeAwaitable[StoredMeta]:
        """The :class:`StoredMeta` of a live message."""
        raise NotImplementedError(f"{type(self).__name__} must implement message_meta()")

    def read_range(self, uid: int, start: int, end: int | None) -> MaybeAwaitable[bytes]:
        """Bytes ``[start:end]`` of a live message (``end`` None: to the end)."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_range()")

    def drop_messages(self, uids: Sequence[int]) -> MaybeAwaitable[None]:
        """Forget expunged messages (the log no longer lists them)."""
        raise NotImplementedError(f"{type(self).__name__} must implement drop_messages()")

    def log_changed(self) -> MaybeAwaitable[None]:
        """Called after each change of the log; persist it here if needed."""
        return None

    # ----------------------------------------------------------------- reads

    def status(self) -> defer.Deferred[MailboxStatus]:
        """RFC 3501 §6.3.10 counters, O(log n)."""
        return defer.succeed(self.log.status())

    def snapshot(self) -> defer.Deferred[Snapshot]:
        return defer.succeed(self.log.snapshot())

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        return defer.succeed(self.log.changes_since(modseq))

    def expunged_since(self, modseq: int) -> defer.Deferred[list[int] | None]:
        """IExpungeHistory (through :meth:`changes_since`, so a subclass
        that syncs with its files first does so here too); None once the
        log forgot tombstones that old (RFC 7162 §3.2.5.2)."""

        def done(changes: Changes) -> list[int] | None:
            return list(changes.expunged) if self.log.complete_since(modseq) else None

        return self.changes_since(modseq).addCallback(done)

    async def _lm_states(self, uids: Sequence[int]) -> list[MessageState]:
        out = []
        for st in self.log.states(uids):
            meta = await _resolved(self.message_meta(st.uid))
            out.append(
                MessageState(st.uid, st.flags, st.modseq, self.log.size_of(st.uid), meta.internaldate)
            )
        return out

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        return _run(self._lm_states(uids))

    async def _lm_records(self, uids: Sequence[int]) -> list[MessageRecord]:
        out = []
        for st in self.log.states(uids):
            meta = await _resolved(self.message_meta(st.uid))
            out.append(
                MessageRecord(
                    st.uid,
                    st.flags,
                    st.modseq,
                    self.log.size_of(st.uid),
                    meta.internaldate,
                    meta.info,
                    meta.savedate,
                )
            )
        return out

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        return _run(self._lm_records(uids))

    async def _lm_read(self, uid: int, start: int, end: int | None) -> bytes:
        if uid not in self.log:
            raise ExpungeIssued(f"message UID {uid} no longer exists")
        return await _resolved(self.read_range(uid, start, end))

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
        return _run(self._lm_read(uid, start, end))

    async def _lm_search(self, key: SearchKey, uids: Sequence[int]) -> list[int] | None:
        if not answerable(key):
            return None
        largest = self.log.largest_uid
        return [st.uid for st in await self._lm_states(uids) if match(key, st, largest)]

    def search(self, key: SearchKey, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        """ISearchableMailbox: keys over flags, UIDs, sizes, internal dates
        and modseqs; ``None`` for the rest."""
        return _run(self._lm_search(key, uids))

    # ---------------------------------------------------------------- writes

    def check_alive(self) -> None:
        """TryCreate once the mailbox has been deleted."""
        if self.deleted:
            raise TryCreate(f"mailbox {self.name!r} has been deleted")

    async def _append_stored(
        self, items: Sequence[tuple[bytes, frozenset[str], StoredMeta]]
    ) -> AppendResult:
        """Store prepared messages under the append lock, then record them
        in the log in one batch: watchers hear once, after the bytes are
        durable, so nobody hears of a message they cannot read."""
        self.check_alive()
        await self._append_lock.acquire()
        try:
            first = self.log.uidnext
            saved = datetime.now(UTC).replace(microsecond=0)  # SAVEDATE (RFC 8514 §2)
            stored = [
                StoredMessage(first + i, content, replace(meta, savedate=saved))
                for i, (content, _, meta) in enumerate(items)
            ]
            await _resolved(self.put_messages(stored))
            uids = []
            with self.log.batch():
                for (content, flags, _), want in zip(items, stored, strict=True):
                    state = self.log.append(flags - {RECENT}, len(content))
                    assert state.uid == want.uid
                    uids.append(state.uid)
            await _resolved(self.log_changed())
            return AppendResult(self.log.uidvalidity, tuple(uids))
        finally:
            self._append_lock.release()

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """MULTIAPPEND (RFC 3502): every message converted to CRLF line
        ends (RFC 3501 §2.3.3 counts them; Dovecot converts when it saves)
        and parsed first, then stored in one :meth:`put_messages` call,
        all or none."""

        async def run() -> AppendResult:
            items = []
            for raw, flags, when in messages:
                content = _to_crlf(bytes(raw))  # bare LF saved as CRLF, as Dovecot does
                meta = StoredMeta(_zoned(when), _parse(content))
                items.append((content, frozenset(flags), meta))
            return await self._append_stored(items)

        return _run(run())

    def append(
        self,
        content: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> defer.Deferred[int]:
        """APPEND (RFC 3501 §6.3.11) of one message."""
        d = self.append_many([NewMessage(content, flags, internaldate)])
        return d.addCallback(lambda result: result.uids[0])

    def store(
        self,
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> defer.Deferred[StoreResult]:
        """STORE; see :meth:`MailboxLog.store` for the exact semantics."""

        async def run() -> StoreResult:
            result = self.log.store(uids, StoreMode(mode), frozenset(flags), unchangedsince)
            if result.changed:
                await _resolved(self.log_changed())
            return result

        return _run(run())

    async def expunge_uids(self, uids: Sequence[int]) -> list[int]:
        """Remove ``uids`` whatever their flags (MOVE, DELETE); the UIDs
        actually removed."""
        gone = self.log.expunge(uids)
        if gone:
            await _resolved(self.drop_messages(gone))
            await _resolved(self.log_changed())
        return gone

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1)."""
        return _run(self.expunge_uids(self.log.deleted_uids(uids)))

    def can_copy_to(self, destination: IMailbox) -> bool:
        return isinstance(destination, LogMailbox)

    async def copy_into(self, uids: Sequence[int], destination: LogMailbox) -> CopyResult:
        """COPY through the primitives: flags and internal dates kept, the
        parsed structure reused, all or none in the destination."""
        destination.check_alive()
        sources: list[int] = []
        items: list[tuple[bytes, frozenset[str], StoredMeta]] = []
        for st in self.log.states(uids):
            meta = await _resolved(self.message_meta(st.uid))
            content = await _resolved(self.read_range(st.uid, 0, None))
            sources.append(st.uid)
            items.append((content, st.flags, meta))
        if not items:
            return CopyResult(destination.log.uidvalidity, ())
        result = await destination._append_stored(items)
        return CopyResult(result.uidvalidity, tuple(zip(sources, result.uids, strict=True)))

    def _target(self, destination: IMailbox) -> LogMailbox:
        if not isinstance(destination, LogMailbox):
            raise CannotDo("destination is not a LogMailbox: use mailframe.crossstore")
        return destination

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        """COPY (RFC 3501 §6.4.7), (source, new) pairs for COPYUID."""

        async def run() -> CopyResult:
            return await self.copy_into(uids, self._target(destination))

        return _run(run())

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        """MOVE (RFC 6851 §3.1): copy, then expunge the sources."""

        async def run() -> CopyResult:
            result = await self.copy_into(uids, self._target(destination))
            await self.expunge_uids([src for src, _ in result.pairs])
            return result

        return _run(run())

    async def mark_deleted(self) -> None:
        """The mailbox has been deleted: expunge everything (so selected
        sessions hear of it) and refuse appends from now on."""
        self.deleted = True
        await self.expunge_uids(self.log.uids)

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        """RFC 3501 §2.3.2; see :meth:`MailboxLog.claim_recent`."""
        return defer.succeed(self.log.claim_recent())

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        """What :meth:`claim_recent` would give, unclaimed (for EXAMINE)."""
        return defer.succeed(self.log.peek_recent())

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Synchronous hints after each change; returns the unregister."""
        return self.log.watch(callback)

