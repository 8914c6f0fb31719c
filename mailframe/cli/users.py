"""``mailframe user add|del|list|passwd``: the users of a passwd-file.

The file is the one the server reads (``--users`` / ``--data-dir`` as the
server takes them); edits are locked and atomic
(:mod:`mailframe.admin.passwd_file`), so a running server picks them up at
its next login without a restart.  A password is read from the terminal
(twice) or, with ``--password-stdin``, as one line of standard input:
never from the command line, where other local users could see it.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from mailframe.cli._common import (
    CommandError,
    add_json_option,
    add_users_options,
    print_json,
    users_path,
)

HELP = "add, delete, list users or set a password in the passwd-file"


def configure(p: argparse.ArgumentParser) -> None:
    from mailframe.auth.schemes import HASH_SCHEMES

    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    for name, text in (("add", "add a user (fails if present)"),
                       ("passwd", "set an existing user's password")):
        a = sub.add_parser(name, help=text, description=text)
        a.add_argument("name", help="user name")
        a.add_argument("--scheme", default="ARGON2ID", type=str.upper, choices=HASH_SCHEMES,
                       help="hash scheme (default ARGON2ID, as `mailframe passwd`)")
        a.add_argument("--password-stdin", action="store_true",
                       help="read the password as one line of standard input")
        add_users_options(a)
    d = sub.add_parser("del", help="delete a user (their mail stays)",
                       description="delete a user from the passwd-file; their mail stays")
    d.add_argument("name", help="user name")
    add_users_options(d)
    ls = sub.add_parser("list", help="list the users", description="list the users")
    add_users_options(ls)
    add_json_option(ls)


def _name(raw: str) -> str:
    from mailframe.auth.credentials import normalize_username

    try:
        return normalize_username(raw)
    except ValueError:
        raise CommandError(f"invalid user name {raw!r}", 2) from None


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Retype password: ") != password:
            raise CommandError("passwords do not match")
    else:
        raise CommandError("no terminal to ask for the password on: use --password-stdin")
    if not password:
        raise CommandError("empty password refused")
    if args.scheme == "PLAIN" and ":" in password:
        raise CommandError("a passwd-file field cannot hold ':' in clear text")
    return password


def run(args: argparse.Namespace) -> int:
    from mailframe.admin.passwd_file import NoSuchUser, PasswdFile, UserExists

    pw = PasswdFile(users_path(args))
    if args.action == "list":
        entries = pw.entries()
        if args.json:
            print_json([{"name": e.name, "scheme": e.scheme} for e in entries])
        else:
            for e in entries:
                print(f"{e.name}\t{e.scheme or '(no password)'}")
        return 0
    user = _name(args.name)
    try:
        if args.action == "del":
            pw.delete(user)
            print(f"deleted {user} from {pw.path}")
            return 0
        from mailframe.auth.schemes import hash_password

        stored = hash_password(_password(args), args.scheme)
        pw.set_password(user, stored, must_exist=args.action == "passwd")
    except UserExists:
        raise CommandError(f"user {user!r} already exists in {pw.path}") from None
    except NoSuchUser:
        raise CommandError(f"no user {user!r} in {pw.path}") from None
    print(f"{'added' if args.action == 'add' else 'changed password of'} {user} in {pw.path}")
    return 0
