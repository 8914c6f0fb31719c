"""``twistd mailframe --submission/--submissions --relay ... --dkim-key ...``
in a child process: swaks submits with AUTH over STARTTLS and implicit
TLS, a local recipient's IDLE session hears the new mail, remote mail
reaches the test's smarthost DKIM-signed; the queue survives SIGKILL and
delivers exactly once; ``mailframe queue`` lists, flushes and deletes."""

from __future__ import annotations

import os
import shutil
import smtplib
import tempfile
import threading
from pathlib import Path
from typing import Any

import dkim
import imapclient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory
from mailframe.smtp.queue_store import Entry, QueueStore
from mailframe.smtp.queue_tool import main as queue_main
from tests.smtp._sink import Sink
from tests.smtp._submit_support import RELAY_USER, dkim_dns, dkim_key
from tests.smtp._support import in_thread
from tests.support.server import ServerProcess, free_port

SWAKS = shutil.which("swaks")
MESSAGE = b"From: alice@example.org\r\nTo: carol@remote.test\r\nSubject: queued\r\n\r\nbody\r\n"


class ProcessCase(unittest.TestCase):
    timeout = 120
    inbound = False  # also run --smtp and --lmtp listeners

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mailframe-subp-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        ca = CertificateAuthority()
        self.ca_file = ca.write_ca(str(self.dir / "ca.pem"))
        self.cert, self.key = ca.issue(str(self.dir / "tls"))
        self.sink = Sink(tls=ReloadableContextFactory(self.cert, self.key), credentials=RELAY_USER)
        self.relay_port = free_port()
        self.sub_port = free_port()
        self.subs_port = free_port()
        keyfile = self.dir / "dkim.key"
        keyfile.write_bytes(dkim_key()[0])
        self.server = ServerProcess(
            self.dir / "srv",
            "--domain", "example.org",
            "--submission", f"tcp:{self.sub_port}:interface=127.0.0.1",
            "--submissions", f"ssl:{self.subs_port}:privateKey={self.key}:certKey={self.cert}"
                             ":interface=127.0.0.1",
            "--relay", f"smtp://{RELAY_USER[0]}:{RELAY_USER[1]}@localhost:{self.relay_port}",
            "--relay-ca", self.ca_file,
            "--dkim-key", f"example.org:sel:{keyfile}",
            "--queue-retry", "0.2", "--queue-retry-max", "0.5",
            smtp=self.inbound, lmtp=self.inbound,
        )  # fmt: skip
        self.addCleanup(self.server.stop)
        self.queue_dir = self.dir / "srv" / "data" / "queue"

    def start_sink(self) -> None:
        port = self.sink.listen(self.relay_port)
        self.addCleanup(port.stopListening)

    def wait_until(self, condition: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()

        def check() -> None:
            if condition():
                d.callback(None)
            else:
                reactor.callLater(0.05, check)

        check()
        return d

    def queue_files(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.queue_dir) if n.endswith(".json"))
        except FileNotFoundError:
            return []

    def submit(self, message: bytes = MESSAGE, rcpts: tuple[str, ...] = ("carol@remote.test",)
               ) -> Deferred[Any]:
        def run() -> Any:
            with smtplib.SMTP("127.0.0.1", self.sub_port, timeout=20) as s:
                s.login("alice", "secret")  # loopback: AUTH without TLS is allowed
                return s.sendmail("alice@example.org", list(rcpts), message)

        return in_thread(run)


class RestartTests(ProcessCase):
    async def _restart(self) -> None:
        await in_thread(self.server.start)
        self.assertEqual(await self.submit(), {})  # 250: the entry is on disk
        self.assertEqual(len(self.queue_files()), 1)
        proc = self.server.proc
        assert proc is not None
        proc.kill()  # SIGKILL: no chance to flush anything
        await in_thread(proc.wait)
        self.assertEqual(len(self.queue_files()), 1)
        self.start_sink()
        await in_thread(self.server.start)
        await self.sink.wait_for(1)
        await self.wait_until(lambda: not self.queue_files())
        # restart once more: nothing is left to send again
        await in_thread(self.server.stop)
        await in_thread(self.server.start)
        self.assertEqual(await self.submit(rcpts=("dave@remote.test",)), {})
        await self.sink.wait_for(2)
        await self.wait_until(lambda: not self.queue_files())
        self.assertEqual([m.recipients for m in self.sink.messages],
                         [["carol@remote.test"], ["dave@remote.test"]])
        self.assertTrue(dkim.verify(self.sink.messages[0].data, dnsfunc=dkim_dns))

    def test_queue_survives_sigkill_and_delivers_once(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._restart())


class SwaksTests(ProcessCase):
    if SWAKS is None:
        skip = "swaks is not installed (apt-get install -y swaks)"

    async def swaks(self, *args: str) -> str:
        out, err, code = await getProcessOutputAndValue(
            SWAKS,  # type: ignore[arg-type]
            ["--server", "127.0.0.1", "--from", "alice@example.org", "--helo", "client.test",
             "--auth-user", "alice", "--auth-password", "secret", "--timeout", "20",
             "--header", "Subject: via swaks", *args])  # fmt: skip
        transcript = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
        self.assertEqual(code, 0, transcript)
        return transcript

    async def _swaks(self) -> None:
        self.start_sink()
        await in_thread(self.server.start)
        ready = threading.Event()

        def idle() -> list[Any]:
            c = imapclient.IMAPClient("127.0.0.1", self.server.imap_port, ssl=False, timeout=30)
            try:
                c.login("bob", "hunter2")
                c.select_folder("INBOX")
                c.idle()
                ready.set()
                responses: list[Any] = []
                for _ in range(30):
                    responses += c.idle_check(timeout=1)
                    if any(r[1:] == (b"EXISTS",) for r in responses):
                        break
                c.idle_done()
                return responses
            finally:
                c.logout()

        heard = in_thread(idle)
        await in_thread(ready.wait, 30)
        out = await self.swaks("--port", str(self.sub_port), "--tls", "--auth", "PLAIN",
                               "--to", "bob@example.org,carol@remote.test")
        self.assertIn("235 2.7.0 Authentication successful", out)
        self.assertIn((1, b"EXISTS"), await heard)
        await self.sink.wait_for(1)
        out = await self.swaks("--port", str(self.subs_port), "--tls-on-connect", "--auth", "LOGIN",
                               "--to", "carol@remote.test")
        await self.sink.wait_for(2)
        for m in self.sink.messages:
            self.assertEqual(m.recipients, ["carol@remote.test"])
            self.assertTrue(dkim.verify(m.data, dnsfunc=dkim_dns), m.data)
            self.assertIn(b" with ESMTPSA id ", m.data)
        # no AUTH, no relay: refused on the submission port
        out, _err, code = await getProcessOutputAndValue(
            SWAKS,  # type: ignore[arg-type]
            ["--server", "127.0.0.1", "--port", str(self.sub_port), "--from", "alice@example.org",
             "--to", "carol@remote.test", "--timeout", "20"])
        self.assertNotEqual(code, 0)
        self.assertIn(b"530 5.7.0 Authentication required", out)

    def test_swaks_starttls_and_implicit_tls(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._swaks())


class NoRelayTests(ProcessCase):
    """With a smarthost configured, no port relays without AUTH."""

    inbound = True

    async def _no_relay(self) -> None:
        self.start_sink()
        await in_thread(self.server.start)

        def attempt(port: int, lmtp: bool = False) -> tuple[Any, ...]:
            cls = smtplib.LMTP if lmtp else smtplib.SMTP
            with cls("127.0.0.1", port, timeout=20) as s:
                s.ehlo("c")  # LHLO for LMTP
                auth = s.has_extn("auth")
                mail = s.mail("alice@example.org")
                rcpt = s.rcpt("carol@remote.test")
                return auth, mail, rcpt

        assert self.server.smtp_port is not None and self.server.lmtp_port is not None
        auth, mail, rcpt = await in_thread(attempt, self.server.smtp_port)
        self.assertFalse(auth)
        self.assertEqual(rcpt[0], 550)
        self.assertTrue(rcpt[1].startswith(b"5.7.1 <carol@remote.test>"), rcpt)
        auth, mail, rcpt = await in_thread(attempt, self.server.lmtp_port, True)
        self.assertEqual(rcpt[0], 550)
        self.assertTrue(rcpt[1].startswith(b"5.7.1 <carol@remote.test>"), rcpt)
        auth, mail, rcpt = await in_thread(attempt, self.sub_port)
        self.assertEqual(mail, (530, b"5.7.0 Authentication required"))
        self.assertEqual(rcpt[0], 503)
        self.assertEqual(self.queue_files(), [])
        self.assertEqual(self.sink.connections, 0)

    def test_no_port_relays_without_auth(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._no_relay())


class QueueToolTests(unittest.TestCase):
    def test_list_flush_delete(self) -> None:
        d = tempfile.mkdtemp(prefix="mailframe-qt-")
        self.addCleanup(shutil.rmtree, d, True)
        store = QueueStore(d)
        a = Entry(id="a1", sender="alice@example.org", domain="remote.test",
                  recipients=["carol@remote.test"], last_error="451 4.3.0 later")
        b = Entry(id="b2", sender="alice@example.org", domain="other.test",
                  recipients=["dave@other.test"])
        store.add([a, b], b"Subject: x\r\n\r\ny\r\n")
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(queue_main(["--queue-dir", d, "list"]), 0)
            self.assertEqual(queue_main(["--queue-dir", d, "flush"]), 0)
            self.assertEqual(queue_main(["--queue-dir", d, "delete", "a1"]), 0)
            self.assertEqual(queue_main(["--queue-dir", d, "delete", "zz"]), 1)
        text = out.getvalue()
        self.assertIn("a1 ", text)
        self.assertIn("<alice@example.org> -> carol@remote.test  [451 4.3.0 later]", text)
        self.assertIn("2 entries in", text)
        self.assertTrue(store.take_flush())
        self.assertEqual([e.id for e in store.load()], ["b2"])
