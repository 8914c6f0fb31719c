"""Writes to a Maildir folder: APPEND, STORE, EXPUNGE, COPY.

A :class:`FolderWriter` works with the folder's
:class:`mailframe.store._maildir_state.FolderIndex` and
:class:`mailframe.store._maildir_sync.FolderScanner`.  Each write takes ``dovecot-uidlist.lock``, catches up with what others wrote,
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from mailframe.errors import CannotDo, TryCreate
from mailframe.message import MessageInfo, parse, to_crlf
from mailframe.records import StoreMode, StoreResult
from mailframe.store._log import apply_mode
from mailframe.store._maildir_durable import commit, modseq_base
from mailframe.store._maildir_files import (
    NewFile,
    at_once,
    flags_from_name,
    fsync_dir,
    info_for,
    new_base,
    write_durably,
)
from mailframe.store._maildir_index import (
    Added,
    CurMoved,
    DirStamp,
    Event,
    Expunged,
    FlagsChanged,
    Meta,
    format_event,
    format_flags,
)
from mailframe.store._maildir_state import FolderIndex
from mailframe.store._maildir_sync import FolderScanner

__all__ = ["FolderWriter", "Prepared", "discard"]

#: A STORE that renames at least this many files renames them in a helper
#: thread while the events are built (below it the hand-off costs more
#: than it hides).
_THREADED_RENAMES = 64


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
    #: ``MessageInfo.load(blob)``, made in the first stage (off the
    #: reactor): the folder keeps it in memory at delivery, so the first
    #: FETCH after an APPEND or COPY does not read the cache file back.
    #: The loaded form rather than the parsed one: its part tree stays in
    #: the compact dumped form until a FETCH needs it, as a record read
    #: from the cache file would
    info: MessageInfo | None = None


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


class FolderWriter:
    """APPEND, STORE, EXPUNGE and the two halves of COPY for one folder.

    ``info`` gives a message's parsed form (the folder's reader: memory,
    cache file, or the message file)."""

    def __init__(
        self, index: FolderIndex, scanner: FolderScanner, info: Callable[[int], MessageInfo]
    ) -> None:
        self.index = index
        self.scanner = scanner
        self.path = index.path
        self.cur = os.path.join(self.path, "cur")
        self.tmp = os.path.join(self.path, "tmp")
        self._info = info

    def check_exists(self) -> None:
        """A deleted folder takes no new mail: NO [TRYCREATE] (RFC 3501
        §6.3.11, §6.4.7)."""
        if not os.path.isdir(self.cur):
            raise TryCreate(f"mailbox folder {os.path.basename(self.path)} is gone")

    def _cur_moved(self, stamp: DirStamp, events: list[Event]) -> int:
        """``cur/``'s time now, after this transaction's renames or
        unlinks (lock held), added to ``events`` as a
        :class:`CurMoved` line from ``stamp``'s: other processes follow
        it instead of listing ``cur/`` again."""
        after = self.scanner.dir_stamp().cur_ns
        if after != stamp.cur_ns:
            events.append(CurMoved(stamp.cur_ns, after))
        return after

    # ------------------------------------------------------------ APPEND

    def prepare(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[Prepared]:
        """First stage of an APPEND, touching no folder state (any thread):
        parse each message and write it, fsynced, into ``tmp/``.  Nothing
        is left in ``tmp/`` when it fails."""
        self.check_exists()
        prepared: list[Prepared] = []
        try:
            for content, flags, when in items:
                _check_flags(flags)
                mtime = when.timestamp() if when is not None else time.time()
                tz = _tz_minutes(when) if when is not None else 0
                content, blob, tmp = self._write(content, mtime)
                prepared.append(
                    Prepared(
                        tmp,
                        frozenset(flags) - {"\\Recent"},
                        mtime,
                        tz,
                        len(content),
                        blob,
                        info=MessageInfo.load(blob),
                    )
                )
        except BaseException:
            discard(prepared)
            raise
        return prepared

    def _write(self, content: bytes, mtime: float) -> tuple[bytes, bytes, str]:
        """One message into ``tmp/``, fsynced: (its octets as stored, its
        parsed form, the file's path).  Bare LF is stored as CRLF, as
        Dovecot saves it; a message that has none (nearly all) is checked
        while it is written, and parsed while the disk writes it back,
        before the fsync (a 50 MB APPEND no longer does the three one
        after the other)."""
        f = NewFile(self.tmp, len(content))
        try:
            if not f.write_if_crlf(content):
                f.abort()
                content = to_crlf(content)
                f = NewFile(self.tmp, len(content))
                f.write(content)
            blob = parse(content).dump()
        except BaseException:
            f.abort()
            raise
        return content, blob, f.finish(mtime)

    def deliver(self, prepared: list[Prepared]) -> list[int]:
        """Second stage (the folder's worker): under the lock, rename the
        prepared files into ``cur/`` and give them their UIDs, ascending,
        in one uidlist and one index update, so other writers wait only
        for the renames and the two small appends.  What is not delivered
        is removed from ``tmp/``."""
        try:
            if not prepared:
                return []
            with self.index.lock:
                return self._deliver(prepared)
        finally:
            discard(prepared)

    def _deliver(self, prepared: list[Prepared]) -> list[int]:
        index = self.index
        stamp = self.scanner.locked_refresh()
        log = index.log
        assert log is not None
        index.ensure_keywords(f for p in prepared for f in p.flags)
        uid = max(index.uidlist.next_uid, log.uidnext)
        records: list[tuple[int, str]] = []
        events: list[Event] = []
        modseq = modseq_base(index)
        moved: list[tuple[str, str]] = []
        try:
            for p in prepared:
                name = os.path.basename(p.tmp) + info_for(p.flags, index.keywords)
                target = os.path.join(self.cur, name)
                os.rename(p.tmp, target)
                moved.append((target, p.tmp))
                coff, clen = index.cache.add(b"%d\n" % uid + p.blob)
                meta = Meta("cur/" + name, p.size, p.mtime, p.tzmin, coff, clen, p.conv)
                modseq += 1
                records.append((uid, name))
                events.append(Added(modseq, uid, meta, p.flags))
                uid += 1
            # The message files were fsynced in tmp/; now their names in
            # cur/ and their UIDs, both synced at once (they need no order:
            # a uidlist line without its file is a UID never used, a file
            # without its line gets a new UID, and neither was acknowledged).
            index.uidlist.append(records, beside=lambda: fsync_dir(self.cur))
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
        after = self._cur_moved(stamp, events)
        # The index lines are synced only when their modseqs leave the
        # reservation (mailframe.store._maildir_durable): the messages and
        # their UIDs are on disk already, and the rebuild after a power
        # loss finds the files whose lines are missing and adds them again
        # under the same UIDs, above every modseq handed out.
        commit(index, events, None)
        for (uid, _), p in zip(records, prepared, strict=True):
            if p.info is not None:
                index.remember(uid, p.info)
        self.scanner.own_change(stamp, after)
        index.maybe_compact(later=True)
        return [u for u, _ in records]

    # ------------------------------------------------------------- STORE

    def store(
        self,
        uids: Iterable[int],
        mode: StoreMode | str,
        flags: frozenset[str],
        unchangedsince: int | None,
    ) -> StoreResult:
        """RFC 3501 §6.4.6 (and UNCHANGEDSINCE, RFC 7162 §3.1.3) over the
        whole set as one transaction: one lock, the renames and one index
        append, every changed message at one modseq.  Synced (``cur/``,
        then the lines) only when the modseq leaves the reservation
        (:mod:`mailframe.store._maildir_durable`): like Dovecot, a power
        loss may undo an acknowledged flag change, never lose mail, and
        never reuse a modseq."""
        _check_flags(flags)
        index = self.index
        with index.lock:
            stamp = self.scanner.locked_refresh()
            log = index.log
            assert log is not None
            index.ensure_keywords(flags)
            keywords = index.keywords
            failed: list[int] = []
            modseq = modseq_base(index) + 1
            meta = index.meta
            # A STORE over many messages meets few distinct flag sets and
            # file-name suffixes: each transform is worked out once.
            new_flags: dict[frozenset[str], frozenset[str]] = {}
            suffixes: dict[tuple[str, frozenset[str]], str] = {}
            plan: list[tuple[int, str, str, frozenset[str]]] = []
            for uid in sorted(set(uids)):
                old = log.get(uid)
                if old is None:
                    continue
                if unchangedsince is not None and old.modseq > unchangedsince:
                    failed.append(uid)
                    continue
                new = new_flags.get(old.flags)
                if new is None:
                    new = new_flags[old.flags] = apply_mode(old.flags, mode, flags)
                if new == old.flags:
                    continue
                name = meta[uid].name
                colon = name.find(":", 4)  # after "cur/"
                if colon < 0:
                    colon = len(name)
                suffix = name[colon:]
                target_suffix = suffixes.get((suffix, new))
                if target_suffix is None:
                    _, unknown = flags_from_name(suffix, keywords)
                    target_suffix = suffixes[(suffix, new)] = info_for(new, keywords, unknown)
                plan.append((uid, name, "cur/" + name[4:colon] + target_suffix, new))
            events, text = self._renamed(plan, modseq)
            after = None
            written: list[Event] = list(events)
            if events:
                after = self._cur_moved(stamp, written)
                text += "".join(map(format_event, written[len(events) :]))
            commit(index, written, self.cur, text=text)
            self.scanner.own_change(stamp, after)
            index.maybe_compact(later=True)
            changed = tuple(log.states(e.uid for e in events))
            return StoreResult(changed=changed, failed=tuple(failed))

    def _renamed(
        self, plan: list[tuple[int, str, str, frozenset[str]]], modseq: int
    ) -> tuple[list[FlagsChanged], str]:
        """Rename each planned ``(uid, name, target, flags)`` file (names
        relative to the folder) and give the :class:`FlagsChanged` events
        of those still there, and their index lines (lock held).

        The renames cost the kernel ~18 µs each on ext4 (the directory's
        lock serialises them, so several threads do not help: measured,
        bench/README.md "Session 9, Maildir STORE"); they release the
        GIL.  For a large STORE they run in a helper thread, relative to
        one descriptor of the folder (no path walk per file), while this
        thread builds the events: the Python work hides behind the
        kernel's.  A file gone under us is left out (the next scan
        reports it)."""
        missing: list[int] = []

        def rename_all() -> None:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for uid, name, target, _ in plan:
                    if target != name:
                        try:
                            os.rename(name, target, src_dir_fd=fd, dst_dir_fd=fd)
                        except FileNotFoundError:
                            missing.append(uid)
            finally:
                os.close(fd)

        events: list[FlagsChanged] = []
        lines: list[str] = []

        def build() -> None:
            for uid, _, target, new in plan:
                events.append(FlagsChanged(modseq, uid, target, new))
                lines.append(format_flags(uid, modseq, target, new))

        if len(plan) >= _THREADED_RENAMES:
            at_once(rename_all, build)
        else:
            rename_all()
            build()
        if missing:
            gone = set(missing)
            kept = [k for k, e in enumerate(events) if e.uid not in gone]
            events = [events[k] for k in kept]
            lines = [lines[k] for k in kept]
        return events, "".join(lines)

    # ----------------------------------------------------------- EXPUNGE

    def remove(self, uids: list[int]) -> list[int]:
        """Expunge exactly ``uids`` (those that exist)."""
        index = self.index
        with index.lock:
            stamp = self.scanner.locked_refresh()
            log = index.log
            assert log is not None
            gone = [u for u in sorted(set(uids)) if u in log]
            if not gone:
                return []
            for uid in gone:
                try:
                    os.unlink(os.path.join(self.path, index.meta[uid].name))
                except FileNotFoundError:
                    pass
            fsync_dir(self.cur)
            modseq = modseq_base(index) + 1
            events: list[Event] = [Expunged(modseq, tuple(gone))]
            after = self._cur_moved(stamp, events)
            commit(index, events, None, sync=True)  # an expunge is never undone
            self.scanner.own_change(stamp, after)
            index.maybe_compact(later=True)
            return gone

    def expunge(self, uids: Iterable[int] | None) -> list[int]:
        """The ``\\Deleted`` messages (among ``uids``) go (RFC 3501 §6.4.3,
        UID EXPUNGE RFC 4315 §2.1)."""
        log = self.scanner.refresh()
        targets = log.deleted_uids(uids)
        if not targets:
            return []
        index = self.index
        with index.lock:
            self.scanner.locked_refresh()
            assert index.log is not None
            return self.remove(index.log.deleted_uids(targets))

    # -------------------------------------------------------------- COPY

    def export(self, dest: FolderWriter, uids: Iterable[int]) -> list[Prepared]:
        """First stage of a COPY (this folder's worker): hard-link each
        message (Maildir files never change) into ``dest``'s ``tmp/``, or
        copy it durably where links fail, with its parsed form; the second
        stage is ``dest.deliver`` in ``dest``'s worker.  Messages gone
        meanwhile are left out."""
        log = self.scanner.refresh()
        wanted = [u for u in sorted(set(uids)) if u in log]
        if not wanted:
            return []
        dest.check_exists()
        prepared: list[Prepared] = []
        try:
            for src in wanted:
                state = log.get(src)
                m = self.index.meta.get(src)
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
                info = self._info(src)
                prepared.append(
                    Prepared(
                        tmp, state.flags, m.mtime, m.tzmin, m.size, info.dump(), m.conv, src, info
                    )
                )
        except BaseException:
            discard(prepared)
            raise
        return prepared
