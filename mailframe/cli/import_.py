"""``mailframe import SRC USER``: copy mail into a user's mailboxes
(:mod:`mailframe.admin.transfer`)."""

from __future__ import annotations

import argparse

from mailframe.cli import _transfer
from mailframe.cli._common import CommandError, open_store, store_url, wait

HELP = "copy mail from an mbox file, Maildir tree or store into a user's mailboxes (resumable)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="where the mail is: " + _transfer.LOCATIONS)
    p.add_argument("user", help="the user to import into (in --store)")
    _transfer.add_options(p)


async def _run(args: argparse.Namespace) -> int:
    from mailframe.admin import transfer

    try:
        loc = transfer.parse_location(args.source)
    except ValueError as e:
        raise CommandError(str(e), 2) from None
    src_store = None
    subscriptions: set[str] | None = None
    if loc.kind == "mbox":
        sources = transfer.mbox_mailboxes(loc.path, args.mailbox or "INBOX")
    else:
        try:
            src_store, account = await transfer.open_location_account(loc, create=False)
        except ValueError as e:
            raise CommandError(str(e)) from None
        sources = await transfer.account_mailboxes(account)
        subscriptions = await account.subscriptions()
    if args.mailbox and loc.kind != "mbox":
        sources = [s for s in sources if s.name == args.mailbox]
        subscriptions = None
    store = open_store(store_url(args))
    display = _transfer.Display(sum(s.count for s in sources), args.no_progress)
    progress = transfer.Progress(tick=display.tick)
    try:
        account = await store.account(args.user)
        await transfer.copy_account(sources, account, progress, subscriptions)
    finally:
        display.close()
        await store.close()
        if src_store is not None:
            await src_store.close()
    return _transfer.summary(args, progress)


def run(args: argparse.Namespace) -> int:
    from mailframe.auth.credentials import normalize_username

    try:
        normalize_username(args.user)
    except ValueError:
        raise CommandError(f"invalid user name {args.user!r}", 2) from None
    return wait(_run(args))
