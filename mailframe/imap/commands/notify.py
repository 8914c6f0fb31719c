"""NOTIFY (RFC 5465 §3.1): which events a client wants told at once, for
the selected mailbox and for others.  The watching and the telling are
:mod:`mailframe.imap.notify_state`'s.

Checks, before anything is watched:

- an event this server does not offer (AnnotationChange, the METADATA
  ones where the account keeps no METADATA, an ``event-ext``) is ``NO [BADEVENT (...)]`` listing the events
  it offers (§3.1: "MUST list names of all events supported");
- SELECTED / SELECTED-DELAYED take only message events (§6.1) and only
  one of them may be given; MessageNew and MessageExpunge go together
  there, and FlagChange needs both (§5); MessageNew's fetch attributes
  only there (Dovecot's rule) -- all ``BAD``.  For the other
  filters a lone event is taken, as Dovecot takes it (and imaptest's
  ``notify`` script expects);
- more mailboxes than ``ServerConfig.notify_max_mailboxes`` is
  ``NO [NOTIFICATIONOVERFLOW]`` (§3.1: "too expensive").

``NOTIFY SET STATUS`` answers one STATUS per watched mailbox (other than
the selected one) before the tagged OK, with what §3.1 asks for each
event, in Dovecot's form: MESSAGES UIDNEXT UIDVALIDITY UNSEEN, and
HIGHESTMODSEQ with FlagChange.  MessageNew's fetch attributes matter
for the selected mailbox only (other mailboxes get STATUS, §5.2).
"""

from __future__ import annotations

from mailframe.errors import CommandFailed, ProtocolError
from mailframe.imap.command import Notify, NotifyGroup
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.notify_state import MAILBOX_EVENTS, OVERFLOW, NotifyState
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Raw, Value
from mailframe.imap.utf8 import enabled as utf8_enabled
from mailframe.imap.utf8 import mailbox_name
from mailframe.interfaces import IMetadataAccount

__all__ = ["notify", "SUPPORTED", "DEFAULT_MAX_MAILBOXES"]

#: Events served, in the order BADEVENT lists them.
SUPPORTED = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange")
#: And where the account keeps METADATA (RFC 5465 §5.6, §5.7: then REQUIRED).
WITH_METADATA = (*SUPPORTED, "MailboxMetadataChange", "ServerMetadataChange")
#: Mailboxes one NOTIFY may watch unless ServerConfig says otherwise.
DEFAULT_MAX_MAILBOXES = 1000
_SELECTED = ("SELECTED", "SELECTED-DELAYED")


def _check(groups: tuple[NotifyGroup, ...], metadata: bool = False) -> None:
    """The rules of §5 and §6.1 (see the module docstring)."""
    supported = WITH_METADATA if metadata else SUPPORTED
    unsupported = sorted({e for g in groups for e in g.events if e not in supported})
    if unsupported:
        raise CommandFailed("Unsupported NOTIFY events: " + " ".join(unsupported), f"BADEVENT ({' '.join(supported)})")
    selected = [g for g in groups if g.filter in _SELECTED]
    if len(selected) > 1:
        raise ProtocolError("Duplicate selected filter")
    for g in groups:
        if g.fetch and g.filter not in _SELECTED:
            # Other mailboxes are told with STATUS (§5.2): BAD, as Dovecot.
            raise ProtocolError("MessageNew fetch attributes need SELECTED")
    for g in selected:
        events = set(g.events)
        if events & MAILBOX_EVENTS:
            raise ProtocolError("SELECTED takes only message events")  # §6.1
        if "FlagChange" in events and not {"MessageNew", "MessageExpunge"} <= events:
            raise ProtocolError("FlagChange requires MessageNew and MessageExpunge")
        if ("MessageNew" in events) != ("MessageExpunge" in events):
            raise ProtocolError("MessageNew and MessageExpunge must be together")


@command(Notify, AUTHENTICATED)
async def notify(session: AuthenticatedContext, cmd: Notify) -> Reply:
    """RFC 5465 §3.1."""
    old = getattr(session, "notify", None)
    if cmd.groups is None:
        if old is not None:
            old.close()
        session.notify = None
        return Reply("NOTIFY completed")
    _check(cmd.groups, IMetadataAccount.providedBy(session.account))
    limit = getattr(session.config, "notify_max_mailboxes", DEFAULT_MAX_MAILBOXES)
    state = NotifyState(cmd.groups, str(session.account.username), session.io.wakeup, limit)
    try:
        await state.watch(session.account)
    except OverflowError as e:
        state.close()
        raise CommandFailed(str(e), OVERFLOW) from e
    except BaseException:
        state.close()
        raise
    if old is not None:
        old.close()
    session.notify = state
    if cmd.status:
        selected = session.mailbox.name if session.mailbox is not None else None
        utf8 = utf8_enabled(session)
        for name in sorted(state.watched, key=lambda n: (n != "INBOX", n)):
            if name == selected:
                continue
            w = state.watched[name]
            st = w.status
            values: list[Value] = [
                Atom("MESSAGES"), st.messages, Atom("UIDNEXT"), st.uidnext,
                Atom("UIDVALIDITY"), st.uidvalidity, Atom("UNSEEN"), st.unseen,
            ]
            if "FlagChange" in w.events and session.config.condstore:
                values += [Atom("HIGHESTMODSEQ"), st.highestmodseq]
            session.untagged(Atom("STATUS"), Raw(mailbox_name(name, utf8)), values)
    return Reply("NOTIFY completed")
