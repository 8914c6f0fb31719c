"""``mailframe export USER DST``: copy a user's mailboxes out
(:mod:`mailframe.admin.transfer`)."""

from __future__ import annotations

import argparse
import os

from mailframe.cli import _transfer
from mailframe.cli._common import CommandError, open_account, open_store, store_url, wait

HELP = "copy a user's mailboxes to mbox files, a Maildir tree or another store (resumable)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", help="whose mailboxes (in --store)")
    p.add_argument("destination", help="where to: " + _transfer.LOCATIONS +
                   "; an mbox path is a directory unless --mailbox names one mailbox")
    _transfer.add_options(p)


async def _run(args: argparse.Namespace) -> int:
    from mailframe.admin import transfer

    text = args.destination
    if not (text.startswith(("mbox:", "maildir:")) or "#" in text):
        # a bare path that does not exist yet: an mbox directory (or file
        # with --mailbox), as there is nothing to look at
        if not os.path.exists(text):
            text = "mbox:" + text
    try:
        loc = transfer.parse_location(text)
    except ValueError as e:
        raise CommandError(str(e), 2) from None
    store = open_store(store_url(args))
    dst_store = None
    try:
        account = await open_account(store, args.user)
        sources = await transfer.account_mailboxes(account)
        if args.mailbox:
            sources = [s for s in sources if s.name == args.mailbox]
            if not sources:
                raise CommandError(f"no mailbox {args.mailbox!r}")
        display = _transfer.Display(sum(s.count for s in sources), args.no_progress)
        progress = transfer.Progress(tick=display.tick)
        try:
            if loc.kind == "mbox":
                single = bool(args.mailbox) and not os.path.isdir(loc.path)
                await transfer.export_to_mbox(sources, loc.path, single, progress)
            else:
                dst_store, dst = await transfer.open_location_account(loc, create=True)
                subs = None if args.mailbox else await account.subscriptions()
                await transfer.copy_account(sources, dst, progress, subs)
        finally:
            display.close()
    finally:
        await store.close()
        if dst_store is not None:
            await dst_store.close()
    return _transfer.summary(args, progress)


def run(args: argparse.Namespace) -> int:
    return wait(_run(args))
