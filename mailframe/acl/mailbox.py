"""A mailbox seen through the logged-in user's rights (RFC 4314 §4).

:class:`GuardedMailbox` wraps the store's own mailbox object (the very
object the owner's sessions use, so watchers, IDLE and ``\\Recent`` are
shared) and refuses, with ``NO [NOPERM]`` and the reason, every
operation the rights do not allow.  The rights are taken when the mailbox
is opened (RFC 4314 §5.1.1 lets a server cache them at SELECT).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from twisted.internet import defer
from zope.interface import alsoProvides, implementer

from mailframe.acl.private_seen import (
    PrivateSeen,
    SeenState,
    shared_modseq,
    with_seen,
    without_seen,
)
from mailframe.acl.rights import READ_WRITE_RIGHTS, allowed_flags, flag_right
from mailframe.crossstore import copy_across
from mailframe.errors import NonexistentMailbox, NoPermission
from mailframe.interfaces import IMailbox, ISearchableMailbox
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    FlagState,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)

__all__ = ["GuardedMailbox", "unwrap", "refusal"]

T = TypeVar("T")


def refusal(right: str, what: str) -> NoPermission:
    """The NOPERM error for a missing right, with the reason."""
    return NoPermission(f"Permission denied: {what} needs the '{right}' right")


def _overlay(st: FlagState | MessageState, state: SeenState) -> FlagState:
    """``st`` as the reader with a private \\Seen sees it: their own
    \\Seen, and the larger of its shared (scaled) and private modseqs."""
    return FlagState(st.uid, with_seen(st.flags, st.uid in state.seen), state.message_modseq(st.uid, st.modseq))


def unwrap(mailbox: Any) -> Any:
    """The store's own mailbox object behind a guard."""
    return mailbox.inner if isinstance(mailbox, GuardedMailbox) else mailbox


@implementer(IMailbox)
class GuardedMailbox:
    """``inner`` as ``name`` for a user holding ``rights``."""

    def __init__(
        self,
        inner: Any,
        prefix: str,
        rights: frozenset[str],
        lookup: Callable[[], Awaitable[frozenset[str]]] | None = None,
        private: PrivateSeen | None = None,
        store_user: str | None = None,
    ) -> None:
        self.inner = inner
        #: Whose account holds the mailbox (its MAILBOXID is theirs, RFC 8474 §4).
        self.store_user = store_user
        self.prefix = prefix
        self.rights = rights
        self.lookup = lookup
        #: This reader's own \\Seen (:mod:`mailframe.acl.private_seen`);
        #: the store's index knows only the shared one, so SEARCH is then
        #: answered by the framework's matcher over :meth:`states`.
        self.private = private
        #: The private \\Seen set as this session's client last heard it.
        self._told: set[int] | None = None
        if ISearchableMailbox.providedBy(inner) and private is None:
            alsoProvides(self, ISearchableMailbox)

    def __repr__(self) -> str:
        return f"<GuardedMailbox {self.name!r} rights={''.join(sorted(self.rights))} {self.inner!r}>"

    @property
    def name(self) -> str:
        """The name as this user spells it (it follows a RENAME)."""
        return self.prefix + str(self.inner.name)

    @property
    def writable(self) -> bool:
        """SELECT answers READ-WRITE (RFC 4314 §5.2)."""
        return bool(self.rights & READ_WRITE_RIGHTS)

    def permitted(self, flags: frozenset[str]) -> frozenset[str]:
        """Those of ``flags`` this user may change (PERMANENTFLAGS,
        RFC 4314 §5.1.1)."""
        return allowed_flags(flags, self.rights)

    def _guard(self, right: str, what: str, fn: Callable[[], defer.Deferred[Any]]) -> defer.Deferred[Any]:
        if right not in self.rights:
            return defer.fail(refusal(right, what))
        return fn()

    # -- reads: "r" (implied once selected, checked anyway) ---------------

    def _overlaid(self, read: Callable[[PrivateSeen], Coroutine[Any, Any, T]],
                  plain: Callable[[], defer.Deferred[T]]) -> defer.Deferred[T]:
        private = self.private
        if private is None:
            return plain()
        return defer.Deferred.fromCoroutine(read(private))

    def status(self) -> defer.Deferred[MailboxStatus]:
        async def read(private: PrivateSeen) -> MailboxStatus:
            st: MailboxStatus = await self.inner.status()
            snap: Snapshot = await self.inner.snapshot()
            state = await private.state(st.uidvalidity)
            return replace(st, unseen=sum(1 for m in snap.messages if m.uid not in state.seen),
                           highestmodseq=state.highest_modseq(st.highestmodseq))

        return self._guard("r", "STATUS", lambda: self._overlaid(read, self.inner.status))

    def snapshot(self) -> defer.Deferred[Snapshot]:
        async def read(private: PrivateSeen) -> Snapshot:
            snap: Snapshot = await self.inner.snapshot()
            state = await private.state(snap.uidvalidity)
            self._told = set(state.seen)
            return replace(snap, highestmodseq=state.highest_modseq(snap.highestmodseq), messages=tuple(
                _overlay(m, state) for m in snap.messages
            ))

        return self._guard("r", "SELECT", lambda: self._overlaid(read, self.inner.snapshot))

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        """The reader's ``modseq`` (:mod:`mailframe.acl.private_seen`):
        the shared changes after the shared modseq it stands at, and the
        private changes after it."""

        async def read(private: PrivateSeen) -> Changes:
            changes: Changes = await self.inner.changes_since(shared_modseq(modseq))
            state = await private.state()
            changed = {m.uid: _overlay(m, state) for m in changes.changed}
            flipped = state.changed_after(modseq)
            if self._told is not None:
                # private changes made since (by this reader's other sessions)
                flipped |= state.seen ^ self._told
                self._told = set(state.seen)
            flipped -= set(changed) | set(changes.expunged)
            for st in await self.inner.states(sorted(flipped)):
                changed[st.uid] = _overlay(st, state)
            return replace(changes, highestmodseq=state.highest_modseq(changes.highestmodseq),
                           changed=tuple(changed[u] for u in sorted(changed)))

        return self._guard("r", "reading", lambda: self._overlaid(read, lambda: self.inner.changes_since(modseq)))

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        async def read(private: PrivateSeen) -> list[MessageState]:
            state = await private.state()
            found: list[MessageState] = await self.inner.states(uids)
            return [replace(st, flags=with_seen(st.flags, st.uid in state.seen),
                            modseq=state.message_modseq(st.uid, st.modseq)) for st in found]

        return self._guard("r", "reading", lambda: self._overlaid(read, lambda: self.inner.states(uids)))

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        async def read(private: PrivateSeen) -> list[MessageRecord]:
            state = await private.state()
            found: list[MessageRecord] = await self.inner.records(uids)
            return [replace(r, flags=with_seen(r.flags, r.uid in state.seen),
                            modseq=state.message_modseq(r.uid, r.modseq)) for r in found]

        return self._guard("r", "reading", lambda: self._overlaid(read, lambda: self.inner.records(uids)))

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
        return self._guard("r", "reading", lambda: self.inner.read(uid, start, end))

    def search(self, key: Any, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        return self._guard("r", "SEARCH", lambda: self.inner.search(key, uids))

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        return self._guard("r", "SELECT", self.inner.claim_recent)

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        return self._guard("r", "EXAMINE", self.inner.peek_recent)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        unwatch: Callable[[], None] = self.inner.watch(callback)
        if self.private is None:
            return unwatch
        unlisten = self.private.listen(callback)

        def stop() -> None:
            unlisten()
            unwatch()

        return stop

    # -- writes: the rights are looked up again first --------------------

    async def refresh(self) -> frozenset[str]:
        """Look the rights up again (writes do, so a SETACL or DELETEACL
        takes effect on a selected mailbox at once; RFC 4314 §5.1.1)."""
        if self.lookup is not None:
            try:
                self.rights = await self.lookup()
            except NonexistentMailbox:
                self.rights = frozenset()
        return self.rights

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """"i" to append; flags the user may not set are dropped, not
        refused (RFC 4314 §4, "Copying or appending messages")."""

        async def run() -> AppendResult:
            rights = await self.refresh()
            if "i" not in rights:
                raise refusal("i", "APPEND")
            kept = [NewMessage(m.content, allowed_flags(m.flags, rights), m.internaldate) for m in messages]
            if self.private is None:
                result: AppendResult = await self.inner.append_many(kept)
                return result
            shared = [m._replace(flags=without_seen(m.flags)) for m in kept]
            result = await self.inner.append_many(shared)
            seen = [uid for m, uid in zip(kept, result.uids, strict=True) if m.flags != without_seen(m.flags)]
            if seen:
                await self.private.update(add=seen, uidvalidity=result.uidvalidity)
            return result

        return defer.Deferred.fromCoroutine(run())

    def append(
        self, content: bytes, flags: frozenset[str] = frozenset(), internaldate: datetime | None = None
    ) -> defer.Deferred[int]:
        d = self.append_many([NewMessage(content, flags, internaldate or datetime.now().astimezone())])
        return d.addCallback(lambda result: result.uids[0])

    async def check_store(self, flags: frozenset[str]) -> None:
        """STORE fails only when none of ``flags`` may be changed
        (RFC 4314 §4: "SHOULD NOT fail if the user has rights to modify
        at least one flag")."""
        rights = await self.refresh()
        if flags and not allowed_flags(flags, rights):
            wanted = sorted(flags)
            raise refusal(flag_right(wanted[0]), "changing " + " ".join(wanted))

    def store(
        self,
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> defer.Deferred[StoreResult]:
        """Only the flags the rights allow change (RFC 4314 §4): a FETCH
        that would set ``\\Seen`` without "s" does not set it."""
        return defer.Deferred.fromCoroutine(self._store_any(uids, StoreMode(mode), flags, unchangedsince))

    async def _store_any(
        self, uids: Sequence[int], mode: StoreMode, flags: frozenset[str], unchangedsince: int | None
    ) -> StoreResult:
        rights = await self.refresh()
        private = self.private
        if private is None:
            return await self._store(uids, mode, flags, unchangedsince, rights)
        state = await private.state()
        failed: set[int] = set()
        if unchangedsince is not None:
            # RFC 7162 §3.1.3: a message whose modseq (here its private
            # one, when larger) is above UNCHANGEDSINCE fails whole
            failed = {u for u in uids if state.modseqs.get(u, 0) > unchangedsince}
            uids = [u for u in uids if u not in failed]
            unchangedsince = shared_modseq(unchangedsince)
        # The shared flags as ever, but never the shared \Seen ...
        shared = await self._store(uids, mode, without_seen(flags), unchangedsince, rights - {"s"})
        failed.update(shared.failed)
        # ... and this reader's own \Seen.
        flips: set[int] = set()
        wants = flags != without_seen(flags)
        if "s" in rights and (wants or mode is StoreMode.SET):
            live = [st.uid for st in await self.inner.states(uids) if st.uid not in failed]
            if mode is StoreMode.REMOVE or (mode is StoreMode.SET and not wants):
                _, flips = await private.update(remove=live)
            else:
                _, flips = await private.update(add=live)
        if not flips:
            return await self._overlay_result(StoreResult(shared.changed, tuple(sorted(failed))), private)
        changed = {st.uid for st in shared.changed} | flips
        states = await self.inner.states(sorted(changed))
        state = await private.state()
        if self._told is not None:  # this session tells its client itself
            self._told = (self._told - flips) | (flips & state.seen)
        return StoreResult(tuple(_overlay(st, state) for st in states), tuple(sorted(failed)))

    async def _overlay_result(self, result: StoreResult, private: PrivateSeen) -> StoreResult:
        if not result.changed:
            return result
        state = await private.state()
        return StoreResult(tuple(_overlay(st, state) for st in result.changed), result.failed)

    async def _store(
        self, uids: Sequence[int], mode: StoreMode, flags: frozenset[str], unchangedsince: int | None,
        rights: frozenset[str],
    ) -> StoreResult:
        mine = allowed_flags(flags, rights)
        result: StoreResult
        if mine == flags and (mode is not StoreMode.SET or {"s", "w", "t"} <= rights):
            result = await self.inner.store(uids, mode, flags, unchangedsince)
            return result
        if mode is not StoreMode.SET:
            if not mine:
                return StoreResult(())
            result = await self.inner.store(uids, mode, mine, unchangedsince)
            return result
        # FLAGS (...) with some flag types out of reach: those stay as they
        # are, the others become what was asked.
        states = await self.inner.states(uids)
        remove = frozenset(f for st in states for f in allowed_flags(st.flags, rights)) - mine
        changed: dict[int, Any] = {}
        failed: set[int] = set()
        for step, step_flags in ((StoreMode.REMOVE, remove), (StoreMode.ADD, mine)):
            if not step_flags:
                continue
            result = await self.inner.store(uids, step, step_flags, unchangedsince)
            failed.update(result.failed)
            changed.update((st.uid, st) for st in result.changed)
            unchangedsince = None
        return StoreResult(tuple(changed[u] for u in sorted(changed)), tuple(sorted(failed)))

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        async def run() -> list[int]:
            if "e" not in await self.refresh():
                raise refusal("e", "EXPUNGE")
            gone: list[int] = await self.inner.expunge(uids)
            return gone

        return defer.Deferred.fromCoroutine(run())

    def can_copy_to(self, destination: IMailbox) -> bool:
        return bool(self.inner.can_copy_to(unwrap(destination)))

    @staticmethod
    async def _destination_rights(destination: IMailbox, what: str) -> bool:
        """Check "i" on ``destination``; whether every flag survives into
        it (else the copy goes through :meth:`append_many`, which drops
        what may not be set)."""
        if not isinstance(destination, GuardedMailbox):
            return True
        rights = await destination.refresh()
        if "i" not in rights:
            raise refusal("i", f"{what} into {destination.name}")
        return {"s", "w", "t"} <= rights and destination.private is None

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        async def run() -> CopyResult:
            keeps_flags = await self._destination_rights(destination, "COPY")
            if not keeps_flags or self.private is not None:
                return await copy_across(self, uids, destination)
            result: CopyResult = await self.inner.copy(uids, unwrap(destination))
            return result

        return defer.Deferred.fromCoroutine(run())

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        """MOVE needs "t" and "e" on the source besides "i" on the
        destination (it expunges the sources)."""

        async def run() -> CopyResult:
            rights = await self.refresh()
            for right in "te":
                if right not in rights:
                    raise refusal(right, "MOVE")
            keeps_flags = await self._destination_rights(destination, "MOVE")
            if keeps_flags and self.private is None:
                result: CopyResult = await self.inner.move(uids, unwrap(destination))
                return result
            result = await copy_across(self, uids, destination)
            moved = [src for src, _ in result.pairs]
            if moved:
                await self.inner.store(moved, StoreMode.ADD, frozenset({"\\Deleted"}))
                await self.inner.expunge(moved)
            return result

        return defer.Deferred.fromCoroutine(run())
