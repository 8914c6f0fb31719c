"""``mailframe deliver``: in-process against a MemoryStore, and as a
process for the exit statuses an MTA sees."""

from __future__ import annotations

import subprocess
import sys

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.errors import OverQuota
from mailframe.smtp import DeliveryHook, DeliveryRequest
from mailframe.smtp.deliver_tool import _parser, normalize_input, run
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users, read_mailbox


def test_normalize_input() -> None:
    assert normalize_input(b"From a@b Thu Nov 26\nSubject: x\n\nhi\r\nthere") == (
        b"Subject: x\r\n\r\nhi\r\nthere\r\n"
    )
    assert normalize_input(b"Subject: y\r\n\r\n") == b"Subject: y\r\n\r\n"


class Full(DeliveryHook):
    def before_delivery(self, request: DeliveryRequest) -> DeliveryRequest:
        raise OverQuota("quota exceeded")


class DeliverToolTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.users = Users("alice")

    async def _delivers(self) -> None:
        account = await self.store.account("alice")
        await account.create_mailbox("lists")
        args = _parser().parse_args(
            ["-a", "Alice+lists@example.org", "-f", "b@example.net", "--flag", "\\Seen"]
        )
        code = await run(args, b"Subject: pipe\n\nhello\n", store=self.store, directory=self.users)
        self.assertEqual(code, 0)
        [stored] = await read_mailbox(self.store, "alice", "lists")
        self.assertEqual(stored, b"Return-Path: <b@example.net>\r\nSubject: pipe\r\n\r\nhello\r\n")
        box = await account.mailbox("lists")
        [state] = (await box.snapshot()).messages
        self.assertEqual(state.flags, frozenset({"\\Seen"}))

    def test_delivers_to_detail_folder_with_return_path(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._delivers())

    async def _unknown(self) -> None:
        args = _parser().parse_args(["-u", "mallory"])
        self.assertEqual(
            await run(args, b"Subject: x\n\ny\n", store=self.store, directory=self.users), 67
        )
        self.assertEqual(await run(args, b"\n\n", store=self.store, directory=self.users), 65)

    async def _quota(self) -> None:
        args = _parser().parse_args(["-u", "alice"])
        code = await run(args, b"Subject: x\n\ny\n", store=self.store, hooks=[Full()])
        self.assertEqual(code, 77)  # EX_NOPERM: the MTA bounces
        self.assertEqual(await read_mailbox(self.store, "alice"), [])

    def test_over_quota_is_permanent(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._quota())

    def test_unknown_user_and_empty_message(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._unknown())


def _tool(*argv: str, stdin: bytes = b"Subject: x\n\nbody\n") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mailframe.smtp.deliver_tool", *argv],
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_process_exit_statuses() -> None:
    ok = _tool("--store", "memory", "-a", "bob+x@example.org", "-v")
    assert (ok.returncode, ok.stdout) == (0, b"delivered to bob/INBOX uid 1\n"), ok.stderr
    bad_store = _tool("--store", "nosuchscheme:/x", "-u", "bob")
    assert bad_store.returncode == 75
    assert bad_store.stderr.startswith(b"mailframe deliver: unknown store 'nosuchscheme'")
    assert bad_store.stderr.count(b"\n") == 1  # one line, no traceback
    assert _tool("--store", "memory").returncode == 64
