"""SMTP in, IMAP out, through the factories of examples/embed_smtp_imap.py:
the message is read back over IMAP byte-exact (plus the trace headers), and
an IDLE session hears ``EXISTS`` for SMTP-delivered mail within a second."""

from __future__ import annotations

import importlib.util
import os
import smtplib
from typing import Any

import imapclient
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.store.memory import MemoryStore
from tests.smtp._support import in_thread, listen, read_mailbox

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "embed_smtp_imap.py")
MESSAGE = b"From: bob@example.net\r\nSubject: round trip\r\n\r\n\xc3\xa9t\xc3\xa9\r\n.\r\nend\r\n"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("embed_smtp_imap", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RoundTripTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        parts = _example().build(self.store, {"alice": "secret"}, ["example.org"])
        ports = {}
        for name in ("imap", "smtp"):
            port, ports[name] = listen(parts[name])
            self.addCleanup(port.stopListening)
        self.imap_port, self.smtp_port = ports["imap"], ports["smtp"]

    def send(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as s:
            s.sendmail("bob@example.net", ["alice@example.org"], MESSAGE)

    def imap(self) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient("127.0.0.1", self.imap_port, ssl=False, timeout=10)
        c.login("alice", "secret")
        return c

    async def _byte_exact(self) -> None:
        def run() -> bytes:
            self.send()
            c = self.imap()
            try:
                c.select_folder("INBOX", readonly=True)
                [uid] = c.search()
                return c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
            finally:
                c.logout()

        over_imap = await in_thread(run)
        [in_store] = await read_mailbox(self.store, "alice")
        self.assertEqual(over_imap, in_store)
        self.assertTrue(over_imap.endswith(MESSAGE))
        self.assertTrue(over_imap.startswith(b"Return-Path: <bob@example.net>\r\nReceived: from "))

    def test_read_back_over_imap_byte_exact(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._byte_exact())

    async def _idle(self) -> None:
        def run() -> list[Any]:
            c = self.imap()
            try:
                c.select_folder("INBOX")
                c.idle()
                self.send()
                responses: list[Any] = []
                # pushed while the client only listens (RFC 2177); the count
                # of waits only keeps a silent server from hanging the test
                for _ in range(30):
                    responses += c.idle_check(timeout=1)
                    if any(r[1:] == (b"EXISTS",) for r in responses):
                        break
                c.idle_done()
                return responses
            finally:
                c.logout()

        responses = await in_thread(run)
        self.assertIn((1, b"EXISTS"), responses)

    def test_idle_session_hears_exists_for_smtp_mail(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._idle())
