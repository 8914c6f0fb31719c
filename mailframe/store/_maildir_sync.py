"""Rebuilding, compacting and scanning a Maildir folder's index.

A scan lists ``new/`` (moving its files to ``cur/``, as Dovecot does) and,
when ``cur/`` changed, ``cur/`` too, and turns what other programs did —
mail delivered, flags renamed, files deleted — into index events with new
modseqs.  A rebuild makes a whole new index from ``dovecot-uidlist`` and
the files (the index was missing, stale or corrupt); modseqs then restart
above the current time in milliseconds so they never go backwards
(RFC 7162 §3.1.2).  A compaction rewrites the index as one checkpoint and
drops expunged messages' cache blobs and the oldest tombstones.
"""

from __future__ import annotations

import os
import time

from mailframe.message import parse, to_crlf
from mailframe.store._maildir_files import base_of, flags_from_name, fsync_dir
from mailframe.store._maildir_folder import (
    _SYSTEM,
    MAX_TOMBSTONES,
    RECHECK,
    FolderCore,
    needs_crlf,
)
from mailframe.store._maildir_index import (
    Added,
    CorruptIndex,
    Event,
    Expunged,
    FlagsChanged,
    Meta,
    format_add,
    format_expunge,
    format_flags,
    format_stamp,
)
from mailframe.store._maildir_uidlist import CorruptUidList, reserve_uidvalidity

__all__ = ["FolderSync"]

#: Rebuilds tried in a row while other processes keep replacing the uidlist.
REBUILD_ATTEMPTS = 3


class FolderSync(FolderCore):
    """A folder that can rebuild, compact and scan its index."""

    # ----------------------------------------------------------- rebuild

    def rebuild(self) -> None:
        """Recreate the index from ``dovecot-uidlist`` and the directory:
        used when the index is missing, stale or corrupt.  When another
        process replaces the uidlist meanwhile (the mailbox deleted and
        created again, so our lock was on the old one), start over."""
        for attempt in range(REBUILD_ATTEMPTS):
            try:
                self._rebuild()
                return
            except CorruptIndex:
                if attempt + 1 == REBUILD_ATTEMPTS:
                    raise

    def _rebuild(self) -> None:
        with self.lock:
            if self._rebuilt_by_another():
                return
            try:
                self.uidlist.refresh()
            except CorruptUidList:
                self.uidlist.create(reserve_uidvalidity(self.root))
            if not self.uidlist.exists:
                self.uidlist.create(reserve_uidvalidity(self.root))
            self._read_keywords()
            names = self._list_and_move()
            old_hms = self.log.highestmodseq if self.log is not None else 0
            if names or self.uidlist.last_uid or old_hms:
                # modseqs handed out before the index was lost must stay
                # below every new one (RFC 7162 §3.1.2: they only grow)
                base_modseq = max(old_hms + 1, int(time.time() * 1000))
            else:
                base_modseq = 1  # a new, empty mailbox (RFC 7162 §7)
            nxt = self.uidlist.next_uid
            assign: list[tuple[str, str]] = []
            found: list[tuple[int, str]] = []
            taken: set[int] = set()
            for base, name in sorted(names.items()):
                uid = self.uidlist.by_base.get(base)
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
            self.uidlist.append(new_records)
            self.cache.reset()
            messages = []
            meta_rows = []
            for uid, name in sorted(found):
                try:
                    meta, flags = self._meta_for_file(uid, name)
                except FileNotFoundError:
                    continue
                messages.append([uid, sorted(flags), base_modseq, meta.size])
                meta_rows.append(
                    [
                        uid,
                        meta.name,
                        meta.size,
                        meta.mtime,
                        meta.tzmin,
                        meta.coff,
                        meta.clen,
                        int(meta.conv),
                    ]
                )
            state = {
                "uidvalidity": self.uidlist.uidvalidity,
                "uidnext": max(nxt, self.uidlist.next_uid),
                "highestmodseq": base_modseq,
                "messages": messages,
                "tombstones": [],
            }
            cp = {"uidvalidity": self.uidlist.uidvalidity, "state": state, "meta": meta_rows}
            self.index.write_checkpoint(cp)
            self._install(cp)
            self._stamp = self._dir_stamp()
            self._recheck_at = time.time() + RECHECK

    def _rebuilt_by_another(self) -> bool:
        """Under the lock: did another process rebuild the index while we
        waited for it?  Then read theirs instead of rebuilding again."""
        if self.log is not None:
            return False
        try:
            checkpoint, events = self.index.read()
            if checkpoint is None:
                return False
            self._install(checkpoint)
            self._apply(events)
        except (CorruptIndex, CorruptUidList, KeyError, TypeError, ValueError):
            with self.mem:
                self.log = None
            self.index.forget()
            return False
        return True

    def checkpoint(self) -> None:
        """Compact the index to one checkpoint line (lock held); drop the
        oldest tombstones beyond :data:`MAX_TOMBSTONES` and the cache blobs
        of expunged messages."""
        log = self.log
        assert log is not None
        state = log.to_state()
        tombs = state["tombstones"]
        if len(tombs) > MAX_TOMBSTONES:
            cut = tombs[len(tombs) - MAX_TOMBSTONES - 1][0]
            with self.mem:
                log.forget_tombstones(cut)
            state["tombstones"] = [t for t in tombs if t[0] > cut]
        live = sum(m.clen for m in self.meta.values())
        if self.cache.file_size() > 2 * live + (1 << 20):
            blobs = sorted((m.coff, u, m.clen) for u, m in self.meta.items() if m.coff >= 0)
            moved = self.cache.compact([(u, off, length) for off, u, length in blobs])
            for u, (off, length) in moved.items():
                self.meta[u].coff, self.meta[u].clen = off, length
        cp = {
            "uidvalidity": log.uidvalidity,
            "state": state,
            "meta": [
                [u, m.name, m.size, m.mtime, m.tzmin, m.coff, m.clen, int(m.conv)]
                for u, m in self.meta.items()
            ],
        }
        if self._trusted_stamp is not None:
            cp["stamp"] = [*self._trusted_stamp, time.time()]
        self.index.write_checkpoint(cp)
        self._events_since_checkpoint = 0

    def _maybe_compact(self) -> None:
        log = self.log
        assert log is not None
        if self._events_since_checkpoint > max(2000, 2 * len(log)):
            self.checkpoint()
        if not self.uidlist.exists:
            return  # not read yet: nothing known to be dead
        self.uidlist.refresh()
        dead = len(self.uidlist.names) - len(log)
        if dead > max(100, len(log)):
            self.uidlist.rewrite({u: m.name[4:] for u, m in self.meta.items()})

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

    def scan(self, full: bool = True) -> None:
        """List ``new/`` (and ``cur/`` when ``full``) and turn what others
        did into events."""
        with self.lock:
            self._catch_up()
            log = self.log
            assert log is not None
            if self.uidlist.peek_uidvalidity() != log.uidvalidity:
                self.rebuild()  # the uidlist was lost or replaced
                return
            self._read_keywords()
            before = self._dir_stamp()
            started = time.time()
            if full and self._unchanged():
                names: dict[str, str] = {}
                full = False  # nothing to compare: the quick check did it
                quick = True
            else:
                names = self._list_and_move(include_cur=full)
                quick = False
            lines: list[str] = []
            events: list[Event] = []
            modseq = log.highestmodseq
            bases = self._base_map()
            meta = self.meta
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
                    lines.append(format_flags(uid, modseq, actual, flags))
                    events.append(FlagsChanged(modseq, uid, actual, frozenset(flags)))
            gone = sorted(set(meta) - seen) if full else []
            if gone:
                modseq += 1
                lines.append(format_expunge(modseq, gone))
                events.append(Expunged(modseq, tuple(gone)))
            if unknown:
                try:
                    self.uidlist.refresh()
                except CorruptUidList:
                    self.rebuild()
                    return
                modseq = self._add_found(unknown, modseq, lines, events)
            self._write(lines, events)
            after = self._dir_stamp()
            self._stamp = after
            recent = max(before) / 1e9 > started - RECHECK or after != before
            if full or quick or self._recheck_at is None:
                self._recheck_at = started + RECHECK if recent else None
            if (full or quick) and not recent and after != self._trusted_stamp:
                self.index.append(format_stamp(after[0], after[1], started))
                self._trusted_stamp = after
            self._maybe_compact()

    def _unchanged(self) -> bool:
        """The cheap full check (C-speed listing and set comparison, no
        per-file work): ``new/`` is empty and ``cur/`` holds exactly the
        names the index knows.  Most rechecks end here."""
        if any(not n.startswith(".") for n in os.listdir(self.new)):
            return False
        listing = os.listdir(self.cur)
        known = {m.name[4:] for m in self.meta.values()}
        return len(listing) == len(known) and known.issuperset(listing)

    def _add_found(
        self, names: dict[str, str], modseq: int, lines: list[str], events: list[Event]
    ) -> int:
        """Files no index entry knows: take their uidlist UID when it is
        above every UID handed out, else a new one."""
        log = self.log
        assert log is not None
        floor = log.uidnext
        nxt = max(self.uidlist.next_uid, floor)
        known: list[tuple[int, str]] = []
        fresh: list[tuple[int, str]] = []
        for base, name in sorted(names.items()):
            uid = self.uidlist.by_base.get(base)
            if uid is not None and uid >= floor and uid not in log:
                known.append((uid, name))
            else:
                fresh.append((nxt, name))
                nxt += 1
        self.uidlist.append([(u, n[4:]) for u, n in fresh])
        seen: set[int] = set()
        for uid, name in sorted(known + fresh):
            if uid in seen:
                continue
            seen.add(uid)
            try:
                meta, flags = self._meta_for_file(uid, name)
            except FileNotFoundError:
                continue
            modseq += 1
            lines.append(format_add(uid, modseq, meta, flags))
            events.append(Added(modseq, uid, meta, frozenset(flags)))
        return modseq

    def _meta_for_file(self, uid: int, name: str) -> tuple[Meta, set[str]]:
        path = os.path.join(self.path, name)
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        conv = needs_crlf(data)
        if conv:
            data = to_crlf(data)
        info = parse(data)
        coff, clen = self.cache.add(b"%d\n" % uid + info.dump())
        self._infos[uid] = info
        meta = Meta(name, len(data), st.st_mtime, 0, coff, clen, conv)
        flags, _ = flags_from_name(name, self.keywords)
        return meta, flags

    def _flags_of(self, name: str, previous: frozenset[str]) -> set[str]:
        """Flags of a renamed file, keeping keywords a file name cannot
        carry (beyond the 26 letters)."""
        flags, _ = flags_from_name(name, self.keywords)
        lower = {k.lower() for k in self.keywords if k}
        for f in previous:
            if f.lower() not in _SYSTEM and f.lower() not in lower:
                flags.add(f)
        return flags
