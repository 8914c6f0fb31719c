"""``mailframe passwd``: print a password hash for a passwd-file line.

    $ mailframe passwd
    Password:
    Retype password:
    {ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$...

    $ mailframe passwd --user alice --scheme SHA512-CRYPT < pwfile
    alice:{SHA512-CRYPT}$6$...

    $ mailframe passwd --user alice --file /etc/mailframe/users
    (sets alice's password in the file, keeping her other fields; the
    file is replaced atomically, so a running server re-reads it whole)

The output works in a Dovecot passwd-file too (``doveadm pw -t`` verifies it).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import TextIO

from mailframe.auth.credentials import normalize_username
from mailframe.auth.schemes import HASH_SCHEMES, hash_password

__all__ = ["main", "update_passwd_file"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailframe passwd",
                                description="Print a password hash for a mailframe/Dovecot passwd-file.")
    p.add_argument("-s", "--scheme", default="ARGON2ID", type=str.upper, choices=HASH_SCHEMES,
                   help="hash scheme (default ARGON2ID)")
    p.add_argument("-u", "--user", help="print a whole 'user:{SCHEME}hash' line")
    p.add_argument("-p", "--password", help="the password (visible to other local users: "
                   "prefer the prompt or standard input)")
    p.add_argument("-f", "--file", help="set the user's password in this passwd-file "
                   "(created if missing; needs --user)")
    return p


def update_passwd_file(path: str, user: str, hashed: str) -> bool:
    """Set ``user``'s password field in a passwd-file, keeping the rest of
    their line and every other line; append them if absent.  Written to a
    temporary file and renamed over the old one (mode kept, 0600 for a new
    file).  Returns True if the user was already there."""
    from mailframe.auth.credentials import normalize_username

    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        lines, mode = [], 0o600
    found = False
    for i, line in enumerate(lines):
        fields = line.split(":")
        if line.lstrip().startswith("#") or len(fields) < 1:
            continue
        try:
            same = normalize_username(fields[0]) == user
        except ValueError:
            same = False
        if same and not found:
            fields[1:2] = [hashed]
            lines[i] = ":".join(fields)
            found = True
    if not found:
        lines.append(f"{user}:{hashed}")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".passwd-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return found


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
    if args.file is not None and args.user is None:
        stderr.write("mailframe passwd: --file needs --user\n")
        return 2
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
    if args.file is not None:
        try:
            existed = update_passwd_file(args.file, user, hashed)
        except OSError as e:
            stderr.write(f"mailframe passwd: {args.file}: {e.strerror or e}\n")
            return 1
        stdout.write(f"{'updated' if existed else 'added'} {user} in {args.file}\n")
        return 0
    stdout.write((f"{user}:{hashed}" if args.user is not None else hashed) + "\n")
    return 0
