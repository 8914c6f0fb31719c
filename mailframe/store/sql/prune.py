"""Pruning the expunge log (tombstones), coordinated with QRESYNC.

Each expunge leaves a tombstone (mailbox, uid, modseq, time) so that
``changes_since`` and QRESYNC's VANISHED (RFC 7162 §3.2.5.2, §3.2.10)
can name what went.  Kept for ever they grow without bound; :func:`prune`
drops those older than an age and those beyond a count per mailbox, and
records in the mailbox's ``expunge_floor`` the highest modseq dropped.
Asked for expunges since a modseq below the floor, the store says it
no longer knows (:meth:`mailframe.store.sql.mailbox.SqlMailbox.expunged_since`
answers ``None``), and the server falls back to "every UID of the
client's range that no longer exists" -- what the RFC asks of a server
that forgot (§3.2.5.2: "MUST behave as if it was requested to report all
expunged messages"); ``changes_since`` from below the floor likewise
reports every non-existent UID below UIDNEXT (a view ignores the ones it
never had).

Limits: ``expunge_days`` and ``expunge_keep`` in the store URL (both off
by default: every tombstone kept), pruned hourly by the server and by
``mailframe db prune``.
"""

from __future__ import annotations

import time

from mailframe.store.sql.db import Tx

__all__ = ["prune", "all_gone"]


def prune(tx: Tx, max_age: float | None, max_count: int | None, now: float | None = None) -> int:
    """Drop tombstones older than ``max_age`` seconds and, per mailbox,
    beyond the newest ``max_count``; raise each mailbox's floor to the
    highest modseq dropped.  Returns how many went."""
    now = time.time() if now is None else now
    dropped = 0
    for (mailbox_id,) in tx.all("SELECT DISTINCT mailbox_id FROM expunged"):
        upto = 0
        if max_age is not None:
            row = tx.one(
                "SELECT max(modseq) FROM expunged WHERE mailbox_id = ? AND at < ?",
                (mailbox_id, int(now - max_age)),
            )
            upto = int(row[0] or 0)
        if max_count is not None:
            # the modseq of the first tombstone beyond the newest max_count
            row = tx.one(
                "SELECT modseq FROM expunged WHERE mailbox_id = ? "
                "ORDER BY modseq DESC LIMIT 1 OFFSET ?",
                (mailbox_id, max_count),
            )
            if row is not None:
                upto = max(upto, int(row[0]))
        if not upto:
            continue
        # whole modseqs only: one EXPUNGE's tombstones go together
        row = tx.one(
            "SELECT count(*) FROM expunged WHERE mailbox_id = ? AND modseq <= ?",
            (mailbox_id, upto),
        )
        tx.execute("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", (mailbox_id, upto))
        tx.execute(
            f"UPDATE mailboxes SET expunge_floor = {tx.dialect.greatest}(expunge_floor, ?) "
            "WHERE id = ?",
            (upto, mailbox_id),
        )
        dropped += int(row[0])
    return dropped


def all_gone(tx: Tx, mailbox_id: int, uidnext: int) -> list[int]:
    """Every UID below ``uidnext`` that the mailbox does not hold: what
    may have been expunged once the tombstones are gone."""
    live = [
        int(r[0])
        for r in tx.all(
            "SELECT uid FROM mailbox_messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
        )
    ]
    out: list[int] = []
    previous = 0
    for uid in [*live, uidnext]:
        out.extend(range(previous + 1, uid))
        previous = uid
    return out
