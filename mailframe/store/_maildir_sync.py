"""Scanning a Maildir folder's directories into its index.

A :class:`FolderScanner` keeps a :class:`mailframe.store._maildir_state.FolderIndex`
in step with ``new/`` and ``cur/``.  Other writers are noticed by
``stat()`` of the index and of ``cur/`` and ``new/`` (their mtimes), which
costs three system calls per refresh; the directories are listed only when
they changed, and once more a second later if they changed within the same
second (mtime granularity, as Dovecot does).

A scan lists ``new/`` (moving its files to ``cur/``, as Dovecot does) and,
when ``cur/`` changed, ``cur/`` too, and turns what other programs did —
mail delivered, flags renamed, files deleted — into index events with new
modseqs.  A rebuild makes a whole new index from ``dovecot-uidlist`` and
the files (the index was missing, stale or corrupt); modseqs then restart
above the current time in milliseconds so they never go backwards
(RFC 7162 §3.1.2).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mailframe.errors import NonexistentMailbox
from mailframe.message import parse, to_crlf
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_durable import after_reboot, commit, modseq_base
from mailframe.store._maildir_files import (
    SYSTEM_FLAGS_LOWER,
    base_of,
    flags_from_name,
    fsync_dir,
    needs_crlf,
)
from mailframe.store._maildir_index import (
    Added,
    CorruptIndex,
    DirStamp,
    Event,
    Expunged,
    FlagsChanged,
    Meta,
    Stamp,
    format_event,
    meta_row,
)
from mailframe.store._maildir_state import RECHECK, UNREADABLE, FolderIndex
from mailframe.store._maildir_uidlist import CorruptUidList, reserve_uidvalidity

__all__ = ["FolderScanner", "no_gc"]

#: Rebuilds tried in a row while other processes keep replacing the uidlist.
REBUILD_ATTEMPTS = 3


@contextmanager
def no_gc() -> Iterator[None]:
    """Loading a large index makes hundreds of thousands of small
    containers, none of them cyclic: the cyclic collector would run many
    times over them for nothing (2-3x slower cold opens)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class FolderScanner:
    """The directory side of one folder: refresh, scan, rebuild."""

    def __init__(self, index: FolderIndex) -> None:
        self.index = index
        self.path = index.path
        self.cur = os.path.join(self.path, "cur")
        self.new = os.path.join(self.path, "new")
        self._stamp = DirStamp(-1, -1)
        self._recheck_at: float | None = None
        self._foreign_checked = 0  # uidlist's last UID when we last looked for foreign UIDs

    # ------------------------------------------------------------ refresh

    def dir_stamp(self) -> DirStamp:
        return DirStamp(os.stat(self.cur).st_mtime_ns, os.stat(self.new).st_mtime_ns)

    def refresh(self) -> MailboxLog:
        """Bring the index up to date with the disk (the cheap path is
        three ``stat()`` calls); returns the log."""
        index = self.index
        try:
            stamp = self.dir_stamp()
        except FileNotFoundError:
            if index.log is None:
                raise NonexistentMailbox(f"mailbox folder {self.path} is gone") from None
            return index.vanished()  # deleted: reads as empty, writes fail
        if index.stale():
            self.catch_up()
        if after_reboot(index):
            self.rebuild(after_power_loss=True)
            assert index.log is not None
            return index.log
        if self._follow_moves():
            # read after the lines followed (the stamp above may predate
            # the commit they came with)
            stamp = self.dir_stamp()
        self._scan_if_changed(stamp)
        assert index.log is not None
        return index.log

    def catch_up(self) -> None:
        """Read the index events others wrote; rebuild what is unreadable."""
        with no_gc():
            try:
                self.index.catch_up()
            except UNREADABLE:
                self.rebuild()

    def _follow_moves(self) -> bool:
        """Other mailframe writers' own changes of ``cur/`` read from the
        index (:class:`mailframe.store._maildir_index.CurMoved`): when the
        first starts from the ``cur/`` time this scanner last saw, the
        events already say what changed, so take the time the last one
        left and recheck a second later (as :meth:`own_change` does)
        instead of listing the directory now."""
        moves = self.index.cur_moves
        if not moves:
            return False
        start = cur = self._stamp.cur_ns
        while cur in moves:
            cur = moves.pop(cur)
        moves.clear()
        if cur == start:
            return False
        self._stamp = DirStamp(cur, self._stamp.new_ns)
        if self._recheck_at is None:
            self._recheck_at = time.time() + RECHECK
        return True

    def settle(self) -> None:
        """Before a read job takes the folder's refresh lock: when ``cur/``
        changed since the time this scanner knows, another mailframe
        writer is usually between its renames and its commit (fsyncs
        included); wait for it to let go of ``dovecot-uidlist.lock``
        (:meth:`DotLock.wait_free`), so that the refresh follows its
        :class:`CurMoved` line instead of listing ``cur/`` under the lock
        while every other read of the folder waits for the refresh lock.
        One ``stat()`` when nothing changed.  What the refresh then finds
        is what it would have found after the scan's lock wait; a change
        by a program that takes no flock is still listed by the scan."""
        if self.index.lock.held:
            return
        try:
            cur = os.stat(self.cur).st_mtime_ns
        except OSError:
            return
        if cur != self._stamp.cur_ns:
            self.index.lock.wait_free()

    def _scan_if_changed(self, stamp: DirStamp) -> None:
        """Full scan when ``cur/`` changed (renames, unlinks), just ``new/``
        when only new mail arrived (an MDA never touches ``cur/``)."""
        due = self._recheck_at is not None and time.time() >= self._recheck_at
        if stamp == self.index.trusted_stamp and (due or stamp != self._stamp):
            # another scan (maybe by another process) saw exactly this
            self._stamp = stamp
            self._recheck_at = None
            return
        if due or stamp.cur_ns != self._stamp.cur_ns:
            self.scan(full=True, followed=not due)
        elif stamp.new_ns != self._stamp.new_ns:
            self.scan(full=False)

    def unchanged_now(self) -> bool:
        """Any thread: would :meth:`refresh` leave the directories alone?
        Their times are the ones the last scan (or our own change) saw and
        no same-second recheck is due (two ``stat()`` calls).  A job that
        changes the directories moves :attr:`_stamp` only once its events
        are in the log, so a True here never runs ahead of the log."""
        recheck = self._recheck_at
        if recheck is not None and time.time() >= recheck:
            return False
        try:
            return self.dir_stamp() == self._stamp
        except OSError:
            return False

    def locked_refresh(self) -> DirStamp:
        """:meth:`refresh` for a writer holding the lock: also finds files
        of UIDs a writer keeping no mailframe index (Dovecot) gave, before
        the next UID is handed out.  Returns the directory stamp."""
        index = self.index
        if not os.path.isdir(self.cur):
            raise NonexistentMailbox(f"mailbox folder {self.path} is gone")
        self.catch_up()
        self._follow_moves()
        index.uidlist.refresh()
        stamp = self.dir_stamp()
        assert index.log is not None
        last = index.uidlist.last_uid
        if after_reboot(index):
            self.rebuild(after_power_loss=True)  # see _rebuild()
            stamp = self.dir_stamp()
        elif last >= index.log.uidnext and last != self._foreign_checked:
            self._foreign_checked = last
            # whatever the directory mtimes say
            self.scan(full=True)
            stamp = self.dir_stamp()
        elif stamp != self._stamp:
            self._scan_if_changed(stamp)
            stamp = self.dir_stamp()
        return stamp

    def own_change(self, stamp_before: DirStamp, cur_after: int | None = None) -> None:
        """After our own renames: no rescan unless someone else also
        changed the directories (then the next refresh lists them).  Our
        writes touch ``cur/`` only, so ``new/`` keeps the time it had
        before: mail an MDA delivered meanwhile is listed at the next
        refresh, not a second later by the recheck.  ``cur_after``: the
        ``cur/`` time the writer already read (and wrote in its
        :class:`mailframe.store._maildir_index.CurMoved` line)."""
        self.index.cur_moves.clear()  # our own commit's line: nothing to follow
        if stamp_before == self._stamp:
            if cur_after is None:
                cur_after = self.dir_stamp().cur_ns
            self._stamp = DirStamp(cur_after, stamp_before.new_ns)
            self._recheck_at = time.time() + RECHECK

    # ----------------------------------------------------------- rebuild

    def rebuild(self, after_power_loss: bool = False) -> None:
        """Recreate the index from ``dovecot-uidlist`` and the directory:
        used when the index is missing, stale or corrupt, and after a
        reboot when unsynced index lines may be lost (``after_power_loss``,
        see :mod:`mailframe.store._maildir_durable`).  When another
        process replaces the uidlist meanwhile (the mailbox deleted and
        created again, so our lock was on the old one), start over."""
        for attempt in range(REBUILD_ATTEMPTS):
            try:
                self._rebuild(after_power_loss)
                return
            except CorruptIndex:
                if attempt + 1 == REBUILD_ATTEMPTS:
                    raise

    def _rebuild(self, after_power_loss: bool = False) -> None:
        """After a power loss, every message gets a modseq above the
        last reservation (whatever lines were lost, RFC 7162 §3.1.1), so
        a client told of a flag change whose rename was lost hears of the
        message again; what the index knows of a file still there is kept
        (no message is read again but those it lacks)."""
        index = self.index
        uidlist = index.uidlist
        with index.lock:
            if after_power_loss:
                self.catch_up()
                if not after_reboot(index):
                    return  # another process did it meanwhile
            elif self._rebuilt_by_another():
                return
            reserved = index.file.reserved
            ceiling = reserved[0] if reserved is not None else 0
            known = dict(index.meta) if after_power_loss and index.log is not None else {}
            previous = index.log
            try:
                uidlist.refresh()
            except CorruptUidList:
                uidlist.create(reserve_uidvalidity(index.root))
            if not uidlist.exists:
                uidlist.create(reserve_uidvalidity(index.root))
            index.read_keywords()
            names = self._list_and_move()
            old_hms = index.log.highestmodseq if index.log is not None else 0
            if names or uidlist.last_uid or old_hms:
                # modseqs handed out before the index was lost must stay
                # below every new one (RFC 7162 §3.1.2: they only grow)
                base_modseq = max(old_hms + 1, ceiling + 1, int(time.time() * 1000))
            else:
                base_modseq = 1  # a new, empty mailbox (RFC 7162 §7)
            nxt = uidlist.next_uid
            assign: list[tuple[str, str]] = []
            found: list[tuple[int, str]] = []
            taken: set[int] = set()
            for base, name in sorted(names.items()):
                uid = uidlist.by_base.get(base)
                if uid is None or uid in taken:
                    assign.append((base, name))
                else:
                    taken.add(uid)
                    found.append((uid, name))
            new_records = []
            for _base, name in assign:
                new_records.append((nxt, name[4:]))
                found.append((nxt, name))
                nxt += 1
            uidlist.append(new_records)
            if not known:
                index.cache.reset()
            messages = []
            meta_rows = []
            for uid, name in sorted(found):
                m = known.get(uid)
                if m is not None and base_of(m.name[4:]) == base_of(name[4:]):
                    meta = Meta(name, m.size, m.mtime, m.tzmin, m.coff, m.clen, m.conv)
                    old = previous.get(uid) if previous is not None else None
                    flags = self._flags_of(name, old.flags if old else frozenset())
                    messages.append([uid, sorted(flags), base_modseq, meta.size])
                    meta_rows.append(meta_row(uid, meta))
                    continue
                try:
                    meta, flags = self._meta_for_file(uid, name)
                except FileNotFoundError:
                    continue
                messages.append([uid, sorted(flags), base_modseq, meta.size])
                meta_rows.append(meta_row(uid, meta))
            state = {
                "uidvalidity": uidlist.uidvalidity,
                "uidnext": max(nxt, uidlist.next_uid),
                "highestmodseq": base_modseq,
                "messages": messages,
                "tombstones": [],
                # expunges before the rebuild are unknown (RFC 7162 §3.2.5.2)
                "tombstone_floor": base_modseq - 1 if base_modseq > 1 else 0,
            }
            cp = {"uidvalidity": uidlist.uidvalidity, "state": state, "meta": meta_rows}
            index.file.write_checkpoint(cp, keep_reservation=False)
            index.install(cp)
            index.mark_applied()
            self._stamp = self.dir_stamp()
            self._recheck_at = time.time() + RECHECK

    def _rebuilt_by_another(self) -> bool:
        """Under the lock: did another process rebuild the index while we
        waited for it?  Then read theirs instead of rebuilding again."""
        index = self.index
        if index.log is not None:
            return False
        try:
            index.catch_up()
        except UNREADABLE:
            index.unload()
            return False
        return True

    # -------------------------------------------------------------- scan

    def _list_and_move(self, include_cur: bool = True) -> dict[str, str]:
        """base → "cur/<name>" for every message file (only those that were
        in ``new/`` unless ``include_cur``); files in ``new/`` are moved to
        ``cur/`` with an empty ``:2,`` info (lock held)."""
        out: dict[str, str] = {}
        moved = False
        for name in os.listdir(self.new):
            if name.startswith(".") or "\t" in name or "\n" in name:
                continue
            target = name if ":2," in name else name + ":2,"
            try:
                os.rename(os.path.join(self.new, name), os.path.join(self.cur, target))
            except FileNotFoundError:
                continue
            moved = True
            out[base_of(target)] = "cur/" + target
        if moved:
            fsync_dir(self.cur)
            fsync_dir(self.new)
        if not include_cur:
            return out
        for name in os.listdir(self.cur):
            if name.startswith(".") or "\t" in name or "\n" in name:
                continue
            out[base_of(name)] = "cur/" + name
        return out

    def scan(self, full: bool = True, followed: bool = False) -> None:
        """List ``new/`` (and ``cur/`` when ``full``) and turn what others
        did into events.  ``followed``: not when the index lines read
        under the lock explain the directories' times (a mailframe writer
        was committing as this process looked; see :meth:`_follow_moves`)."""
        index = self.index
        with index.lock:
            self.catch_up()
            if followed and self._follow_moves() and self.dir_stamp() == self._stamp:
                return
            log = index.log
            assert log is not None
            if index.uidlist.peek_uidvalidity() != log.uidvalidity:
                self.rebuild()  # the uidlist was lost or replaced
                return
            index.read_keywords()
            before = self.dir_stamp()
            started = time.time()
            if full and self._unchanged():
                names: dict[str, str] = {}
                full = False  # nothing to compare: the quick check did it
                quick = True
            else:
                names = self._list_and_move(include_cur=full)
                quick = False
            events: list[Event] = []
            modseq = modseq_base(index)
            bases = index.base_map() if names else {}
            meta = index.meta
            unknown: dict[str, str] = {}
            seen: set[int] = set()
            for base, actual in names.items():
                uid = bases.get(base)
                m = meta.get(uid) if uid is not None else None
                if uid is None or m is None or uid in seen:
                    unknown[base] = actual
                    continue
                seen.add(uid)
                if actual != m.name:
                    old = log.get(uid)
                    flags = self._flags_of(actual, old.flags if old else frozenset())
                    modseq += 1
                    events.append(FlagsChanged(modseq, uid, actual, frozenset(flags)))
            gone = sorted(set(meta) - seen) if full else []
            if gone:
                modseq += 1
                events.append(Expunged(modseq, tuple(gone)))
            if unknown:
                try:
                    index.uidlist.refresh()
                except CorruptUidList:
                    self.rebuild()
                    return
                events += self._add_found(unknown, modseq)
            commit(index, events, None, sync=True)
            after = self.dir_stamp()
            self._stamp = after
            recent = max(before) / 1e9 > started - RECHECK or after != before
            if full or quick or self._recheck_at is None:
                self._recheck_at = started + RECHECK if recent else None
            if (full or quick) and not recent and after != index.trusted_stamp:
                # not applied: only other processes learn from it, and a
                # lost one costs a listing, so it is not synced to disk
                index.file.append(
                    format_event(Stamp(after.cur_ns, after.new_ns, started)), durable=False
                )
                index.trusted_stamp = after
                index.mark_applied()  # the log still holds all the file says
            index.maybe_compact()

    def _unchanged(self) -> bool:
        """The cheap full check (C-speed listing and set comparison, no
        per-file work): ``new/`` is empty and ``cur/`` holds exactly the
        names the index knows.  Most rechecks end here."""
        if any(not n.startswith(".") for n in os.listdir(self.new)):
            return False
        listing = os.listdir(self.cur)
        known = {m.name[4:] for m in self.index.meta.values()}
        return len(listing) == len(known) and known.issuperset(listing)

    def _add_found(self, names: dict[str, str], modseq: int) -> list[Added]:
        """Files no index entry knows: take their uidlist UID when it is
        above every UID handed out, else a new one (lock held); their
        events, from ``modseq`` + 1 on."""
        index = self.index
        log = index.log
        assert log is not None
        floor = log.uidnext
        nxt = max(index.uidlist.next_uid, floor)
        known: list[tuple[int, str]] = []
        fresh: list[tuple[int, str]] = []
        for base, name in sorted(names.items()):
            uid = index.uidlist.by_base.get(base)
            if uid is not None and uid >= floor and uid not in log:
                known.append((uid, name))
            else:
                fresh.append((nxt, name))
                nxt += 1
        index.uidlist.append([(u, n[4:]) for u, n in fresh])
        seen: set[int] = set()
        events: list[Added] = []
        for uid, name in sorted(known + fresh):
            if uid in seen:
                continue
            seen.add(uid)
            try:
                meta, flags = self._meta_for_file(uid, name)
            except FileNotFoundError:
                continue
            modseq += 1
            events.append(Added(modseq, uid, meta, frozenset(flags)))
        return events

    def _meta_for_file(self, uid: int, name: str) -> tuple[Meta, set[str]]:
        """Read and parse a message file another program wrote; its parsed
        form goes to the cache."""
        path = os.path.join(self.path, name)
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        conv = needs_crlf(data)
        if conv:
            data = to_crlf(data)
        info = parse(data)
        coff, clen = self.index.cache.add(b"%d\n" % uid + info.dump())
        self.index.remember(uid, info)
        meta = Meta(name, len(data), st.st_mtime, 0, coff, clen, conv)
        flags, _ = flags_from_name(name, self.index.keywords)
        return meta, flags

    def _flags_of(self, name: str, previous: frozenset[str]) -> set[str]:
        """Flags of a renamed file, keeping keywords a file name cannot
        carry (beyond the 26 letters)."""
        keywords = self.index.keywords
        flags, _ = flags_from_name(name, keywords)
        lower = {k.lower() for k in keywords if k}
        for f in previous:
            if f.lower() not in SYSTEM_FLAGS_LOWER and f.lower() not in lower:
                flags.add(f)
        return flags
