"""What ``mailframe import`` and ``export`` share: the options, the
progress display (a bar on a terminal, plain lines otherwise) and the
summary."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailframe.cli._common import add_json_option, add_store_options, print_json

LOCATIONS = ("mbox:PATH (a file or a directory of them), maildir:PATH (one user's Maildir "
             "tree), URL#USER (a user of any store), or a bare path")


def add_options(p: argparse.ArgumentParser) -> None:
    add_store_options(p)
    p.add_argument("-m", "--mailbox", help="only this mailbox (and, for a single mbox file, "
                   "the mailbox it is; default INBOX)")
    p.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")
    add_json_option(p)


class Display:
    """tqdm on a terminal; a line per batch otherwise (on stderr)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar: Any = None
        self.done = 0
        self.total = total
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="msg", file=sys.stderr)

    def tick(self, mailbox: str, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.set_description(mailbox, refresh=False)
            self.bar.update(n)
        elif n:
            sys.stderr.write(f"{mailbox}: {self.done}/{self.total}\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(args: argparse.Namespace, progress: Any) -> int:
    if args.json:
        print_json({"copied": progress.copied, "skipped": progress.skipped,
                    "renumbered": progress.renumbered, "mailboxes": progress.mailboxes})
    else:
        for m in progress.mailboxes:
            kept = "UIDs kept" if m["uids_kept"] else "new UIDs"
            print(f"{m['mailbox']}: {m['copied']} copied, {m['skipped']} already there ({kept})")
        print(f"{progress.copied} message(s) copied, {progress.skipped} already there")
    return 0
