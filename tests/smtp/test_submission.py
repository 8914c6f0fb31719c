"""Submission (RFC 6409) over real sockets: smtplib with AUTH over STARTTLS
and implicit TLS, the message reaching a smarthost DKIM-signed, local
recipients in the store, bounces (RFC 3464) for 5xx, retries for 4xx, and
every relay attempt refused with its code."""

from __future__ import annotations

import base64
import email
import smtplib
from typing import Any

import dkim
from twisted.internet.defer import Deferred

from mailframe.auth.throttle import ConnectionLimiter
from mailframe.smtp.submission import MECHANISMS
from tests.auth.test_imap_sasl import scram_client
from tests.smtp._submit_support import SubmissionCase, dkim_dns
from tests.smtp._support import RawClient, in_thread, read_mailbox

MESSAGE = b"From: Alice <alice@example.org>\r\nTo: carol@remote.test\r\nSubject: hello\r\n\r\nHi Carol.\r\n"


def _plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


class SubmitTests(SubmissionCase):
    def send(self, *, implicit: bool = False, rcpts: list[str] | None = None,
             sender: str = "alice@example.org", message: bytes = MESSAGE) -> Deferred[Any]:
        def run() -> Any:
            if implicit:
                s: smtplib.SMTP = smtplib.SMTP_SSL("localhost", self.tls_portno,
                                                   context=self.client_context(), timeout=20)
            else:
                s = smtplib.SMTP("127.0.0.1", self.portno, timeout=20)
                s.starttls(context=self.client_context())
            with s:
                s.ehlo("client.test")
                features = dict(s.esmtp_features)
                s.login("alice", "secret")
                refused = s.sendmail(sender, rcpts or ["carol@remote.test"], message)
                return features, refused

        return in_thread(run)

    def check_arrived(self, data: bytes, protocol: bytes) -> None:
        self.assertTrue(dkim.verify(data, dnsfunc=dkim_dns), data)
        self.assertTrue(data.startswith(b"DKIM-Signature: "), data)
        self.assertIn(b" with " + protocol + b" id ", data)
        msg = email.message_from_bytes(data)
        self.assertIsNotNone(msg["Date"])  # RFC 6409 §8.3
        self.assertTrue(msg["Message-ID"].endswith("@example.org>"))  # §8.2
        self.assertEqual(msg["Subject"], "hello")

    async def _starttls(self) -> None:
        features, refused = await self.send()
        self.assertEqual(refused, {})
        for ext in ("auth", "size", "pipelining", "8bitmime", "smtputf8", "chunking",
                    "enhancedstatuscodes"):
            self.assertIn(ext, features)
        self.assertEqual(features["auth"].split(), list(MECHANISMS))
        await self.sink.wait_for(1)
        [got] = self.sink.messages
        self.assertTrue(got.tls)  # STARTTLS to the smarthost, certificate verified
        self.assertEqual(got.user, "relayuser")
        self.assertEqual((got.sender, got.recipients), ("alice@example.org", ["carol@remote.test"]))
        self.check_arrived(got.data, b"ESMTPSA")
        await self.queue_empty()

    def test_starttls_auth_relay_dkim(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._starttls())

    async def _implicit(self) -> None:
        features, _ = await self.send(implicit=True)
        self.assertNotIn("starttls", features)
        await self.sink.wait_for(1)
        self.check_arrived(self.sink.messages[0].data, b"ESMTPSA")

    def test_implicit_tls(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._implicit())

    async def _local_and_remote(self) -> None:
        _, refused = await self.send(rcpts=["bob@example.org", "carol@remote.test",
                                            "dave@other.test", "eve@remote.test"])
        self.assertEqual(refused, {})
        [stored] = await read_mailbox(self.store, "bob")
        self.assertTrue(stored.startswith(b"Return-Path: <alice@example.org>\r\nDKIM-Signature:"))
        self.assertTrue(dkim.verify(stored.split(b"\r\n", 1)[1], dnsfunc=dkim_dns))
        await self.sink.wait_for(2)  # one entry per recipient domain
        by_rcpts = sorted(sorted(m.recipients) for m in self.sink.messages)
        self.assertEqual(by_rcpts, [["carol@remote.test", "eve@remote.test"], ["dave@other.test"]])

    def test_local_recipient_in_store_remote_queued(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._local_and_remote())

    async def _permanent(self) -> None:
        self.sink.rcpt_reply = lambda r: b"550 5.1.1 no such user" if r.startswith("nobody") else None
        await self.send(rcpts=["nobody@remote.test", "carol@remote.test"])
        await self.sink.wait_for(1)
        await self.queue_empty()
        self.assertEqual(self.sink.messages[0].recipients, ["carol@remote.test"])
        [bounce] = await read_mailbox(self.store, "alice")
        self.assertTrue(bounce.startswith(b"Return-Path: <>\r\n"))
        msg = email.message_from_bytes(bounce)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        text, status, headers = msg.get_payload()
        self.assertEqual(status.get_content_type(), "message/delivery-status")
        blocks = status.get_payload()  # per-message, then per-recipient (RFC 3464 §2)
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[1]["Final-Recipient"], "rfc822; nobody@remote.test")
        self.assertEqual(blocks[1]["Action"], "failed")
        self.assertEqual(blocks[1]["Status"], "5.1.1")
        self.assertIn("550 5.1.1 no such user", blocks[1]["Diagnostic-Code"])
        self.assertEqual(headers.get_content_type(), "text/rfc822-headers")
        self.assertIn(b"Subject: hello", headers.get_payload().encode())

    def test_permanent_failure_one_bounce(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._permanent())

    async def _temporary(self) -> None:
        self.sink.data_replies = [b"451 4.3.0 try again later"]
        await self.send()
        await self.sink.wait_for(1)
        await self.queue_empty()
        self.assertEqual(len(self.sink.messages), 1)
        self.assertEqual(self.sink.connections, 2)  # refused once, retried once
        self.assertEqual(await read_mailbox(self.store, "alice"), [])  # no bounce

    def test_temporary_failure_retried(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._temporary())

    # -- refusals --------------------------------------------------------------

    def raw(self, *lines: bytes, extra: int = 0) -> Deferred[list[list[bytes]]]:
        def run() -> list[list[bytes]]:
            c = RawClient(self.portno)
            try:
                out = [c.reply()]
                for line in lines:
                    out.append(c.command(line))
                for _ in range(extra):
                    out.append(c.reply())
                return out
            finally:
                c.close()

        return in_thread(run)

    async def _refusals(self) -> None:
        replies = await self.raw(b"EHLO c", b"MAIL FROM:<alice@example.org>",
                                 b"RCPT TO:<carol@remote.test>")
        self.assertEqual(replies[2], [b"530 5.7.0 Authentication required"])
        self.assertTrue(replies[3][0].startswith(b"503 5.5.1"))
        replies = await self.raw(b"EHLO c", b"AUTH PLAIN " + _plain("alice", "secret"),
                                 b"MAIL FROM:<bob@example.org>", b"MAIL FROM:<x@remote.test>",
                                 b"MAIL FROM:<alice+lists@example.org>",
                                 b"RCPT TO:<nobody@example.org>", b"RCPT TO:<carol@remote.test>")
        self.assertEqual(replies[2], [b"235 2.7.0 Authentication successful"])
        self.assertTrue(replies[3][0].startswith(b"553 5.7.1 <bob@example.org>"), replies[3])
        self.assertTrue(replies[4][0].startswith(b"553 5.7.1"), replies[4])
        self.assertEqual(replies[5], [b"250 2.1.0 Sender OK"])
        self.assertTrue(replies[6][0].startswith(b"550 5.1.1"), replies[6])
        self.assertEqual(replies[7], [b"250 2.1.5 Recipient OK"])
        replies = await self.raw(b"EHLO c", b"AUTH PLAIN " + _plain("alice", "wrong"),
                                 b"AUTH PLAIN " + _plain("alice", "wrong"),
                                 b"AUTH PLAIN " + _plain("alice", "wrong"), extra=1)
        self.assertEqual(replies[2], [b"535 5.7.8 Authentication credentials invalid"])
        self.assertEqual(replies[4], [b"535 5.7.8 Authentication credentials invalid"])
        self.assertTrue(replies[5][0].startswith(b"421 4.7.0"), replies[5])

    def test_relay_refused(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._refusals())

    async def _bdat(self) -> None:
        body = b"From: alice@example.org\r\nSubject: chunks\r\n\r\n" + b"x" * 100 + b"\r\n"
        a, b = body[:30], body[30:]

        def run() -> list[bytes]:
            c = RawClient(self.portno)
            c.reply()
            c.command(b"EHLO c")
            c.command(b"AUTH PLAIN " + _plain("alice", "secret"))
            c.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
                   + b"BDAT %d\r\n" % len(a) + a + b"BDAT %d LAST\r\n" % len(b) + b + b"QUIT\r\n")
            out = [c.reply()[0] for _ in range(5)]
            c.close()
            return out

        replies = await in_thread(run)
        self.assertEqual(replies[2], b"250 2.0.0 30 octets received")
        self.assertTrue(replies[3].startswith(b"250 2.0.0 Ok: queued as"), replies)
        [stored] = await read_mailbox(self.store, "bob")
        self.assertTrue(stored.endswith(b"x" * 100 + b"\r\n"))
        self.assertIn(b"Subject: chunks\r\n", stored)
        self.assertIn(b"\r\nMessage-ID: <", stored)

    def test_bdat_chunking(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._bdat())

    async def _scram(self) -> None:
        def run() -> list[bytes]:
            c = RawClient(self.portno)
            c.reply()
            c.command(b"EHLO c")
            step = scram_client("alice", "secret")
            reply = c.command(b"AUTH SCRAM-SHA-256 " + base64.b64encode(step(b"") or b""))
            while reply[0].startswith(b"334 "):
                answer = step(base64.b64decode(reply[0][4:]))
                assert answer is not None
                reply = c.command(base64.b64encode(answer))
            c.close()
            return reply

        reply = await in_thread(run)
        self.assertEqual(reply, [b"235 2.7.0 Authentication successful"])

    def test_scram_sha_256(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._scram())

    async def _utf8(self) -> None:
        message = "From: jörg@example.org\r\nSubject: grüße\r\n\r\nä\r\n".encode()

        def run() -> tuple[Any, Any]:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=20) as s:
                s.login("alice", "secret")
                s.ehlo("c")
                refused = s.sendmail("alice@example.org", ["bob@example.org"], message,
                                     mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            c = RawClient(self.portno)
            c.reply()
            c.command(b"EHLO c")
            c.command(b"AUTH PLAIN " + _plain("alice", "secret"))
            code = c.command("MAIL FROM:<jörg@example.org>".encode())
            ok = c.command(b"MAIL FROM:<alice@example.org> SMTPUTF8")
            rcpt = c.command("RCPT TO:<jörg@remote.test>".encode())
            c.close()
            return refused, (code, ok, rcpt)

        refused, code = await in_thread(run)
        self.assertEqual(refused, {})
        no_utf8, ok, rcpt = code
        self.assertEqual(no_utf8, [b"553 5.6.7 Non-ASCII address requires SMTPUTF8"])
        self.assertEqual(ok, [b"250 2.1.0 Sender OK"])
        self.assertEqual(rcpt, [b"250 2.1.5 Recipient OK"])
        [stored] = await read_mailbox(self.store, "bob")
        self.assertIn("Subject: grüße".encode(), stored)

    def test_smtputf8_8bitmime(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._utf8())


class OffLoopbackTests(SubmissionCase):
    """The same server judged as off loopback (the Authenticator's
    ``allow_local_plaintext=False``, the switch the IMAP side's tests use):
    no AUTH before TLS; AUTH after STARTTLS works."""

    allow_local_plaintext = False

    async def _no_auth_before_tls(self) -> None:
        def run() -> tuple[list[bytes], list[bytes], list[bytes]]:
            c = RawClient(self.portno)
            c.reply()
            ehlo = c.command(b"EHLO c")
            auth = c.command(b"AUTH PLAIN " + _plain("alice", "secret"))
            mail = c.command(b"MAIL FROM:<alice@example.org>")
            c.close()
            return ehlo, auth, mail

        ehlo, auth, mail = await in_thread(run)
        self.assertFalse(any(b"AUTH" in line for line in ehlo), ehlo)
        self.assertIn(b"250-STARTTLS", ehlo)
        self.assertEqual(auth, [b"538 5.7.11 Encryption required for requested authentication "
                                b"mechanism"])
        self.assertEqual(mail, [b"530 5.7.0 Authentication required"])
        features, _ = await SubmitTests.send(self)  # type: ignore[arg-type]
        self.assertIn("auth", features)
        await self.sink.wait_for(1)

    def test_no_auth_before_tls_off_loopback(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._no_auth_before_tls())


class ConnectionLimitTests(SubmissionCase):
    """The IMAP side's per-address limit on connections that have not
    logged in applies to submission: when it is full, the oldest idle one
    (connected, not authenticated) is closed to make room for the new one,
    so silent connections cannot lock an address's clients out."""

    limiter = ConnectionLimiter(per_ip=None, per_user=None, preauth_per_ip=1)

    async def _limit(self) -> None:
        def run() -> tuple[list[bytes], list[bytes], list[bytes]]:
            first = RawClient(self.portno)
            greeting = first.reply()
            second = RawClient(self.portno)
            evicted = first.reply()
            admitted = second.reply()
            first.close()
            second.command(b"QUIT")
            second.close()
            return greeting, evicted, admitted

        greeting, evicted, admitted = await in_thread(run)
        self.assertTrue(greeting[0].startswith(b"220 "), greeting)
        self.assertEqual(
            evicted, [b"421 4.7.0 Too many connections from your address; closing this one"]
        )
        self.assertTrue(admitted[0].startswith(b"220 "), admitted)
        await self.wait_until(lambda: self.limiter.connections("127.0.0.1") == 0)

    def test_connections_per_address_limited(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._limit())


class ExpiryTests(SubmissionCase):
    """The smarthost never answers: after the lifetime, one bounce."""

    sink_up = False
    lifetime = 0.0

    async def _expired(self) -> None:
        await SubmitTests.send(self)  # type: ignore[arg-type]
        await self.queue_empty()
        [bounce] = await read_mailbox(self.store, "alice")
        self.assertIn(b"Status: 4.4.7", bounce)
        self.assertIn(b"cannot connect to localhost:", bounce)

    def test_expired_entry_bounces(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._expired())


class ImmediateRetryTests(SubmissionCase):
    """A retry whose time has already passed when the failed attempt has
    been saved (a backoff shorter than the save, as under load) is made at
    once: scheduling it with a negative delay used to fail the entry, so
    the message was never retried."""

    retry = 0.0
    timeout = 20

    async def _retry_now(self) -> None:
        self.sink.data_replies = [b"451 4.3.0 try again later"]
        await SubmitTests.send(self)  # type: ignore[arg-type]
        await self.sink.wait_for(1)
        await self.queue_empty()
        self.assertEqual(len(self.sink.messages), 1)
        self.assertEqual(self.sink.connections, 2)  # refused once, retried at once

    def test_past_retry_time_retries_at_once(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._retry_now())
