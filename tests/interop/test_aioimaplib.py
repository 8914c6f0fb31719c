"""aioimaplib (PyPI ``aioimaplib``), an asyncio client, through the main
flows: login, mailboxes, APPEND, SELECT, FETCH, SEARCH (charset UTF-8),
STORE, COPY, MOVE, EXPUNGE, UID commands and IDLE with server push."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

aioimaplib = pytest.importorskip("aioimaplib", reason="PyPI package aioimaplib not installed")

from tests.interop import messages as M  # noqa: E402
from tests.interop.conftest import Account  # noqa: E402


def run(account: Account, body: Callable[..., Awaitable[None]]) -> None:
    async def main() -> None:
        client = aioimaplib.IMAP4(host=account.host, port=account.port, timeout=10)
        await client.wait_hello_from_server()
        resp = await client.login(account.user, account.password)
        assert resp.result == "OK", resp
        try:
            await body(client)
        finally:
            await client.logout()

    asyncio.run(asyncio.wait_for(main(), 30))


def ok(resp) -> list[bytes]:  # type: ignore[no-untyped-def]
    assert resp.result == "OK", resp
    return [bytes(line) for line in resp.lines]


def test_mailboxes(account: Account) -> None:
    async def body(c) -> None:  # type: ignore[no-untyped-def]
        ok(await c.create("Lists"))
        ok(await c.create("Lists/twisted"))
        assert sorted(ok(await c.list('""', "*"))[:-1]) == [
            b'(\\HasChildren) "/" Lists',
            b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasNoChildren) "/" Lists/twisted',
        ]
        ok(await c.rename("Lists", "Groups"))
        ok(await c.subscribe("Groups/twisted"))
        assert ok(await c.lsub('""', "*"))[:-1] == [b'() "/" Groups/twisted']
        assert ok(await c.status("Groups/twisted", "(MESSAGES UIDNEXT)"))[0] == \
            b"Groups/twisted (MESSAGES 0 UIDNEXT 1)"
        ok(await c.delete("Groups/twisted"))
        resp = await c.delete("Groups/twisted")
        assert resp.result == "NO" and b"[NONEXISTENT]" in bytes(resp.lines[-1])

    run(account, body)


def test_append_select_fetch_search_store(account: Account) -> None:
    async def body(c) -> None:  # type: ignore[no-untyped-def]
        lines = ok(await c.append(M.MULTIPART, mailbox="INBOX", flags=r"(\Seen $Label1)"))
        assert re.match(rb"\[APPENDUID \d+ 1\]", lines[-1])
        ok(await c.append(M.SIMPLE, mailbox="INBOX"))
        lines = ok(await c.select("INBOX"))
        assert b"2 EXISTS" in lines and b"2 RECENT" in lines
        assert any(line.startswith(b"OK [UIDNEXT 3]") for line in lines)
        assert lines[-1].startswith(b"[READ-WRITE]")

        lines = ok(await c.fetch("1", "(UID FLAGS RFC822.SIZE BODY.PEEK[])"))
        assert lines[0] == b"1 FETCH (UID 1 FLAGS (\\Seen \\Recent $Label1) RFC822.SIZE %d BODY[] {%d}" % (
            len(M.MULTIPART), len(M.MULTIPART))
        assert lines[1] == M.MULTIPART
        lines = ok(await c.uid("fetch", "2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        assert lines[1] == b"Subject: Lunch on Friday\r\n\r\n"
        lines = ok(await c.fetch("1", "(BINARY.PEEK[1])"))
        assert lines[1] == M.TEXT_PART_BODY[:-2]

        assert ok(await c.search("UNSEEN"))[0] == b"2"
        assert ok(await c.search("OR", "SUBJECT", "lunch", "KEYWORD", "$Label1"))[0] == b"1 2"
        assert ok(await c.search("NOT", "SEEN"))[0] == b"2"
        assert ok(await c.uid_search("FROM", "jurgen"))[0] == b"1"

        lines = ok(await c.store("2", "+FLAGS", r"(\Flagged $Later)"))
        assert lines[0] == b"2 FETCH (FLAGS (\\Flagged \\Recent $Later))"
        lines = ok(await c.uid("store", "2", "-FLAGS.SILENT", r"(\Flagged)"))
        assert len(lines) == 1 and b"FETCH" not in lines[0]  # just the tagged OK
        assert ok(await c.fetch("2", "(FLAGS)"))[0] == b"2 FETCH (FLAGS (\\Recent $Later))"

    run(account, body)


def test_copy_move_expunge(account: Account) -> None:
    async def body(c) -> None:  # type: ignore[no-untyped-def]
        for i in range(4):
            ok(await c.append(M.plain(f"aio {i}"), mailbox="INBOX"))
        ok(await c.create("Old"))
        ok(await c.select("INBOX"))
        lines = ok(await c.copy("1:2", "Old"))
        assert re.match(rb"\[COPYUID \d+ 1:2 1:2\]", lines[-1])
        lines = ok(await c.move("3", "Old"))
        assert b"3 EXPUNGE" in lines
        ok(await c.store("1:2", "+FLAGS.SILENT", r"(\Deleted)"))
        lines = ok(await c.uid("expunge", "2"))
        assert [x for x in lines if x.endswith(b"EXPUNGE")] == [b"2 EXPUNGE"]
        lines = ok(await c.expunge())
        assert [x for x in lines if x.endswith(b"EXPUNGE")] == [b"1 EXPUNGE"]
        assert ok(await c.uid_search("ALL"))[0] == b"4"
        assert ok(await c.status("Old", "(MESSAGES)"))[0] == b"Old (MESSAGES 3)"

    run(account, body)


def test_idle_push(account: Account, account_factory: Callable[[], Account]) -> None:
    async def body(c) -> None:  # type: ignore[no-untyped-def]
        ok(await c.select("INBOX"))
        idle = await c.idle_start(timeout=10)
        other = aioimaplib.IMAP4(host=account.host, port=account.port, timeout=10)
        await other.wait_hello_from_server()
        ok(await other.login(account.user, account.password))
        ok(await other.append(M.SIMPLE, mailbox="INBOX"))
        pushed = await asyncio.wait_for(c.wait_server_push(), 10.0)  # latency: bench/bench_idle.py
        assert b"1 EXISTS" in [bytes(x) for x in pushed]
        c.idle_done()
        resp = await asyncio.wait_for(idle, 5)
        assert resp.result == "OK"
        await other.logout()

    run(account, body)
