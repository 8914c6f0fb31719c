"""The Maildir write path's fsync policy (docs/architecture.md, user
guide "Stores"; mailframe/store/_maildir_durable.py).

An APPEND is acknowledged once the message file, its name in ``cur/`` and
its ``dovecot-uidlist`` line are on disk (RFC 3501 §6.3.11); a STORE is
renames.  ``mailframe-index`` lines are synced only once per modseq
reservation, as Dovecot does not sync its index log (``mail_fsync =
optimized``).  A killed process loses nothing; a power loss can drop the
unsynced lines and renames: no acknowledged message may be lost, and no
modseq a client was told may be handed out again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailframe.records import NewMessage, StoreMode
from mailframe.store import _maildir_durable as durable
from mailframe.store._maildir_files import at_once
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result


def message(i: int) -> bytes:
    return b"Subject: m%d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n" % (i, i)


def open_inbox(path: Path) -> tuple[MaildirStore, Any]:
    store = MaildirStore(str(path), threads=False)
    box = result(result(store.account("u")).mailbox("INBOX"))
    return store, box


def facts(box: Any) -> dict[int, tuple[frozenset[str], int]]:
    log = box.folder.refresh()
    return {uid: (log.get(uid).flags, log.get(uid).modseq) for uid in log.uids}


def test_acknowledged_appends_outlive_lost_index_lines(tmp_path: Path) -> None:
    store, box = open_inbox(tmp_path)
    result(box.append(message(0), frozenset(), None))
    index = tmp_path / "u" / "mailframe-index"
    cache = tmp_path / "u" / "mailframe-cache"
    synced_index, synced_cache = index.stat().st_size, cache.stat().st_size
    # An APPEND of one, then a MULTIAPPEND of two: three acknowledged messages
    # whose index lines (and cache blobs) are not synced.
    result(box.append(message(1), frozenset({"\\Seen", "$Work"}), None))
    two = [NewMessage(message(2), frozenset({"\\Flagged"}), None),
           NewMessage(message(3), frozenset(), None)]
    result(box.append_many(two))
    told = facts(box)
    told_hms = box.folder.refresh().highestmodseq
    assert len(told) == 4
    result(store.close())

    # The power loss: the unsynced tails are gone.
    os.truncate(index, synced_index)
    os.truncate(cache, synced_cache)

    store, box = open_inbox(tmp_path)
    assert facts(box) == told
    assert box.folder.refresh().highestmodseq == told_hms
    for i, uid in enumerate(sorted(told)):
        assert result(box.read(uid)) == message(i)
    # and the next APPEND goes on above all of them
    uid = result(box.append(message(4), frozenset(), None))
    assert uid > max(told)
    assert facts(box)[uid][1] > told_hms
    result(store.close())


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every fsync/fdatasync made (they still happen), by the path synced."""
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def name(fd: int) -> str:
        return os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))

    def fsync(fd: int) -> None:
        calls.append(name(fd))
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        calls.append(name(fd))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    yield calls


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_an_append_syncs_message_directory_and_uidlist_only(
    tmp_path: Path, syncs: list[str]
) -> None:
    store, box = open_inbox(tmp_path)
    result(box.append(message(0), frozenset(), None))
    syncs.clear()
    result(box.append(message(1), frozenset(), None))
    assert sorted(n if n in ("cur", "dovecot-uidlist") else "message" for n in syncs) == [
        "cur", "dovecot-uidlist", "message"]
    result(store.close())


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_a_store_within_the_reservation_syncs_nothing(tmp_path: Path, syncs: list[str]) -> None:
    """Like Dovecot's mail_fsync=optimized: a flag change is a rename and
    an unsynced index line while its modseq stays within the synced
    reservation (one synced write per WINDOW modseqs)."""
    store, box = open_inbox(tmp_path)
    uid = result(box.append(message(0), frozenset(), None))
    syncs.clear()
    for flag in ("\\Seen", "\\Flagged", "$Later"):
        result(box.store([uid], StoreMode.ADD, frozenset({flag})))
    # a new keyword's letter is made durable (dovecot-keywords), nothing else
    assert [n for n in syncs if not n.startswith("dovecot-keywords")] == []
    assert facts(box)[uid][0] == frozenset({"\\Seen", "\\Flagged", "$Later"})
    # a compaction carries the reservation over (its new file is synced whole)
    folder = box.folder
    with folder.lock:
        folder.index.checkpoint()
    syncs.clear()
    result(box.store([uid], StoreMode.REMOVE, frozenset({"\\Flagged"})))
    assert syncs == []
    result(store.close())
    # and another process reading the compacted index finds it too
    store, box = open_inbox(tmp_path)
    syncs.clear()
    result(box.store([uid], StoreMode.REMOVE, frozenset({"\\Seen"})))
    assert syncs == []
    assert facts(box)[uid][0] == frozenset({"$Later"})
    result(store.close())


def test_after_a_power_loss_every_message_moves_above_the_reservation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power loss drops the unsynced index lines and perhaps some
    renames: no message is lost, and every message comes back at a modseq
    above anything a client was told (RFC 7162 §3.1.1), so a client told
    of a flag change that did not survive hears of that message again."""
    store, box = open_inbox(tmp_path)
    result(box.append(message(0), frozenset(), None))
    index = tmp_path / "u" / "mailframe-index"
    synced = index.stat().st_size
    cur = tmp_path / "u" / "cur"
    before = {name.split(":")[0]: name for name in os.listdir(cur)}
    result(box.append_many([NewMessage(message(1), frozenset(), None),
                            NewMessage(message(2), frozenset(), None)]))
    uids = sorted(facts(box))
    result(box.store(uids, StoreMode.ADD, frozenset({"\\Seen"})))
    told = facts(box)
    told_hms = box.folder.refresh().highestmodseq
    result(store.close())

    # The power loss: the unsynced index tail is gone, and the rename of the
    # first message (\Seen) did not reach the disk; the later ones did.
    os.truncate(index, synced)
    for base, old_name in before.items():
        (now,) = [n for n in os.listdir(cur) if n.startswith(base)]
        os.rename(cur / now, cur / old_name)
    monkeypatch.setattr(durable, "BOOT", "another-boot")

    store, box = open_inbox(tmp_path)
    after = facts(box)
    assert sorted(after) == uids  # no message lost, same UIDs
    assert after[uids[0]][0] == frozenset()  # its flag change was lost...
    assert after[uids[1]][0] == after[uids[2]][0] == frozenset({"\\Seen"})
    # ...and every message is at a modseq no client was told of
    assert min(modseq for _flags, modseq in after.values()) > told_hms
    assert all(after[u][1] > told[u][1] for u in uids)
    for i, uid in enumerate(uids):
        assert result(box.read(uid)) == message(i)
    # done once: the next opening (same boot) changes nothing
    result(store.close())
    store, box = open_inbox(tmp_path)
    assert facts(box) == after
    result(store.close())


def test_at_once_runs_both_and_raises_a_failure() -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with lock:
            ran.append(1)

    def two() -> None:
        with lock:
            ran.append(2)

    at_once(one, two)
    assert sorted(ran) == [1, 2]

    def broken() -> None:
        raise OSError(5, "EIO")

    with pytest.raises(OSError):
        at_once(broken, two)
    with pytest.raises(OSError):
        at_once(one, broken)


def big_message(size: int, bare_lf_at: int | None = None) -> bytes:
    """A CRLF message of about ``size`` octets whose first CRLF after the
    header straddles the 1 MiB check slices (its CR ends one); with a bare
    LF near ``bare_lf_at``."""
    head = b"Subject: big\r\n\r\n"
    filler = b"x" * ((1 << 20) - len(head) - 1) + b"\r\n"
    body = bytearray(head + filler)
    line = b"y" * 78 + b"\r\n"
    while len(body) < size:
        body += line
    if bare_lf_at is not None:
        body[bare_lf_at : bare_lf_at + 2] = b"z\n"
    return bytes(body)


def test_large_appends_are_stored_with_crlf_line_ends(tmp_path: Path) -> None:
    """RFC 3501 §2.3.3 / §6.3.11: the message is stored as CRLF lines,
    as Dovecot saves it; a message already CRLF throughout is stored as
    it came (a CRLF split over two check slices is no bare LF)."""
    store, box = open_inbox(tmp_path)
    clean = big_message(9 << 20)
    uid = result(box.append(clean, frozenset(), None))
    assert result(box.read(uid)) == clean
    # the bare LF sits in the third slice: the first two were written already
    bare = big_message(9 << 20, bare_lf_at=(2 << 20) + 1000)
    uid2 = result(box.append(bare, frozenset(), None))
    stored = result(box.read(uid2))
    assert stored == bare.replace(b"z\n", b"z\r\n")
    assert result(box.records([uid2]))[0].size == len(bare) + 1
    assert os.listdir(tmp_path / "u" / "tmp") == []  # the first try is gone
    assert sorted(n.split(",S=")[1].split(":")[0] for n in os.listdir(tmp_path / "u" / "cur")) == sorted(
        [str(len(clean)), str(len(bare) + 1)])
    result(store.close())


STORER = r"""
import sys
from mailframe.records import StoreMode
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

box = result(result(MaildirStore(sys.argv[1]).account("u")).mailbox("INBOX"))
uids = list(box.folder.refresh().uids)
print("READY", flush=True)
i = 0
while True:
    uid = uids[i % len(uids)]
    flags = frozenset({"\\Seen", "$k%d" % (i % 3)}) if (i // len(uids)) % 2 == 0 else frozenset()
    got = result(box.store([uid], StoreMode.SET, flags))
    print("OK", i, uid, got.changed[0].modseq if got.changed else 0, flush=True)
    i += 1
"""


def test_acknowledged_flag_changes_outlive_sigkill(tmp_path: Path) -> None:
    """STORE's renames and index lines are not synced: a killed process
    loses none of them (the page cache outlives it; only a power loss
    can, see above).  Every acknowledged STORE is there after SIGKILL,
    at its modseq or later; one in flight is there whole or not at all."""
    store, box = open_inbox(tmp_path)
    for i in range(10):
        result(box.append(message(i), frozenset(), None))
    result(store.close())
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", STORER, str(tmp_path)],
                            stdout=subprocess.PIPE, env=env, cwd=root)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"READY\n"
    time.sleep(random.Random(8).uniform(0.3, 0.6))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    acked = [tuple(map(int, line.split()[1:])) for line in out.splitlines()
             if line.startswith(b"OK ") and len(line.split()) == 4]
    assert len(acked) > 20, "the child stored almost nothing"

    def flags_of(i: int) -> frozenset[str]:
        return frozenset({"\\Seen", f"$k{i % 3}"}) if (i // 10) % 2 == 0 else frozenset()

    last: dict[int, tuple[int, int]] = {}
    for i, uid, modseq in acked:
        last[uid] = (i, modseq)
    store, box = open_inbox(tmp_path)
    now = facts(box)
    in_flight = len(acked)  # the STORE the kill may have cut short
    for uid, (i, modseq) in last.items():
        flags, got_modseq = now[uid]
        later = in_flight if in_flight % 10 == (uid - 1) % 10 else None
        assert flags == flags_of(i) or (later is not None and flags == flags_of(later)), uid
        assert got_modseq >= modseq
    result(store.close())
