"""The sans-IO and file pieces of sending: header completion (RFC 6409 §8),
the RFC 3464 report, the queue's files after a crash, backoff, options."""

from __future__ import annotations

import contextlib
import email
import io
import os
import shutil
import tempfile
from datetime import UTC, datetime

from twisted.python import usage
from twisted.trial import unittest

from mailframe.cli import main as cli_main
from mailframe.server.options import Options
from mailframe.smtp.client import SMTPClient
from mailframe.smtp.dkim_sign import DkimKey, DkimSigner
from mailframe.smtp.dsn import Bounced, build_bounce
from mailframe.smtp.headers import complete_headers, header_names
from mailframe.smtp.outbound import parse_relay
from mailframe.smtp.queue import OutboundQueue
from mailframe.smtp.queue_store import Entry, QueueStore
from tests.smtp._submit_support import dkim_key


class HeaderTests(unittest.TestCase):
    def test_adds_missing_date_and_message_id(self) -> None:
        out = complete_headers(b"Subject: x\r\n\r\nbody\r\n", domain="example.org",
                               when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        self.assertTrue(out.startswith(b"Subject: x\r\nDate: Fri, 02 Jan 2026 03:04:05 +0000\r\n"
                                       b"Message-ID: <"), out)
        self.assertTrue(out.endswith(b"@example.org>\r\n\r\nbody\r\n"))

    def test_keeps_present_headers(self) -> None:
        msg = b"date: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-Id: <a@b>\r\n\r\nx\r\n"
        self.assertEqual(complete_headers(msg, domain="example.org"), msg)

    def test_no_header_section_or_no_body(self) -> None:
        self.assertEqual(header_names(b"\r\nbody\r\n"), set())
        out = complete_headers(b"\r\nbody\r\n", domain="d")
        self.assertTrue(out.startswith(b"Date: "))
        self.assertTrue(out.endswith(b">\r\n\r\nbody\r\n"))
        out = complete_headers(b"Subject: only", domain="d")
        self.assertTrue(out.startswith(b"Subject: only\r\nDate: ") and out.endswith(b">\r\n\r\n"))


class BounceTests(unittest.TestCase):
    def test_rfc3464_structure(self) -> None:
        original = b"From: a@example.org\r\nSubject: s\r\n\r\n" + b"x" * 10000 + b"\r\n"
        report = build_bounce(
            reporting_mta="mail.example.org", sender="a@example.org",
            failures=[Bounced("b@remote.test", "5.1.1", "550 5.1.1 unknown\r\nInjected: x",
                              "mx.remote.test")],
            original=original, arrival=datetime(2026, 1, 1, tzinfo=UTC))
        self.assertNotIn(b"x" * 100, report)  # headers only are returned
        msg = email.message_from_bytes(report)
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        _text, status, _headers = msg.get_payload()
        per_message, per_rcpt = status.get_payload()
        self.assertEqual(per_message["Reporting-MTA"], "dns; mail.example.org")
        self.assertEqual(per_rcpt["Remote-MTA"], "dns; mx.remote.test")
        # a remote reply cannot add fields to the report
        self.assertEqual(per_rcpt["Diagnostic-Code"], "smtp; 550 5.1.1 unknown??Injected: x")
        self.assertIsNone(per_rcpt["Injected"])


class QueueStoreTests(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="mailframe-qs-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.store = QueueStore(self.dir)

    def entry(self, id: str) -> Entry:
        return Entry(id=id, sender="a@example.org", domain="r.test", recipients=["b@r.test"])

    def test_crash_leftovers_cleaned_at_start(self) -> None:
        self.store.add([self.entry("live"), self.entry("done")], b"m")
        done = self.store.read("done")
        assert done is not None
        done.state = "done"  # marked done, crashed before removal
        self.store.save(done)
        with open(os.path.join(self.dir, "orphan.eml"), "wb") as f:  # crashed before .json
            f.write(b"m")
        with open(os.path.join(self.dir, "live.json.tmp1234"), "wb") as f:
            f.write(b"{")
        self.assertEqual([e.id for e in self.store.load()], ["live"])  # reading changes nothing
        self.assertIn("orphan.eml", os.listdir(self.dir))
        self.assertEqual([e.id for e in self.store.load(cleanup=True)], ["live"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["live.eml", "live.json"])

    def test_save_after_delete_reports_gone(self) -> None:
        e = self.entry("x")
        self.store.add([e], b"m")
        self.assertTrue(self.store.remove("x"))
        self.assertFalse(self.store.save(e))
        self.assertIsNone(self.store.content("x"))
        self.assertRaises(ValueError, self.store.remove, "../etc")

    def test_backoff_doubles_up_to_the_cap(self) -> None:
        q = OutboundQueue(self.dir, None, retry_initial=10, retry_max=60)  # type: ignore[arg-type]
        self.assertEqual([q.backoff(n) for n in range(1, 6)], [10, 20, 40, 60, 60])


class ClientTests(unittest.TestCase):
    def test_dot_stuffing_and_line_endings(self) -> None:
        sent: list[bytes] = []

        class T:
            def write(self, data: bytes) -> None:
                sent.append(data)

        c = SMTPClient(None)  # type: ignore[arg-type]
        c.transport = T()  # type: ignore[assignment]
        c.send_data(b".start\nmid\r\n.\r\n..two\r\nend")
        self.assertEqual(sent, [b"..start\r\nmid\r\n..\r\n...two\r\nend\r\n.\r\n"])


class DkimTests(unittest.TestCase):
    def test_domain_from_header_then_sender(self) -> None:
        signer = DkimSigner([DkimKey("example.org", "sel", dkim_key()[0])])
        self.assertEqual(signer.domain_for(b"From: A <a@Example.org>\r\n\r\n", "x@other"),
                         "example.org")
        self.assertEqual(signer.domain_for(b"From: a@other.test\r\n\r\n", "a@example.org"),
                         "example.org")
        self.assertIsNone(signer.domain_for(b"From: a@other.test\r\n\r\n", "a@other.test"))
        self.assertEqual(signer.sign(b"From: a@other.test\r\n\r\nx\r\n", "a@other.test"), b"")


class OptionTests(unittest.TestCase):
    def parse(self, *args: str) -> Options:
        o = Options()
        o.parseOptions(["--data-dir", "/tmp/d", *args])  # type: ignore[no-untyped-call]
        return o

    def test_defaults_and_errors(self) -> None:
        o = self.parse("--submission", "tcp:587", "--dkim-key", "example.org:s:/k")
        self.assertEqual(o["queue-dir"], "/tmp/d/queue")
        self.assertEqual(o["submission"], ["tcp:587"])
        self.assertEqual(o["dkim-key"], ["example.org:s:/k"])
        self.assertRaises(usage.UsageError, self.parse, "--relay", "http://x")
        self.assertRaises(usage.UsageError, self.parse, "--relay", "smtp://user@host")
        self.assertRaises(usage.UsageError, self.parse, "--queue-lifetime", "soon")

    def test_relay_url(self) -> None:
        c = parse_relay("smtp://u%40x:p%3Aw@smtp.example.net")
        self.assertEqual((c.host, c.port, c.username, c.password, c.implicit_tls),
                         ("smtp.example.net", 587, "u@x", "p:w", False))
        self.assertEqual(parse_relay("smtps://h").port, 465)

    def test_cli_has_queue(self) -> None:
        d = tempfile.mkdtemp(prefix="mailframe-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli_main(["queue", "--queue-dir", d, "list"]), 0)
        self.assertIn("0 entries in", out.getvalue())
