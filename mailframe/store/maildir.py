"""The Maildir store: mailframe's embedded default, Dovecot-compatible.

``maildir:PATH`` keeps each user's Maildir in ``PATH/<username>/``;
``maildir:/var/mail/%u`` names each user's Maildir root directly (``%u`` is
the username).  The layout is Maildir++ as Dovecot writes it (see
:mod:`mailframe.store._maildir_names`, :mod:`mailframe.store._maildir_files`, :mod:`mailframe.store._maildir_uidlist`),
so Dovecot and mailframe can serve the same Maildir, one after the other
or at once.  Each folder keeps a persistent index with modseqs and parsed
messages (:mod:`mailframe.store._maildir_index`) so SELECT of a large mailbox lists no
directory and opens no message.

All methods return Deferreds that have already fired: the file system
work, fsyncs included, is done before the method returns, so an APPEND is
durable when its Deferred fires.  Watchers are told at once of changes made
through this process; within milliseconds on Linux, of other mailframe
processes' changes (``--workers``) and of new mail from Dovecot or an MDA
(inotify, see :mod:`mailframe.store._inotify`); and within about a second
of anything else (a ``stat()`` poll on the reactor clock while anyone
watches, the fallback everywhere).
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from mailframe.errors import (
    CannotDo,
    ExpungeIssued,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
    StoreUnavailable,
)
from mailframe.interfaces import (
    IAccount,
    IBatchReadMailbox,
    IExpungeHistory,
    IMailbox,
    IMailStore,
    ISearchableMailbox,
)
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    MailboxEntry,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)
from mailframe.store._maildir_files import LockGone, fsync_dir
from mailframe.store._maildir_names import (
    INBOX,
    check_name,
    folder_for,
    mutf7_decode,
    mutf7_encode,
    name_for,
)
from mailframe.store._maildir_recent import claim_recent, peek_recent
from mailframe.store._maildir_writes import Folder, make_maildir
from mailframe.store.statesearch import answerable, match
from mailframe.vocabulary import SPECIAL_USE

if TYPE_CHECKING:
    from mailframe.imap.types import SearchKey

__all__ = ["MaildirStore", "MaildirAccount", "MaildirMailbox", "from_url"]

_log = Logger()
T = TypeVar("T")
POLL_INTERVAL = 1.0
_SPECIAL_USE = "mailframe-special-use"
_trash_counter = itertools.count()


def _call(fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
    """Run ``fn`` now; its result or exception as a fired Deferred."""
    try:
        return defer.succeed(fn(*args))
    except LockGone:
        return defer.fail(NonexistentMailbox("the mailbox has been deleted"))
    except Exception:
        return defer.fail()


def from_url(url: str) -> MaildirStore:
    """``maildir:PATH`` or ``maildir:/var/mail/%u`` → a store (the
    ``mailframe.stores`` entry point).  Raises StoreUnavailable when the
    root cannot be created."""
    scheme, sep, path = url.partition(":")
    if scheme != "maildir" or not sep or not path:
        raise StoreUnavailable(f"not a maildir URL: {url!r}")
    if path.startswith("//"):
        path = path[2:]
    path = os.path.abspath(os.path.expanduser(path))  # immune to a later chdir
    base = os.path.dirname(path.split("%u", 1)[0]) if "%u" in path else path
    try:
        os.makedirs(base or ".", mode=0o700, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create {base}: {e.strerror}") from e
    return MaildirStore(path)


def _check_username(username: str) -> str:
    if (
        not username
        or username in (".", "..")
        or "/" in username
        or "\\" in username
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in username)
    ):
        raise InvalidMailboxName(f"unusable user name {username!r}")
    return username


@implementer(IMailStore)
class MaildirStore:
    """Every user's Maildir under one template path."""

    def __init__(self, template: str, clock: IReactorTime | None = None) -> None:
        self.template = template
        self._clock = clock
        self._accounts: dict[str, MaildirAccount] = {}
        self._watched: dict[str, Folder] = {}
        self._poll: IDelayedCall | None = None
        self._closed = False
        self._notifier: Any = None  # FolderNotifier, opened at the first watch

    def root_for(self, username: str) -> str:
        """The Maildir root of ``username``."""
        _check_username(username)
        if "%u" in self.template:
            return os.path.abspath(self.template.replace("%u", username))
        return os.path.abspath(os.path.join(self.template, username))

    def account(self, username: str) -> defer.Deferred[IAccount]:
        def get() -> IAccount:
            acct = self._accounts.get(username)
            if acct is None:
                root = self.root_for(username)
                make_maildir(root, subfolder=False)
                acct = self._accounts[username] = MaildirAccount(self, username, root)
                acct._sweep()
            return acct

        return _call(get)

    def close(self) -> defer.Deferred[None]:
        self._closed = True
        if self._poll is not None and self._poll.active():
            self._poll.cancel()
        self._poll = None
        for acct in self._accounts.values():
            acct._close()
        self._accounts.clear()
        self._watched.clear()
        if self._notifier:
            self._notifier.close()
        self._notifier = None
        return defer.succeed(None)

    # -- the other-writers poll (only while someone watches) -------------

    def _watching(self, folder: Folder) -> None:
        self._watched[folder.path] = folder
        if self._poll is None and not self._closed:
            self._schedule()
        if self._notifier is None and not self._closed and self._clock is None:
            from twisted.internet import reactor

            from mailframe.store._inotify import open_notifier

            self._notifier = open_notifier(reactor) or False
        if self._notifier:
            self._notifier.watch(folder.path, folder.refresh)

    def _schedule(self) -> None:
        clock = self._clock
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self._poll = clock.callLater(POLL_INTERVAL, self._tick)

    def _unwatch(self, path: str) -> None:
        self._watched.pop(path, None)
        if self._notifier:
            self._notifier.unwatch(path)

    def _tick(self) -> None:
        self._poll = None
        for path, folder in list(self._watched.items()):
            if not folder._watchers:
                self._unwatch(path)
                continue
            try:
                folder.refresh()
            except FileNotFoundError:
                self._unwatch(path)
            except Exception:
                _log.failure("maildir poll of {path} failed", path=path)
        if self._watched and not self._closed:
            self._schedule()


@implementer(IAccount)
class MaildirAccount:
    """One user's Maildir++ root: INBOX there, other mailboxes in
    ``.Name.Sub`` directories."""

    def __init__(self, store: MaildirStore, username: str, root: str) -> None:
        self.store = store
        self.username = username
        self.root = root
        self._folders: dict[str, Folder] = {}

    def _sweep(self) -> None:
        """Finish what a crash interrupted: mailbox trees renamed out of
        sight by DELETE, and ``tmp/`` files older than 36 hours (the
        Maildir spec's rule) in the INBOX."""
        now = time.time()
        for entry in os.listdir(self.root):
            if entry.startswith("..mailframe-deleted."):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
        tmp = os.path.join(self.root, "tmp")
        for entry in os.listdir(tmp):
            path = os.path.join(tmp, entry)
            try:
                if now - os.stat(path).st_mtime > 36 * 3600:
                    os.unlink(path)
            except OSError:
                pass

    def _path(self, name: str) -> str:
        return os.path.join(self.root, folder_for(name))

    def _folder(self, name: str) -> Folder:
        path = self._path(name)
        folder = self._folders.get(path)
        if folder is None:
            folder = self._folders[path] = Folder(path, self.root)
        return folder

    def _forget(self, prefix_dir: str) -> None:
        for path in list(self._folders):
            if path == prefix_dir or path.startswith(prefix_dir + "."):
                self._folders.pop(path).close()
                self.store._unwatch(path)

    def _close(self) -> None:
        for folder in self._folders.values():
            folder.close()
        self._folders.clear()

    def _selectable(self, name: str) -> bool:
        return os.path.isdir(os.path.join(self._path(name), "cur"))

    def _folder_names(self) -> list[str]:
        out = []
        for entry in os.listdir(self.root):
            name = name_for(entry)
            if name is not None and os.path.isdir(os.path.join(self.root, entry)):
                out.append(name)
        return out

    def _children(self, name: str) -> list[str]:
        prefix = name + "/"
        return [n for n in self._folder_names() if n.startswith(prefix)]

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        def run() -> list[MailboxEntry]:
            names = set(self._folder_names())
            out = [MailboxEntry(INBOX)]
            implied: set[str] = set()
            for name in names:
                levels = name.split("/")
                for i in range(1, len(levels)):
                    parent = "/".join(levels[:i])
                    if parent not in names and parent != INBOX:
                        implied.add(parent)
            for name in sorted(names | implied):
                if name in implied or not self._selectable(name):
                    out.append(MailboxEntry(name, frozenset({"\\Noselect"})))
                else:
                    out.append(MailboxEntry(name, self._special_use(name)))
            return out

        return _call(run)

    def _special_use(self, name: str) -> frozenset[str]:
        try:
            with open(os.path.join(self._path(name), _SPECIAL_USE), encoding="utf-8") as f:
                return frozenset(f.read().split())
        except FileNotFoundError:
            return frozenset()

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        def run() -> IMailbox:
            checked = check_name(name)
            if not self._selectable(checked):
                raise NonexistentMailbox(f"no mailbox {name!r}")
            folder = self._folder(checked)
            folder.refresh()
            return MaildirMailbox(self, checked, folder)

        return _call(run)

    def _create(self, name: str, special_use: frozenset[str] = frozenset()) -> None:
        path = self._path(name)
        make_maildir(path, subfolder=name != INBOX)
        if special_use:
            with open(os.path.join(path, _SPECIAL_USE), "w", encoding="utf-8") as f:
                f.write(" ".join(sorted(special_use)) + "\n")
        fsync_dir(self.root)

    def create_mailbox(
        self, name: str, special_use: frozenset[str] = frozenset()
    ) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            unknown = frozenset(special_use) - SPECIAL_USE
            if unknown:
                # RFC 6154 §3: CREATE-SPECIAL-USE with an unknown attribute
                raise CannotDo(
                    f"unsupported special-use attribute {sorted(unknown)[0]}", code="USEATTR"
                )
            if checked == INBOX or self._selectable(checked):
                raise MailboxExists(f"mailbox {name!r} exists")
            levels = checked.split("/")
            for i in range(1, len(levels)):
                parent = "/".join(levels[:i])
                if parent != INBOX and not os.path.isdir(self._path(parent)):
                    self._create(parent)
            self._forget(self._path(checked))
            self._create(checked, frozenset(special_use))

        return _call(run)

    def _trash(self, path: str) -> None:
        """Remove a directory tree: rename it out of sight first, so a
        crash half-way leaves no half-mailbox (as Dovecot does)."""
        hidden = os.path.join(
            self.root, f"..mailframe-deleted.{os.getpid()}.{next(_trash_counter)}"
        )
        os.rename(path, hidden)
        fsync_dir(os.path.dirname(hidden))
        shutil.rmtree(hidden, ignore_errors=True)

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            if checked == INBOX:
                raise CannotDo("INBOX cannot be deleted")
            path = self._path(checked)
            if not os.path.isdir(path):
                raise NonexistentMailbox(f"no mailbox {name!r}")
            self._forget(path)
            if self._children(checked):
                if not self._selectable(checked):
                    raise MailboxHasChildren(f"{name!r} has children")
                # RFC 3501 §6.3.4: keep the name as \Noselect, drop its mail;
                # cur/ goes first, so the folder is \Noselect at once
                self._trash(os.path.join(path, "cur"))
                for entry in os.listdir(path):
                    full = os.path.join(path, entry)
                    if os.path.isdir(full):
                        shutil.rmtree(full, ignore_errors=True)
                    else:
                        os.unlink(full)
            else:
                self._trash(path)

        return _call(run)

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        def run() -> None:
            src, dst = check_name(old), check_name(new)
            if not os.path.isdir(self._path(src)) and src != INBOX:
                raise NonexistentMailbox(f"no mailbox {old!r}")
            if dst == INBOX or os.path.isdir(self._path(dst)):
                raise MailboxExists(f"mailbox {new!r} exists")
            if dst.startswith(src + "/"):
                raise CannotDo("cannot move a mailbox into itself")
            levels = dst.split("/")
            for i in range(1, len(levels)):
                parent = "/".join(levels[:i])
                if parent != INBOX and not os.path.isdir(self._path(parent)):
                    self._create(parent)
            if src == INBOX:
                self._create(dst)
                inbox, target = self._folder(INBOX), self._folder(dst)
                uids = list(inbox.refresh().uids)
                inbox.copy_into(target, uids)
                inbox.remove(uids)
                return
            moves = [(src, dst)] + [
                (child, dst + child[len(src) :]) for child in self._children(src)
            ]
            for a, _b in moves:
                self._forget(self._path(a))
            for a, b in moves:
                os.rename(self._path(a), self._path(b))
            fsync_dir(self.root)

        return _call(run)

    # -- subscriptions (Dovecot's "subscriptions" file, version 2) ------

    def _subs_path(self) -> str:
        return os.path.join(self.root, "subscriptions")

    def _read_subs(self) -> set[str]:
        """Dovecot's version 2 file: ``V<tab>2``, a blank line, then one
        name a line, its levels in modified UTF-7 joined by tabs (older
        files: one name a line)."""
        try:
            with open(self._subs_path(), encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return set()
        if lines and lines[0].startswith("V\t"):
            out = set()
            for line in lines[2:]:
                if line:
                    try:
                        out.add("/".join(mutf7_decode(level) for level in line.split("\t")))
                    except InvalidMailboxName:
                        out.add(line.replace("\t", "/"))
            return out
        return {line for line in lines if line}

    def _write_subs(self, names: set[str]) -> None:
        text = "V\t2\n\n" + "".join(
            "\t".join(mutf7_encode(level) for level in n.split("/")) + "\n" for n in sorted(names)
        )
        tmp = f"{self._subs_path()}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self._subs_path())

    def subscriptions(self) -> defer.Deferred[set[str]]:
        return _call(self._read_subs)

    def subscribe(self, name: str) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            subs = self._read_subs()
            if checked not in subs:
                self._write_subs(subs | {checked})

        return _call(run)

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            subs = self._read_subs()
            if checked in subs:
                self._write_subs(subs - {checked})

        return _call(run)


@implementer(IMailbox, ISearchableMailbox, IExpungeHistory, IBatchReadMailbox)
class MaildirMailbox:
    """A selected (or STATUSed) Maildir folder."""

    def __init__(self, account: MaildirAccount, name: str, folder: Folder) -> None:
        self.account = account
        self.name = name
        self.folder = folder

    def status(self) -> defer.Deferred[MailboxStatus]:
        return _call(lambda: self.folder.refresh().status())

    def snapshot(self) -> defer.Deferred[Snapshot]:
        return _call(self.folder.snapshot)

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        return _call(lambda: self.folder.refresh().changes_since(modseq))

    def expunged_since(self, modseq: int) -> defer.Deferred[list[int] | None]:
        """IExpungeHistory: None once tombstones that old are pruned."""

        def run() -> list[int] | None:
            log = self.folder.refresh()
            return log.expunged_since(modseq) if log.complete_since(modseq) else None

        return _call(run)

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        """From the index: no cache entry decoded, no file opened."""
        return _call(self.folder.states, uids)

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        return _call(self.folder.records, uids)

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
        def run() -> bytes:
            self.folder.refresh()
            return self.folder.read_range(uid, start, end)

        return _call(run)

    def read_many(self, uids: Sequence[int]) -> defer.Deferred[dict[int, bytes]]:
        """IBatchReadMailbox: one refresh for the group, then each file."""

        def run() -> dict[int, bytes]:
            self.folder.refresh()
            out: dict[int, bytes] = {}
            for uid in uids:
                try:
                    out[uid] = self.folder.read_range(uid, 0, None)
                except ExpungeIssued:
                    continue
            return out

        return _call(run)

    def search(self, key: SearchKey, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        """ISearchableMailbox: flag, UID, size, internal-date and modseq
        keys from the index; ``None`` for the rest."""

        def run() -> list[int] | None:
            if not answerable(key):
                return None
            states = self.folder.states(uids)
            largest = self.folder.refresh().largest_uid
            return [st.uid for st in states if match(key, st, largest)]

        return _call(run)

    def append(
        self,
        content: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> defer.Deferred[int]:
        return _call(
            lambda: self.folder.append_many([(bytes(content), frozenset(flags), internaldate)])[0]
        )

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """MULTIAPPEND (RFC 3502): all of ``messages`` or none.  Each is
        written and fsynced into ``tmp/`` first; then, under the lock, all
        are renamed into ``cur/`` and get their UIDs in one uidlist update.
        A failure before that update removes what was renamed, so nothing
        becomes visible."""

        def run() -> AppendResult:
            batch = [(bytes(c), frozenset(f), d) for c, f, d in messages]
            uids = self.folder.append_many(batch)
            return AppendResult(self.folder.refresh().uidvalidity, tuple(uids))

        return _call(run)

    def store(
        self,
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> defer.Deferred[StoreResult]:
        if mode not in tuple(StoreMode):
            return defer.fail(ValueError(f"unknown store mode {mode!r}"))
        return _call(self.folder.store, list(uids), StoreMode(mode), frozenset(flags), unchangedsince)

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        return _call(self.folder.expunge, None if uids is None else list(uids))

    def can_copy_to(self, destination: IMailbox) -> bool:
        """Natively only into a Maildir folder of the same store; the
        framework copies into anything else through the public methods."""
        return (
            isinstance(destination, MaildirMailbox)
            and destination.account.store is self.account.store
        )

    def _dest(self, destination: IMailbox) -> Folder:
        if not isinstance(destination, MaildirMailbox):
            raise CannotDo("destination is not a Maildir mailbox of this store")
        return destination.folder

    def _copied(self, dest: Folder, pairs: list[tuple[int, int]]) -> CopyResult:
        return CopyResult(dest.refresh().uidvalidity, tuple(pairs))

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        def run() -> CopyResult:
            dest = self._dest(destination)
            return self._copied(dest, self.folder.copy_into(dest, list(uids)))

        return _call(run)

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        def run() -> CopyResult:
            # Into the mailbox itself too: new UIDs, the old ones expunged
            # (RFC 6851 §3.3, as Dovecot does).
            dest = self._dest(destination)
            pairs = self.folder.copy_into(dest, list(uids))
            self.folder.remove([s for s, _ in pairs])
            return self._copied(dest, pairs)

        return _call(run)

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        return _call(claim_recent, self.folder)

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        """What :meth:`claim_recent` would give, unclaimed (for EXAMINE)."""
        return _call(peek_recent, self.folder)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        unregister: Callable[[], None] = self.folder.watch(callback)
        self.account.store._watching(self.folder)
        return unregister
