"""The grammar of NOTIFY (RFC 5465 §8).

::

    notify          = "NOTIFY" SP (notify-set / notify-none)
    notify-set      = "SET" [status-indicator] SP event-groups
    status-indicator = SP "STATUS"
    notify-none     = "NONE"
    event-groups    = event-group *(SP event-group)
    event-group     = "(" filter-mailboxes SP events ")"
    filter-mailboxes = filter-mailboxes-selected / filter-mailboxes-other
    filter-mailboxes-selected = "selected" / "selected-delayed"
    filter-mailboxes-other = "inboxes" / "personal" / "subscribed" /
                      ( "subtree" SP one-or-more-mailbox ) /
                      ( "mailboxes" SP one-or-more-mailbox )
    one-or-more-mailbox = mailbox / many-mailboxes
    many-mailboxes  = "(" mailbox *(SP mailbox) ")"
    events          = ( "(" event *(SP event) ")" ) / "NONE"
    message-event   = ( "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")" ] )
                      / "MessageExpunge" / "FlagChange" / "AnnotationChange"
    mailbox-event   = "MailboxName" / "SubscriptionChange" /
                      "MailboxMetadataChange" / "ServerMetadataChange"
    event-ext       = atom

Syntax only: which events are supported, and the rules between events
and filters (§5, §6.1), are the handler's
(:mod:`mailframe.imap.commands.notify`).
"""

from __future__ import annotations

from mailframe.imap import command as c
from mailframe.imap.grammar_fetch import fetch_att
from mailframe.imap.grammar_reader import Reader
from mailframe.imap.types import FetchAtt

__all__ = ["parse_notify", "EVENTS", "FILTERS"]

#: The events RFC 5465 §5 defines, by upper case, in their RFC spelling.
EVENTS = {
    e.upper(): e
    for e in (
        "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
        "MailboxName", "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange",
    )
}
#: ``filter-mailboxes`` keywords; the last two take mailbox names.
FILTERS = ("SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES")


def _mailboxes(r: Reader) -> tuple[str, ...]:
    """``one-or-more-mailbox``"""
    if r.peek() != 0x28:
        return (r.mailbox(),)
    r.open()
    names = [r.mailbox()]
    while r.skip(0x20):
        names.append(r.mailbox())
    r.close()
    return tuple(names)


def _group(r: Reader) -> c.NotifyGroup:
    """``event-group``"""
    r.open()
    word = r.keyword("mailbox filter")
    if word not in FILTERS:
        r.fail(f"Unknown NOTIFY mailbox filter {word}")
    names: tuple[str, ...] = ()
    if word in ("SUBTREE", "MAILBOXES"):
        r.sp()
        names = _mailboxes(r)
    r.sp()
    events: list[str] = []
    fetch: tuple[FetchAtt, ...] = ()
    if r.peek() == 0x28:
        r.open()
        while True:
            name = r.keyword("event")
            events.append(EVENTS.get(name, name))
            if name == "MESSAGENEW" and r.text[r.pos : r.pos + 2] == b" (":
                r.sp()
                r.open()
                atts = [fetch_att(r)]
                while r.skip(0x20):
                    atts.append(fetch_att(r))
                r.close()
                fetch = tuple(atts)
            if not r.skip(0x20):
                break
        r.close()
    else:
        r.word("NONE")
    r.close()
    return c.NotifyGroup(word, names, tuple(events), fetch)


def parse_notify(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"NOTIFY" SP (notify-set / notify-none)``"""
    r.sp()
    word = r.keyword("NOTIFY SET or NONE")
    if word == "NONE":
        return c.Notify(tag)
    if word != "SET":
        r.fail("Expected SET or NONE")
    r.sp()
    status = r.peek_word() == "STATUS"
    if status:
        r.keyword()
        r.sp()
    groups = [_group(r)]
    while r.skip(0x20):
        groups.append(_group(r))
    return c.Notify(tag, tuple(groups), status)
