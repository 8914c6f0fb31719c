"""``mailframe mailbox list|create|delete|rename|status|fetch USER ...``.

Straight on the store (``--store`` as the server takes it), through the
public :mod:`mailframe.interfaces`, so it is as safe beside a running
server as a second server process would be: Maildir is built for several
processes at once (dotlocks, atomic renames, an index every process
appends to), and a connected client hears of the change at its next
command or within a second in IDLE.
"""

from __future__ import annotations

import argparse
import sys
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

HELP = "list, create, delete, rename mailboxes, show their status, fetch a message"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    def action(name: str, text: str, *names: str, json: bool = False) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=text, description=text)
        a.add_argument("user", help="the mailboxes' owner")
        for n in names:
            a.add_argument(n)
        add_store_options(a)
        if json:
            add_json_option(a)
        return a

    ls = action("list", "list the user's mailboxes", json=True)
    ls.add_argument("--status", action="store_true", help="with each mailbox's counts")
    c = action("create", "create a mailbox (and missing parents)", "mailbox")
    c.add_argument("--special-use", action="append", default=[], metavar="ATTR",
                   help="RFC 6154 attribute, e.g. \\\\Sent (repeatable)")
    action("delete", "delete a mailbox and the mail in it", "mailbox")
    action("rename", "rename a mailbox (children move along)", "old", "new")
    action("status", "counts of a mailbox", "mailbox", json=True)
    f = action("fetch", "write one message's raw bytes to standard output", "mailbox")
    f.add_argument("uid", type=_uid, help="the message's UID")


def _uid(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a UID is a positive whole number, not {text!r}")
    return int(text)


def _status_dict(st: Any) -> dict[str, int]:
    return {"messages": st.messages, "unseen": st.unseen, "uidnext": st.uidnext,
            "uidvalidity": st.uidvalidity, "highestmodseq": st.highestmodseq,
            "size": st.size, "deleted": st.deleted}


async def _run(args: argparse.Namespace, store: Any) -> int:
    account = await open_account(store, args.user, create=args.action == "create")
    if args.action == "list":
        rows = []
        for entry in await account.list_mailboxes():
            row: dict[str, Any] = {"name": entry.name, "attributes": sorted(entry.attributes)}
            if args.status and "\\Noselect" not in entry.attributes:
                row["status"] = _status_dict(await (await account.mailbox(entry.name)).status())
            rows.append(row)
        if args.json:
            print_json(rows)
        for row in rows if not args.json else ():
            extra = " ".join(row["attributes"])
            if "status" in row:
                s = row["status"]
                extra = f"{s['messages']} messages, {s['unseen']} unseen {extra}".rstrip()
            print(f"{row['name']}\t{extra}".rstrip())
    elif args.action == "create":
        await account.create_mailbox(args.mailbox, frozenset(args.special_use))
        print(f"created {args.mailbox}")
    elif args.action == "delete":
        await account.delete_mailbox(args.mailbox)
        print(f"deleted {args.mailbox}")
    elif args.action == "rename":
        await account.rename_mailbox(args.old, args.new)
        print(f"renamed {args.old} to {args.new}")
    elif args.action == "status":
        status = _status_dict(await (await account.mailbox(args.mailbox)).status())
        if args.json:
            print_json({"mailbox": args.mailbox, **status})
        else:
            for key, value in status.items():
                print(f"{key}\t{value}")
    elif args.action == "fetch":
        from mailframe.errors import ExpungeIssued

        mailbox = await account.mailbox(args.mailbox)
        states = await mailbox.states([args.uid])
        if not states:
            raise CommandError(f"no message with UID {args.uid} in {args.mailbox}")
        out = sys.stdout.buffer
        try:
            for pos in range(0, states[0].size, 1 << 16):  # ranged reads, never all at once
                out.write(await mailbox.read(args.uid, pos, min(pos + (1 << 16), states[0].size)))
        except ExpungeIssued:
            raise CommandError(f"no message with UID {args.uid} in {args.mailbox}") from None
        out.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    try:
        return wait(_run(args, store))
    finally:
        wait(store.close())
