"""Dovecot's ACL files, so Dovecot's acl plugin and mailframe agree on one
Maildir.

**``dovecot-acl``** (Dovecot's ``vfile`` backend) sits in each Maildir
folder's directory (the Maildir root for INBOX), one entry a line::

    owner lrwstipekxa
    user=bob lrswi
    -user=carol w
    anyone lr
    authenticated r

``owner`` is the mailbox's owner, ``user=NAME`` a user, a leading ``-``
a negative entry (RFC 4314 §2); blank lines and ``#`` comments are
ignored.  Entries mailframe does not model (``group=``,
``group-override=``) are kept as they are when the file is rewritten.

**The shared-mailbox dictionary** (Dovecot's ``acl_shared_dict`` with the
``file`` driver: keys and values on alternate lines) records which owners
share something with whom, so LIST can find other users' shared
mailboxes without opening every account: ``shared/shared-boxes/user/
BOB/ALICE`` = ``1`` when Alice grants Bob a right, ``shared/shared-boxes/
anyone/ALICE`` for ``anyone`` and ``authenticated``.

**``dovecot-acl-list``** in the owner's Maildir root is Dovecot's own
cache of which mailboxes others may see; mailframe removes it whenever an
ACL changes, and Dovecot rebuilds it.

Everything here is plain file work with no reactor: the Maildir store
itself does its file work synchronously before its Deferreds fire, and
these files are a few lines long.  Writes go to a temporary file renamed
over the old one, so a reader sees the old or the new file, never half.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from mailframe.acl.rights import ACL, ALL_RIGHTS, ANYONE, AUTHENTICATED, parse_rights
from mailframe.errors import MailboxInUse

__all__ = [
    "ACL_FILE",
    "ACL_LIST_FILE",
    "forget_acl_list",
    "parse_acl_file",
    "format_acl_file",
    "read_acl",
    "write_acl",
    "SHARED_PREFIX",
    "read_shared_dict",
    "update_shared_dict",
    "sharers_for",
]

ACL_FILE = "dovecot-acl"
SHARED_PREFIX = "shared/shared-boxes/"


def parse_acl_file(text: str, owner: str) -> tuple[ACL, list[str]]:
    """The ACL in ``text`` (identifiers as RFC 4314 names them, the owner
    under ``owner``) and the lines mailframe keeps but does not model."""
    acl: ACL = {}
    kept: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        ident, _, rights_text = line.partition(" ")
        negative = ident.startswith("-")
        body = ident[1:] if negative else ident
        if body == "owner":
            name = owner
        elif body.startswith("user="):
            name = body[5:]
        elif body in (ANYONE, AUTHENTICATED):
            name = body
        else:
            kept.append(line)
            continue
        # Dovecot also writes named rights after a colon ("lr:name"); the
        # standard letters are what RFC 4314 clients see.
        letters = rights_text.strip().split(":", 1)[0].replace(" ", "")
        try:
            rights = parse_rights(letters)
        except ValueError:
            kept.append(line)
            continue
        key = ("-" if negative else "") + name
        acl[key] = acl.get(key, frozenset()) | rights
    return acl, kept


def _file_identifier(identifier: str, owner: str | None) -> str:
    negative = identifier.startswith("-")
    body = identifier[1:] if negative else identifier
    if owner is not None and body == owner:
        body = "owner"
    elif body not in (ANYONE, AUTHENTICATED):
        body = "user=" + body
    return ("-" if negative else "") + body


def format_acl_file(acl: Mapping[str, frozenset[str]], owner: str | None, kept: Iterable[str] = ()) -> str:
    """The file text for ``acl`` (rights in Dovecot's letter order)."""
    lines = []
    for identifier, rights in acl.items():
        letters = "".join(r for r in ALL_RIGHTS if r in rights)
        lines.append(f"{_file_identifier(identifier, owner)} {letters}")
    lines.extend(kept)
    return "".join(line + "\n" for line in lines)


def replace_file(path: str, text: str) -> None:
    """Write ``path`` whole: a temporary file, fsynced, renamed over it."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="mailframe-tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_acl(folder_dir: str, owner: str | None) -> ACL | None:
    """The ACL stored in ``folder_dir`` (None: no file, the default ACL
    applies)."""
    try:
        with open(os.path.join(folder_dir, ACL_FILE), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    acl, _ = parse_acl_file(text, owner or "")
    return acl


def write_acl(folder_dir: str, acl: Mapping[str, frozenset[str]] | None, owner: str | None) -> None:
    """Store ``acl`` in ``folder_dir`` (None removes the file), keeping the
    entries of the old file mailframe does not model."""
    path = os.path.join(folder_dir, ACL_FILE)
    if acl is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    kept: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            _, kept = parse_acl_file(f.read(), owner or "")
    except FileNotFoundError:
        pass
    replace_file(path, format_acl_file(acl, owner, kept))


#: Dovecot's list of an owner's mailboxes with ACLs, in the Maildir root.
ACL_LIST_FILE = "dovecot-acl-list"


def forget_acl_list(maildir_root: str) -> None:
    """Remove Dovecot's ``dovecot-acl-list`` (the mailboxes of this owner
    that others may see) after an ACL changed: Dovecot rebuilds it when
    it is missing, and would otherwise not list to others a mailbox
    shared by mailframe."""
    try:
        os.unlink(os.path.join(maildir_root, ACL_LIST_FILE))
    except FileNotFoundError:
        pass


def read_shared_dict(path: str) -> dict[str, str]:
    """The key/value pairs of a Dovecot ``file`` dictionary."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return {}
    return {lines[i]: lines[i + 1] for i in range(0, len(lines) - 1, 2) if lines[i]}


def _grantees(acls: Iterable[Mapping[str, frozenset[str]]], owner: str) -> set[str]:
    keys: set[str] = set()
    for acl in acls:
        for identifier, rights in acl.items():
            if identifier.startswith("-") or identifier == owner or not rights:
                continue
            if identifier in (ANYONE, AUTHENTICATED):
                keys.add("anyone")
            else:
                keys.add("user/" + identifier)
    return keys


@contextmanager
def dotlock(path: str, wait: float = 2.0, stale: float = 30.0) -> Iterator[None]:
    """Hold ``path.lock`` (created exclusively, as Dovecot's dotlocks are)
    while the dictionary is read and rewritten, so that neither another
    mailframe process nor Dovecot loses an entry.  A lock older than
    ``stale`` seconds is a crashed writer's and is broken; one held longer
    than ``wait`` seconds fails the command with ``[INUSE]``."""
    lock = path + ".lock"
    deadline = time.monotonic() + wait
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime > stale:
                    os.unlink(lock)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise MailboxInUse("The shared-mailbox dictionary is locked; try again") from None
            time.sleep(0.01)
    try:
        yield
    finally:
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass


def update_shared_dict(path: str, owner: str, acls: Iterable[Mapping[str, frozenset[str]]],
                       wait: float = 2.0) -> None:
    """Rewrite ``owner``'s entries of the dictionary at ``path`` from every
    ACL of the owner's mailboxes (as Dovecot's ``acl_lookup_dict_rebuild``
    does after a SETACL), under :func:`dotlock`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with dotlock(path, wait):
        _rewrite_shared_dict(path, owner, acls)


def _rewrite_shared_dict(path: str, owner: str, acls: Iterable[Mapping[str, frozenset[str]]]) -> None:
    entries = read_shared_dict(path)
    suffix = "/" + owner
    entries = {
        k: v for k, v in entries.items() if not (k.startswith(SHARED_PREFIX) and k.endswith(suffix))
    }
    for grantee in sorted(_grantees(acls, owner)):
        entries[SHARED_PREFIX + grantee + suffix] = "1"
    text = "".join(f"{k}\n{v}\n" for k, v in entries.items())
    replace_file(path, text)


def sharers_for(path: str, user: str | None) -> set[str]:
    """Owners who share something with ``user`` (or with anyone)."""
    out: set[str] = set()
    for key in read_shared_dict(path):
        if not key.startswith(SHARED_PREFIX):
            continue
        rest = key[len(SHARED_PREFIX):]
        if rest.startswith("anyone/"):
            out.add(rest[len("anyone/"):])
        elif user is not None and rest.startswith(f"user/{user}/"):
            out.add(rest[len(f"user/{user}/"):])
    return {o for o in out if o and "/" not in o}
