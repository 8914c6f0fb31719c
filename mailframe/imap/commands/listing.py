"""LIST and LSUB (RFC 3501 §6.3.8/§6.3.9), LIST-EXTENDED (RFC 5258),
LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348)."""

from __future__ import annotations

import itertools
import re

from mailframe import vocabulary
from mailframe.acl.rights import format_rights
from mailframe.errors import ProtocolError
from mailframe.imap.command import List
from mailframe.imap.commands.mailbox import mailbox_value, status_values
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Raw, Value, astring

SEP = "/"
SPECIAL_USE = vocabulary.SPECIAL_USE


#: every spelling of INBOX, tried on INBOX and the names below it.
_INBOX_SPELLINGS = tuple("".join(c) for c in itertools.product(*zip("inbox", "INBOX", strict=True)))


def inbox_spellings(name: str) -> tuple[str, ...]:
    """``name`` with its leading INBOX in every case, when it is INBOX or
    a name below it (RFC 3501 §5.1: INBOX is case-insensitive).  A
    pattern then lists it when it matches any of them, as Dovecot's
    ``imap-match`` does: ``i*``, ``In%`` and ``*box`` list INBOX (and
    ``i*`` INBOX/sub), the rest of the name keeping its case."""
    if name != "INBOX" and not name.startswith("INBOX" + SEP):
        return ()
    return tuple(s + name[5:] for s in _INBOX_SPELLINGS)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything, ``%`` anything but the separator (§6.3.8)."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append("[^/]*")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _order(name: str) -> tuple[int, str]:
    return (0 if name == "INBOX" else 1, name)


def _with_parents(names: dict[str, frozenset[str]], missing: str) -> dict[str, frozenset[str]]:
    """Add every absent parent level as ``missing`` (``\\Noselect`` in
    RFC 3501 terms, ``\\NonExistent`` for LIST-EXTENDED)."""
    out = dict(names)
    for name in names:
        parts = name.split(SEP)
        for i in range(1, len(parts)):
            parent = SEP.join(parts[:i])
            if parent and parent not in out:
                out[parent] = frozenset({missing})
    return out


@command(List, AUTHENTICATED)
async def list_mailboxes(session: AuthenticatedContext, cmd: List) -> Reply:
    account = session.account
    word = "LSUB" if cmd.lsub else "LIST"
    select, returns = cmd.options.select, cmd.options.return_
    extended = bool(select or returns) and not cmd.lsub
    if "MYRIGHTS" in returns and getattr(account, "myrights", None) is None:
        raise ProtocolError("Unknown LIST return option MYRIGHTS")  # RFC 8440: with ACL only

    if len(cmd.patterns) == 1 and cmd.patterns[0] == "" and not extended:
        # §6.3.8: the hierarchy delimiter and root of the reference.
        root = cmd.reference.split(SEP)[0] if SEP in cmd.reference else ""
        session.untagged(Atom(word), [Atom("\\Noselect")], b"/", root.encode() if root else b"")
        return Reply(f"{word} completed")

    entries = {e.name: frozenset(e.attributes) for e in await account.list_mailboxes()}
    want_subs = cmd.lsub or "SUBSCRIBED" in select or "SUBSCRIBED" in returns
    subs: set[str] = set(await account.subscriptions()) if want_subs else set()

    regexes = [pattern_regex(cmd.reference + p) for p in cmd.patterns]

    def matches(name: str) -> bool:
        if any(r.fullmatch(name) for r in regexes):
            return True
        return any(r.fullmatch(s) for s in inbox_spellings(name) for r in regexes)

    # RFC 9051 §7.3.1 (IMAP4rev2 enabled): a missing parent is \NonExistent.
    rev2 = "IMAP4rev2" in session.enabled
    all_names = _with_parents(entries, "\\NonExistent" if extended or rev2 else "\\Noselect")

    def has_children(name: str) -> bool:
        prefix = name + SEP
        return any(n.startswith(prefix) for n in entries)

    results: list[tuple[str, set[str], list[Value]]] = []
    if cmd.lsub:
        for name in sorted(subs, key=_order):
            if matches(name):
                # LSUB shows selectability only (RFC 3501 §7.2.3), as Dovecot does.
                attrs = set(entries.get(name, frozenset({"\\Noselect"}))) & {"\\Noselect"}
                results.append((name, attrs, []))
        # §6.3.9: with "%", a parent of a subscribed mailbox that is not
        # itself subscribed (and that the pattern reaches while the child
        # is too deep for it) is listed \Noselect.
        listed = {r[0] for r in results}
        for name in sorted(subs, key=_order):
            if matches(name):
                continue
            parts = name.split(SEP)
            for i in range(1, len(parts)):
                parent = SEP.join(parts[:i])
                if parent not in listed and parent not in subs and matches(parent):
                    results.append((parent, {"\\Noselect"}, []))
                    listed.add(parent)
    elif "SUBSCRIBED" in select:
        recursive = "RECURSIVEMATCH" in select
        names = set(subs)
        if recursive:
            names |= set(all_names)
        for name in sorted(names, key=_order):
            if not matches(name):
                continue
            extra: list[Value] = []
            if name in subs:
                attrs = set(entries.get(name, frozenset({"\\NonExistent"}))) | {"\\Subscribed"}
            else:
                # RFC 5258 §3.5: a parent that does not match the selection
                # itself is returned with CHILDINFO only if a descendant
                # that matches the selection is not returned on its own
                # ("SHOULD ONLY ... if at least one matching child is not
                # also being returned"), as Dovecot does.
                prefix = name + SEP
                if not any(s.startswith(prefix) and not matches(s) for s in subs):
                    continue
                attrs = set(all_names.get(name, frozenset()))
                extra = [Atom("CHILDINFO"), [b"SUBSCRIBED"]]  # tag an atom, as Dovecot sends it
            results.append((name, attrs, extra))
    else:
        for name in sorted(all_names, key=_order):
            if matches(name):
                results.append((name, set(all_names[name]), []))

    if "SPECIAL-USE" in select:
        results = [r for r in results if r[1] & SPECIAL_USE]

    for name, attrs, extra in results:
        if "\\NonExistent" in attrs:
            # RFC 5258 §3.4: \NonExistent implies \Noselect, which is
            # then not sent (as Dovecot does).
            attrs.discard("\\Noselect")
        elif not cmd.lsub:
            attrs.add("\\HasChildren" if has_children(name) else "\\HasNoChildren")
        if "SUBSCRIBED" in returns and name in subs:
            attrs.add("\\Subscribed")
        values: list[Value] = [Atom(a) for a in _attr_order(attrs)]
        line: list[Value] = [Atom(word), values, b"/", mailbox_value(name, session.utf8_names())]
        if extra:
            line.append(extra)
        session.untagged(*line)
        if "MYRIGHTS" in returns and not attrs & {"\\Noselect", "\\NonExistent"}:
            await list_myrights(session, name)  # RFC 8440 §2
        if "STATUS" in returns and not attrs & {"\\Noselect", "\\NonExistent"}:
            try:
                mailbox = await account.mailbox(name)
                st = await mailbox.status()
            except Exception:  # vanished between LIST and STATUS: skip it
                continue
            session.untagged(
                Atom("STATUS"), mailbox_value(name, session.utf8_names()), status_values(
                    st, cmd.options.status_items, session.config.limits.max_literal, account, mailbox
                ),
            )
    return Reply(f"{word} completed")


async def list_myrights(session: AuthenticatedContext, name: str) -> None:
    """The MYRIGHTS response LIST-MYRIGHTS adds after a mailbox's LIST
    (RFC 8440 §2); nothing where the account has no ACLs."""
    myrights = getattr(session.account, "myrights", None)
    if myrights is None:
        return
    try:
        rights = await myrights(name)
    except Exception:  # gone, or not to be seen: no response
        return
    letters = format_rights(rights).encode()
    session.untagged(Atom("MYRIGHTS"), mailbox_value(name), Raw(astring(letters)))


def _attr_order(attrs: set[str]) -> list[str]:
    first = ["\\NonExistent", "\\Noselect", "\\Subscribed", "\\HasChildren", "\\HasNoChildren"]
    return [a for a in first if a in attrs] + sorted(a for a in attrs if a not in first)
