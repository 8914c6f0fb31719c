"""The Maildir++ ``maildirsize`` file (Courier's README.maildirquota, as
Dovecot's ``quota = maildir`` backend reads and writes it), kept by
:class:`mailframe.store.quota.QuotaAccount` for a Maildir account.

Format: a first line with the limits (``<octets>S,<messages>C``, a limit
left out when there is none), then ``<octets> <messages>`` lines whose
sums are the usage.  Each time mailframe works out a user's usage (before
every write it checks, and for GETQUOTA) it rewrites the file as one
header and one total line when the file says anything else, atomically
(written in ``tmp/`` and renamed over), so Dovecot on the same Maildir
reads the same usage and limits; Dovecot's own delta lines are summed the
same way when mailframe reads the file.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer, threads

from mailframe.quota import QuotaLimits, QuotaUsage
from mailframe.store._maildir_files import new_base

__all__ = ["FILENAME", "header", "render", "parse", "record", "maildir_root"]

FILENAME = "maildirsize"


def header(limits: QuotaLimits) -> str:
    """``1048576S,3C``: the limits line (without its newline)."""
    parts = []
    if limits.storage is not None:
        parts.append(f"{limits.storage}S")
    if limits.messages is not None:
        parts.append(f"{limits.messages}C")
    return ",".join(parts)


def render(limits: QuotaLimits, usage: QuotaUsage) -> str:
    return f"{header(limits)}\n{usage.storage} {usage.messages}\n"


def parse(text: str) -> tuple[str, QuotaUsage] | None:
    """(limits line, summed usage) of a ``maildirsize`` text; ``None``
    when it is malformed (then it is simply rewritten)."""
    lines = text.split("\n")
    if len(lines) < 2 or not text.endswith("\n"):
        return None
    storage = messages = 0
    for line in lines[1:-1]:
        fields = line.split()
        if len(fields) != 2:
            return None
        try:
            storage += int(fields[0])
            messages += int(fields[1])
        except ValueError:
            return None
    return lines[0], QuotaUsage(storage, messages)


def maildir_root(account: Any) -> str | None:
    """The Maildir root of a Maildir store's account, else ``None``."""
    from mailframe.store.maildir import MaildirAccount

    while not isinstance(account, MaildirAccount) and hasattr(account, "wrapped"):
        account = account.wrapped  # through the other wrappers (METADATA, OBJECTID)
    return account.root if isinstance(account, MaildirAccount) else None


def _record(root: str, limits: QuotaLimits, usage: QuotaUsage) -> None:
    path = os.path.join(root, FILENAME)
    wanted = render(limits, usage)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            current = f.read(8192)
    except FileNotFoundError:
        current = None
    if current is not None:
        seen = parse(current)
        if seen is not None and seen[0] == header(limits) and seen[1] == usage:
            return  # already says so (Dovecot's delta lines included)
    tmp = os.path.join(root, "tmp", new_base(len(wanted)) + ".maildirsize")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(wanted)
    os.replace(tmp, path)


def record(account: Any, limits: QuotaLimits, usage: QuotaUsage) -> defer.Deferred[None]:
    """Bring ``maildirsize`` of a Maildir account in line with ``usage``
    (in a thread: it is disk work).  Nothing for other stores, and none
    for an account without limits (Dovecot writes none then either)."""
    root = maildir_root(account)
    if root is None or limits.unlimited:
        return defer.succeed(None)
    d: defer.Deferred[None] = threads.deferToThread(_record, root, limits, usage)
    return d
