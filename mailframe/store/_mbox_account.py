"""One user's mbox files (:class:`MboxAccount`): Dovecot's ``mbox:`` layout.

INBOX is its own file (``INBOX=PATH``), every other mailbox ``ROOT/<name>``
(modified UTF-7 on disk, RFC 3501 §5.1.3), a hierarchy level a directory;
subscriptions in ``ROOT/.subscriptions``, mailframe's own state (indexes,
the last UIDVALIDITY given, RFC 6154 special-use attributes) under
``ROOT/.mailframe``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from typing import TypeVar

from twisted.internet import defer, threads

from mailframe.errors import CannotDo
from mailframe.interfaces import IMailbox
from mailframe.records import MailboxEntry
from mailframe.store import _mbox_format as fmt
from mailframe.store._maildir_names import mutf7_decode, mutf7_encode
from mailframe.store._mbox_file import MboxFile
from mailframe.store._mbox_mailbox import MboxMailbox
from mailframe.store._names import INBOX, parents_of
from mailframe.store.base import LogMailbox
from mailframe.store.logaccount import LogAccount, LogStore

__all__ = ["MboxAccount", "INDEX_DIR"]

T = TypeVar("T")

#: mailframe's own files under ROOT (Dovecot and mutt skip dot-directories).
INDEX_DIR = ".mailframe"


class MboxAccount(LogAccount):
    """One user's mbox files under ROOT (INBOX perhaps elsewhere).

    Without ``DIRNAME=`` (Dovecot's default) mailbox ``a/b`` is the file
    ``ROOT/a/b`` and ``a`` a directory, so a mailbox cannot also have
    inferiors.  With ``DIRNAME=d`` (as Dovecot's option) every mailbox is
    a directory and its messages the file ``d`` inside it, so any mailbox
    may have inferiors and a directory without ``d`` is \\Noselect.
    """

    def __init__(self, store: LogStore, username: str, root: str, inbox: str,
                 dirname: str | None = None,
                 new_file: Callable[[str], MboxFile] = MboxFile,
                 on_watch: Callable[[], None] | None = None) -> None:
        #: makes the :class:`MboxFile` of a path (the store's lock sets)
        self.new_file = new_file
        self.on_watch = on_watch
        self.root = root
        self.inbox_path = inbox
        self.dirname = dirname
        self._uv_file = os.path.join(root, INDEX_DIR, "last-uidvalidity")
        try:
            with open(self._uv_file, encoding="ascii") as f:
                saved = int(f.read().strip() or 0)
            store._last_uidvalidity = max(store._last_uidvalidity, saved)
        except (OSError, ValueError):
            pass
        #: CREATE/DELETE/RENAME/LIST one at a time, each after a refresh
        self._tree_lock = defer.DeferredLock()
        super().__init__(store, username)
        self._discover()
        self._subscriptions = self._read_subscriptions() or set()
        try:
            with open(self._su_file(), encoding="utf-8") as f:
                for n, attrs in json.load(f).items():
                    if n in self._mailboxes:
                        self._special_use[n] = frozenset(attrs)
        except (OSError, ValueError, AttributeError):
            pass

    def _su_file(self) -> str:
        return os.path.join(self.root, INDEX_DIR, "special-use.json")

    def _save_special_use(self) -> None:
        """RFC 6154 attributes, kept beside the index (Dovecot keeps them in
        its configuration; they are mailframe's own here)."""
        data = {n: sorted(a) for n, a in self._special_use.items() if a and n in self._mailboxes}
        os.makedirs(os.path.dirname(self._su_file()), exist_ok=True)
        tmp = self._su_file() + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self._su_file())

    def dir_for(self, name: str) -> str:
        """The directory holding ``name``'s inferiors."""
        return os.path.join(self.root, *(mutf7_encode(p) for p in name.split("/")))

    def file_for(self, name: str) -> str:
        if name == INBOX:
            return self.inbox_path
        if self.dirname:
            return os.path.join(self.dir_for(name), self.dirname)
        return self.dir_for(name)

    def index_for(self, name: str) -> str:
        if name == INBOX:
            return os.path.join(self.root, INDEX_DIR, "INBOX.json")
        parts = [mutf7_encode(p) for p in name.split("/")]
        return os.path.join(self.root, INDEX_DIR, "mailboxes", *parts[:-1], parts[-1] + ".json")

    def _add_found(self, name: str) -> None:
        if name.upper() == INBOX or name in self._mailboxes:
            return
        self._noselect.discard(name)
        self._mailboxes[name] = self.make_mailbox(name, self.store.next_uidvalidity())
        self._special_use[name] = frozenset()

    def _discover(self) -> None:
        found, noselect = self._walk()
        for name in found:
            self._add_found(name)
        self._noselect.update(n for n in noselect if n not in self._mailboxes)

    def _walk(self) -> tuple[list[str], list[str]]:
        """(mailboxes, \\Noselect names) as the tree on disk holds them
        (thread side: reads the directories only)."""
        found: list[str] = []
        noselect: list[str] = []
        if not os.path.isdir(self.root):
            return found, noselect
        inbox = os.path.abspath(self.inbox_path)
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            prefix = [] if rel == "." else [mutf7_decode(p) for p in rel.split(os.sep)]
            here = "/".join(prefix)
            if self.dirname:
                if prefix and here.upper() != INBOX:
                    (found if self.dirname in filenames else noselect).append(here)
                continue
            for d in dirnames:
                name = "/".join([*prefix, mutf7_decode(d)])
                if name.upper() != INBOX:
                    noselect.append(name)
            for fn in sorted(filenames):
                if fn.startswith(".") or fn.endswith(".lock"):
                    continue
                if os.path.abspath(os.path.join(dirpath, fn)) == inbox:
                    continue
                found.append("/".join([*prefix, mutf7_decode(fn)]))
        return found, noselect

    def _read_subscriptions(self) -> set[str] | None:
        try:
            with open(os.path.join(self.root, ".subscriptions"), encoding="utf-8") as f:
                return {ln.strip() for ln in f if ln.strip()}
        except OSError:
            return None

    # ----------------------------------------- another process's changes

    async def _refresh(self) -> None:
        """Notice mailboxes another program created, deleted or renamed in
        the tree (the other worker process, Dovecot, mutt), and its
        SUBSCRIBEs, before a command reads the account.  Runs under
        :attr:`_tree_lock`, so no CREATE/DELETE/RENAME of ours interleaves
        with the walk."""
        found, noselect = await threads.deferToThread(self._walk)
        subs = await threads.deferToThread(self._read_subscriptions)
        present = set(found)
        for name in [n for n in self._mailboxes if n != INBOX and n not in present]:
            box = self._mailboxes.pop(name)  # deleted (or renamed) elsewhere
            self._special_use.pop(name, None)
            box.deleted = True
            box.log.expunge(box.log.uids)  # selected sessions hear of it
        for name in found:
            self._add_found(name)
        self._noselect = {n for n in noselect if n not in self._mailboxes}
        if subs is not None:
            self._subscriptions = subs

    def _serialised(self, op: Callable[[], defer.Deferred[T]], refresh: bool = True
                    ) -> defer.Deferred[T]:
        """``op`` after a refresh of the tree, one at a time."""

        async def run() -> T:
            await self._tree_lock.acquire()
            try:
                if refresh:
                    await self._refresh()
                return await op()
            finally:
                self._tree_lock.release()

        return defer.Deferred.fromCoroutine(run())

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        return self._serialised(super().list_mailboxes)

    def subscriptions(self) -> defer.Deferred[set[str]]:
        return self._serialised(super().subscriptions)

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        """A known mailbox whose file is still there is served at once;
        otherwise the tree is read again first."""
        from mailframe.store._names import normalize_name

        try:
            checked = normalize_name(name)
        except Exception:
            return defer.fail()
        box = self._mailboxes.get(checked)
        stale = box is None or (checked != INBOX and not os.path.exists(self.file_for(checked)))
        return self._serialised(lambda: super(MboxAccount, self).mailbox(name), refresh=stale)

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        path = self.file_for(name)
        box = MboxMailbox(path, self.index_for(name), name, uidvalidity, self.new_file(path))
        box.on_watch = self.on_watch
        store = self.store
        if box.log.uidvalidity > store._last_uidvalidity:
            store._last_uidvalidity = box.log.uidvalidity
        if box.log.uidvalidity == uidvalidity:
            # a new mailbox: remember the value so a recreated name never
            # gets it again, even after a restart (RFC 3501 §2.3.1.1)
            os.makedirs(os.path.dirname(self._uv_file), exist_ok=True)
            tmp = self._uv_file + ".tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(str(store._last_uidvalidity))
            os.replace(tmp, self._uv_file)
        return box

    def _check_layout(self, name: str) -> None:
        """Dovecot's plain mbox layout: a file cannot have inferiors."""
        if self.dirname:
            return
        for parent in parents_of(name):
            if parent in self._mailboxes and parent != INBOX:
                raise CannotDo(f"mailbox {parent!r} is a file and cannot have inferiors "
                               "(mbox layout, as in Dovecot; see DIRNAME=)")

    def _make_parents(self, name: str) -> None:
        for parent in parents_of(name):
            os.makedirs(self.dir_for(parent), exist_ok=True)
            if parent not in self._mailboxes and parent != INBOX and not self.dirname:
                self._noselect.add(parent)

    def _touch(self, names: list[str]) -> None:
        """Create the (empty) files of those of ``names`` that are mailboxes."""
        for n in names:
            box = self._mailboxes.get(n)
            if box is not None:
                path = self.file_for(n)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if not os.path.exists(path) or not os.path.getsize(path):
                    # the pseudo-message holds UIDVALIDITY while it is empty
                    with open(path, "ab") as f:
                        f.write(fmt.pseudo_message(box.log.uidvalidity, box.log.uidnext - 1, []))

    def create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()
                       ) -> defer.Deferred[None]:
        return self._serialised(lambda: self._create(name, special_use))

    def _create(self, name: str, special_use: frozenset[str]) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        try:
            checked = normalize_name(name)
            self._check_layout(checked)
            if not self.dirname and checked in self._noselect:
                if any(n.startswith(checked + "/") for n in (*self._mailboxes, *self._noselect)):
                    raise CannotDo(f"{checked!r} holds mailboxes and cannot hold messages "
                                   "(mbox layout, as in Dovecot; see DIRNAME=)")
                if os.path.isdir(self.file_for(checked)):
                    os.rmdir(self.file_for(checked))
            if checked not in self._mailboxes:
                self._make_parents(checked)
        except Exception:
            return defer.fail()
        d = super().create_mailbox(name, special_use)

        d.addCallback(lambda _: self._touch([*parents_of(checked), checked]))
        if special_use:
            d.addCallback(lambda _: self._save_special_use())
        return d

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        return self._serialised(lambda: self._delete(name))

    def _delete(self, name: str) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        async def run() -> None:
            checked = normalize_name(name)
            box = self._mailboxes.get(checked)
            if isinstance(box, MboxMailbox):
                await box.flush()
            await super(MboxAccount, self).delete_mailbox(name)
            if box is not None:
                for path in (self.file_for(checked), self.index_for(checked)):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
            self._save_special_use()
            if checked not in self._noselect and checked not in self._mailboxes:
                d = self.dir_for(checked)
                if os.path.isdir(d):
                    shutil.rmtree(d, ignore_errors=True)

        return defer.Deferred.fromCoroutine(run())

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        return self._serialised(lambda: self._rename(old, new))

    def _rename(self, old: str, new: str) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        async def run() -> None:
            src, dst = normalize_name(old), normalize_name(new)
            self._check_layout(dst)
            exists = src in self._mailboxes or src in self._noselect
            if src != INBOX and exists and dst not in self._mailboxes \
                    and dst not in self._noselect:
                self._make_parents(dst)
            moved = [n for n in (*self._mailboxes, *self._noselect)
                     if n == src or n.startswith(src + "/")] if src != INBOX else []
            for n in moved:  # no index save may race the move
                box = self._mailboxes.get(n)
                if isinstance(box, MboxMailbox):
                    await box.flush()
            await super(MboxAccount, self).rename_mailbox(old, new)
            if src == INBOX:
                self._touch([*parents_of(dst), dst])
                return
            pairs = [(self.dir_for(src), self.dir_for(dst))]
            pairs += [(self.index_for(n), self.index_for(dst + n[len(src):])) for n in moved]
            for a, b in pairs:
                if os.path.exists(a):
                    os.makedirs(os.path.dirname(b), exist_ok=True)
                    os.rename(a, b)
            self._touch(parents_of(dst))
            self._save_special_use()
            for n, box in self._mailboxes.items():
                if isinstance(box, MboxMailbox) and (n == dst or n.startswith(dst + "/")):
                    box.path, box.index_path = self.file_for(n), self.index_for(n)

        return defer.Deferred.fromCoroutine(run())

    def _save_subscriptions(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        tmp = os.path.join(self.root, ".subscriptions.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(n + "\n" for n in sorted(self._subscriptions))
        os.replace(tmp, os.path.join(self.root, ".subscriptions"))

    def subscribe(self, name: str) -> defer.Deferred[None]:
        return self._serialised(lambda: super(MboxAccount, self).subscribe(name).addCallback(
            lambda _: self._save_subscriptions()))

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        return self._serialised(lambda: super(MboxAccount, self).unsubscribe(name).addCallback(
            lambda _: self._save_subscriptions()))


