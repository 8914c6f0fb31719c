# mypy: disable-error-code="no-untyped-call"
"""Twisted's own ``twisted.mail.imap4.IMAP4Client`` against a real
``twistd mailframe`` child process, driven by the reactor in trial tests."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import connectionDone
from twisted.mail import imap4
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.interop import messages as M
from tests.interop.conftest import spare_users
from tests.support.server import ServerProcess


class RecordingClient(imap4.IMAP4Client):
    """IMAP4Client that fires ``greeted`` on the greeting and records the
    unsolicited updates it is told about."""

    def __init__(self) -> None:
        super().__init__()
        self.greeted: defer.Deferred[RecordingClient] = defer.Deferred()
        self.updates: list[tuple[str, Any]] = []
        self.received: list[bytes] = []
        self.exists_seen: defer.Deferred[int] | None = None
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.lost.callback(None)

    def close_now(self) -> defer.Deferred[None]:
        """Drop the connection (if still open) and wait until it is gone."""
        if not self.lost.called and self.transport is not None:
            self.transport.loseConnection()
        return self.lost

    def lineReceived(self, line: bytes) -> None:
        # IMAP4Client hands untagged lines that arrive while a command (IDLE)
        # runs to that command, not to newMessages(); so watch the wire.
        self.received.append(line)
        words = line.split()
        if self.exists_seen is not None and len(words) == 3 and words[2] == b"EXISTS":
            d, self.exists_seen = self.exists_seen, None
            d.callback(int(words[1]))
        super().lineReceived(line)

    def serverGreeting(self, caps: dict[bytes, Any]) -> None:
        self.greeted.callback(self)

    def newMessages(self, exists: int | None, recent: int | None) -> None:
        self.updates.append(("new", (exists, recent)))

    def flagsChanged(self, newFlags: dict[int, list[bytes]]) -> None:
        self.updates.append(("flags", newFlags))


class TwistedClientTests(TestCase):
    server: ServerProcess
    _dir: str
    _users: list[str]

    @classmethod
    def setUpClass(cls) -> None:
        cls._dir = tempfile.mkdtemp(prefix="mailframe-twisted-client-")
        cls.server = ServerProcess(Path(cls._dir) / "server", users=spare_users()).start()
        cls._users = [u for u in cls.server.users if u.startswith("user")]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls._dir, ignore_errors=True)

    def setUp(self) -> None:
        self.user = self._users.pop(0)
        self.password = self.server.users[self.user]

    @defer.inlineCallbacks
    def connect(self, login: bool = True):  # type: ignore[no-untyped-def]
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.server.imap_port)
        proto = RecordingClient()
        yield connectProtocol(endpoint, proto)
        self.addCleanup(proto.close_now)
        yield proto.greeted
        if login:
            yield proto.login(self.user.encode(), self.password.encode())
        return proto

    @defer.inlineCallbacks
    def test_login_and_mailboxes(self):  # type: ignore[no-untyped-def]
        c = yield self.connect(login=False)
        caps = yield c.getCapabilities()
        self.assertIn(b"IMAP4rev1", caps)
        with self.assertRaises(imap4.IMAP4Exception):
            yield c.login(self.user.encode(), b"wrong")
        yield c.login(self.user.encode(), self.password.encode())
        # IMAP4Client.login() upgrades with STARTTLS first when offered: the
        # session now runs over TLS with the server's self-signed certificate.
        self.assertTrue(ISSLTransport.providedBy(c.transport))
        yield c.create("Work")
        yield c.create("Work/2023")
        yield c.create("Ärger")  # the client encodes modified UTF-7 itself
        listing = yield c.list("", "*")
        self.assertEqual(sorted(listing), sorted([
            (("\\HasNoChildren",), "/", "INBOX"),
            (("\\HasChildren",), "/", "Work"),
            (("\\HasNoChildren",), "/", "Work/2023"),
            (("\\HasNoChildren",), "/", "Ärger"),
        ]))
        yield c.subscribe("Work/2023")
        lsub = yield c.lsub("", "*")
        self.assertEqual(lsub, [((), "/", "Work/2023")])
        yield c.rename("Work", "Done")
        listing = yield c.list("", "Done*")
        self.assertEqual(sorted(name for _, _, name in listing), ["Done", "Done/2023"])
        yield c.delete("Done/2023")
        yield c.delete("Ärger")
        listing = yield c.list("", "%")
        self.assertEqual(sorted(name for _, _, name in listing), ["Done", "INBOX"])
        status = yield c.status("Done", "MESSAGES", "UIDNEXT")
        self.assertEqual(status, {"MESSAGES": 0, "UIDNEXT": b"1"})  # (sic: Twisted)
        yield c.logout()

    @defer.inlineCallbacks
    def test_sasl_mechanisms(self):  # type: ignore[no-untyped-def]
        """AUTHENTICATE with each SASL mechanism Twisted's client has."""
        for authenticator in (imap4.CramMD5ClientAuthenticator, imap4.PLAINAuthenticator,
                              imap4.LOGINAuthenticator):
            c = yield self.connect(login=False)
            c.registerAuthenticator(authenticator(self.user.encode()))
            yield c.authenticate(self.password.encode())
            info = yield c.select("INBOX")
            self.assertEqual(info["EXISTS"], 0)
            yield c.logout()
        c = yield self.connect(login=False)
        c.registerAuthenticator(imap4.CramMD5ClientAuthenticator(self.user.encode()))
        with self.assertRaises(imap4.IMAP4Exception):
            yield c.authenticate(b"not the password")

    @defer.inlineCallbacks
    def test_append_select_fetch(self):  # type: ignore[no-untyped-def]
        c = yield self.connect()
        yield c.append("INBOX", io.BytesIO(M.MULTIPART), ("\\Seen", "$Label1"),
                       "14-Nov-2023 22:13:20 +0000")
        yield c.append("INBOX", io.BytesIO(M.SIMPLE))
        info = yield c.select("INBOX")
        self.assertEqual(info["EXISTS"], 2)
        self.assertEqual(info["RECENT"], 2)
        self.assertEqual(info["UIDNEXT"], 3)
        self.assertIsInstance(info["UIDVALIDITY"], int)
        self.assertTrue(info["READ-WRITE"])
        self.assertIn("$Label1", info["PERMANENTFLAGS"])
        self.assertIn("\\*", info["PERMANENTFLAGS"])

        flags = yield c.fetchFlags("1:2")
        self.assertEqual({k: sorted(v["FLAGS"]) for k, v in flags.items()},
                         {1: ["$Label1", "\\Recent", "\\Seen"], 2: ["\\Recent"]})
        size = yield c.fetchSize("1")
        self.assertEqual(size, {1: {"RFC822.SIZE": str(len(M.MULTIPART))}})
        date = yield c.fetchInternalDate("1")
        self.assertEqual(date, {1: {"INTERNALDATE": "14-Nov-2023 22:13:20 +0000"}})
        uid = yield c.fetchUID("1:*")
        self.assertEqual(uid, {1: {"UID": "1"}, 2: {"UID": "2"}})
        env = yield c.fetchEnvelope("2")
        self.assertEqual(env[2]["ENVELOPE"], [
            "Mon, 02 Jan 2023 10:00:00 +0100", "Lunch on Friday",
            [["Alice Example", None, "alice", "example.org"]],
            [["Alice Example", None, "alice", "example.org"]],
            [["Alice Example", None, "alice", "example.org"]],
            [[None, None, "bob", "example.net"]], None, None, None, "<simple-1@example.org>"])
        bs = yield c.fetchBodyStructure("2")
        self.assertEqual(bs[2]["BODYSTRUCTURE"], [
            "text", "plain", ["charset", "us-ascii"], None, None, "7bit", "34", "2",
            None, None, None, None])
        body = yield c.fetchSpecific("1", headerType="1", peek=True)
        self.assertEqual(body[1][0][-1], M.TEXT_PART_BODY[:-2].decode("latin-1"))
        head = yield c.fetchSpecific("2", headerType="HEADER.FIELDS", headerArgs=["SUBJECT"],
                                     peek=True)
        self.assertEqual(head[2][0][-1], "Subject: Lunch on Friday\r\n\r\n")
        part = yield c.fetchSpecific("2", headerType="TEXT", peek=True, offset=6, length=2)
        self.assertEqual(part[2][0][-1], "we")
        full = yield c.fetchMessage("2")
        self.assertEqual(full[2]["RFC822"], M.SIMPLE.decode())
        # RFC822 is not a PEEK: message 2 is now \Seen.
        flags = yield c.fetchFlags("2")
        self.assertEqual(sorted(flags[2]["FLAGS"]), ["\\Recent", "\\Seen"])
        yield c.logout()

    @defer.inlineCallbacks
    def test_search_store_copy_expunge(self):  # type: ignore[no-untyped-def]
        c = yield self.connect()
        yield c.append("INBOX", io.BytesIO(M.SIMPLE))
        yield c.append("INBOX", io.BytesIO(M.MULTIPART), ("\\Seen",))
        yield c.append("INBOX", io.BytesIO(M.plain("report")), ("\\Flagged",))
        yield c.select("INBOX")
        found = yield c.search(imap4.Query(subject="lunch"))
        self.assertEqual(found, [1])
        found = yield c.search(imap4.Or(imap4.Query(flagged=True), imap4.Query(seen=True)))
        self.assertEqual(found, [2, 3])
        found = yield c.search(imap4.Not(imap4.Query(seen=True)), uid=True)
        self.assertEqual(found, [1, 3])

        got = yield c.addFlags("1", ["\\Answered", "$Todo"], silent=False)
        self.assertEqual(sorted(got[1]["FLAGS"]), ["$Todo", "\\Answered", "\\Recent"])
        got = yield c.removeFlags("1", ["\\Answered"], silent=False)
        self.assertEqual(sorted(got[1]["FLAGS"]), ["$Todo", "\\Recent"])
        got = yield c.setFlags("3", ["\\Draft"], silent=True)
        self.assertEqual(got, {})
        flags = yield c.fetchFlags("3")
        self.assertEqual(sorted(flags[3]["FLAGS"]), ["\\Draft", "\\Recent"])

        yield c.create("Saved")
        yield c.copy("1:2", "Saved", uid=False)
        yield c.addFlags("1:2", ["\\Deleted"], silent=True)
        expunged = yield c.expunge()
        self.assertEqual(expunged, [2, 1])  # highest first, as Dovecot sends them
        status = yield c.status("Saved", "MESSAGES")
        self.assertEqual(status, {"MESSAGES": 2})
        uids = yield c.fetchUID("1:*")
        self.assertEqual(uids, {1: {"UID": "3"}})
        yield c.logout()

    @defer.inlineCallbacks
    def test_idle_and_other_sessions_updates(self):  # type: ignore[no-untyped-def]
        a = yield self.connect()
        b = yield self.connect()
        yield a.append("INBOX", io.BytesIO(M.SIMPLE))
        yield a.select("INBOX")
        yield b.select("INBOX")
        # A idles; B appends; A hears EXISTS while idling (RFC 2177); the
        # timeout only keeps a silent server from hanging the test.
        # kept here: the EXISTS may reach A before B's APPEND completes
        seen = a.exists_seen = defer.Deferred()
        idling: defer.Deferred[None] = defer.Deferred()
        done = a.sendCommand(imap4.Command(b"IDLE", continuation=lambda _: idling.callback(None)))
        yield idling
        yield b.append("INBOX", io.BytesIO(M.plain("idle test")))
        exists = yield seen.addTimeout(30.0, reactor)
        self.assertEqual(exists, 2)
        a.transport.write(b"DONE\r\n")
        yield done
        # B flags a message; A hears it on NOOP as a FETCH FLAGS update.
        yield b.addFlags("1", ["\\Flagged"], silent=False)
        a.received.clear()
        yield a.noop()
        self.assertEqual(a.received[:-1], [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"])
        # B expunges; A is told on its next NOOP, not during a FETCH.
        yield b.addFlags("1", ["\\Deleted"])
        yield b.expunge()
        a.received.clear()
        flags = yield a.fetchFlags("2")
        self.assertFalse([line for line in a.received if line.endswith(b"EXPUNGE")])
        # Message 2 is \Recent in exactly one session (RFC 3501 §2.3.2):
        # B, whose APPEND saw it arrive, or A, whose IDLE may have caught
        # up first; the RFC leaves which to timing.  B expunged message 1,
        # so message 2 is B's number 1.
        theirs = yield b.fetchFlags("1")
        recent = ["\\Recent" in flags[2]["FLAGS"], "\\Recent" in theirs[1]["FLAGS"]]
        self.assertEqual(recent.count(True), 1, (flags, theirs))
        a.received.clear()
        yield a.noop()
        self.assertIn(b"* 1 EXPUNGE", a.received)
        yield a.logout()
        yield b.logout()
