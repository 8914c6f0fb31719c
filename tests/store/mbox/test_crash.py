"""SIGKILL at random moments while a child process appends, flags and
expunges in an mbox file; after each kill a new child carries on, and in
the end every acknowledged message is there once, byte-exact, under its
UID, with its acknowledged flags (or those of the one operation in
flight when the child died), and the file is still a well-formed mbox.
The index beside the file is deleted and damaged between rounds: it is a
cache, so that costs modseqs only.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from twisted.trial.unittest import TestCase

from mailframe.store import _mbox_format as fmt
from mailframe.store.mbox import MboxStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

CHILD = r"""
import hashlib, random, sys
from twisted.internet import defer, task
from mailframe.store.mbox import MboxStore

path, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
CHOICES = [(), ("\\Seen",), ("\\Flagged", "$Work"), ("\\Answered", "\\Seen", "Later"), ("$Label1",)]

def message(tag, i):
    body = (b"From %s-%d here\r\n" % (tag.encode(), i) * 20
            + b"\r\nFrom alice Mon Dec  7 05:00:00 2026\r\n" + b"x" * (i % 7) + b"\r\n")
    return (b"Subject: %s %d\r\nX-Sum: %s\r\n\r\n" % (tag.encode(), i,
            hashlib.sha1(body).hexdigest().encode())) + body + b"\r\n"

def say(*words):
    print(*words, flush=True)

async def main(reactor):
    store = MboxStore(path + "/%u")
    box = await (await store.account("u")).mailbox("INBOX")
    await box.snapshot()
    say("READY")
    rng = random.Random(seed)
    i = 0
    while True:
        uids = list(box.log.uids)
        r = rng.random()
        if r < 0.55 or len(uids) < 4:
            flags = rng.choice(CHOICES)
            say("TRY", "append", i, *flags)
            uid = await box.append(message(tag, i), frozenset(flags), None)
            say("OK", "append", uid, i, *flags)
        elif r < 0.85:
            uid = rng.choice(uids)
            flags = rng.choice(CHOICES)
            say("TRY", "store", uid, *flags)
            await box.store([uid], "set", frozenset(flags))
            say("OK", "store", uid, *flags)
        else:
            victims = rng.sample(uids, 2)
            say("TRY", "expunge", *victims)
            await box.store(victims, "add", frozenset({"\\Deleted"}))
            await box.expunge(victims)
            say("OK", "expunge", *victims)
        i += 1

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


def message(tag: str, i: int) -> bytes:
    # lines that look like From_ separators: Content-Length must carry them
    body = (b"From %s-%d here\r\n" % (tag.encode(), i) * 20
            + b"\r\nFrom alice Mon Dec  7 05:00:00 2026\r\n" + b"x" * (i % 7) + b"\r\n")
    head = b"Subject: %s %d\r\nX-Sum: %s\r\n\r\n" % (
        tag.encode(), i, hashlib.sha1(body).hexdigest().encode())
    return head + body + b"\r\n"


class State:
    """What the children were told, and what may have happened unacknowledged."""

    def __init__(self) -> None:
        self.content: dict[int, bytes] = {}
        self.flags: dict[int, frozenset[str]] = {}
        self.maybe_flags: dict[int, set[frozenset[str]]] = {}
        self.maybe_gone: set[int] = set()
        self.gone: set[int] = set()
        self.last_uid = 0
        self.acks = 0

    def feed(self, tag: str, lines: list[bytes]) -> None:
        pending: list[str] | None = None
        for raw in lines:
            words = raw.decode().split()
            if not words or words[0] not in ("TRY", "OK"):
                continue
            if words[0] == "TRY":
                pending = words[1:]
                continue
            pending = None
            self.acks += 1
            op = words[1]
            if op == "append":
                uid, i = int(words[2]), int(words[3])
                assert uid > self.last_uid, "UIDs must only ascend, across crashes too"
                self.last_uid = uid
                self.content[uid] = message(tag, i)
                self.flags[uid] = frozenset(words[4:])
                self.maybe_flags[uid] = set()
            elif op == "store":
                uid = int(words[2])
                self.flags[uid] = frozenset(words[3:])
                self.maybe_flags[uid] = set()
            else:
                for uid in map(int, words[2:]):
                    self.gone.add(uid)
                    self.maybe_gone.discard(uid)
        if pending is None:
            return
        # the operation in flight when the child died may or may not have happened
        op = pending[0]
        if op == "store":
            uid = int(pending[1])
            self.maybe_flags.setdefault(uid, set()).add(frozenset(pending[2:]))
        elif op == "expunge":
            for uid in map(int, pending[1:]):
                if uid not in self.gone:
                    self.maybe_gone.add(uid)
                    self.maybe_flags.setdefault(uid, set()).add(
                        self.flags.get(uid, frozenset()) | {"\\Deleted"})


class MboxCrash(TestCase):
    timeout = 120

    def spawn(self, path: str, tag: str, seed: int) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, path, tag, str(seed)],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"READY\n", line
        return proc

    async def test_sigkill_mid_append_store_expunge(self) -> None:
        path = tempfile.mkdtemp(prefix="mf-mbox-crash-")
        self.addCleanup(shutil.rmtree, path, True)
        rng = random.Random(15)
        state = State()
        index = os.path.join(path, "u", ".mailframe", "INBOX.json")
        rounds = 8
        for round_ in range(rounds):
            tag = f"r{round_}"
            proc = self.spawn(path, tag, round_)
            time.sleep(rng.uniform(0.15, 0.6))
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate()
            # a line cut short by the kill is not an acknowledgement
            state.feed(tag, out.split(b"\n")[:-1])
            if round_ == 3 and os.path.exists(index):
                os.unlink(index)
            if round_ == 5 and os.path.exists(index):
                with open(index, "r+b") as f:
                    f.seek(os.path.getsize(index) // 2)
                    f.write(b"\x00garbage")
        assert state.acks >= 20, f"the children did almost nothing ({state.acks} acks)"

        store = MboxStore(path + "/%u")
        box = await (await store.account("u")).mailbox("INBOX")
        snap = await box.snapshot()
        found = {s.uid: s.flags for s in snap.messages}
        uids = [s.uid for s in snap.messages]
        assert uids == sorted(set(uids))
        for uid, content in state.content.items():
            if uid in state.gone:
                assert uid not in found, f"expunged UID {uid} is back"
                continue
            if uid in state.maybe_gone and uid not in found:
                continue
            assert uid in found, f"acknowledged UID {uid} lost"
            assert await box.read(uid) == content, f"UID {uid} damaged"
            allowed = {state.flags[uid], *state.maybe_flags.get(uid, ())}
            assert found[uid] in allowed, (uid, found[uid], allowed)
        for uid in uids:  # unacknowledged appends are whole messages
            data = await box.read(uid)
            assert data.startswith(b"Subject: r") and data.endswith(b"\r\n"), data[:40]
        new_uid = await box.append(b"Subject: after\r\n\r\nx\r\n", frozenset(), None)
        assert new_uid > max([state.last_uid, *uids])
        await store.close()
        # the file itself: one pseudo-message, then one From_ per message, all with X-UIDs
        with open(os.path.join(path, "u", "inbox"), "rb") as f:
            scan = fmt.scan(f)
        assert scan.pseudo is not None
        assert [e.uid for e in scan.entries] == [*uids, new_uid]
