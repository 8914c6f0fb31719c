"""``mailframe reindex USER [MAILBOX]``: rebuild Maildir indexes and caches
from the files and ``dovecot-uidlist`` (UIDs kept)."""

from __future__ import annotations

import argparse
from typing import Any

from mailframe.cli._common import add_store_options, open_store, print_json, store_url, wait
from mailframe.cli.check import maildir_folders

HELP = "rebuild a user's Maildir index and cache from the message files (UIDs kept)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", help="whose mailboxes")
    p.add_argument("mailbox", nargs="?", help="only this mailbox")
    add_store_options(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


async def _run(args: argparse.Namespace, store: Any) -> int:
    from mailframe.store._maildir_folder import Folder
    from mailframe.store.maildir_admin import folder_path, reindex_folder

    root, names = await maildir_folders(args, store)
    done = []
    for name in names:
        folder = Folder(folder_path(root, name), root)
        try:
            count = reindex_folder(folder)
        finally:
            folder.close()
        done.append({"mailbox": name, "messages": count})
        if not args.json:
            print(f"{name}: reindexed {count} message(s)")
    if args.json:
        print_json(done)
    return 0


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    try:
        return wait(_run(args, store))
    finally:
        wait(store.close())
