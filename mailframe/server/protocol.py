"""The Twisted adapter: socket bytes ⇄ the sans-IO IMAP session.

``dataReceived`` feeds the framer; frames queue for the session's command
loop (pipelined commands are answered in order); synchronizing-literal
continuations go out at once.  Outgoing data is flow-controlled: the
protocol registers itself as the transport's push producer, so a slow
reader pauses FETCH streaming (:meth:`drain`) instead of making the server
buffer a mailbox.

Before login the framer runs on :meth:`mailframe.imap.limits.Limits.preauth`
limits and frames one command at a time (reading pauses while it runs), so
an unauthenticated client can make the server hold one bounded command; a
framing error that ends the stream (a huge non-synchronizing literal) is
answered in turn, then ``* BYE`` and the connection closes.

An APPEND literal of ``--spool-literal`` octets or more goes, as it
arrives, to a temporary file written by the thread pool
(:mod:`mailframe.server.spool`); the command reaches the session once the
literal is read back, in its turn.

After ``COMPRESS DEFLATE`` (RFC 4978) every octet both ways goes through
:class:`mailframe.server.compress.Deflate`, above TLS: responses are
compressed as written and sync-flushed once per burst (when the session
waits for the client, before closing, or at the end of the reactor turn
that wrote them); input is inflated in bounded chunks, each framed before
the next is inflated, and inflating stops while reading is paused.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from mailframe.errors import LimitExceeded
from mailframe.imap.framing import (
    ContinuationRequest,
    Event,
    Frame,
    FrameError,
    Framer,
    SpooledFrame,
)
from mailframe.imap.serialize import continuation
from mailframe.imap.session import WAKEUP, ServerConfig, Session, Wakeup
from mailframe.ops.authwatch import WatchedAuthenticator
from mailframe.ops.events import ImapConnection, refused_connection
from mailframe.server._sendnow import send_now
from mailframe.server._sockopts import no_delay, quick_ack, send_window
from mailframe.server._spooling import Spooled, SpoolingMixin
from mailframe.server.compress import DEFAULT_LEVEL, CompressionError, Deflate
from mailframe.server.spool import BACKLOG, FileSpool

log = Logger()

#: Seconds a closing TLS peer has to answer our close_notify.
CLOSE_GRACE = 2.0
#: Bytes the TCP transport buffers before it pauses a FETCH, and sends in
#: one ``send()`` (Twisted's own: 64 KiB and 128 KiB; see send_window):
#: per connection, at most this much waits in user space.
SEND_WINDOW = 1024 * 1024


@dataclass
class ServerContext:
    """What every IMAP connection of one listener shares."""

    authenticator: Any
    config: ServerConfig = field(default_factory=ServerConfig)
    tls: Any = None  # a context factory for STARTTLS, or None
    limiter: Any = None  # mailframe.auth.throttle.ConnectionLimiter, or None
    clock: Any = None
    #: zlib level for COMPRESS=DEFLATE (RFC 4978); None: COMPRESS not offered.
    compress_level: int | None = DEFAULT_LEVEL
    #: APPEND literals of at least this many octets go to a temporary file
    #: off the reactor (mailframe.server.spool); 0: kept in memory.
    spool_min: int = 1 << 20
    #: where those files go (None: the system's temporary directory)
    spool_dir: str | None = None
    #: told +1 / -1 as connections open and close (--workers balancing)
    on_connection: Callable[[int], None] | None = None


@implementer(IPushProducer)
class IMAPServerProtocol(SpoolingMixin, Protocol, TimeoutMixin):
    """One IMAP connection."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.clock = context.clock or _reactor
        self.callLater = self.clock.callLater  # type: ignore[method-assign]  # TimeoutMixin's timer
        self.framer = Framer(context.config.limits.preauth())
        self.framer.hold = True  # one command at a time until login
        if context.spool_min:
            self.framer.spool = self._new_spool
            self.framer.spool_min = context.spool_min
        self._held = False  # a frame came out in hold mode: reading paused until it is taken
        self._ending = False  # a closing FrameError was answered: no more events
        self._in_handle = False
        self._pump_wanted = False
        self.queue: deque[Frame | FrameError | Spooled] = deque()
        self._spools: set[FileSpool] = set()
        self._counted_load = False
        self.waiter: Deferred[Frame | FrameError | Wakeup | None] | None = None
        self._wake_pending = False
        self.drainers: list[Deferred[None]] = []
        self.paused = False
        self.reading_paused = False
        self.lost = False
        self.secure = False
        self.peer = ""
        self.session: Session | None = None
        self._counted = False
        self._logged_in = False
        self._user: str | None = None
        self._keepalive: Any = None
        self._switching = False  # STARTTLS or COMPRESS ran: drop the events framed after it
        self._registered = False
        self._closing: Any = None
        self.ops: ImapConnection | None = None  # log lines and metrics (mailframe.ops)
        self.deflate: Deflate | None = None  # COMPRESS=DEFLATE is on (RFC 4978)
        self._flush_call: Any = None
        self._inflate_call: Any = None

    # --- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        self.peer = getattr(peer, "host", "") or ""
        self.secure = ISSLTransport.providedBy(self.transport)
        limiter = self.context.limiter
        if limiter is not None:
            if not limiter.admit(self.peer, self):
                refused_connection("imap", self.peer, "too many connections from this address")
                self._send(b"* BYE Too many connections from your address\r\n")
                self._close()
                return
            self._counted = True
        no_delay(self.transport)
        send_window(self.transport, SEND_WINDOW)
        if self.context.on_connection is not None:
            self.context.on_connection(1)
            self._counted_load = True
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]
        self._registered = True
        self.ops = ImapConnection(self.peer, self.secure, self._state_name)
        self.ops.opened()
        auth = WatchedAuthenticator(self.context.authenticator, self.ops)
        self.session = Session(self, auth, self.context.config)
        d = Deferred.fromCoroutine(self.session.run())
        d.addErrback(self._session_failed)
        d.addBoth(lambda _: self._finish())

    def _state_name(self) -> str:
        return self.session.state.value if self.session is not None else "not authenticated"

    def _session_failed(self, failure: Failure) -> None:
        log.failure("IMAP session failed", failure)
        if not self.lost:
            self._send(b"* BYE Internal server error\r\n")

    def _finish(self) -> None:
        self._close()

    def _close(self) -> None:
        """Close the connection, TLS included.

        Twisted's TLS layer starts its shutdown only once no producer is
        registered, so unregister first; and a peer that never answers our
        close_notify must not keep the connection open (mbsync does not), so
        abort it after a grace period (RFC 3501 §6.1.3: after LOGOUT's OK the
        server closes the connection)."""
        if self.lost or self._closing is not None:
            return
        self.flush()
        if self._registered:
            self._registered = False
            self.transport.unregisterProducer()  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]
        if not self.lost:
            self._closing = self.clock.callLater(CLOSE_GRACE, self._abort)

    def _abort(self) -> None:
        self._closing = None
        if not self.lost:
            self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = True
        if self._closing is not None and self._closing.active():
            self._closing.cancel()
        self._closing = None
        self.setTimeout(None)  # type: ignore[no-untyped-call]
        self._stop_keepalive()
        for call in (self._flush_call, self._inflate_call):
            if call is not None and call.active():
                call.cancel()
        self._flush_call = self._inflate_call = None
        if self.deflate is not None:
            n = self.deflate.counters
            log.info("imap compress peer={peer} out={plain_out}->{wire_out} in={wire_in}->{plain_in}",
                     peer=self.peer, plain_out=n.plain_out, wire_out=n.wire_out,
                     wire_in=n.wire_in, plain_in=n.plain_in)
        if self._counted_load and self.context.on_connection is not None:
            self._counted_load = False
            self.context.on_connection(-1)
        if self._counted and self.context.limiter is not None:
            self.context.limiter.release(self.peer, self, self._logged_in)
            self._counted = False
        if self._user is not None and self.context.limiter is not None:
            self.context.limiter.release_user(self._user)
            self._user = None
        if self.waiter is not None:
            w, self.waiter = self.waiter, None
            w.callback(None)
        self._release_drainers()
        self.framer.discard_buffered()  # a literal being spooled
        self._clear_queue()
        if self.ops is not None:
            self.ops.closed()

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()  # type: ignore[no-untyped-call]
        if self.ops is not None:
            self.ops.received(data)
        if self.deflate is None:
            self._feed(data)
            return
        try:
            self.deflate.receive(data)
        except CompressionError as e:
            self._bad_stream(str(e))
            return
        self._inflate_more()

    def _feed(self, data: bytes) -> None:
        events = self.framer.feed(data)
        if not events:
            self._quick_ack()
        self._handle(events)

    def _inflate_more(self) -> None:
        """Inflate pending input chunk by chunk into the framer while
        reading is not paused (RFC 4978: the framer's line and literal
        limits apply to the inflated octets; a small packet that inflates
        to much cannot make the server hold more than one chunk at once
        beyond what the framer keeps)."""
        self._inflate_call = None
        deflate = self.deflate
        while deflate is not None and not (self.reading_paused or self.lost or self._ending):
            try:
                data = deflate.inflate()
            except CompressionError as e:
                self._bad_stream(str(e))
                return
            if not data:
                return
            self._feed(data)
            if self.deflate is not deflate:
                return

    def _bad_stream(self, reason: str) -> None:
        """The client's compressed stream cannot be read: say why and close."""
        self._ending = True
        self.write(b"* BYE " + reason.encode("ascii", "replace") + b"\r\n")
        log.info("closing connection from {peer}: {reason}", peer=self.peer, reason=reason)
        self._close()

    def _handle(self, events: list[Event]) -> None:
        """Deliver framer events; then, while the session asks for the next
        held command (:meth:`next_event` sets ``_pump_wanted`` instead of
        recursing), frame it and go on."""
        self._in_handle = True
        try:
            while True:
                self._switching = False
                for event in events:
                    if self._switching:
                        # Plaintext pipelined after STARTTLS is dropped, never
                        # run inside the TLS session (CVE-2011-0411); so is
                        # anything pipelined after COMPRESS (RFC 4978 §3: the
                        # client waits for its result).
                        break
                    if isinstance(event, ContinuationRequest):
                        self.write(continuation())
                        self.flush()
                    else:
                        if isinstance(event, Frame | SpooledFrame) and self.framer.hold:
                            self._held = True
                        self._deliver(event)
                if not self._pump_wanted or self._ending or self.lost:
                    break
                self._pump_wanted = False
                self._held = False
                events = self.framer.feed(b"")
        finally:
            self._in_handle = False
            self._pump_wanted = False
            self._switching = False
        self._update_reading()

    def _update_reading(self) -> None:
        """Read from the socket unless the queue is long, a held command
        waits to run, or the stream is over."""
        limit = self.context.config.limits.max_pending
        backlog = sum(s.backlog for s in self._spools) if self._spools else 0
        if self.reading_paused:
            stop = (self._held or self._ending or len(self.queue) >= limit // 2
                    or backlog > BACKLOG // 2)
        else:
            stop = self._held or self._ending or len(self.queue) >= limit or backlog > BACKLOG
        if stop != self.reading_paused and not self.lost:
            self.reading_paused = stop
            if stop:
                self.transport.pauseProducing()  # type: ignore[union-attr]
            else:
                self.transport.resumeProducing()  # type: ignore[union-attr]
        if (not self.reading_paused and self.deflate is not None and self.deflate.pending
                and self._inflate_call is None and not self.lost):
            # Inflated input was held back while reading was paused: go on,
            # from the reactor (never from inside a session callback).
            self._inflate_call = self.clock.callLater(0, self._inflate_more)

    def _pump(self) -> None:
        """Frame the next held command, now that the previous one ran
        (under the limits that hold now: after LOGIN, the full ones)."""
        if self._in_handle:
            self._pump_wanted = True  # _handle's loop does it: no recursion
            return
        self._held = False
        self._handle(self.framer.feed(b""))

    def _answer_and_close(self, error: FrameError) -> None:
        """A framing error after which the stream cannot go on (RFC 7888 §4)."""
        from mailframe.imap.serialize import status_line

        self._ending = True
        self.write(status_line(error.tag or "*", error.status, error.text, error.code))
        self.write(b"* BYE " + error.text.encode("ascii", "replace") + b"\r\n")
        log.info("closing connection from {peer}: {reason}", peer=self.peer, reason=error.text)
        self._close()

    def _quick_ack(self) -> None:
        quick_ack(self.transport)

    def _deliver(self, event: Frame | FrameError | SpooledFrame) -> None:
        if self._ending:
            return
        if isinstance(event, SpooledFrame):
            self._read_spooled(event)
            return
        if self.waiter is not None and not self.queue:
            if isinstance(event, FrameError) and event.close:
                w, self.waiter = self.waiter, None
                self._answer_and_close(event)
                w.callback(None)
                return
            if self.ops is not None and isinstance(event, Frame):
                self.ops.command_taken(event.parts[0])
            w, self.waiter = self.waiter, None
            w.callback(event)
            return
        # Queued in order; when the queue is long, reading stops until the
        # session catches up (TCP pushes back): see _update_reading.
        self.queue.append(event)

    def timeoutConnection(self) -> None:
        log.info("autologout of {peer}", peer=self.peer)
        self.write(b"* BYE Autologout; idle for too long\r\n")
        self._close()

    # --- SessionIO ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.lost:
            if self.ops is not None:
                self.ops.sent(data)
            self._send(data)

    def _send(self, data: bytes) -> None:
        """Octets to the transport, through the compressor when COMPRESS is
        on; a flush is due at the end of this reactor turn at the latest."""
        deflate = self.deflate
        if deflate is None:
            send_now(self.transport, data)  # a large block goes to the kernel at once
            return
        out = deflate.compress(data)
        if out:
            self.transport.write(out)  # type: ignore[union-attr]
        if self._flush_call is None and not self.lost:
            self._flush_call = self.clock.callLater(0, self.flush)

    def flush(self) -> None:
        """End a burst of responses: everything written so far reaches the
        client decodable (RFC 4978 §4; ``Z_SYNC_FLUSH``)."""
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        if self.deflate is not None and self.deflate.dirty and not self.lost:
            self.transport.write(self.deflate.flush())  # type: ignore[union-attr]

    def drain(self) -> Deferred[None]:
        if not self.paused or self.lost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self.drainers.append(d)
        return d

    def pause(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.clock.callLater(0, d.callback, None)
        return d

    def offload(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """Run CPU-heavy ``fn(*args)`` (SEARCH matching message bodies) in
        the reactor's thread pool, so other connections are served
        meanwhile; at once while the reactor is not running."""
        if not getattr(_reactor, "running", False):
            return maybeDeferred(fn, *args)
        return deferToThread(fn, *args)

    def next_event(self) -> Deferred[Frame | FrameError | Wakeup | None]:
        if not self.queue and self._held and not self._ending:
            self._pump()
        if self.queue and not self._ending and not self._head_unread():
            head = self.queue.popleft()
            event = head.event if isinstance(head, Spooled) else head
            assert event is not None
            self._update_reading()
            if isinstance(event, FrameError) and event.close:
                self._answer_and_close(event)
                return succeed(None)
            if self.ops is not None and isinstance(event, Frame):
                self.ops.command_taken(event.parts[0])
            return succeed(event)
        if self.lost or self._ending:
            return succeed(None)
        session = self.session
        if self.queue:  # a command's large literal is still being read back
            self.flush()
            self.waiter = Deferred()
            return self.waiter
        if self._wake_pending and session is not None and (session.idling or session.notify is not None):
            self._wake_pending = False  # a hint came while the session was catching up
            return succeed(WAKEUP)
        self.flush()  # the session waits for the client: the burst is over
        self.waiter = Deferred()
        return self.waiter

    def wakeup(self) -> None:
        # Called from another session's backend call: let it finish first.
        self.clock.callLater(0, self._wake)

    def _wake(self) -> None:
        session = self.session
        if session is None or not (session.idling or session.notify is not None):
            return
        if self.waiter is None:
            # busy (an asynchronous store's catch-up): look again when it waits
            self._wake_pending = True
            return
        w, self.waiter = self.waiter, None
        w.callback(WAKEUP)

    def start_tls(self) -> None:
        self._switching = True
        self.framer.discard_buffered()
        self._clear_queue()
        self.transport.startTLS(self.context.tls)  # type: ignore[union-attr]
        self.secure = True
        if self.ops is not None:
            self.ops.tls_started()

    def tls_available(self) -> bool:
        return self.context.tls is not None

    def compress_available(self) -> bool:
        return self.context.compress_level is not None

    @property
    def compressing(self) -> bool:
        return self.deflate is not None

    def start_compress(self) -> None:
        """Compress from now on (RFC 4978 §3: right after the CRLF of the
        tagged OK, already written).  Anything the client pipelined after
        COMPRESS is dropped, as after STARTTLS: it had to wait for the OK."""
        assert self.deflate is None and self.context.compress_level is not None
        self.flush()
        self._switching = True
        self.framer.discard_buffered()
        self._clear_queue()
        self.deflate = Deflate(self.context.compress_level)

    def channel_binding(self) -> dict[str, bytes] | None:
        if not self.secure:
            return None
        from mailframe.server.tls import channel_bindings

        return channel_bindings(self.transport) or None

    def admit_user(self, username: str) -> bool:
        try:
            admitted = self._admit_user(username)
        except LimitExceeded:
            if self.ops is not None:
                self.ops.not_admitted(username, "too many logged-in connections from that address")
            raise
        if self.ops is not None:
            if admitted:
                self.ops.admitted(username)
            else:
                self.ops.not_admitted(username, "too many connections for this user")
        return admitted

    def _admit_user(self, username: str) -> bool:
        limiter = self.context.limiter
        if limiter is not None and self._user is None:
            if not limiter.acquire_user(username):
                return False
            if self._counted and not self._logged_in and not limiter.promote(self.peer, self):
                limiter.release_user(username)
                raise LimitExceeded("Too many logged-in connections from your address")
            self._user = username
        # _logged_in: counted among the address's logged-in connections
        # (kept after UNAUTHENTICATE until the connection closes).
        self._logged_in = True
        # Logged in: the full limits, and pipelined commands framed at once.
        self.framer.limits = self.context.config.limits
        self.framer.hold = False
        return True

    def unauthenticated(self) -> None:
        """UNAUTHENTICATE (RFC 8437): the user's session count is given
        back; the next command is framed under pre-login limits, one at a
        time, as before the first login."""
        if self._user is not None and self.context.limiter is not None:
            self.context.limiter.release_user(self._user)
        self._user = None
        self.framer.limits = self.context.config.limits.preauth()
        self.framer.hold = True
        log.info("imap unauthenticate peer={peer}", peer=self.peer)

    # --- ConnectionLimiter's view (mailframe.auth.throttle.Evictable) --------

    @property
    def idle(self) -> bool:
        """Before login, waiting for the client (no command running)."""
        return not self._logged_in and self.waiter is not None and not self.queue

    def evict(self) -> None:
        """Make room for a newer connection from the same address."""
        log.info("closing idle pre-login connection from {peer} to make room", peer=self.peer)
        self._counted = False  # the limiter has forgotten us already
        self.write(b"* BYE Too many connections from your address; closing the oldest idle one\r\n")
        self._close()

    def set_timeout(self, seconds: float | None) -> None:
        self.setTimeout(seconds)  # type: ignore[no-untyped-call]
        if seconds is None:
            self._start_keepalive()
        else:
            self._stop_keepalive()

    def close(self) -> None:
        self._close()

    def log_error(self, message: str, error: BaseException) -> None:
        log.failure(message, Failure(error))

    # --- IDLE keepalive (Dovecot sends "* OK Still here" every 2 minutes) ----

    def _start_keepalive(self) -> None:
        self._stop_keepalive()
        interval = self.context.config.idle_keepalive
        if interval > 0:
            self._keepalive = self.clock.callLater(interval, self._ping)

    def _ping(self) -> None:
        self._keepalive = None
        if not self.lost:
            self.write(b"* OK Still here\r\n")
            self._start_keepalive()

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        self._keepalive = None

    # --- IPushProducer: the transport tells us when its buffer is full -------

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._release_drainers()

    def stopProducing(self) -> None:
        self.paused = False
        self._release_drainers()

    def _release_drainers(self) -> None:
        drainers, self.drainers = self.drainers, []
        for d in drainers:
            d.callback(None)


class IMAPFactory(Factory):
    """Builds :class:`IMAPServerProtocol` for one listener."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def buildProtocol(self, addr: Any) -> IMAPServerProtocol:
        proto = IMAPServerProtocol(self.context)
        proto.factory = self
        return proto
