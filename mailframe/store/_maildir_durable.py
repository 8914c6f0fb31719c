"""When a Maildir folder's index lines are synced: modseq reservations.

Modseqs handed to clients must never be handed out again for another
change (RFC 7162 §3.1.1: they only grow), yet syncing ``mailframe-index``
after every STORE or APPEND costs a disk flush each (issue 16: with two
workers, 42 % of Maildir job time was fsyncs and 36 % waiting for the lock
held across them).  Dovecot's default ``mail_fsync = optimized`` does not
sync its index log at all.

Only a power loss (or a kernel crash) loses written but unsynced lines; a
killed process loses nothing, the page cache outlives it.  So index lines
may go unsynced while their modseqs stay at or below a **reservation**: an
``R <ceiling> <boot id>`` line, always synced before it is relied on,
saying "modseqs up to <ceiling> may be handed out unsynced in the boot
<boot id>" (``/proc/sys/kernel/random/boot_id``).  A write whose modseqs
go past the ceiling, or that finds the last reservation made in another
boot, is synced together with a new reservation (:data:`WINDOW` above its
modseqs): at most one synced index write per :data:`WINDOW` modseqs.

After a reboot, lines written after the last synced reservation may be
gone, and with them flag changes whose renames may or may not be on disk.
The first look at the folder (:func:`after_reboot`) rebuilds its index
from the files (``FolderScanner.rebuild(after_power_loss=True)``: what the
index knew of a file still there is kept, nothing is read again but the
files it lacks), every message at one new modseq above the old ceiling:
a client told of a flag change that did not survive hears of the message
again, no modseq it was told is reused, and expunges before it are
reported as unknown (QRESYNC clients resynchronise, RFC 7162 §3.2.5.2).
What can be lost is a flag change (its rename), never a message: APPEND
still syncs the message file, ``cur/`` and ``dovecot-uidlist`` before it
answers.
Where the boot id cannot be read, every index write is synced (and
reservations say ``-``).
"""

from __future__ import annotations

from mailframe.store._maildir_files import fsync_dir
from mailframe.store._maildir_index import (
    Added,
    Event,
    Expunged,
    FlagsChanged,
    format_event,
    format_reserved,
)
from mailframe.store._maildir_state import FolderIndex

__all__ = ["BOOT", "WINDOW", "after_reboot", "commit", "modseq_base"]

#: Modseqs reserved beyond a synced write's own.
WINDOW = 4096


#: :data:`BOOT` when the boot id is unknown.
UNKNOWN = "-"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except OSError:
        return UNKNOWN
    ok = boot and boot.isprintable() and not any(c.isspace() for c in boot)
    return boot if ok else UNKNOWN


#: This boot's id (:data:`UNKNOWN`: every index write is synced).
BOOT = _boot_id()


def after_reboot(index: FolderIndex) -> bool:
    """The folder's last reservation was made in another boot: lines
    written after it may be lost (any thread; reads one attribute)."""
    reserved = index.file.reserved
    return reserved is not None and reserved[1] != BOOT


def modseq_base(index: FolderIndex) -> int:
    """The modseq after which a write's own start (lock held, caught up):
    the highest one, or above the last reservation after a reboot."""
    log = index.log
    assert log is not None
    reserved = index.file.reserved
    if reserved is not None and reserved[1] != BOOT:
        return max(log.highestmodseq, reserved[0])
    return log.highestmodseq


def commit(
    index: FolderIndex,
    events: list[Event],
    cur: str | None,
    sync: bool = False,
    text: str | None = None,
) -> None:
    """Persist, then apply, a writer's own events (lock held, caught up):
    unsynced while their modseqs stay within this boot's reservation;
    else (or with ``sync``) synced, with a new reservation, after
    ``cur/`` (when not None: the renames the lines describe reach the
    disk before the lines do).  After a reboot a reservation is written
    even with no events, so the folder is rescanned only once.  ``text``:
    the events' lines when the caller formatted them already."""
    top = max(
        (e.modseq for e in events if isinstance(e, Added | FlagsChanged | Expunged)), default=0
    )
    reserved = index.file.reserved
    if text is None:
        text = "".join(map(format_event, events))
    if (
        not sync
        and BOOT != UNKNOWN
        and reserved is not None
        and reserved[1] == BOOT
        and top <= reserved[0]
    ):
        if text:
            index.file.append(text, durable=False)
    elif text or after_reboot(index):
        if cur is not None:
            fsync_dir(cur)
        log = index.log
        assert log is not None
        ceiling = max(top, log.highestmodseq) + WINDOW
        index.file.append(text + format_reserved(ceiling, BOOT))
        index.file.reserved = (ceiling, BOOT)
    if events:
        index.apply(events)
        index.mark_applied()
