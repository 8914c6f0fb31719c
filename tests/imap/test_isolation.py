"""One user can never reach another's mail by name tricks (issue 5,
"Isolation"), against every backend, through the real protocol."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for

TRICKS = [
    "../bob/INBOX", "../bob", "..", "../../etc", "/etc/passwd", "/../bob", "bob/../../bob",
    "%u", "~bob", "~bob/INBOX", ".", "./INBOX", "INBOX/../../bob", "&AC8-bob",  # mUTF-7 "/bob"
    "&AC4ALg-/bob", "a\\b", "cur", "new", "tmp", ".bob", "INBOX/.", "x/./y",
]
COMMANDS = [
    'SELECT "{n}"', 'EXAMINE "{n}"', 'STATUS "{n}" (MESSAGES)', 'CREATE "{n}"',
    'DELETE "{n}"', 'RENAME "{n}" "stolen"', 'RENAME INBOX "{n}"', 'APPEND "{n}" {{7+}}\r\nFrom: x',
    'SUBSCRIBE "{n}"', 'LIST "{n}" *', 'LIST "" "{n}"',
]


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


class _Isolation(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def test_name_tricks_never_reach_bob(self) -> None:
        store = self.make_store()
        bob = await store.account("bob")
        inbox = await bob.mailbox("INBOX")
        await inbox.append(b"Subject: secret\r\n\r\nbob's mail\r\n", frozenset(), None)
        await bob.create_mailbox("Private")
        before = self.snapshot()
        conn = connect(context_for(store))
        self.addCleanup(conn.protocol.connectionLost, None)
        lines = [b"a0 LOGIN alice secret\r\n"]
        for i, name in enumerate(TRICKS):
            for j, cmd in enumerate(COMMANDS):
                lines.append(f"t{i}x{j} ".encode() + cmd.format(n=name).replace("\\", "\\\\").encode() + b"\r\n")
        lines.append(b"zz LOGOUT\r\n")
        conn.protocol.dataReceived(b"".join(lines))
        for _ in range(500):
            await deferLater(reactor, 0.01, lambda: None)
            if b"zz OK" in conn.transport.value():
                break
        out = conn.transport.value().decode("utf-8", "replace")
        self.assertIn("zz OK", out)
        self.assertNotIn("SERVERBUG", out)
        # Path-like names are refused outright, by every backend alike.
        for i, name in enumerate(TRICKS):
            if ".." in name.split("/") or "." in name.split("/"):
                for j in (0, 3, 7):  # SELECT, CREATE, APPEND
                    self.assertRegex(out, f"\\bt{i}x{j} (NO|BAD) ", f"{COMMANDS[j]} {name!r}")
        self.assertNotIn("secret", out.replace("LOGIN alice secret", ""))
        self.assertNotIn("bob's mail", out)
        # Whatever alice's commands did, they did it to alice's mailboxes.
        bob_after = {e.name for e in await (await store.account("bob")).list_mailboxes()}
        self.assertEqual(bob_after, {"INBOX", "Private"})
        status = await (await (await store.account("bob")).mailbox("INBOX")).status()
        self.assertEqual(status.messages, 1)
        self.assertEqual(before, self.snapshot())
        await store.close()

    def snapshot(self) -> Any:
        return None


class MemoryIsolation(_Isolation):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirIsolation(_Isolation):
    def make_store(self) -> Any:
        self.root = Path(self.mktemp()).resolve()
        self.root.mkdir(parents=True)
        return maildir_from_url(f"maildir:{self.root}/mail/%u")

    def snapshot(self) -> Any:
        """Every file outside alice's own directory, byte for byte."""
        files = tree(self.root)
        return {k: v for k, v in files.items() if not k.startswith("mail/alice/")}


del _Isolation
