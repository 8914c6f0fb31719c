"""``mailframe db check|migrate --store URL``: the database store's
consistency and schema (:mod:`mailframe.store.sql.check`,
:mod:`mailframe.store.sql.migrate`).

``check`` counts the rows and lists what is wrong (exit 1 if anything
is); ``--repair`` removes orphans, indexes unindexed messages and
recounts wrong QUOTA usage totals (never a message a mailbox holds);
``--bodies`` also hashes every body.
``migrate`` brings the schema and the text index up to date (the server
does the same at start; this does it ahead, with progress).  ``prune``
drops expunge tombstones by age (``--days``) or count per mailbox
(``--keep``), as the server does hourly with ``?expunge_days=N`` /
``?expunge_keep=N`` in its store URL (:mod:`mailframe.store.sql.prune`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailframe.cli._common import CommandError, add_json_option, print_json

HELP = "check (counts, orphans, counters), migrate or prune a database store (sqlite:, postgresql:)"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="consistency: counts, orphans, counters")
    check.add_argument("-s", "--store", required=True, help="sqlite:PATH or postgresql://...")
    check.add_argument("--repair", action="store_true",
                       help="remove orphans, index unindexed messages (mail is never deleted)")
    check.add_argument("--bodies", action="store_true", help="hash every body too (slow)")
    add_json_option(check)
    prune = sub.add_parser("prune", help="drop old expunge tombstones (QRESYNC then resyncs)")
    prune.add_argument("-s", "--store", required=True, help="sqlite:PATH or postgresql://...")
    prune.add_argument("--days", type=float, help="drop tombstones older than this many days")
    prune.add_argument("--keep", type=int, help="keep at most this many per mailbox")
    add_json_option(prune)
    migrate = sub.add_parser("migrate", help="bring the schema and text index up to date")
    migrate.add_argument("-s", "--store", required=True, help="sqlite:PATH or postgresql://...")
    add_json_option(migrate)


def _database(url: str) -> Any:
    from mailframe.store.sql import database_from_url

    try:
        return database_from_url(url)
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None


def _check(args: argparse.Namespace, db: Any) -> int:
    from mailframe.store.sql.check import check, repair

    try:
        report = db.run_sync(lambda tx: check(tx, args.bodies), write=False)[0]
    except Exception as exc:
        raise CommandError(f"not a mailframe database, or unreadable: {exc}") from None
    fixed = 0
    if args.repair and report.repairable:
        fixed = db.run_sync(repair, write=True)[0]
        report = db.run_sync(lambda tx: check(tx, args.bodies), write=False)[0]
    if args.json:
        print_json({**report.as_dict(), "repaired": fixed})
    else:
        print(f"schema version {report.version}")
        for name, count in report.counts.items():
            print(f"{name}: {count}")
        if fixed:
            print(f"repaired: {fixed} row(s)")
        print("consistent" if not report.problems else f"{len(report.problems)} problem(s)")
        for line in report.problems:
            print(f"  {line}")
    return 0 if not report.problems else 1


def _migrate(args: argparse.Namespace, db: Any) -> int:
    from mailframe.store.sql.migrate import migrate
    from mailframe.store.sql.schema import SCHEMA_VERSION

    def progress(done: int) -> None:
        if not args.json:
            print(f"\rindexed {done} message(s)", end="", file=sys.stderr, flush=True)

    try:
        version, indexed = db.run_sync(lambda tx: migrate(tx, progress), write=True)[0]
    except Exception as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print_json({"from": version, "to": SCHEMA_VERSION, "indexed": indexed})
    else:
        if indexed:
            print(file=sys.stderr)
        print(f"schema version {version} -> {SCHEMA_VERSION}; {indexed} message(s) indexed")
    return 0


def _prune(args: argparse.Namespace, db: Any) -> int:
    from mailframe.store.sql.prune import prune

    if args.days is None and args.keep is None:
        raise CommandError("give --days N and/or --keep N", 2)
    if (args.days is not None and args.days <= 0) or (args.keep is not None and args.keep < 1):
        raise CommandError("--days must be > 0 and --keep >= 1", 2)
    age = None if args.days is None else args.days * 86400
    dropped = db.run_sync(lambda tx: prune(tx, age, args.keep), write=True)[0]
    if args.json:
        print_json({"dropped": dropped})
    else:
        print(f"{dropped} tombstone(s) dropped")
    return 0


def run(args: argparse.Namespace) -> int:
    db = _database(args.store)
    try:
        if args.action == "prune":
            return _prune(args, db)
        return _check(args, db) if args.action == "check" else _migrate(args, db)
    finally:
        db.stop_now()
