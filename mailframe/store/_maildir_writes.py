"""Writes to a Maildir folder: APPEND, STORE, EXPUNGE, COPY.

Each takes ``dovecot-uidlist.lock``, catches up with what others wrote,
does the file-system work durably (``tmp/`` write, fsync, rename, fsync of
the directory; see :mod:`mailframe.store._maildir_files`), appends the matching events to
``mailframe-index`` and applies them to the log, in that order, so a
watcher never hears of a change it cannot read and a crash loses nothing
that was acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mailframe.errors import CannotDo, NonexistentMailbox, TryCreate
from mailframe.message import parse, to_crlf
from mailframe.records import StoreResult
from mailframe.store._log import apply_mode
from mailframe.store._maildir_files import (
    base_of,
    flags_from_name,
    fsync_dir,
    info_for,
    new_base,
    write_durably,
)
from mailframe.store._maildir_folder import RECHECK, make_maildir, needs_crlf
from mailframe.store._maildir_index import (
    Added,
    Event,
    Expunged,
    FlagsChanged,
    Meta,
    format_add,
    format_expunge,
    format_flags,
)
from mailframe.store._maildir_sync import FolderSync

__all__ = ["Folder", "Prepared", "discard", "make_maildir", "needs_crlf"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message file waiting in a folder's ``tmp/`` to be delivered."""

    tmp: str  # its path in tmp/
    flags: frozenset[str]
    mtime: float  # INTERNALDATE, seconds since the epoch
    tzmin: int  # INTERNALDATE zone, minutes east of UTC
    size: int
    blob: bytes  # MessageInfo.dump() of the message
    conv: bool = False  # bare LF line ends (a copy of a Dovecot/MDA file)
    source: int = 0  # the source UID of a copy


def discard(prepared: Iterable[Prepared]) -> None:
    """Remove the ``tmp/`` files of ``prepared`` that were not delivered."""
    for p in prepared:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p.tmp)


def _tz_minutes(dt: datetime) -> int:
    off = dt.utcoffset()
    return 0 if off is None else int(off.total_seconds() // 60)


def _check_flags(flags: Iterable[str]) -> None:
    """Flags are atoms (RFC 3501 §9 flag-keyword): no space, no control
    character, nothing that could break a file name or an index line."""
    for flag in flags:
        if not flag or any(c in '()*%"{]' or ord(c) < 0x21 or ord(c) == 0x7F for c in flag):
            raise CannotDo(f"invalid flag {flag!r}")


class Folder(FolderSync):
    """A Maildir folder with its write operations (all synchronous)."""

    # ------------------------------------------------------------ writes

    def _own_change(self, stamp_before: tuple[int, int]) -> None:
        """After our own renames: no rescan unless someone else also
        changed the directories (then the next refresh lists them)."""
        if stamp_before == self._stamp:
            self._stamp = self._dir_stamp()
            self._recheck_at = time.time() + RECHECK

    def _check_exists(self) -> None:
        """A deleted folder takes no new mail: NO [TRYCREATE] (RFC 3501
        §6.3.11, §6.4.7)."""
        if not os.path.isdir(self.cur):
            raise TryCreate(f"mailbox folder {os.path.basename(self.path)} is gone")

    def _locked_refresh(self) -> tuple[int, int]:
        if not os.path.isdir(self.cur):
            raise NonexistentMailbox(f"mailbox folder {self.path} is gone")
        self._catch_up()
        self.uidlist.refresh()
        stamp = self._dir_stamp()
        assert self.log is not None
        last = self.uidlist.last_uid
        if last >= self.log.uidnext and last != self._foreign_checked:
            self._foreign_checked = last
            # UIDs given by a writer that keeps no mailframe index (Dovecot):
            # find their files before handing out the next UID, whatever
            # the directory mtimes say
            self.scan(full=True)
            stamp = self._dir_stamp()
        elif stamp != self._stamp:
            self._scan_if_changed(stamp)
            stamp = self._dir_stamp()
        return stamp

    def append_many(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[int]:
        """Deliver messages durably; their UIDs, ascending (both stages of
        :meth:`prepare` and :meth:`deliver` on this thread)."""
        return self.deliver(self.prepare(items))

    def prepare(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[Prepared]:
        """First stage of an APPEND, touching no folder state (any thread):
        parse each message and write it, fsynced, into ``tmp/``.  Nothing
        is left in ``tmp/`` when it fails."""
        self._check_exists()
        prepared: list[Prepared] = []
        try:
            for content, flags, when in items:
                _check_flags(flags)
                content = to_crlf(content)  # bare LF is stored as CRLF, as Dovecot saves it
                mtime = when.timestamp() if when is not None else time.time()
                tz = _tz_minutes(when) if when is not None else 0
                blob = parse(content).dump()
                tmp = write_durably(self.tmp, content, mtime)
                prepared.append(
                    Prepared(tmp, frozenset(flags) - {"\\Recent"}, mtime, tz, len(content), blob)
                )
        except BaseException:
            discard(prepared)
            raise
        return prepared

    def deliver(self, prepared: list[Prepared]) -> list[int]:
        """Second stage (this folder's worker): under the lock, rename the
        prepared files into ``cur/`` and give them their UIDs in one
        uidlist and one index update, so other writers wait only for the
        renames and the two small appends.  What is not delivered is
        removed from ``tmp/``."""
        try:
            if not prepared:
                return []
            with self.lock:
                return self._deliver(prepared)
        finally:
            discard(prepared)

    def _deliver(self, prepared: list[Prepared]) -> list[int]:
        stamp = self._locked_refresh()
        log = self.log
        assert log is not None
        self._ensure_keywords(f for p in prepared for f in p.flags)
        uid = max(self.uidlist.next_uid, log.uidnext)
        records: list[tuple[int, str]] = []
        lines: list[str] = []
        events: list[Event] = []
        modseq = log.highestmodseq
        moved: list[tuple[str, str]] = []
        try:
            for p in prepared:
                name = os.path.basename(p.tmp) + info_for(p.flags, self.keywords)
                target = os.path.join(self.cur, name)
                os.rename(p.tmp, target)
                moved.append((target, p.tmp))
                coff, clen = self.cache.add(b"%d\n" % uid + p.blob)
                meta = Meta("cur/" + name, p.size, p.mtime, p.tzmin, coff, clen, p.conv)
                modseq += 1
                records.append((uid, name))
                lines.append(format_add(uid, modseq, meta, p.flags))
                events.append(Added(modseq, uid, meta, p.flags))
                uid += 1
            fsync_dir(self.cur)
        except BaseException:
            # All or none (RFC 3502): put back what was already renamed,
            # so no scan ever finds part of the batch in cur/.
            for target, tmp in moved:
                try:
                    os.rename(target, tmp)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(target)
            raise
        self.uidlist.append(records)
        self._write(lines, events)
        self._own_change(stamp)
        self._maybe_compact()
        return [u for u, _ in records]

    def store(
        self, uids: Iterable[int], mode: str, flags: frozenset[str], unchangedsince: int | None
    ) -> StoreResult:
        _check_flags(flags)
        with self.lock:
            stamp = self._locked_refresh()
            log = self.log
            assert log is not None
            self._ensure_keywords(flags)
            failed: list[int] = []
            lines: list[str] = []
            events: list[Event] = []
            modseq = log.highestmodseq + 1
            for uid in sorted(set(uids)):
                old = log.get(uid)
                if old is None:
                    continue
                if unchangedsince is not None and old.modseq > unchangedsince:
                    failed.append(uid)
                    continue
                new = apply_mode(old.flags, mode, flags)
                if new == old.flags:
                    continue
                m = self.meta[uid]
                fname = m.name[4:]
                _, unknown = flags_from_name(fname, self.keywords)
                target = "cur/" + base_of(fname) + info_for(new, self.keywords, unknown)
                if target != m.name:
                    try:
                        os.rename(os.path.join(self.path, m.name), os.path.join(self.path, target))
                    except FileNotFoundError:
                        continue  # gone under us; the next scan reports it
                lines.append(format_flags(uid, modseq, target, new))
                events.append(FlagsChanged(modseq, uid, target, frozenset(new)))
            if lines:
                fsync_dir(self.cur)
            self._write(lines, events)
            self._own_change(stamp)
            self._maybe_compact()
            changed = tuple(log.states(e.uid for e in events if isinstance(e, FlagsChanged)))
            return StoreResult(changed=changed, failed=tuple(failed))

    def remove(self, uids: list[int]) -> list[int]:
        """Expunge exactly ``uids`` (those that exist); lock held by caller
        or taken here."""
        with self.lock:
            stamp = self._locked_refresh()
            log = self.log
            assert log is not None
            gone = [u for u in sorted(set(uids)) if u in log]
            if not gone:
                return []
            for uid in gone:
                try:
                    os.unlink(os.path.join(self.path, self.meta[uid].name))
                except FileNotFoundError:
                    pass
            fsync_dir(self.cur)
            modseq = log.highestmodseq + 1
            self._write([format_expunge(modseq, gone)], [Expunged(modseq, tuple(gone))])
            self._own_change(stamp)
            self._maybe_compact()
            return gone

    def expunge(self, uids: Iterable[int] | None) -> list[int]:
        log = self.refresh()
        targets = log.deleted_uids(uids)
        if not targets:
            return []
        with self.lock:
            self._locked_refresh()
            assert self.log is not None
            return self.remove(self.log.deleted_uids(targets))

    def copy_into(self, dest: Folder, uids: Iterable[int]) -> list[tuple[int, int]]:
        """Copy messages into ``dest``; (source uid, new uid) pairs (both
        stages on this thread: :meth:`export`, then ``dest.deliver``)."""
        prepared = self.export(dest, uids)
        return list(zip((p.source for p in prepared), dest.deliver(prepared), strict=True))

    def export(self, dest: Folder, uids: Iterable[int]) -> list[Prepared]:
        """First stage of a COPY (this folder's worker): hard-link each
        message (Maildir files never change) into ``dest``'s ``tmp/``, or
        copy it durably where links fail, with its parsed form; the second
        stage is ``dest.deliver`` in ``dest``'s worker.  Messages gone
        meanwhile are left out."""
        log = self.refresh()
        wanted = [u for u in sorted(set(uids)) if u in log]
        if not wanted:
            return []
        dest._check_exists()
        prepared: list[Prepared] = []
        try:
            for src in wanted:
                state = log.get(src)
                m = self.meta.get(src)
                if state is None or m is None:
                    continue
                src_path = os.path.join(self.path, m.name)
                tmp = os.path.join(dest.tmp, new_base(m.size))
                try:
                    os.link(src_path, tmp)
                except FileNotFoundError:
                    continue
                except OSError:
                    with open(src_path, "rb") as f:
                        data = f.read()
                    tmp = write_durably(dest.tmp, data, m.mtime)
                blob = self.info(src).dump()
                prepared.append(
                    Prepared(tmp, state.flags, m.mtime, m.tzmin, m.size, blob, m.conv, src)
                )
        except BaseException:
            discard(prepared)
            raise
        return prepared
