"""``mailframe check USER [--repair]``: does each Maildir folder's index
agree with its files?  (:mod:`mailframe.store.maildir_admin`.)  Exit
status 0 when nothing is wrong (or everything was repaired), 1 otherwise."""

from __future__ import annotations

import argparse
from typing import Any

from mailframe.cli._common import (
    CommandError,
    add_json_option,
    add_store_options,
    open_account,
    open_store,
    print_json,
    store_url,
    wait,
)

HELP = "check a user's Maildir index against the files; --repair fixes it (never deleting mail)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", help="whose mailboxes")
    p.add_argument("mailbox", nargs="?", help="only this mailbox")
    p.add_argument("--repair", action="store_true",
                   help="rebuild what disagrees (message files are never deleted)")
    add_store_options(p)
    add_json_option(p)


async def maildir_folders(args: argparse.Namespace, store: Any) -> tuple[str, list[str]]:
    """(Maildir root, the selectable mailboxes to work on)."""
    from mailframe.store.maildir import MaildirStore

    if not isinstance(store, MaildirStore):
        raise CommandError("works on Maildir stores only")
    account = await open_account(store, args.user)
    names = [e.name for e in await account.list_mailboxes() if "\\Noselect" not in e.attributes]
    if args.mailbox is not None:
        if args.mailbox not in names:
            raise CommandError(f"no mailbox {args.mailbox!r}")
        names = [args.mailbox]
    return account.root, names


async def _run(args: argparse.Namespace, store: Any) -> int:
    from mailframe.store.maildir_admin import check_folder

    root, names = await maildir_folders(args, store)
    reports = [check_folder(root, name, repair=args.repair) for name in names]
    unresolved = sum(r.problems for r in reports if not (args.repair and r.repaired))
    if args.json:
        print_json({"user": args.user, "mailboxes": [r.as_dict() for r in reports],
                    "problems": sum(r.problems for r in reports), "ok": unresolved == 0})
    else:
        for r in reports:
            lines = r.lines()
            print(f"{r.mailbox}: {r.messages} message(s), "
                  + ("consistent" if not r.problems else f"{r.problems} problem(s)"))
            for line in lines:
                print(f"  {line}")
    return 0 if unresolved == 0 else 1


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    try:
        return wait(_run(args, store))
    finally:
        wait(store.close())
