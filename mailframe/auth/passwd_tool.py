"""``mailframe passwd``: print a password hash for a passwd-file line.

    $ mailframe passwd
    Password:
    Retype password:
    {ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$...

    $ mailframe passwd --user alice --scheme SHA512-CRYPT < pwfile
    alice:{SHA512-CRYPT}$6$...

The output works in a Dovecot passwd-file too (``doveadm pw -t`` verifies it).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TextIO

from mailframe.auth.credentials import normalize_username
from mailframe.auth.schemes import HASH_SCHEMES, hash_password

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailframe passwd",
                                description="Print a password hash for a mailframe/Dovecot passwd-file.")
    p.add_argument("-s", "--scheme", default="ARGON2ID", type=str.upper, choices=HASH_SCHEMES,
                   help="hash scheme (default ARGON2ID)")
    p.add_argument("-u", "--user", help="print a whole 'user:{SCHEME}hash' line")
    p.add_argument("-p", "--password", help="the password (visible to other local users: "
                   "prefer the prompt or standard input)")
    return p


def _read_password(stdin: TextIO, stderr: TextIO) -> str | None:
    if not stdin.isatty():
        line = stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ", stream=stderr)
    if getpass.getpass("Retype password: ", stream=stderr) != first:
        stderr.write("mailframe passwd: passwords do not match\n")
        return None
    return first


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``mailframe passwd``; returns the exit status (0 ok, 1 error, 2 usage)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:
        return int(e.code or 0)
    if args.user is not None:
        try:
            user = normalize_username(args.user)
        except ValueError:
            stderr.write(f"mailframe passwd: invalid user name {args.user!r}\n")
            return 1
    password = args.password if args.password is not None else _read_password(stdin, stderr)
    if password is None:
        return 1
    if not password:
        stderr.write("mailframe passwd: empty password refused\n")
        return 1
    if args.scheme == "PLAIN" and ":" in password and args.user is not None:
        stderr.write("mailframe passwd: a passwd-file field cannot hold ':' in clear text\n")
        return 1
    hashed = hash_password(password, args.scheme)
    stdout.write((f"{user}:{hashed}" if args.user is not None else hashed) + "\n")
    return 0
