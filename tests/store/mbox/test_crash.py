"""SIGKILL at random moments while a child process appends, flags,
expunges (a tail rewrite through the journal), copies and moves between two
mbox files; after each kill a new child carries on, and in
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
    account = await store.account("u")
    if "Other" not in [b.name for b in account.mailboxes()]:
        await account.create_mailbox("Other")
    boxes = {"INBOX": await account.mailbox("INBOX"), "Other": await account.mailbox("Other")}
    for box in boxes.values():
        await box.snapshot()
    inbox, other = boxes["INBOX"], boxes["Other"]
    say("READY")
    rng = random.Random(seed)
    i = 0
    while True:
        name = "Other" if rng.random() < 0.25 and len(other.log.uids) >= 4 else "INBOX"
        box = boxes[name]
        uids = list(box.log.uids)
        r = rng.random()
        if r < 0.4 or len(inbox.log.uids) < 4:
            flags = rng.choice(CHOICES)
            say("TRY", "append", "INBOX", i, *flags)
            uid = await inbox.append(message(tag, i), frozenset(flags), None)
            say("OK", "append", "INBOX", uid, i, *flags)
        elif r < 0.6:
            uid = rng.choice(uids)
            flags = rng.choice(CHOICES)
            say("TRY", "store", name, uid, *flags)
            await box.store([uid], "set", frozenset(flags))
            say("OK", "store", name, uid, *flags)
        elif r < 0.75:
            victims = sorted(rng.sample(uids, 2))
            say("TRY", "expunge", name, *victims)
            await box.store(victims, "add", frozenset({"\\Deleted"}))
            await box.expunge(victims)
            say("OK", "expunge", name, *victims)
        else:
            op = "copy" if r < 0.88 else "move"
            src = sorted(rng.sample(list(inbox.log.uids), 2))
            say("TRY", op, "INBOX", *src)
            result = await (inbox.copy if op == "copy" else inbox.move)(src, other)
            pairs = ["%d:%d:%s:%s" % (a, b, ",".join(sorted(other.log.get(b).flags)),
                                      hashlib.sha1(await other.read(b)).hexdigest())
                     for a, b in result.pairs]
            say("OK", op, "INBOX", *pairs)
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


Key = tuple[str, int]  # (mailbox, uid)


class State:
    """What the children were told, and what may have happened unacknowledged."""

    def __init__(self) -> None:
        self.content: dict[Key, bytes] = {}
        self.flags: dict[Key, frozenset[str]] = {}
        self.maybe_flags: dict[Key, set[frozenset[str]]] = {}
        self.maybe_gone: set[Key] = set()
        self.gone: set[Key] = set()
        self.last_uid = {"INBOX": 0, "Other": 0}
        self.acks = 0
        self.ops: dict[str, int] = {}
        #: appends in flight at a kill, by digest (a later COPY may copy one)
        self.unacked: dict[str, bytes] = {}

    def added(self, key: Key, content: bytes, flags: frozenset[str]) -> None:
        assert key[1] > self.last_uid[key[0]], "UIDs must only ascend, across crashes too"
        self.last_uid[key[0]] = key[1]
        self.content[key] = content
        self.flags[key] = flags
        self.maybe_flags[key] = set()

    def expunged(self, key: Key) -> None:
        self.gone.add(key)
        self.maybe_gone.discard(key)

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
            op, box = words[1], words[2]
            self.ops[op] = self.ops.get(op, 0) + 1
            if op == "append":
                uid, i = int(words[3]), int(words[4])
                self.added((box, uid), message(tag, i), frozenset(words[5:]))
            elif op == "store":
                key = (box, int(words[3]))
                self.flags[key] = frozenset(words[4:])
                self.maybe_flags[key] = set()
            elif op == "expunge":
                for uid in map(int, words[3:]):
                    self.expunged((box, uid))
            else:  # copy / move from INBOX to Other: "src:new:flag,flag:sha1"
                for pair in words[3:]:
                    src, new, flags, digest = pair.split(":")
                    key = (box, int(src))
                    # the source may be a message whose append was never acknowledged
                    content = self.content.get(key) or self.unacked[digest]
                    assert hashlib.sha1(content).hexdigest() == digest, (key, new)
                    self.added(("Other", int(new)), content,
                               frozenset(f for f in flags.split(",") if f))
                    if op == "move":
                        self.expunged(key)
        if pending is None:
            return
        # the operation in flight when the child died may or may not have happened
        op, box = pending[0], pending[1]
        if op == "append":
            content = message(tag, int(pending[2]))
            self.unacked[hashlib.sha1(content).hexdigest()] = content
        elif op == "store":
            key = (box, int(pending[2]))
            self.maybe_flags.setdefault(key, set()).add(frozenset(pending[3:]))
        elif op in ("expunge", "move"):
            for uid in map(int, pending[2:]):
                key = (box, uid)
                if key not in self.gone:
                    self.maybe_gone.add(key)
                    if op == "expunge":
                        self.maybe_flags.setdefault(key, set()).add(
                            self.flags.get(key, frozenset()) | {"\\Deleted"})


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

    async def test_sigkill_mid_append_store_expunge_copy_move(self) -> None:
        path = tempfile.mkdtemp(prefix="mf-mbox-crash-")
        self.addCleanup(shutil.rmtree, path, True)
        rng = random.Random(15)
        state = State()
        index = os.path.join(path, "u", ".mailframe", "INBOX.json")
        round_ = 0
        # at least 8 rounds, and more until COPY and MOVE were both acknowledged
        while round_ < 8 or (round_ < 20 and not (state.ops.get("copy") and state.ops.get("move"))):
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
            round_ += 1
        assert state.acks >= 20, f"the children did almost nothing ({state.acks} acks)"
        assert state.ops.get("copy") and state.ops.get("move"), state.ops

        store = MboxStore(path + "/%u")
        account = await store.account("u")
        for name, file in (("INBOX", "inbox"), ("Other", "Other")):
            box = await account.mailbox(name)
            snap = await box.snapshot()
            found = {s.uid: s.flags for s in snap.messages}
            uids = [s.uid for s in snap.messages]
            assert uids == sorted(set(uids))
            for (where, uid), content in state.content.items():
                if where != name:
                    continue
                key = (where, uid)
                if key in state.gone:
                    assert uid not in found, f"expunged UID {uid} in {name} is back"
                    continue
                if key in state.maybe_gone and uid not in found:
                    continue
                assert uid in found, f"acknowledged UID {uid} in {name} lost"
                assert await box.read(uid) == content, f"UID {uid} in {name} damaged"
                allowed = {state.flags[key], *state.maybe_flags.get(key, ())}
                assert found[uid] in allowed, (name, uid, found[uid], allowed)
            for uid in uids:  # unacknowledged appends and copies are whole messages
                data = await box.read(uid)
                assert data.startswith(b"Subject: r") and data.endswith(b"\r\n"), data[:40]
            new_uid = await box.append(b"Subject: after\r\n\r\nx\r\n", frozenset(), None)
            assert new_uid > max([state.last_uid[name], *uids])
            # the file itself: one pseudo-message, then one From_ per message, all with X-UIDs
            with open(os.path.join(path, "u", file), "rb") as f:
                scan = fmt.scan(f)
            assert scan.pseudo is not None
            assert [e.uid for e in scan.entries] == [*uids, new_uid]
            assert not os.path.exists(os.path.join(path, "u", "." + file + ".mftail"))
        await store.close()
