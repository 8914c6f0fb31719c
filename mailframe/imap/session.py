"""One IMAP connection's session: states, the command loop, catching up.

The session is sans-IO: the Twisted adapter (:mod:`mailframe.server`)
hands it an :class:`SessionIO` to write bytes and wait for the next client
frame, and runs :meth:`Session.run` as a coroutine.  Backend Deferreds and
the IO's awaitables are awaited directly, so nothing here imports twisted.

Flow per command (DESIGN.md, "Data walks one way"): frame → grammar →
state check → handler → catch up the selected mailbox → tagged response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mailframe.errors import LimitExceeded, MailframeError
from mailframe.imap import serialize
from mailframe.imap.command import Select
from mailframe.imap.commands import context as search_contexts
from mailframe.imap.commands import load_all
from mailframe.imap.commands.mailbox import announce_flags, recent_range
from mailframe.imap.commands.params import refusal
from mailframe.imap.commands.uidonly import uid_required, uidonly, vanished
from mailframe.imap.framing import Frame, FrameError
from mailframe.imap.grammar import ParseError, parse_command
from mailframe.imap.limits import Limits
from mailframe.imap.notify_state import mailbox_command_done, mailbox_command_starting
from mailframe.imap.registry import REGISTRY, SILENT, Reply, State
from mailframe.imap.serialize import Atom, Value
from mailframe.imap.view import SelectedView
from mailframe.interfaces import optional_capabilities
from mailframe.wire import b64decode

load_all()


class Wakeup:
    """An IO event meaning "the selected mailbox may have changed"."""


WAKEUP = Wakeup()


class SessionIO(Protocol):
    """What the session needs from the transport side."""

    secure: bool
    peer: str

    def write(self, data: bytes) -> None: ...

    def drain(self) -> Awaitable[None]:
        """Wait until the peer has taken what was written (backpressure)."""
        ...

    def pause(self) -> Awaitable[None]:
        """Give other connections a turn (long FETCH and SEARCH call this
        between batches so one big command does not stall the server)."""
        ...

    def next_event(self) -> Awaitable[Frame | FrameError | Wakeup | None]:
        """The next client frame; a Wakeup after :meth:`Session.changed`
        while waiting; None when the connection is gone."""
        ...

    def start_tls(self) -> None:
        """Begin the TLS handshake now, discarding buffered plaintext."""
        ...

    def tls_available(self) -> bool: ...

    @property
    def compressing(self) -> bool:
        """COMPRESS=DEFLATE is active (RFC 4978)."""
        ...

    def compress_available(self) -> bool:
        """Whether COMPRESS=DEFLATE may be offered (RFC 4978)."""
        ...

    def start_compress(self) -> None:
        """Compress both ways from now on (after the tagged OK)."""
        ...

    def unauthenticated(self) -> None:
        """The session left the authenticated state (RFC 8437): give back
        the per-user count and apply the pre-login limits again."""
        ...

    def channel_binding(self) -> dict[str, bytes] | None:
        """SASL channel-binding data of the TLS layer (RFC 5929, RFC 9266)."""
        ...

    def admit_user(self, username: str) -> bool:
        """Count a logged-in session of ``username``; False when the
        per-user connection limit is reached."""
        ...

    def set_timeout(self, seconds: float | None) -> None: ...

    def close(self) -> None: ...

    def wakeup(self) -> None:
        """Make a pending :meth:`next_event` return a :data:`WAKEUP`."""
        ...

    def log_error(self, message: str, error: BaseException) -> None: ...


class Authenticator(Protocol):
    """Login and SASL (implemented over twisted.cred in mailframe.auth)."""

    def mechanisms(
        self, secure: bool, peer: str, channel_binding: dict[str, bytes] | None = None
    ) -> list[str]: ...

    def plaintext_allowed(self, secure: bool, peer: str) -> bool: ...

    def login(self, username: str, password: str, secure: bool, peer: str) -> Awaitable[Any]: ...

    def start(
        self, mechanism: str, secure: bool, peer: str, channel_binding: dict[str, bytes] | None = None
    ) -> Any: ...


def server_limits(
    max_line: int = Limits.max_line,
    max_literal: int = Limits.max_literal,
    max_depth: int = Limits.max_depth,
    max_nonsync_literal: int | None = None,
) -> Limits:
    """Limits for a server; by default one that advertises LITERAL+: a
    non-synchronizing literal may be as large as any literal (RFC 7888 §3).
    ``max_nonsync_literal`` 4096 makes it LITERAL- (§4); see
    :func:`literal_capability`."""
    return Limits(
        max_line=max_line,
        max_literal=max_literal,
        max_command=max_literal + max_line + 1024 * 1024,
        max_depth=max_depth,
        max_nonsync_literal=max_literal if max_nonsync_literal is None else max_nonsync_literal,
    )


#: The size RFC 7888 §4 lets a LITERAL- client send without waiting.
LITERAL_MINUS_SIZE = 4096


def literal_capability(limits: Limits) -> str | None:
    """Which non-synchronizing literal capability ``limits`` honour
    (RFC 7888): LITERAL+ when every literal the server takes may be sent
    without waiting (§3); LITERAL- when non-synchronizing literals are
    capped at exactly 4096 octets, so that one of up to 4096 is taken and
    a larger one refused with ``BAD [TOOBIG]`` as §4 and §5 want
    (LITERAL+ is a superset: never both); otherwise neither -- the framer
    still takes ``{n+}`` up to its cap, but nothing is promised."""
    if limits.max_nonsync_literal >= limits.max_literal:
        return "LITERAL+"
    if limits.max_nonsync_literal == LITERAL_MINUS_SIZE:
        return "LITERAL-"
    return None


@dataclass
class ServerConfig:
    """Per-server settings shared by every session."""

    limits: Limits = field(default_factory=lambda: server_limits())
    name: str = "mailframe"
    idle_keepalive: float = 120.0
    timeout_preauth: float = 60.0
    timeout_auth: float = 30 * 60.0
    max_auth_attempts: int = 3
    condstore: bool = True
    #: Called with a small JSON-able dict for each flag change and expunge a
    #: client makes (the webhook notifier's ``notify``); never awaited.
    events: Callable[[dict[str, Any]], object] | None = None
    #: Mailboxes one NOTIFY may watch; more is NO [NOTIFICATIONOVERFLOW]
    #: (RFC 5465 §3.1).
    notify_max_mailboxes: int = 1000


#: Optional capabilities (mailframe.interfaces.OPTIONAL_CAPABILITIES) whose
#: commands the framework serves; empty until QUOTA and friends have
#: handlers, so none is advertised yet.
SERVED_OPTIONAL: frozenset[str] = frozenset()
# QUOTA (RFC 9208): mailframe/imap/commands/quota.py
SERVED_OPTIONAL |= {"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"}
# METADATA, METADATA-SERVER (RFC 5464): mailframe/imap/commands/metadata.py
SERVED_OPTIONAL |= {"METADATA", "METADATA-SERVER"}
# OBJECTID (RFC 8474): mailframe/imap/commands/objectid.py
SERVED_OPTIONAL |= {"OBJECTID"}
# ACL, LIST-MYRIGHTS (RFC 4314, RFC 8440): mailframe/imap/commands/acl.py
SERVED_OPTIONAL |= {"ACL", "RIGHTS=texk", "LIST-MYRIGHTS"}

BASE_CAPABILITIES: tuple[str, ...] = (
    "IMAP4rev1",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "CHILDREN",
    "SPECIAL-USE",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "ESEARCH",
    "BINARY",
    "STATUS=SIZE",
    "CREATE-SPECIAL-USE",
    "MULTIAPPEND",
    # RFC 5256 / 5957 / 5267 / 9394 / 5182 / 5032 (mailframe/imap/commands/sort.py ...)
    "SORT",
    "SORT=DISPLAY",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "ESORT",
    "PARTIAL",
    "SEARCHRES",
    "WITHIN",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
    "SAVEDATE",
    # RFC 4469 / RFC 8508 (mailframe/imap/commands/catenate.py, replace.py)
    "CATENATE",
    "REPLACE",
    # RFC 6855 (mailframe/imap/utf8.py)
    "UTF8=ACCEPT",
    # RFC 5465 (mailframe/imap/commands/notify.py, mailframe/imap/notify_state.py)
    "NOTIFY",
)

# RFC 8970 (mailframe/imap/commands/preview.py): works on every store.
BASE_CAPABILITIES += ("PREVIEW",)

#: Offered once logged in (RFC 8437 §3: UNAUTHENTICATE is only valid then).
AUTHENTICATED_CAPABILITIES = ("UNAUTHENTICATE",)


class Session:
    """State and loop of one connection (RFC 3501 §3)."""

    def __init__(self, io: SessionIO, authenticator: Authenticator, config: ServerConfig) -> None:
        self.io = io
        self.auth = authenticator
        self.config = config
        self.state = State.NOT_AUTHENTICATED
        self.account: Any = None
        self.mailbox: Any = None
        self.view: SelectedView | None = None
        self.enabled: set[str] = set()
        self.auth_attempts = 0
        self.idling = False
        self._unwatch: Any = None
        #: The NOTIFY SET in force (mailframe.imap.notify_state), RFC 5465.
        self.notify: Any = None

    # --- capabilities ------------------------------------------------------

    def capabilities(self) -> list[str]:
        """CAPABILITY words for this moment (RFC 3501 §6.1.1)."""
        caps = list(BASE_CAPABILITIES)
        caps.insert(1, "IMAP4rev2")  # RFC 9051, beside IMAP4rev1 (§6.1.1)
        literal = literal_capability(self.config.limits)
        if literal is not None:
            caps.insert(2, literal)
        caps.append(f"APPENDLIMIT={self.config.limits.max_literal}")
        if self.config.condstore:
            caps.append("CONDSTORE")
            caps.append("QRESYNC")  # RFC 7162 §3.2 (needs CONDSTORE)
        caps.append("UIDONLY")  # RFC 9586
        if self.state is not State.NOT_AUTHENTICATED:
            caps.extend(AUTHENTICATED_CAPABILITIES)
            if self.io.compress_available():
                caps.append("COMPRESS=DEFLATE")  # RFC 4978: command-auth
        if self.account is not None:
            # Extensions that need something of the store: advertised only
            # where the account provides the interface (found with
            # providedBy) and the framework has the handlers.
            caps.extend(optional_capabilities(self.account, SERVED_OPTIONAL))
        if self.state is State.NOT_AUTHENTICATED:
            if not self.io.secure and self.io.tls_available():
                caps.append("STARTTLS")
            if not self.auth.plaintext_allowed(self.io.secure, self.io.peer):
                caps.append("LOGINDISABLED")
            mechanisms = self.auth.mechanisms(self.io.secure, self.io.peer, self.io.channel_binding())
            caps.extend("AUTH=" + m for m in mechanisms)
        return caps

    def utf8_names(self) -> bool:
        """Mailbox names travel in UTF-8, not modified UTF-7, once the
        client enabled IMAP4rev2 (RFC 9051 §5.1) or UTF8=ACCEPT (RFC 6855
        §3)."""
        return bool(self.enabled & {"IMAP4rev2", "UTF8=ACCEPT"})

    # --- output ------------------------------------------------------------

    def untagged(self, *values: Value) -> None:
        self.io.write(serialize.untagged(*values))

    def untagged_ok(self, text: str, code: str | None = None) -> None:
        self.io.write(serialize.status_line("*", "OK", text, code))

    def continuation(self, text: str) -> None:
        self.io.write(serialize.continuation(text))

    # --- loop --------------------------------------------------------------

    async def run(self) -> None:
        """Greet, then answer frames until LOGOUT or disconnection."""
        self.io.set_timeout(self.config.timeout_preauth)
        caps = " ".join(self.capabilities())
        self.io.write(
            serialize.status_line("*", "OK", f"{self.config.name} ready.", f"CAPABILITY {caps}")
        )
        try:
            while self.state is not State.LOGOUT:
                event = await self.io.next_event()
                if event is None:
                    break
                if isinstance(event, Wakeup):
                    if self.notify is not None:  # RFC 5465 §3.1: told at once
                        await self._notify_deliver()
                    continue
                if isinstance(event, FrameError):
                    self.io.write(
                        serialize.status_line(event.tag or "*", event.status, event.text, event.code)
                    )
                    continue
                await self.execute(event)
                if self.notify is not None and self.notify.has_work:
                    await self._notify_deliver()  # hints that came in meanwhile
        finally:
            self.deselect()
            self.end_notify()
        if self.state is State.LOGOUT:
            self.io.close()

    async def next_frame(self) -> Frame | None:
        """The next client frame (for IDLE's DONE and SASL responses);
        None when the connection is gone."""
        while True:
            event = await self.io.next_event()
            if event is None or isinstance(event, Frame):
                return event
            if isinstance(event, FrameError):
                return None

    async def execute(self, frame: Frame) -> None:
        """Parse and run one command, always ending in a tagged reply."""
        try:
            cmd = parse_command(frame, self.config.limits, utf8=self.utf8_names(),
                                rev2="IMAP4rev2" in self.enabled)
        except ParseError as e:
            # Mostly BAD; a few refusals found while parsing are NO
            # (an unknown CHARSET, RFC 3501 §6.4.4; a mailbox name that is
            # not modified UTF-7).  A SELECT refused that way has still
            # failed: no mailbox stays selected (RFC 3501 §6.3.1).
            if e.status == "NO" and e.command in ("SELECT", "EXAMINE"):
                self.close_selected()
            self.io.write(serialize.status_line(e.tag or "*", e.status, e.text, e.code))
            return
        tag = cmd.tag
        handler = REGISTRY.get(type(cmd))
        if handler is None:
            self.io.write(serialize.status_line(tag, "BAD", "Command not implemented"))
            return
        if self.state not in handler.states:
            self.io.write(serialize.status_line(tag, "BAD", _state_reason(self.state, handler.states)))
            return
        refused = refusal(self, cmd)
        if refused is not None:
            if isinstance(cmd, Select):
                self.close_selected()  # as Dovecot does for (QRESYNC ...)
            self.io.write(serialize.status_line(tag, "BAD", refused))
            return
        required = uid_required(self, cmd)
        if required is not None:  # RFC 9586 §3
            if isinstance(cmd, Select):
                self.close_selected()
            self.io.write(serialize.status_line(tag, "BAD", required, "UIDREQUIRED"))
            return
        view_before = self.view
        status, code, text = "OK", None, f"{handler.name} completed"
        mailbox_command_starting(self, cmd)  # NOTIFY: told once, by mailbox_command_done
        try:
            reply = await handler.fn(self, cmd)
            if reply is SILENT:
                return
            if isinstance(reply, Reply):
                code, text = reply.code, reply.text
        except MailframeError as e:
            status, code, text = e.status, e.code, e.text
        except Exception as e:  # a backend bug must not kill the connection
            self.io.log_error(f"{handler.name} failed", e)
            status, code, text = "NO", "SERVERBUG", "Internal error; the failure was logged"
        if status == "OK":
            mailbox_command_done(self, cmd)  # MailboxName / SubscriptionChange (RFC 5465)
        if self.state is State.LOGOUT:
            self.io.write(serialize.status_line(tag, status, text, code))
            return
        try:
            # SELECT/EXAMINE answer for their snapshot alone, as Dovecot's
            # do: a change that raced them is told at the next command
            # (RFC 3501 §5.2).  An EXISTS or VANISHED after the snapshot's
            # would be undone by a QRESYNC client, which takes the count
            # from the EXISTS before [UIDVALIDITY] (RFC 7162 §3.2.5.1).
            if not isinstance(cmd, Select):
                await self.catch_up(handler.expunge_ok(cmd), getattr(cmd, "uid", False))
        except Exception as e:
            self.io.log_error("catching up the selected mailbox failed", e)
        if self.notify is not None and self.notify.metadata:
            self.notify.metadata_events(self)  # RFC 5465 §5.6, §5.7
        view = self.view
        if (
            view is not None
            and view is view_before
            and "QRESYNC" in self.enabled
            and status == "OK"
            and code is None
            and not view.ghosts
            and view.modseq > view.told_modseq
        ):
            # As Dovecot: once QRESYNC is on, a command after which the
            # client has heard of every change up to a newer modseq says so
            # in its tagged OK (RFC 7162 §3.2.10; not while an expunge is
            # still untold, errata 1810).
            view.told_modseq = view.modseq
            view.fetched_modseq = 0
            code = f"HIGHESTMODSEQ {view.modseq}"
        elif (
            view is not None
            and "QRESYNC" in self.enabled
            and view.ghosts
            and view.fetched_modseq > view.told_modseq
        ):
            # An expunge is held back (this command may not send it, RFC
            # 3501 §7.4.1) while a FETCH carried a higher MODSEQ: as
            # Dovecot, say which modseq the client has every change up to,
            # below the held expunge's, so a client that takes the MODSEQs
            # it saw for the mailbox's still hears of the expunge when it
            # resynchronises (RFC 5162 errata 1810, RFC 7162 §3.2.10).
            view.fetched_modseq = 0
            if status == "OK" and code is None:
                code = f"HIGHESTMODSEQ {view.told_modseq}"
            else:
                self.untagged_ok("Highest", f"HIGHESTMODSEQ {view.told_modseq}")
        self.io.write(serialize.status_line(tag, status, text, code))

    # --- selected mailbox --------------------------------------------------

    async def catch_up(self, allow_expunge: bool, with_uid: bool = False) -> None:
        """Tell the client what changed in the selected mailbox since it
        last heard (RFC 3501 §7.3, §7.4; RFC 2180 §4)."""
        if self.view is None:
            return
        view = self.view
        changes = await self.mailbox.changes_since(view.modseq)
        if self.view is not view:
            return
        condstore = "CONDSTORE" in self.enabled
        old_uids = list(view.uids) if view.contexts else []
        qresync = "QRESYNC" in self.enabled
        # Unsolicited FETCHes carry the UID once QRESYNC is on, as in
        # Dovecot (the client keys its cache by UID, RFC 7162 §3.2), and in
        # IMAP4rev2 (RFC 9051 §7.5.2, Appendix E); with UIDONLY they are
        # UIDFETCH responses (RFC 9586 §3.1).
        with_uid = with_uid or qresync or "IMAP4rev2" in self.enabled
        responses, new = view.catch_up(
            changes, allow_expunge, with_uid, condstore, vanished(self), uidonly(self)
        )
        pending = await search_contexts.before(self, old_uids) if view.contexts else []
        self.announce_flags()
        for r in responses:
            self.untagged(*r)
        if new:
            rev1 = "IMAP4rev2" not in self.enabled  # RFC 9051 has no \Recent
            if rev1:
                lo, hi = await recent_range(self.mailbox, view.readonly)
                c_lo, c_hi = view.claimed  # claimed by SELECT after its snapshot
                view.recent.update(u for u in new if lo <= u < hi or c_lo <= u < c_hi)
            self.untagged(view.exists, Atom("EXISTS"))
            if rev1:
                self.untagged(len(view.recent), Atom("RECENT"))
        search_contexts.after(self, pending)

    def announce_flags(self) -> None:
        """FLAGS and PERMANENTFLAGS when the selected mailbox holds a
        keyword the client has not been told of: called before any
        untagged FETCH that may show flags (RFC 3501 §7.2.6)."""
        view = self.view
        if view is None:
            return
        keywords = view.announce_keywords()
        if keywords is not None:
            announce_flags(self, keywords, view.readonly)

    def enable_condstore(self) -> None:
        """CONDSTORE on, by ENABLE or by a command that uses it (RFC 7162
        §3.1).  On a mailbox selected without it the client is first told
        OK [HIGHESTMODSEQ], before the command's own answers and with the
        value from before it, as Dovecot does."""
        if "CONDSTORE" in self.enabled:
            return
        self.enabled.add("CONDSTORE")
        view = self.view
        if view is not None and not view.condstore_announced:
            view.condstore_announced = True
            view.told_modseq = max(view.told_modseq, view.modseq)
            self.untagged_ok("Highest", f"HIGHESTMODSEQ {view.modseq}")

    def close_selected(self) -> None:
        """SELECT and EXAMINE first close the selected mailbox, so a
        failed one leaves none selected (RFC 3501 §6.3.1); the client
        hears OK [CLOSED] (RFC 7162 §3.2.11, as Dovecot says it always)."""
        if self.view is not None:
            self.deselect()
            self.untagged_ok("Previous mailbox closed.", "CLOSED")

    def select(self, mailbox: Any, view: SelectedView) -> None:
        self.deselect()
        self.mailbox = mailbox
        self.view = view
        self.state = State.SELECTED
        self._unwatch = mailbox.watch(self.changed)

    def deselect(self) -> None:
        if self._unwatch is not None:
            try:
                self._unwatch()
            except Exception as e:
                self.io.log_error("unwatching a mailbox failed", e)
        self._unwatch = None
        self.mailbox = None
        self.view = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    def changed(self) -> None:
        """Backend hint: the selected mailbox changed.  Only an IDLE
        session is told at once, or one whose NOTIFY asks for the selected
        mailbox (RFC 5465 §6.1); the others catch up at their next command
        (RFC 3501 §5.2)."""
        if self.notify is not None and self.notify.wants_selected:
            self.notify.selected_dirty = True
            self.io.wakeup()
        elif self.idling:
            self.io.wakeup()

    async def _notify_deliver(self) -> None:
        try:
            await self.notify.deliver(self)
        except Exception as e:  # a store failing must not end the connection
            self.io.log_error("NOTIFY delivery failed", e)

    def end_notify(self) -> None:
        """Stop NOTIFY (logout, UNAUTHENTICATE)."""
        if self.notify is not None:
            self.notify.close()
            self.notify = None

    # --- events for webhooks ------------------------------------------------

    def flags_changed(self, states: Iterable[Any]) -> None:
        """Report flag changes (``FlagState``) of the selected mailbox."""
        if self.config.events is None or self.mailbox is None:
            return
        for st in states:
            self._emit({"event": "flags", "uid": st.uid, "flags": sorted(st.flags)})

    def expunged(self, uids: Iterable[int]) -> None:
        """Report UIDs this session expunged from the selected mailbox."""
        uids = sorted(uids)
        if self.config.events is None or self.mailbox is None or not uids:
            return
        self._emit({"event": "expunge", "uids": uids})

    def _emit(self, event: dict[str, Any]) -> None:
        assert self.config.events is not None
        event = {**event, "user": str(self.account.username), "mailbox": self.mailbox.name}
        try:
            self.config.events(event)
        except Exception as e:  # a notifier must never break a command
            self.io.log_error("event notifier failed", e)

    # --- authentication ----------------------------------------------------

    def unauthenticate(self) -> None:
        """Leave the authenticated state (RFC 8437 §3)."""
        self.deselect()
        self.end_notify()
        self.account = None
        self.enabled.clear()
        self.auth_attempts = 0
        self.state = State.NOT_AUTHENTICATED
        self.io.unauthenticated()
        self.io.set_timeout(self.config.timeout_preauth)

    def authenticated(self, account: Any) -> None:
        if not self.io.admit_user(str(account.username)):
            raise LimitExceeded("Too many connections for this user")
        self.account = account
        self.state = State.AUTHENTICATED
        self.io.set_timeout(self.config.timeout_auth)


def _state_reason(state: State, allowed: frozenset[State]) -> str:
    if state is State.NOT_AUTHENTICATED:
        return "Not authenticated"
    if State.SELECTED in allowed and State.AUTHENTICATED not in allowed:
        return "No mailbox selected"
    if State.NOT_AUTHENTICATED in allowed:
        return "Already authenticated"
    return f"Command not allowed in the {state.value} state"


__all__ = ["Session", "SessionIO", "ServerConfig", "Authenticator", "WAKEUP", "Wakeup", "b64decode"]
