"""``mailframe queue list|flush|delete``: look at and act on the outbound queue.

- ``list`` — one line per entry: id, age, attempts, sender, recipients
  still pending, last error;
- ``flush`` — ask for every entry to be tried now: a running server picks
  the request (a ``flush`` marker file) up within its poll interval, a
  stopped one when it starts;
- ``delete ID... | --all`` — remove entries (no bounce is sent).

``--queue-dir DIR`` (or ``--data-dir DIR``, meaning ``DIR/queue``) names the
queue, as for the server.  Works on the files directly
(:mod:`mailframe.smtp.queue_store`), with or without a running server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from mailframe.server.options import DEFAULT_DATA
from mailframe.smtp.queue_store import QueueStore

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailframe queue", description="Inspect the outbound queue.")
    p.add_argument("--data-dir", default=DEFAULT_DATA, help="the server's --data-dir")
    p.add_argument("--queue-dir", default=None, help="the server's --queue-dir")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list queued messages")
    sub.add_parser("flush", help="retry every queued message now")
    d = sub.add_parser("delete", help="remove queued messages")
    d.add_argument("ids", nargs="*")
    d.add_argument("--all", action="store_true", help="remove every entry")
    return p


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    directory = args.queue_dir or os.path.join(args.data_dir, "queue")
    store = QueueStore(directory)
    if args.command == "list":
        entries = store.load() if os.path.isdir(directory) else []
        now = time.time()
        for e in entries:
            pending = ",".join(e.recipients) or "(bounce pending)"
            line = (f"{e.id}  {_age(now - e.created):>6}  tries={e.attempts}  "
                    f"<{e.sender}> -> {pending}")
            if e.last_error:
                line += f"  [{e.last_error}]"
            print(line)
        print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} in {directory}")
        return 0
    if args.command == "flush":
        # only a marker: the server owns the entries' state (rewriting it
        # here could undo a delivery it just recorded)
        entries = store.load() if os.path.isdir(directory) else []
        store.request_flush()
        print(f"flush requested for {len(entries)} entries")
        return 0
    # delete
    if not args.ids and not args.all:
        sys.stderr.write("mailframe queue delete: give entry ids or --all\n")
        return 2
    ids = [e.id for e in store.load()] if args.all else args.ids
    status = 0
    deleted = 0
    for entry_id in ids:
        try:
            found = store.remove(entry_id)
        except ValueError as e:
            sys.stderr.write(f"mailframe queue delete: {e}\n")
            status = 1
            continue
        if found:
            deleted += 1
        else:
            sys.stderr.write(f"mailframe queue delete: no entry {entry_id}\n")
            status = 1
    print(f"deleted {deleted} entr{'y' if deleted == 1 else 'ies'}")
    return status
