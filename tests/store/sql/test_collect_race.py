"""Garbage collection under concurrent writers on PostgreSQL (issue 14):
a message whose last two copies, in two mailboxes, are expunged by two
transactions at once is collected -- not left behind as an orphan that
``mailframe db check`` reports -- and a body an APPEND is reusing is never
deleted under it.

The interleavings are forced with events, not hoped for: the first
transaction deletes its copy and looks for other copies while the
second's delete is still uncommitted.  Without the row locks of
:func:`mailframe.store.sql.rows.collect_garbage` each transaction still
sees the other's copy and neither collects the message.
"""

from __future__ import annotations

import threading
from typing import Any

from mailframe.store.sql import open_postgresql
from mailframe.store.sql.check import check
from mailframe.store.sql.db import Tx
from mailframe.store.sql.rows import (
    Prepared,
    add_usage,
    append_rows,
    collect_garbage,
    create_row,
    move_rows,
)
from mailframe.store.sql.wordindex import drop_words
from tests.store.sql.pgcluster import new_database

MESSAGE = b"From: a@example.org\r\nSubject: shared\r\n\r\nthe one body\r\n"
#: how long the first transaction gives the second to finish before it
#: commits: the second finishes at once without the lock, and waits for
#: this commit with it (an ordering wait, not a timing assertion)
GRACE = 1.0


def _setup(tx: Tx) -> tuple[int, int, int]:
    account = int(tx.one("INSERT INTO accounts (username) VALUES ('alice') RETURNING id")[0])
    inbox = create_row(tx, account, "INBOX")
    work = create_row(tx, account, "Work")
    append_rows(tx, inbox, [Prepared(MESSAGE, frozenset(), None)])
    move_rows(tx, inbox, work, None, expunge_source=False)  # a second copy, same message row
    message_id = int(tx.one("SELECT message_id FROM mailbox_messages WHERE mailbox_id = ?", (work,))[0])
    return inbox, work, message_id


def _delete_copy(tx: Tx, mailbox_id: int) -> None:
    """The mailbox's one copy gone, its word array and usage with it (what
    :func:`mailframe.store.sql.rows.expunge_rows` does before it collects)."""
    uid, message_id = tx.one(
        "DELETE FROM mailbox_messages WHERE mailbox_id = ? RETURNING uid, message_id", (mailbox_id,)
    )
    drop_words(tx, mailbox_id, [int(uid)])
    size = int(tx.one("SELECT size FROM messages WHERE id = ?", (message_id,))[0])
    add_usage(tx, mailbox_id, -1, -size)


def test_last_two_copies_expunged_at_once_leave_no_orphan() -> None:
    store = open_postgresql(new_database(), listen=False)
    try:
        (inbox, work, message_id), _ = store.db.run_sync(_setup, write=True)
        second_deleted = threading.Event()
        first_looked = threading.Event()
        second_done = threading.Event()
        errors: list[BaseException] = []

        def second(tx: Tx) -> None:
            _delete_copy(tx, work)
            second_deleted.set()
            first_looked.wait(10)
            collect_garbage(tx, {message_id})

        def run_second() -> None:
            try:
                store.db.run_sync(second, write=True)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            second_done.set()

        def first(tx: Tx) -> None:
            assert second_deleted.wait(10)
            _delete_copy(tx, inbox)
            collect_garbage(tx, {message_id})  # Work's copy is still there for it
            first_looked.set()
            second_done.wait(GRACE)

        thread = threading.Thread(target=run_second)
        thread.start()
        store.db.run_sync(first, write=True)
        thread.join(30)
        assert not thread.is_alive() and not errors, errors

        def look(tx: Tx) -> tuple[Any, list[str]]:
            left = tx.one("SELECT count(*) FROM messages")[0]
            return int(left), check(tx).problems

        left, problems = store.db.run_sync(look, write=False)[0]
        assert problems == []
        assert left == 0  # collected by the second, after the first committed
    finally:
        store.db.stop_now()


def test_body_reused_by_an_append_survives_its_collection() -> None:
    """An APPEND of the same content as a message being expunged keeps
    the shared body: the expunge's collection waits for the APPEND (or the
    APPEND for the collection, then stores the body anew)."""
    store = open_postgresql(new_database(), listen=False)
    try:
        (inbox, work, message_id), _ = store.db.run_sync(_setup, write=True)
        store.db.run_sync(lambda tx: _delete_copy(tx, work), write=True)
        appended = threading.Event()
        errors: list[BaseException] = []

        def append(tx: Tx) -> None:
            append_rows(tx, work, [Prepared(MESSAGE, frozenset(), None)])
            appended.set()
            # keep the transaction open while the expunge collects
            threading.Event().wait(GRACE)

        def run_append() -> None:
            try:
                store.db.run_sync(append, write=True)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run_append)
        thread.start()
        assert appended.wait(10)

        def expunge(tx: Tx) -> None:
            _delete_copy(tx, inbox)
            collect_garbage(tx, {message_id})

        store.db.run_sync(expunge, write=True)
        thread.join(30)
        assert not errors, errors

        def look(tx: Tx) -> tuple[Any, ...]:
            body = tx.one(
                "SELECT b.content FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
                "JOIN bodies b ON b.id = m.body_id WHERE mm.mailbox_id = ?",
                (work,),
                binary=True,
            )
            return bytes(body[0]), check(tx).problems

        body, problems = store.db.run_sync(look, write=False)[0]
        assert body == MESSAGE
        assert problems == []
    finally:
        store.db.stop_now()
