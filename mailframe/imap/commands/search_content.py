"""SEARCH over message content: BODY and TEXT (RFC 3501 §6.4.4, RFC 9051
§6.4.4).

The bytes are read in groups bounded in total size (:data:`GROUP_BYTES`),
one store call per group where the store can read several messages at once
(:class:`mailframe.interfaces.IBatchReadMailbox`: one thread hop for the
group, not one per message); a message bigger than :data:`WHOLE_MAX` is
read only where BODY / TEXT look (its text parts, and for TEXT its nested
headers: :func:`mailframe.message.search_ranges`), so a large attachment is
never loaded.  Each group is matched off the reactor thread
(``SessionIO.offload``, when the transport offers it) while the store
reads the next group, so one search over a big mailbox keeps neither
the other connections waiting nor more than two groups in memory.

The matching itself is the one matcher of :mod:`mailframe.imap.commands.search`
(case-insensitive substring of the decoded text, MIME parts and encoded
words decoded: :func:`mailframe.message.body_matches`), so answers are
those of every store alike.  A message expunged meanwhile by another
session simply does not match (as in Dovecot: SEARCH does not fail).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mailframe import message as mm
from mailframe.errors import ExpungeIssued
from mailframe.imap.commands.batching import byte_groups
from mailframe.imap.types import SearchBody, SearchKey, search_leaves
from mailframe.interfaces import IBatchReadMailbox

__all__ = ["GROUP_BYTES", "WHOLE_MAX", "search_content", "offload"]

#: Records asked of the store per call.
BATCH = 512
#: Bytes of messages read (and matched) per group.
GROUP_BYTES = 2 * 1024 * 1024
#: Messages up to this size are read whole; bigger ones by the ranges the
#: search reads (their text parts).
WHOLE_MAX = 256 * 1024

T = TypeVar("T")

#: One message to match: (seq, uid, record).
Entry = tuple[int, int, Any]
#: (seq, uid, modseq) of a match, as run_search answers.
Found = tuple[int, int, int]
#: Matches one message: (record, content) -> bool; content as mm.Content.
Test = Callable[[int, int, Any, mm.Content], bool]


async def offload(io: Any, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` off the reactor thread when the session's IO can run
    work there (``io.offload``, the Twisted transport), else here."""
    run = getattr(io, "offload", None)
    if run is None:
        return fn(*args)
    result: T = await run(fn, *args)
    return result


def _wants_text(key: SearchKey) -> bool:
    return any(isinstance(k, SearchBody) and k.text for k in search_leaves(key))


def groups(entries: Sequence[Entry], limit: int = GROUP_BYTES) -> list[list[Entry]]:
    """Consecutive entries in groups of at most about ``limit`` bytes (a
    message over :data:`WHOLE_MAX` counts as that much)."""
    # a big one is read by its text ranges
    return byte_groups(entries, limit, lambda entry: min(entry[2].size, WHOLE_MAX))


def _begin(mailbox: Any, group: list[Entry]) -> Awaitable[dict[int, bytes]] | None:
    """Ask the store for the small messages of ``group`` in one call, now
    (the store works while the previous group is matched); None when it
    cannot read several at once."""
    small = [uid for _, uid, record in group if record.size <= WHOLE_MAX]
    if small and IBatchReadMailbox.providedBy(mailbox):
        reading: Awaitable[dict[int, bytes]] = IBatchReadMailbox(mailbox).read_many(small)
        return reading
    return None


async def _read_group(
    mailbox: Any, group: list[Entry], text: bool, begun: Awaitable[dict[int, bytes]] | None
) -> dict[int, mm.Content]:
    """The content of each message of ``group`` still there: small ones
    whole (``begun``, or one read each), big ones as the ranges the
    search reads."""
    out: dict[int, mm.Content] = {}
    if begun is not None:
        out.update(await begun)
    else:
        small = [uid for _, uid, record in group if record.size <= WHOLE_MAX]
        for uid in small:
            try:
                out[uid] = await mailbox.read(uid)
            except ExpungeIssued:
                continue
    for _, uid, record in group:
        if record.size <= WHOLE_MAX:
            continue
        parts: dict[tuple[int, int], bytes] = {}
        try:
            for start, end in mm.search_ranges(record.info, text):
                parts[(start, end)] = await mailbox.read(uid, start, end)
        except ExpungeIssued:
            continue
        out[uid] = parts
    return out


def _match_group(test: Test, group: list[Entry], content: dict[int, mm.Content]) -> list[Found]:
    found: list[Found] = []
    for seq, uid, record in group:
        raw = content.get(uid)
        if raw is not None and test(seq, uid, record, raw):
            found.append((seq, uid, record.modseq))
    return found


async def search_content(
    session: Any, key: SearchKey, pairs: Sequence[tuple[int, int]], test: Test
) -> list[Found]:
    """(seq, uid, modseq) of those of ``pairs`` (seq, uid) whose record and
    bytes pass ``test``; records in batches of :data:`BATCH`, bytes in
    groups of :data:`GROUP_BYTES`, the next group read while one is
    matched."""
    mailbox = session.mailbox
    io = session.io
    text = _wants_text(key)
    found: list[Found] = []
    pending: tuple[list[Entry], Awaitable[dict[int, bytes]] | None] | None = None

    async def drain() -> None:
        nonlocal pending
        if pending is not None:
            group, begun = pending
            pending = None
            content = await _read_group(mailbox, group, text, begun)
            found.extend(await offload(io, _match_group, test, group, content))

    for i in range(0, len(pairs), BATCH):
        batch = pairs[i : i + BATCH]
        records = {r.uid: r for r in await mailbox.records([u for _, u in batch])}
        entries = [(seq, uid, records[uid]) for seq, uid in batch if uid in records]
        for group in groups(entries):
            if not group:
                continue
            begun = _begin(mailbox, group)
            await drain()  # match the previous group while this one is read
            pending = (group, begun)
    await drain()
    return found
