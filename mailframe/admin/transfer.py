"""Copy a user's mail between stores, Maildir trees and mbox files.

A *location* names where mail is:

- ``mbox:PATH`` — one mbox file, or a directory of them (``a/b.mbox`` is
  mailbox ``a/b``; a file without the suffix keeps its name, so mutt's
  ``~/Mail`` works);
- ``maildir:PATH`` — one user's Maildir++ tree (``~/Maildir``, Dovecot's
  layout), opened as a Maildir store;
- ``URL#USER`` — a user of any store (``maildir:/srv/mail#alice``, a
  plugin's URL);
- a bare path: a file is an mbox, a directory with ``cur/`` a Maildir
  tree, any other directory mbox files.

UIDVALIDITY and UIDs are kept where the destination allows (a Maildir
mailbox that never held mail takes the source's UIDVALIDITY and then each
message's UID; an mbox records them in ``X-IMAPbase``/``X-UID``); flags,
keywords and internal dates always are.  An interrupted copy resumes: when
UIDs are kept, messages below the destination's next UID are skipped;
otherwise a message is skipped when the destination already holds one
with the same Message-ID and size (counted, so true duplicates in the
source are copied as often as they occur).  Reading a Maildir tree builds
mailframe's index in it, as serving it would.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailframe.admin.mbox import count_mbox, format_message, read_mbox, resume_point
from mailframe.records import NewMessage

__all__ = ["Location", "parse_location", "SourceMailbox", "Progress", "copy_account",
           "open_location_account", "account_mailboxes", "mbox_mailboxes", "export_to_mbox"]

BATCH = 50
_MSGID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


@dataclass
class Location:
    kind: str  # "mbox", "store"
    path: str = ""
    url: str = ""
    user: str = ""


def parse_location(text: str) -> Location:
    """See the module docstring; ValueError with a one-line reason."""
    if text.startswith("mbox:"):
        return Location("mbox", path=os.path.abspath(os.path.expanduser(text[5:])))
    if "#" in text and ":" in text.split("#", 1)[0]:
        url, _, user = text.rpartition("#")
        if not user:
            raise ValueError(f"{text!r}: no user after '#'")
        return Location("store", url=url, user=user)
    if text.startswith("maildir:"):
        text = text[len("maildir:"):]
    elif ":" in text.split("/", 1)[0]:
        raise ValueError(f"{text!r}: a store URL needs #USER (e.g. maildir:/srv/mail#alice)")
    elif os.path.isfile(text) or (os.path.isdir(text) and not os.path.isdir(os.path.join(text, "cur"))):
        return Location("mbox", path=os.path.abspath(text))
    path = os.path.abspath(os.path.expanduser(text)).rstrip("/")
    parent, user = os.path.split(path)
    return Location("store", url="maildir:" + parent, user=user)


def message_key(content_or_header: bytes, size: int) -> tuple[bytes, int]:
    """(Message-ID, size): how a resumed copy recognises a message it
    already copied when UIDs could not be kept."""
    head = content_or_header.split(b"\r\n\r\n", 1)[0]
    m = _MSGID.search(head)
    return (b" ".join(m.group(1).split()) if m else b""), size


@dataclass
class SourceMailbox:
    """One mailbox to copy: its messages come from ``messages()``."""

    name: str
    uidvalidity: int | None
    count: int
    special_use: frozenset[str]
    messages: Callable[[], AsyncIterator[tuple[int | None, bytes, frozenset[str], datetime | None]]]
    uidnext: int | None = None


@dataclass
class Progress:
    """Counts, and what to call as messages go by."""

    copied: int = 0
    skipped: int = 0
    renumbered: int = 0
    mailboxes: list[dict[str, Any]] = field(default_factory=list)
    tick: Callable[[str, int], None] = lambda mailbox, n: None


async def open_location_account(loc: Location, create: bool) -> tuple[Any, Any]:
    """(store, account) for a store location."""
    from mailframe.store import open_store

    store = open_store(loc.url)
    root_for = getattr(store, "root_for", None)
    if root_for is not None and not create and not os.path.isdir(root_for(loc.user)):
        await store.close()
        raise ValueError(f"no Maildir at {root_for(loc.user)}")
    return store, await store.account(loc.user)


async def account_mailboxes(account: Any) -> list[SourceMailbox]:
    """The mailboxes of an IAccount, read through the public interfaces."""
    from mailframe.vocabulary import SPECIAL_USE

    out = []
    for entry in await account.list_mailboxes():
        if "\\Noselect" in entry.attributes:
            continue
        mailbox = await account.mailbox(entry.name)
        snap = await mailbox.snapshot()

        def messages(mailbox: Any = mailbox, snap: Any = snap) -> AsyncIterator[Any]:
            async def gen() -> AsyncIterator[Any]:
                states = list(snap.messages)
                for i in range(0, len(states), BATCH):
                    chunk = states[i : i + BATCH]
                    for rec in await mailbox.states([s.uid for s in chunk]):
                        try:
                            content = await mailbox.read(rec.uid)
                        except Exception:
                            continue  # expunged meanwhile
                        yield rec.uid, content, frozenset(rec.flags) - {"\\Recent"}, rec.internaldate
            return gen()

        out.append(SourceMailbox(entry.name, snap.uidvalidity, len(snap.messages),
                                 frozenset(entry.attributes) & SPECIAL_USE, messages,
                                 snap.uidnext))
    return out


def mbox_mailboxes(path: str, single_name: str) -> list[SourceMailbox]:
    """An mbox file (as ``single_name``) or a directory of them."""
    files: list[tuple[str, str]] = []
    if os.path.isfile(path):
        files.append((single_name, path))
    else:
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, fn), path)
                name = rel[: -len(".mbox")] if rel.endswith(".mbox") else rel
                if name.lower() == "inbox":
                    name = "INBOX"
                files.append((name.replace(os.sep, "/"), os.path.join(dirpath, fn)))
    out = []
    for name, fpath in files:
        validity: int | None = None
        uidnext: int | None = None
        with open(fpath, "rb") as f:
            first = next(read_mbox(f), None)
            if first is not None and first.uid is not None:
                validity, uidnext = first.uidvalidity, first.uidnext

        def messages(fpath: str = fpath, keep_uids: bool = validity is not None) -> AsyncIterator[Any]:
            async def gen() -> AsyncIterator[Any]:
                with open(fpath, "rb") as f:
                    for m in read_mbox(f):
                        yield (m.uid if keep_uids else None), m.content, m.flags, m.internaldate
            return gen()

        out.append(SourceMailbox(name, validity, count_mbox(fpath), frozenset(), messages,
                                 uidnext))
    return out


async def copy_account(sources: list[SourceMailbox], account: Any, progress: Progress,
                       subscriptions: set[str] | None = None) -> None:
    """Copy ``sources`` into an IAccount (see the module docstring)."""
    for src in sources:
        await _copy_mailbox(src, account, progress)
    if subscriptions:
        for name in sorted(subscriptions):
            await account.subscribe(name)


async def _copy_mailbox(src: SourceMailbox, account: Any, progress: Progress) -> None:
    """One mailbox: created if missing, then its messages in batches."""
    from mailframe.errors import MailboxExists
    from mailframe.store.maildir import MaildirMailbox
    from mailframe.store.maildir_admin import MaildirRestorer

    if src.name != "INBOX":
        try:
            await account.create_mailbox(src.name, src.special_use)
        except MailboxExists:
            pass
    mailbox = await account.mailbox(src.name)
    restorer: Any = None
    if isinstance(mailbox, MaildirMailbox):
        restorer = MaildirRestorer(mailbox)
    elif hasattr(mailbox, "uid_restorer"):  # the SQL store (mailframe.store.sql.restore)
        restorer = mailbox.uid_restorer()
    keep = bool(restorer and src.uidvalidity and restorer.adopt_uidvalidity(src.uidvalidity))
    floor = restorer.next_uid() if keep and restorer else 0
    have: Counter[tuple[bytes, int]] = Counter()
    if not keep:
        snap = await mailbox.snapshot()
        uids = [s.uid for s in snap.messages]
        for i in range(0, len(uids), 500):
            for rec in await mailbox.records(uids[i : i + 500]):
                have[message_key(rec.info.header, rec.size)] += 1
    copied = skipped = renumbered = 0
    batch: list[tuple[int, bytes, frozenset[str], datetime | None]] = []

    async def flush() -> None:
        nonlocal copied, renumbered
        if not batch:
            return
        if keep and restorer is not None:
            given = restorer.append(batch)
            renumbered += sum(1 for (u, *_), g in zip(batch, given, strict=True) if u != g)
        else:
            await mailbox.append_many([NewMessage(c, f, w) for _u, c, f, w in batch])
        copied += len(batch)
        progress.tick(src.name, len(batch))
        batch.clear()

    async for uid, content, flags, when in src.messages():
        if keep and uid is not None:
            if uid < floor:
                skipped += 1
                progress.tick(src.name, 1)
                continue
        else:
            key = message_key(content, len(content))
            if have[key] > 0:
                have[key] -= 1
                skipped += 1
                progress.tick(src.name, 1)
                continue
        batch.append((uid or 0, content, flags, when))
        if len(batch) >= BATCH:
            await flush()
    await flush()
    progress.copied += copied
    progress.skipped += skipped
    progress.renumbered += renumbered
    progress.mailboxes.append({"mailbox": src.name, "copied": copied, "skipped": skipped,
                               "uids_kept": keep, "uidvalidity": (await mailbox.status()).uidvalidity})


def _mbox_file(root: str, name: str) -> str:
    return os.path.join(root, *name.split("/")) + ".mbox"


async def export_to_mbox(sources: list[SourceMailbox], path: str, single: bool,
                         progress: Progress) -> None:
    """Write each mailbox to an mbox file (``path`` itself when ``single``)
    with X-IMAPbase/X-UID, resuming after the last complete message."""
    for src in sources:
        target = path if single else _mbox_file(path, src.name)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        offset, last_uid = resume_point(target)
        if offset == 0 and os.path.exists(target) and os.path.getsize(target) and last_uid is None:
            raise ValueError(f"{target} exists and was not written by mailframe export")
        copied = skipped = 0
        with open(target, "r+b" if os.path.exists(target) else "wb") as f:
            f.truncate(offset)
            f.seek(offset)
            first = offset == 0
            async for uid, content, flags, when in src.messages():
                if last_uid is not None and uid is not None and uid < last_uid:
                    skipped += 1
                    progress.tick(src.name, 1)
                    continue
                base = (src.uidvalidity or 0, src.uidnext or 0) if first and src.uidvalidity else None
                f.write(format_message(content, flags, when, uid, base))
                first = False
                copied += 1
                if copied % BATCH == 0:
                    f.flush()
                    os.fsync(f.fileno())
                    progress.tick(src.name, BATCH)
            f.flush()
            os.fsync(f.fileno())
            progress.tick(src.name, copied % BATCH)
        progress.copied += copied
        progress.skipped += skipped
        progress.mailboxes.append({"mailbox": src.name, "copied": copied, "skipped": skipped,
                                   "uids_kept": src.uidvalidity is not None, "file": target})
