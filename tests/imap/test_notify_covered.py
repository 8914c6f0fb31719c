"""NOTIFY's METADATA events when a change of this process lands while the
metadata is being read for other processes' changes (RFC 5465 §5.6: told
once).  A race the Maildir transcript hit now and then in CI: the read
saw the change, which its own event had told already, and told it
again."""

from __future__ import annotations

import asyncio
from typing import Any

from mailframe.imap import command as c
from mailframe.imap.notify_state import NotifyState


class _Account:
    """Metadata kept in a dict; ``metadata_snapshot`` can be held open
    so a change lands while it runs."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, bytes]] = {"box2": {"/private/comment": b"mine"}}
        self.gate: asyncio.Event | None = None

    async def metadata_snapshot(self) -> dict[str, dict[str, bytes]]:
        if self.gate is not None:
            await self.gate.wait()
        return {k: dict(v) for k, v in self.data.items()}


class _Session:
    def __init__(self) -> None:
        self.lines: list[tuple[Any, ...]] = []
        self.enabled: set[str] = set()

    def untagged(self, *values: Any) -> None:
        self.lines.append(values)


def _state() -> NotifyState:
    group = c.NotifyGroup("MAILBOXES", ("box2",), ("MailboxMetadataChange",))
    state = NotifyState(groups=(group,), user="covered-test", wake=lambda: None, limit=10)
    state.entries = {"box2": frozenset()}
    return state


def _told(state: NotifyState) -> list[tuple[Any, ...]]:
    session = _Session()
    state.metadata_events(session)
    return session.lines


async def _held_read() -> tuple[_Account, NotifyState, asyncio.Future[None]]:
    """A state past its first read (nothing to compare then) and a second
    read started and held open until :func:`_release`."""
    account, state = _Account(), _state()
    await state._metadata_since(account)
    account.gate = asyncio.Event()
    reading = asyncio.ensure_future(state._metadata_since(account))
    await asyncio.sleep(0)
    return account, state, reading


async def _release(account: _Account, reading: asyncio.Future[None]) -> None:
    assert account.gate is not None
    account.gate.set()
    await reading
    account.gate = None


def _own_change(state: NotifyState) -> None:
    """What ``metadata_changed`` does for another session of this
    process: cover the entry, then tell it."""
    state.cover_metadata("box2", ["/private/comment"])
    state.publish_metadata("box2", ["/private/comment"])


def test_change_during_the_read_is_told_once() -> None:
    async def run() -> list[list[tuple[Any, ...]]]:
        account, state, reading = await _held_read()  # a read is under way...
        del account.data["box2"]["/private/comment"]  # ...when another session changes it
        _own_change(state)
        first = _told(state)  # a NOOP tells it
        await _release(account, reading)  # the read saw the change: not told again
        second = _told(state)
        state.close()
        return [first, second]

    first, second = asyncio.run(run())
    assert len(first) == 1
    assert second == []


def test_change_written_after_the_read_is_told_once() -> None:
    async def run() -> list[list[tuple[Any, ...]]]:
        account, state, reading = await _held_read()
        _own_change(state)  # marked during the read...
        await _release(account, reading)  # ...which did not see it (written later)
        first = _told(state)
        del account.data["box2"]["/private/comment"]
        await state._metadata_since(account)  # the next read sees it: covered still
        second = _told(state)
        state.close()
        return [first, second]

    first, second = asyncio.run(run())
    assert len(first) == 1
    assert second == []


def test_another_process_change_is_told() -> None:
    async def run() -> list[tuple[Any, ...]]:
        account, state = _Account(), _state()
        await state._metadata_since(account)
        account.data["box2"]["/private/comment"] = b"theirs"  # no event of ours
        await state._metadata_since(account)
        lines = _told(state)
        state.close()
        return lines

    lines = asyncio.run(run())
    assert len(lines) == 1


def test_read_between_the_write_and_its_event_tells_nothing() -> None:
    """SETMETADATA covers its entries before it writes
    (``metadata_changing``): a read that lands after the write and before
    the event sees the change and must leave it to the event."""

    async def run() -> list[list[tuple[Any, ...]]]:
        account, state = _Account(), _state()
        await state._metadata_since(account)
        state.cover_metadata("box2", ["/private/comment"])  # metadata_changing
        del account.data["box2"]["/private/comment"]  # the write lands
        await state._metadata_since(account)  # a read sees it
        first = _told(state)
        _own_change(state)  # metadata_changed
        second = _told(state)
        await state._metadata_since(account)
        third = _told(state)
        state.close()
        return [first, second, third]

    first, second, third = asyncio.run(run())
    assert first == []
    assert len(second) == 1
    assert third == []
