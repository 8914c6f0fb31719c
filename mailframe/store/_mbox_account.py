"""One user's mbox files (:class:`MboxAccount`): Dovecot's ``mbox:`` layout.

INBOX is its own file (``INBOX=PATH``), every other mailbox ``ROOT/<name>``
(modified UTF-7 on disk, RFC 3501 §5.1.3), a hierarchy level a directory;
subscriptions in ``ROOT/.subscriptions``, mailframe's own state (indexes
with their shared \\Recent floor and HIGHESTMODSEQ, the last UIDVALIDITY
given, RFC 6154 special-use attributes) under ``ROOT/.mailframe``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from typing import TypeVar

from twisted.internet import defer, threads

from mailframe.errors import CannotDo, MailboxExists
from mailframe.interfaces import IMailbox
from mailframe.records import MailboxEntry
from mailframe.store._maildir_names import mutf7_decode, mutf7_encode
from mailframe.store._mbox_file import MboxFile
from mailframe.store._mbox_io import peek_base
from mailframe.store._mbox_mailbox import MboxMailbox
from mailframe.store._mbox_modseq import modseq_path
from mailframe.store._mbox_recent import recent_path
from mailframe.store._names import INBOX, parents_of
from mailframe.store.base import LogMailbox
from mailframe.store.logaccount import LogAccount, LogStore

__all__ = ["MboxAccount", "INDEX_DIR"]

T = TypeVar("T")

#: mailframe's own files under ROOT (Dovecot and mutt skip dot-directories).
INDEX_DIR = ".mailframe"


def _layout_conflict(e: OSError) -> str:
    """The reason for a NO when a name is both a file and a directory."""
    what = os.path.basename(e.filename or "") or "a name"
    if isinstance(e, IsADirectoryError):
        return (f"{what!r} is a directory of mailboxes, not a mailbox "
                "(mbox layout, as in Dovecot; see DIRNAME=)")
    if isinstance(e, NotADirectoryError):
        return (f"a mailbox on the path of {what!r} is a file and cannot have inferiors "
                "(mbox layout, as in Dovecot; see DIRNAME=)")
    return f"{what!r} already exists on disk as another kind of file"


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
        #: bumped by every change this process makes to the tree (a scan
        #: begun before it is stale)
        self._generation = 0
        try:
            with open(self._uv_file, encoding="ascii") as f:
                saved = int(f.read().strip() or 0)
            store._last_uidvalidity = max(store._last_uidvalidity, saved)
        except (OSError, ValueError):
            pass
        super().__init__(store, username)
        self._discover()
        try:
            with open(os.path.join(root, ".subscriptions"), encoding="utf-8") as f:
                self._subscriptions = {ln.strip() for ln in f if ln.strip()}
        except OSError:
            pass
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
        tmp = f"{self._su_file()}.{os.getpid()}.tmp"  # (other processes write it too)
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
        self._apply(self._on_disk())

    def _on_disk(self) -> tuple[set[str], set[str]]:
        """(mailboxes, \\Noselect names) the files under ROOT hold now
        (thread side: no state touched)."""
        found: set[str] = set()
        noselect: set[str] = set()
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
                    if self.dirname in filenames:
                        found.add(here)
                    else:
                        noselect.add(here)
                continue
            for d in dirnames:
                name = "/".join([*prefix, mutf7_decode(d)])
                if name.upper() != INBOX:
                    noselect.add(name)
            for fn in filenames:
                if fn.startswith(".") or fn.endswith(".lock"):
                    continue
                if os.path.abspath(os.path.join(dirpath, fn)) == inbox:
                    continue
                name = "/".join([*prefix, mutf7_decode(fn)])
                if name.upper() != INBOX:
                    found.add(name)
        return found, noselect - found

    def _apply(self, disk: tuple[set[str], set[str]]) -> None:
        """Make the tree match the files: another process (a second
        ``--workers`` process, Dovecot, mutt) may have created, deleted or
        renamed mailboxes since we last looked."""
        found, noselect = disk
        for name in sorted(found):
            self._add_found(name)
        for name in [n for n in self._mailboxes if n != INBOX and n not in found]:
            self._forget(name)
        self._noselect = set(noselect) - set(self._mailboxes)

    async def _refresh(self) -> None:
        """Read the tree from disk again (in a thread), unless this process
        changed it meanwhile (then that change is the newer truth: read again)."""
        for _ in range(3):
            generation = self._generation
            disk = await threads.deferToThread(self._on_disk)
            if generation == self._generation:
                self._apply(disk)
                return

    async def _refresh_one(self, name: str) -> None:
        """SELECT / STATUS / APPEND: only ``name``'s file looked at (not the
        tree).  A file whose UIDVALIDITY is not our mailbox's was deleted
        and created again by another process: it is another mailbox now."""
        if name == INBOX:
            return
        generation = self._generation
        path = self.file_for(name)

        def look() -> tuple[bool, tuple[int, int] | None]:
            return os.path.isfile(path), peek_base(path)

        is_file, base = await threads.deferToThread(look)
        if generation != self._generation:
            return
        box = self._mailboxes.get(name)
        if is_file and box is not None and base is not None \
                and base[0] != box.log.uidvalidity:
            self._forget(name)
            box = None
        if is_file and box is None:
            self._add_found(name)
            for parent in parents_of(name):
                if parent not in self._mailboxes and parent != INBOX:
                    self._noselect.add(parent)
        elif not is_file and box is not None:
            await self._refresh()

    def _forget(self, name: str) -> None:
        """Another process deleted ``name``: sessions still on our object
        hear every message expunged, and no write of it reaches the disk."""
        box = self._mailboxes.pop(name)
        self._special_use.pop(name, None)
        box.deleted = True
        box.log.expunge(box.log.uids)

    def _new_mailbox(self, name: str, special_use: frozenset[str] = frozenset()) -> LogMailbox:
        """A new mailbox's UIDVALIDITY is above every one any process gave
        in this account (RFC 3501 §2.3.1.1: never reused for a name): the
        last one given is read again, and the new one written, under an
        fcntl lock that other mailframe processes take too."""
        os.makedirs(os.path.dirname(self._uv_file), exist_ok=True)
        # (not "*.lock": Dovecot takes such a file for a held dotlock and waits)
        fd = os.open(self._uv_file + ".lck", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                with open(self._uv_file, encoding="ascii") as f:
                    saved = int(f.read().strip() or 0)
                self.store._last_uidvalidity = max(self.store._last_uidvalidity, saved)
            except (OSError, ValueError):
                pass
            return super()._new_mailbox(name, special_use)
        finally:
            os.close(fd)

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        path = self.file_for(name)
        box = MboxMailbox(path, self.index_for(name), name, uidvalidity, self.new_file(path))
        box.on_watch = self.on_watch
        box.create_missing = name == INBOX
        store = self.store
        if box.log.uidvalidity > store._last_uidvalidity:
            store._last_uidvalidity = box.log.uidvalidity
        if box.log.uidvalidity == uidvalidity:
            # a new mailbox: remember the value so a recreated name never
            # gets it again, even after a restart (RFC 3501 §2.3.1.1)
            os.makedirs(os.path.dirname(self._uv_file), exist_ok=True)
            tmp = f"{self._uv_file}.{os.getpid()}.tmp"  # (other processes write it too)
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
        """Create the (empty) files of those of ``names`` that are mailboxes:
        the pseudo-message holds UIDVALIDITY while a file is empty, written
        under the file's write lock; when another process created the same
        name first, its UIDVALIDITY is the mailbox's (RFC 3501 §2.3.1.1)."""
        for n in names:
            box = self._mailboxes.get(n)
            path = self.file_for(n)
            if isinstance(box, MboxMailbox) and (
                    not os.path.exists(path) or not os.path.getsize(path)):
                found = box.file.create_base(box.log.uidvalidity, box.log.uidnext - 1)
                box._adopt(*found)

    # ------------------------------------------------ the tree, as on disk now

    def _changing(self, fn: Callable[[], defer.Deferred[T]]) -> defer.Deferred[T]:
        """Run a change to the tree on the tree as the files hold it now."""

        async def run() -> T:
            await self._refresh()
            self._generation += 1
            try:
                return await fn()
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as e:
                # another process made a file where we expect a directory
                # (or the reverse) since we looked: a NO, as Dovecot's
                raise CannotDo(_layout_conflict(e)) from e
            finally:
                self._generation += 1

        return defer.Deferred.fromCoroutine(run())

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        async def run() -> list[MailboxEntry]:
            await self._refresh()
            return await super(MboxAccount, self).list_mailboxes()

        return defer.Deferred.fromCoroutine(run())

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        from mailframe.store._names import normalize_name

        async def run() -> IMailbox:
            await self._refresh_one(normalize_name(name))
            return await super(MboxAccount, self).mailbox(name)

        return defer.Deferred.fromCoroutine(run())

    def _read_subscriptions(self) -> set[str] | None:
        try:
            with open(os.path.join(self.root, ".subscriptions"), encoding="utf-8") as f:
                return {ln.strip() for ln in f if ln.strip()}
        except FileNotFoundError:
            return set()
        except OSError:
            return None

    async def _refresh_subscriptions(self) -> None:
        """Another process may have (un)subscribed since we read the file."""
        generation = self._generation
        subs = await threads.deferToThread(self._read_subscriptions)
        if subs is not None and generation == self._generation:
            self._subscriptions = subs

    def subscriptions(self) -> defer.Deferred[set[str]]:
        async def run() -> set[str]:
            await self._refresh_subscriptions()
            return await super(MboxAccount, self).subscriptions()

        return defer.Deferred.fromCoroutine(run())

    def create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()
                       ) -> defer.Deferred[None]:
        return self._changing(lambda: self._create_mailbox(name, special_use))

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        return self._changing(lambda: self._delete_mailbox(name))

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        return self._changing(lambda: self._rename_mailbox(old, new))

    def _create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()
                        ) -> defer.Deferred[None]:
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

    def create_parent(self, name: str) -> defer.Deferred[None]:
        """``CREATE name/`` (RFC 3501 §6.3.3: a trailing separator declares
        that the client means to create names under it; the IMAP layer
        calls this optional method when an account has it).  In the plain
        layout a file could not hold them, so ``name`` becomes a directory,
        \\Noselect, as in Dovecot's mbox; with ``DIRNAME=`` any mailbox
        may have inferiors, so it is an ordinary CREATE."""
        if self.dirname:
            return self.create_mailbox(name)

        def run() -> defer.Deferred[None]:
            from mailframe.store._names import normalize_name

            try:
                checked = normalize_name(name)
                if checked == INBOX:
                    raise MailboxExists("INBOX already exists")
                self._check_layout(checked)
                if checked in self._mailboxes or checked in self._noselect:
                    raise MailboxExists(f"mailbox {checked!r} already exists")
                os.makedirs(self.dir_for(checked), exist_ok=True)
                self._make_parents(checked)
                self._noselect.add(checked)
            except Exception:
                return defer.fail()
            return defer.succeed(None)

        return self._changing(run)

    def _delete_mailbox(self, name: str) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        async def run() -> None:
            checked = normalize_name(name)
            box = self._mailboxes.get(checked)
            if isinstance(box, MboxMailbox):
                await box.flush()
            await super(MboxAccount, self).delete_mailbox(name)
            if box is not None:
                for path in (self.file_for(checked), self.index_for(checked),
                             recent_path(self.index_for(checked)),
                             modseq_path(self.index_for(checked))):
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

    def _rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
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
            pairs += [(side(self.index_for(n)), side(self.index_for(dst + n[len(src):])))
                      for n in moved for side in (recent_path, modseq_path)]
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
        tmp = os.path.join(self.root, f".subscriptions.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(n + "\n" for n in sorted(self._subscriptions))
        os.replace(tmp, os.path.join(self.root, ".subscriptions"))

    def subscribe(self, name: str) -> defer.Deferred[None]:
        async def run() -> None:
            await self._refresh_subscriptions()
            self._generation += 1
            await super(MboxAccount, self).subscribe(name)
            self._save_subscriptions()

        return defer.Deferred.fromCoroutine(run())

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        async def run() -> None:
            await self._refresh_subscriptions()
            self._generation += 1
            await super(MboxAccount, self).unsubscribe(name)
            self._save_subscriptions()

        return defer.Deferred.fromCoroutine(run())


