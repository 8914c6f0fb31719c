"""Where ACLs live, per store (:class:`mailframe.interfaces.IACLStore`).

- **Maildir**: Dovecot's ``dovecot-acl`` file in each folder's directory
  and Dovecot's shared-mailbox dictionary (``file`` driver) beside the
  users' Maildirs (:mod:`mailframe.acl.dovecot_acl`), so Dovecot with its
  acl plugin (``acl = vfile``, ``acl_shared_dict = file:<that path>``)
  and mailframe read and write the same rights.  A folder renamed keeps
  its file (it moves with the directory); a folder deleted loses it.
- **memory**: beside each mailbox object (so a RENAME keeps the ACL, a
  DELETE drops it with the object), nothing persists.

A store of its own may provide :class:`IACLStore` itself;
:func:`acl_store_for` finds it with ``providedBy``.  A store with neither
(the SQL and mbox stores for now) gets ``None``: no sharing, and ACL is
not advertised.
"""

from __future__ import annotations

import fcntl
import os
import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, threads
from zope.interface import implementer

from mailframe.acl import dovecot_acl
from mailframe.acl.private_seen import SeenState, format_state, parse_state
from mailframe.errors import NonexistentMailbox
from mailframe.interfaces import IACLStore
from mailframe.store._maildir_names import check_name, folder_for
from mailframe.store._names import normalize_name
from mailframe.store.dirwatch import watch_names
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore

__all__ = ["acl_store_for", "MaildirACLs", "MemoryACLs", "SHARED_DICT"]

ACL = dict[str, frozenset[str]]
#: The private \\Seen file's name, before the reader's user name.
SEEN_FILE = "mailframe-seen."
#: The lock file private \\Seen updates of a folder take (flock).
SEEN_LOCK = "mailframe-seen.lock"

#: The shared-mailbox dictionary's file name, beside the users' Maildirs.
SHARED_DICT = "shared-mailboxes.db"

_cache: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def acl_store_for(store: object) -> IACLStore | None:
    """The ACL storage of ``store``, or None when it cannot hold ACLs."""
    if IACLStore.providedBy(store):
        return store
    # the QUOTA, METADATA and OBJECTID layers (mailframe.store.quota ...)
    # wrap the store the server opened: its ACLs are the inner store's
    while hasattr(store, "wrapped"):
        store = store.wrapped
        if IACLStore.providedBy(store):
            return store
    found = _cache.get(store)
    if found is None:
        if isinstance(store, MaildirStore):
            found = MaildirACLs(store)
        elif isinstance(store, MemoryStore):
            found = MemoryACLs(store)
        else:
            return None
        _cache[store] = found
    acls: IACLStore = found
    return acls


@implementer(IACLStore)
class MaildirACLs:
    """ACLs of a :class:`MaildirStore` in Dovecot's files."""

    def __init__(self, store: MaildirStore, dict_path: str | None = None) -> None:
        self.store = store
        template = store.template
        base = os.path.dirname(template.split("%u", 1)[0]) if "%u" in template else template
        self.dict_path = dict_path or os.path.join(base, SHARED_DICT)

    def _root(self, owner: str) -> str:
        try:
            return self.store.root_for(owner)
        except Exception:
            raise NonexistentMailbox("no such user") from None

    def _folder_dir(self, owner: str, name: str) -> str:
        try:
            checked = check_name(name)
        except Exception:
            raise NonexistentMailbox(f"no mailbox {name!r}") from None
        path = os.path.join(self._root(owner), folder_for(checked))
        if not os.path.isdir(os.path.join(path, "cur")):
            raise NonexistentMailbox(f"no mailbox {name!r}")
        return path

    def get_acl(self, owner: str, name: str) -> defer.Deferred[ACL | None]:
        try:
            return defer.succeed(dovecot_acl.read_acl(self._folder_dir(owner, name), owner))
        except Exception:
            return defer.fail()

    def _all_acls(self, owner: str) -> list[ACL]:
        root = self._root(owner)
        out = []
        for entry in ["", *sorted(os.listdir(root))]:
            if entry and not entry.startswith("."):
                continue
            path = os.path.join(root, entry)
            if entry in (".", "..") or not os.path.isdir(os.path.join(path, "cur")):
                continue
            acl = dovecot_acl.read_acl(path, owner)
            if acl:
                out.append(acl)
        return out

    def set_acl(self, owner: str, name: str, acl: ACL | None) -> defer.Deferred[None]:
        try:
            dovecot_acl.write_acl(self._folder_dir(owner, name), acl, owner)
            dovecot_acl.update_shared_dict(self.dict_path, owner, self._all_acls(owner))
            dovecot_acl.forget_acl_list(self._root(owner))
        except Exception:
            return defer.fail()
        return defer.succeed(None)

    def get_seen(self, owner: str, name: str, reader: str) -> defer.Deferred[SeenState | None]:
        """A reader's private ``\\Seen`` state (:mod:`mailframe.acl.private_seen`),
        kept in ``mailframe-seen.READER`` in the folder's directory."""
        try:
            path = os.path.join(self._folder_dir(owner, name), SEEN_FILE + reader)
            with open(path, encoding="ascii") as f:
                return defer.succeed(parse_state(f.read()))
        except FileNotFoundError:
            return defer.succeed(None)
        except Exception:
            return defer.fail()

    def set_seen(self, owner: str, name: str, reader: str, state: SeenState) -> defer.Deferred[None]:
        try:
            path = os.path.join(self._folder_dir(owner, name), SEEN_FILE + reader)
            dovecot_acl.replace_file(path, format_state(state))
        except Exception:
            return defer.fail()
        return defer.succeed(None)

    def update_seen(self, owner: str, name: str, reader: str,
                    change: Callable[[SeenState | None], SeenState | None]) -> defer.Deferred[SeenState | None]:
        """Read, ``change`` and write the reader's state as one step
        against every process on the Maildir (``flock`` on
        ``mailframe-seen.lock`` in the folder's directory; two sessions of
        one reader storing at once must not lose each other's modseqs), in
        a thread; ``change`` returning None leaves the file alone."""
        try:
            folder = self._folder_dir(owner, name)
        except Exception:
            return defer.fail()
        return threads.deferToThread(_update_seen_file, folder, reader, change)

    def watch_seen(self, owner: str, name: str, reader: str,
                   callback: Callable[[], object]) -> Callable[[], None] | None:
        """Call ``callback`` when the reader's private file is replaced, by
        this process or another (inotify; None where there is none)."""
        wanted = SEEN_FILE + reader
        return watch_names(self._folder_dir(owner, name), lambda n: n == wanted, callback)

    def sharers(self, user: str) -> defer.Deferred[set[str]]:
        try:
            found = dovecot_acl.sharers_for(self.dict_path, user)
        except Exception:
            return defer.fail()
        return defer.succeed(found - {user})

    def has_account(self, owner: str) -> defer.Deferred[bool]:
        try:
            root = self.store.root_for(owner)
        except Exception:
            return defer.succeed(False)
        return defer.succeed(os.path.isdir(os.path.join(root, "cur")))


def _update_seen_file(folder: str, reader: str,
                      change: Callable[[SeenState | None], SeenState | None]) -> SeenState | None:
    path = os.path.join(folder, SEEN_FILE + reader)
    fd = os.open(os.path.join(folder, SEEN_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with open(path, encoding="ascii") as f:
                before: SeenState | None = parse_state(f.read())
        except FileNotFoundError:
            before = None
        after = change(before)
        if after is not None:
            dovecot_acl.replace_file(path, format_state(after))
        return after
    finally:
        os.close(fd)  # and with it the lock


@implementer(IACLStore)
class MemoryACLs:
    """ACLs of a :class:`MemoryStore`, kept beside its mailbox objects."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._acls: weakref.WeakKeyDictionary[Any, ACL] = weakref.WeakKeyDictionary()
        self._seen: weakref.WeakKeyDictionary[Any, dict[str, SeenState]] = weakref.WeakKeyDictionary()

    def _box(self, owner: str, name: str) -> Any:
        account = self.store._accounts.get(owner)
        if account is None:
            raise NonexistentMailbox("no such user")
        try:
            checked = normalize_name(name)
        except Exception:
            raise NonexistentMailbox(f"no mailbox {name!r}") from None
        box = account._mailboxes.get(checked)
        if box is None:
            raise NonexistentMailbox(f"no mailbox {name!r}")
        return box

    def get_acl(self, owner: str, name: str) -> defer.Deferred[ACL | None]:
        try:
            acl = self._acls.get(self._box(owner, name))
        except Exception:
            return defer.fail()
        return defer.succeed(dict(acl) if acl is not None else None)

    def set_acl(self, owner: str, name: str, acl: ACL | None) -> defer.Deferred[None]:
        try:
            box = self._box(owner, name)
        except Exception:
            return defer.fail()
        if acl is None:
            self._acls.pop(box, None)
        else:
            self._acls[box] = dict(acl)
        return defer.succeed(None)

    def get_seen(self, owner: str, name: str, reader: str) -> defer.Deferred[SeenState | None]:
        try:
            box = self._box(owner, name)
        except Exception:
            return defer.fail()
        return defer.succeed(self._seen.get(box, {}).get(reader))

    def set_seen(self, owner: str, name: str, reader: str, state: SeenState) -> defer.Deferred[None]:
        try:
            box = self._box(owner, name)
        except Exception:
            return defer.fail()
        self._seen.setdefault(box, {})[reader] = state
        return defer.succeed(None)

    def update_seen(self, owner: str, name: str, reader: str,
                    change: Callable[[SeenState | None], SeenState | None]) -> defer.Deferred[SeenState | None]:
        try:
            box = self._box(owner, name)
        except Exception:
            return defer.fail()
        after = change(self._seen.get(box, {}).get(reader))
        if after is not None:
            self._seen.setdefault(box, {})[reader] = after
        return defer.succeed(after)

    def sharers(self, user: str) -> defer.Deferred[set[str]]:
        out = set()
        for owner, account in self.store._accounts.items():
            if owner == user:
                continue
            for box in account.mailboxes():
                acl = self._acls.get(box)
                if acl and any(
                    rights and i in (user, "anyone", "authenticated") for i, rights in acl.items()
                ):
                    out.add(owner)
                    break
        return defer.succeed(out)

    def has_account(self, owner: str) -> defer.Deferred[bool]:
        return defer.succeed(owner in self.store._accounts)
