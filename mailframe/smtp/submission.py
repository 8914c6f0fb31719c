"""Message submission (RFC 6409) on port 587 (STARTTLS) and 465 (implicit
TLS, RFC 8314 §3.3), on the same session class as inbound SMTP
(:mod:`mailframe.smtp._session`: pipelining order, enhanced status codes,
STARTTLS hygiene, size limits).

What submission adds:

- SMTP AUTH (RFC 4954, :mod:`mailframe.smtp.submission_auth`) with
  PLAIN, LOGIN and SCRAM-SHA-256 through the
  :class:`mailframe.auth.authenticator.Authenticator` the IMAP side uses
  (same cred portal, checkers and failed-login throttle).  AUTH is neither
  offered nor accepted before TLS except from loopback (538 5.7.11, RFC
  4954 §6); three failures end the connection (421 4.7.0).
- No mail without AUTH (530 5.7.0, RFC 4954 §6), and the envelope sender
  must be one of the user's own addresses (553 5.7.1, RFC 6409 §6.1): the
  null path, ``user@D`` for each local domain ``D`` (``+detail`` allowed),
  the user name itself when it is an address, and whatever the
  ``addresses`` hook (e.g. the realm's ``sender_addresses``) returns.
- Missing ``Date:``/``Message-ID:`` are added (RFC 6409 §8.2, §8.3), a
  ``Received: ... with ESMTPSA`` trace (RFC 3848), then a DKIM signature
  when a key is configured for the sender's domain.
- Recipients in a local domain must exist (550 5.1.1) and are delivered
  through :class:`mailframe.smtp.delivery.Delivery`; the others go to the
  :class:`mailframe.smtp.queue.OutboundQueue`, one entry per domain; 250 is
  sent only once local copies are stored and queue entries are on disk.
- CHUNKING (RFC 3030 ``BDAT``, :mod:`mailframe.smtp.chunking`), SMTPUTF8
  (RFC 6531: UTF-8 addresses with the ``SMTPUTF8`` MAIL parameter, 553
  5.6.7 without it), 8BITMIME
  (RFC 6152), SIZE (RFC 1870), PIPELINING (RFC 2920),
  ENHANCEDSTATUSCODES (RFC 2034).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import ServerFactory
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure
from zope.interface import implementer

from mailframe.auth.authenticator import Authenticator
from mailframe.smtp._message import Outcome, Transaction, outcome_for_failure
from mailframe.smtp._session import DEFAULT_MAX_SIZE, DeliverySession
from mailframe.smtp.addressing import Recipient, parse_recipient
from mailframe.smtp.chunking import ChunkingSession
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.dsn import Bounced, build_bounce
from mailframe.smtp.headers import complete_headers
from mailframe.smtp.hooks import DeliveryRequest
from mailframe.smtp.submission_auth import SmtpAuth
from mailframe.smtp.trace import received_header, return_path_header

__all__ = ["SubmissionFactory", "SubmissionSession", "submission_factory", "MECHANISMS"]

_log = Logger()
MECHANISMS = ("SCRAM-SHA-256", "PLAIN", "LOGIN")

# RFC 6531 §3.3: addresses may hold UTF-8 (Twisted's atom is ASCII only).
_ATOM = rb"[-A-Za-z0-9!\#$%&'*+/=?^_`{|}~\x80-\xff]"
_QSTRING = rb'("[^"]*"|\\.|' + _ATOM + rb"|[@.,:])+"
_MAIL_RE = re.compile(rb"\s*FROM:\s*(?P<path><>|<" + _QSTRING + rb">|" + _QSTRING
                      + rb")\s*(\s(?P<opts>.*))?$", re.I)
_RCPT_RE = re.compile(rb"\s*TO:\s*(?P<path><" + _QSTRING + rb">|" + _QSTRING
                      + rb")\s*(\s(?P<opts>.*))?$", re.I)


class Utf8Address(smtp.Address):
    """twisted.mail's Address, with UTF-8 allowed in atoms (RFC 6531)."""

    tstring = re.compile(rb'((?:"[^"]*"|\\.|' + _ATOM + rb")+|.)")
    atomre = re.compile(_ATOM)

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")


@dataclass(frozen=True)
class Rcpt:
    """An accepted recipient: local (``username`` set) or remote."""

    address: str
    username: str | None = None
    recipient: Recipient | None = None


def _rcpt_str(user: smtp.User) -> str:
    return str(user.dest)


class SubmissionFactory(ServerFactory):
    """Builds :class:`SubmissionSession` connections; holds what they share."""

    def __init__(
        self,
        delivery: Delivery,
        domains: Sequence[str],
        authenticator: Authenticator,
        queue: Any,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        tls: Any = None,
        hostname: str | None = None,
        signer: Any = None,
        addresses: Callable[[str], Iterable[str]] | None = None,
        mechanisms: Sequence[str] = MECHANISMS,
        max_auth_failures: int = 3,
        delimiter: str = "+",
        timeout: int = 300,
        limiter: Any = None,
    ) -> None:
        self.delivery = delivery
        self.domains = [d.lower().rstrip(".") for d in domains]
        self.authenticator = authenticator
        self.queue = queue
        self.max_size = max_size
        self.tls = tls
        self.hostname = hostname
        self.signer = signer
        self.addresses = addresses
        self.mechanisms = [m.upper() for m in mechanisms]
        self.max_auth_failures = max_auth_failures
        self.delimiter = delimiter
        self.timeout = timeout
        self.limiter = limiter  # a ConnectionLimiter shared with IMAP, or None

    def own_addresses(self, username: str) -> set[str]:
        """The envelope senders ``username`` may use (lower-cased)."""
        own = {f"{username}@{d}".lower() for d in self.domains}
        if "@" in username:
            own.add(username.lower())
        if self.addresses is not None:
            own.update(a.lower() for a in self.addresses(username))
        return own

    def buildProtocol(self, addr: Any) -> SubmissionSession:
        p = SubmissionSession(self)
        p.timeout = self.timeout
        p.factory = self
        return p


class SubmissionSession(ChunkingSession):
    """One submission connection (see the module docs)."""

    protocol_name = "ESMTP"
    mail_re = _MAIL_RE
    rcpt_re = _RCPT_RE

    def __init__(self, factory: SubmissionFactory) -> None:
        DeliverySession.__init__(
            self, factory.delivery, factory.domains, max_size=factory.max_size, tls=factory.tls,
            hostname=factory.hostname, delimiter=factory.delimiter)
        self.sub = factory
        self.policy = SubmissionPolicy(self)
        self.delivery = self.policy
        self.data_messages: list[SubmitMessage] = []
        self.username: str | None = None
        self.implicit_tls = False
        self.auth = SmtpAuth(self)
        self._smtputf8 = False

    # -- connection state --------------------------------------------------

    _counted = False

    # ConnectionLimiter's view (mailframe.auth.throttle.Evictable): a
    # submission connection stays in its address's pre-login count; one that
    # has not authenticated may be closed to make room for a newer one.
    @property
    def idle(self) -> bool:
        return self.username is None and not self.auth.running

    def evict(self) -> None:
        self._counted = False  # the limiter has forgotten us already
        self.sendCode(421, b"4.7.0 Too many connections from your address; closing this one")
        self._tr.loseConnection()

    def connectionMade(self) -> None:
        limiter = self.sub.limiter
        if limiter is not None:
            if not limiter.admit(self.peer, self):
                _log.info("submission: refused {peer}: too many connections", peer=self.peer)
                self._plain_reply = True
                self.sendCode(421, b"4.7.0 Too many connections from your address")
                self._tr.loseConnection()
                return
            self._counted = True
        DeliverySession.connectionMade(self)
        self.implicit_tls = ISSLTransport.providedBy(self.transport) and not self.startedTLS

    @property
    def secure(self) -> bool:
        return bool(self.startedTLS or self.implicit_tls)

    @property
    def peer(self) -> str:
        host = getattr(self._tr.getPeer(), "host", "")
        return host if isinstance(host, str) else ""

    def auth_allowed(self) -> bool:
        """RFC 4954 §4 / RFC 8314: AUTH only under TLS, or from loopback."""
        return self.sub.authenticator.plaintext_allowed(self.secure, self.peer)

    def offered_mechanisms(self) -> list[str]:
        if not self.auth_allowed():
            return []
        have = self.sub.authenticator.mechanisms(True, "")
        return [m for m in self.sub.mechanisms if m in have]

    def with_protocol(self) -> str:
        """RFC 3848: ESMTP / ESMTPS / ESMTPA / ESMTPSA."""
        name = "ESMTP" if self._ehlo else "SMTP"
        return name + ("S" if self.secure else "") + ("A" if self.username else "")

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        ext = DeliverySession.extensions(self)
        mechs = self.offered_mechanisms()
        if mechs and self.username is None:
            ext[b"AUTH"] = [m.encode() for m in mechs]
        ext[b"CHUNKING"] = None
        ext[b"SMTPUTF8"] = None
        return ext

    # -- AUTH (RFC 4954): mailframe.smtp.submission_auth --------------------------

    def ext_AUTH(self, rest: bytes) -> None:
        self.auth.command(rest)

    def state_SASL(self, line: bytes) -> None:
        self.auth.line(line)

    # -- MAIL / RCPT -----------------------------------------------------------------

    def do_MAIL(self, rest: bytes) -> None:
        if self._from is not None:
            self.sendCode(503, b"5.5.1 Only one sender per message")
            return
        m = self.mail_re.match(rest)
        if not m:
            self.sendCode(501, b"5.5.4 Syntax: MAIL FROM:<address>")
            return
        smtputf8 = False
        for opt in (m.group("opts") or b"").split():
            key, _, value = opt.partition(b"=")
            key = key.upper()
            if key == b"SIZE":
                if not value.isdigit():
                    self.sendCode(501, b"5.5.4 Bad SIZE parameter")
                    return
                if int(value) > self.max_size:
                    self.sendCode(552, b"5.3.4 Message size exceeds fixed maximum message size")
                    return
            elif key == b"BODY":
                if value.upper() not in (b"7BIT", b"8BITMIME"):
                    self.sendCode(555, b"5.5.4 Unsupported BODY type")
                    return
            elif key == b"SMTPUTF8" and not value:
                smtputf8 = True
            elif key == b"AUTH":
                pass  # RFC 4954 §5: accepted, not passed on
            else:
                self.sendCode(555, b"5.5.4 Unsupported MAIL parameter "
                              + key[:40].decode("ascii", "replace").encode())
                return
        path = m.group("path")
        if not smtputf8 and not path.isascii():
            self.sendCode(553, b"5.6.7 Non-ASCII address requires SMTPUTF8")
            return
        try:
            addr = Utf8Address(path, self.host)  # type: ignore[no-untyped-call]
        except smtp.AddressError as e:
            self.sendCode(553, b"5.1.7 " + str(e).encode("utf-8", "replace"))
            return
        self._to = []
        self._smtputf8 = smtputf8
        self._bdat_tx = None
        d = self.validateFrom(self._helo, addr)
        d.addCallbacks(self._cbFromValidate, self._ebFromValidate)

    def validateFrom(self, helo: Any, origin: Any) -> Deferred[Any]:
        self._busy = True  # cleared by _cb/_ebFromValidate
        try:
            return succeed(self.policy.validateFrom(helo, origin))
        except Exception:
            d: Deferred[Any] = Deferred()
            d.errback(Failure())
            return d

    def do_RCPT(self, rest: bytes) -> None:
        if self._from is None:
            self.sendCode(503, b"5.5.1 Need MAIL before RCPT")
            return
        m = self.rcpt_re.match(rest)
        if not m:
            self.sendCode(501, b"5.5.4 Syntax: RCPT TO:<address>")
            return
        if m.group("opts"):
            self.sendCode(555, b"5.5.4 Unsupported RCPT parameter")
            return
        path = m.group("path")
        if not self._smtputf8 and not path.isascii():
            self.sendCode(553, b"5.6.7 Non-ASCII address requires SMTPUTF8")
            return
        try:
            dest = Utf8Address(path, self.host)  # type: ignore[no-untyped-call]
        except smtp.AddressError as e:
            self.sendCode(553, b"5.1.3 " + str(e).encode("utf-8", "replace"))
            return
        if not dest.local or not dest.domain:
            self.sendCode(553, b"5.1.3 Recipient address must be user@domain")
            return
        user = smtp.User.__new__(smtp.User)
        user.dest = dest
        user.helo = self._helo
        user.protocol = self
        user.orig = self._from
        d = maybeDeferred(self.validateTo, user)
        d.addCallbacks(self._cbToValidate, self._ebToValidate, callbackArgs=(user,))

    def do_DATA(self, rest: bytes) -> None:
        self.data_messages = []
        ChunkingSession.do_DATA(self, rest)

    def reply_after_data(self, outcomes: list[Outcome]) -> None:
        """One reply for the whole submission (all copies share it)."""
        outcome = outcomes[0] if outcomes else Outcome(451, "4.3.0", "Temporary local error")
        self.sendCode(outcome.code, outcome.line())

    # -- CHUNKING (RFC 3030): mailframe.smtp.chunking ------------------------------

    def bdat_complete(self, tx: Transaction, origin: Any, recipients: list[Any]) -> Deferred[Outcome]:
        rcpts = [factory.rcpt for _user, factory in recipients]
        return self.submit(str(origin), rcpts, tx.body(), tx.queue_id)

    # -- the message ----------------------------------------------------------------------

    def submit(self, sender: str, rcpts: list[Rcpt], body: bytes, queue_id: str) -> Deferred[Outcome]:
        """Complete, sign, deliver locally and queue; the one reply."""
        return Deferred.fromCoroutine(self._submit(sender, rcpts, body, queue_id))

    async def _submit(self, sender: str, rcpts: list[Rcpt], body: bytes, queue_id: str) -> Outcome:
        sender_domain = sender.rpartition("@")[2].lower()
        domain = sender_domain if sender_domain in self.domains else self.host.decode("ascii", "replace")
        content = complete_headers(body, domain=domain)
        trace = received_header(
            helo=self._helo[0] if self._helo else None, peer=self._helo[1] if self._helo else b"",
            by=self.host, protocol=self.with_protocol(),
            recipient=rcpts[0].address if len(rcpts) == 1 else None, queue_id=queue_id)
        content = trace + content
        signer = self.sub.signer
        if signer is not None:
            try:
                content = await deferToThread(signer.sign, content, sender) + content
            except Exception:
                _log.failure("DKIM signing failed for {qid}", qid=queue_id)
                return Outcome(451, "4.3.0", "Temporary local error (signing), try again later")
        delivered = 0
        failures: list[Outcome] = []
        bounced: list[Bounced] = []
        for r in rcpts:
            if r.username is None or r.recipient is None:
                continue
            request = DeliveryRequest(
                username=r.username, mailbox=r.recipient.mailbox,
                content=return_path_header(sender) + content, sender=sender, recipient=r.address)
            try:
                await self.delivery_api.deliver_request(request)
                delivered += 1
            except Exception:
                outcome = outcome_for_failure(Failure(), r.address)
                failures.append(outcome)
                bounced.append(Bounced(r.address, outcome.status, f"{outcome.code} {outcome.text}",
                                       self.host.decode("ascii", "replace")))
        if any(o.code < 500 for o in failures):
            first = next(o for o in failures if o.code < 500)
            return Outcome(first.code, first.status, first.text)  # the client retries
        remote = [r.address for r in rcpts if r.username is None]
        if remote:
            try:
                await self.sub.queue.enqueue(sender, remote, content, owner=self.username,
                                             smtputf8=self._needs_smtputf8(sender, remote, body))
            except Exception:
                _log.failure("cannot queue {qid}", qid=queue_id)
                if not delivered:
                    return Outcome(451, "4.3.0", "Queue unavailable, try again later")
                bounced += [Bounced(a, "4.3.0", "451 4.3.0 could not be queued") for a in remote]
        if failures and not delivered and not remote:
            return failures[0]
        if bounced and sender and self.username:
            report = build_bounce(reporting_mta=self.host.decode("ascii", "replace"), sender=sender,
                                  failures=bounced, original=content, arrival=_now())
            try:
                await self.delivery_api.deliver(self.username, b"Return-Path: <>\r\n" + report)
            except Exception:
                _log.failure("bounce to {user} failed", user=self.username)
        _log.info("submission {qid}: {user} <{sender}> to {n} recipients ({r} queued)",
                  qid=queue_id, user=self.username, sender=sender, n=len(rcpts), r=len(remote))
        return Outcome(250, "2.0.0", f"Ok: queued as {queue_id}")

    def _needs_smtputf8(self, sender: str, remote: list[str], body: bytes) -> bool:
        """RFC 6531 §3.4: the next hop needs SMTPUTF8 only when an address
        or the header section is not ASCII (clients often ask regardless)."""
        if not self._smtputf8:
            return False
        head = body.split(b"\r\n\r\n", 1)[0]
        return not (sender.isascii() and all(a.isascii() for a in remote) and head.isascii())

    def connectionLost(self, reason: Any = None) -> None:
        if self._counted:
            self._counted = False
            self.sub.limiter.release(self.peer, self, False)
        self.auth.cancel()
        DeliverySession.connectionLost(self, reason)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class _RcptFactory:
    """Twisted's per-recipient message factory, knowing the recipient."""

    def __init__(self, session: SubmissionSession, user: smtp.User, rcpt: Rcpt) -> None:
        self.session = session
        self.user = user
        self.rcpt = rcpt

    def __call__(self) -> SubmitMessage:
        return SubmitMessage(self.session, self.user, self.rcpt)


@implementer(smtp.IMessage)
class SubmitMessage:
    """One recipient's share of a DATA transfer; the first one records the
    body and runs the submission, the others share its reply."""

    def __init__(self, session: SubmissionSession, user: smtp.User, rcpt: Rcpt) -> None:
        self.session = session
        self.user = user
        self.rcpt = rcpt
        self.transaction = session.transaction
        self.shared = session.data_messages
        self.shared.append(self)

    def lineReceived(self, line: bytes) -> None:
        if self is self.shared[0]:
            self.transaction.feed_bulk(line + b"\r\n")

    def eomReceived(self) -> Deferred[Outcome]:
        t = self.transaction
        if self is not self.shared[0]:
            return succeed(Outcome(250, "2.0.0", "Ok"))
        rcpts = [m.rcpt for m in self.shared]
        return self.session.submit(str(self.user.orig), rcpts, t.body(), t.queue_id)

    def connectionLost(self) -> None:
        pass


@implementer(smtp.IMessageDelivery)
class SubmissionPolicy:
    """Who may send, and to whom (see the module docs)."""

    def __init__(self, session: SubmissionSession) -> None:
        self.session = session

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b""  # the submission adds its own trace, after header completion

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        s = self.session
        if s.username is None:
            raise smtp.SMTPServerError(530, "5.7.0 Authentication required")
        addr = str(origin)
        if addr and not self.owns(addr):
            _log.info("submission: {user} may not send as <{addr}> (peer {peer})",
                      user=s.username, addr=addr, peer=s.peer)
            raise smtp.SMTPServerError(
                553, f"5.7.1 <{addr}>: Sender address rejected: not owned by user {s.username}")
        return origin

    def owns(self, address: str) -> bool:
        s = self.session
        assert s.username is not None
        local, _, domain = address.rpartition("@")
        domain = domain.lower().rstrip(".")
        base = parse_recipient(local, domain, s.detail_delimiter)
        candidates = {address.lower(), f"{base.local}@{domain}".lower()}
        return bool(candidates & s.sub.own_addresses(s.username))

    def validateTo(self, user: smtp.User) -> Deferred[Any]:
        s = self.session
        if s.username is None:
            raise smtp.SMTPServerError(530, "5.7.0 Authentication required")
        addr = _rcpt_str(user)
        if len(s._to) >= s.max_recipients:
            raise smtp.SMTPBadRcpt(user, 452, "4.5.3 Too many recipients")
        domain = user.dest.domain.decode("utf-8", "replace").lower().rstrip(".")
        if domain not in s.domains:
            return succeed(_RcptFactory(s, user, Rcpt(addr)))
        rcpt = parse_recipient(user.dest.local.decode("utf-8", "replace"), domain,
                               s.detail_delimiter)
        d = s.delivery_api.lookup(rcpt.local, domain)

        def found(username: str | None) -> Any:
            if username is None:
                raise smtp.SMTPBadRcpt(
                    user, 550, f"5.1.1 <{addr}>: Recipient address rejected: User unknown")
            return _RcptFactory(s, user, Rcpt(addr, username, rcpt))

        def failed(f: Failure) -> Failure:
            if f.check(smtp.SMTPServerError):
                return f
            _log.failure("recipient lookup for {addr} failed", f, addr=addr)
            return Failure(smtp.SMTPBadRcpt(user, 451, "4.3.0 Temporary lookup failure"))

        return d.addCallback(found).addErrback(failed)


def submission_factory(
    delivery: Delivery,
    domains: Sequence[str],
    authenticator: Authenticator,
    queue: Any,
    **kwargs: Any,
) -> SubmissionFactory:
    """A ServerFactory for ``--submission`` / ``--submissions`` listeners."""
    return SubmissionFactory(delivery, domains, authenticator, queue, **kwargs)
