"""``mailframe acl get|set|delete|rights|shared USER ...``: access control
lists (RFC 4314) of a user's mailboxes, straight on the store.

The rules are the server's (:mod:`mailframe.acl`): the owner always keeps
``a``, ``c``/``d`` expand as RFC 4314 §2.1.1 says, rights go to user
names, ``anyone``, ``authenticated``, or ``-NAME`` (negative rights).
On a Maildir the ACLs are Dovecot's ``dovecot-acl`` files, so a running
server (mailframe's or Dovecot's) sees the change at its next command::

    mailframe acl set alice Projects bob lrswi
    mailframe acl get alice Projects
    mailframe acl rights alice Projects --for bob
    mailframe acl shared bob
"""

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

HELP = "show and set who may use a user's mailboxes (RFC 4314 ACLs)"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    def action(name: str, text: str, *names: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=text, description=text)
        a.add_argument("user", help="the mailbox's owner (for shared: the user who is shared with)")
        for n in names:
            a.add_argument(n)
        add_store_options(a)
        add_json_option(a)
        return a

    action("get", "show a mailbox's ACL", "mailbox")
    s = action("set", "grant rights: RIGHTS replaces, +RIGHTS adds, -RIGHTS removes "
                      "(use -- before a leading -)", "mailbox", "identifier", "rights")
    s.epilog = "identifier: a user name, anyone, authenticated, or -NAME for negative rights"
    action("delete", "remove an identifier's entry from a mailbox's ACL", "mailbox", "identifier")
    r = action("rights", "the rights someone holds on a mailbox", "mailbox")
    r.add_argument("--for", dest="viewer", metavar="USER", help="whose rights (default: the owner)")
    action("shared", "the other users' mailboxes the user may see (shared/OWNER/...)")


async def _run(args: argparse.Namespace, store: Any) -> int:
    from mailframe.acl.account import SharedAccount
    from mailframe.acl.rights import RightsError, format_rights, parse_modification
    from mailframe.acl.storage import acl_store_for
    from mailframe.auth.credentials import normalize_username

    acls = acl_store_for(store)
    if acls is None:
        raise CommandError(f"the store {store_url(args)!r} cannot hold ACLs")
    account = await open_account(store, args.user)
    if args.action == "shared":
        viewer = SharedAccount(account, store, acls, normalize=normalize_username)
        rows = [
            {"name": e.name, "rights": format_rights(await viewer.myrights(e.name))}
            for e in await viewer.list_mailboxes()
            if "/" in e.name and e.name.split("/")[0] in viewer.layout.roots()
            and "\\Noselect" not in e.attributes
        ]
        if args.json:
            print_json(rows)
        for row in rows if not args.json else ():
            print(f"{row['name']}\t{row['rights']}")
        return 0
    owner = SharedAccount(account, store, acls, admin=True, normalize=normalize_username)
    try:
        if args.action == "get":
            acl = await owner.get_acl(args.mailbox)
            rows = [{"identifier": i, "rights": format_rights(r)} for i, r in acl.items()]
            if args.json:
                print_json(rows)
            for row in rows if not args.json else ():
                print(f"{row['identifier']}\t{row['rights']}")
        elif args.action == "set":
            mode, rights = parse_modification(args.rights)
            await owner.set_rights(args.mailbox, args.identifier, mode, rights)
            print(f"{args.mailbox}: {args.identifier} {args.rights}")
        elif args.action == "delete":
            await owner.set_rights(args.mailbox, args.identifier, "delete", frozenset())
            print(f"{args.mailbox}: {args.identifier} removed")
        elif args.action == "rights":
            viewer_name = normalize_username(args.viewer) if args.viewer else args.user
            viewer_account = await store.account(viewer_name) if args.viewer else account
            viewer = SharedAccount(viewer_account, store, acls, normalize=normalize_username)
            name = args.mailbox
            if viewer_name != args.user:
                name = viewer.layout.other_prefix + args.user + "/" + args.mailbox
            try:
                text = format_rights(await viewer.myrights(name))
            except Exception:
                text = ""
            if args.json:
                print_json({"user": viewer_name, "mailbox": args.mailbox, "rights": text})
            else:
                print(text or "(none)")
    except RightsError as e:
        raise CommandError(str(e), 2) from None
    return 0


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    try:
        return wait(_run(args, store))
    finally:
        wait(store.close())
