"""The Maildir store: mailframe's embedded default, Dovecot-compatible.

``maildir:PATH`` keeps each user's Maildir in ``PATH/<username>/``;
``maildir:/var/mail/%u`` names each user's Maildir root directly (``%u`` is
the username).  The layout is Maildir++ as Dovecot writes it (see
:mod:`mailframe.store._maildir_names`, :mod:`mailframe.store._maildir_files`, :mod:`mailframe.store._maildir_uidlist`),
so Dovecot and mailframe can serve the same Maildir, one after the other
or at once.  Each folder keeps a persistent index with modseqs and parsed
messages (:mod:`mailframe.store._maildir_index`) so SELECT of a large mailbox lists no
directory and opens no message.

The file system work, fsyncs included, runs in the reactor's thread pool,
one job at a time per folder (:mod:`mailframe.store._maildir_worker`), so
no client waits on another's disk I/O; an APPEND is durable when its
Deferred fires.  While the reactor is not running (a command-line tool
before it starts it, a test driving the store by hand) the work is done at
once and the Deferreds returned have already fired; ``threads=False`` asks
for that always.  Watchers are told at once of changes made
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
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from mailframe.errors import (
    CannotDo,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
    StoreUnavailable,
)
from mailframe.interfaces import IAccount, IMailbox, IMailStore
from mailframe.records import MailboxEntry
from mailframe.store._maildir_files import fsync_dir
from mailframe.store._maildir_folder import Folder, make_maildir
from mailframe.store._maildir_mailbox import MaildirMailbox, copy_between
from mailframe.store._maildir_names import (
    INBOX,
    check_name,
    folder_for,
    mutf7_decode,
    mutf7_encode,
    name_for,
)
from mailframe.store._maildir_worker import SerialWorker
from mailframe.vocabulary import SPECIAL_USE

__all__ = ["MaildirStore", "MaildirAccount", "MaildirMailbox", "from_url"]

_log = Logger()
T = TypeVar("T")
POLL_INTERVAL = 1.0
#: Seconds a folder no session watches may go without a job before it
#: lets its held files go (``MaildirStore(idle_close=...)``; 0: never).
IDLE_CLOSE = 60.0
_SPECIAL_USE = "mailframe-special-use"
_trash_counter = itertools.count()


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
    """Every user's Maildir under one template path.

    The disk work runs in the reactor's thread pool (one serial worker per
    folder, one per account for its directory work) while the reactor
    runs; with ``threads=False``, or a ``clock`` (tests), at once,
    returning fired Deferreds; with ``threads=True`` always in threads
    (their results wait for the reactor to run)."""

    def __init__(
        self,
        template: str,
        clock: IReactorTime | None = None,
        *,
        threads: bool | None = None,
        idle_close: float = IDLE_CLOSE,
    ) -> None:
        self.template = template
        #: see :data:`IDLE_CLOSE`
        self.idle_close = idle_close
        self._swept = time.monotonic()
        self._clock = clock
        self._reactor: Any = None
        self._threads_always = bool(threads)
        if threads is not False and clock is None:
            from twisted.internet import reactor

            self._reactor = reactor
            try:  # loaded now, not by the first SELECT's watch (a few ms)
                import twisted.internet.inotify  # noqa: F401
            except Exception:  # ImportError off Linux
                pass
        self._worker = self._new_worker()
        self._accounts: dict[str, MaildirAccount] = {}
        self._watched: dict[str, Folder] = {}
        self._poll: IDelayedCall | None = None
        self._closed = False
        self._notifier: Any = None  # FolderNotifier, opened at the first watch

    def _new_worker(self) -> SerialWorker:
        """A new serial worker in this store's mode."""
        return SerialWorker(self._reactor, self._threads_always)

    def root_for(self, username: str) -> str:
        """The Maildir root of ``username``."""
        _check_username(username)
        if "%u" in self.template:
            return os.path.abspath(self.template.replace("%u", username))
        return os.path.abspath(os.path.join(self.template, username))

    def account(self, username: str) -> defer.Deferred[IAccount]:
        acct = self._accounts.get(username)
        if acct is not None:
            return defer.succeed(acct)
        try:
            root = self.root_for(username)
        except Exception:
            return defer.fail()

        def made(_: object) -> IAccount:
            got = self._accounts.get(username)
            if got is None:
                got = self._accounts[username] = MaildirAccount(self, username, root)
            return got

        return self._worker.submit(_open_root, root).addCallback(made)

    def close(self) -> defer.Deferred[None]:
        """Stop polling; each folder closes after the jobs queued before."""
        self._closed = True
        if self._poll is not None and self._poll.active():
            self._poll.cancel()
        self._poll = None
        closing = [d for acct in self._accounts.values() for d in acct._close()]
        self._accounts.clear()
        self._watched.clear()
        if self._notifier:
            self._notifier.close()
        self._notifier = None
        done: defer.Deferred[Any] = defer.DeferredList(closing, consumeErrors=True)
        return done.addCallback(lambda _: None)

    # -- the other-writers poll (only while someone watches) -------------

    def _watching(self, folder: Folder) -> None:
        self._watched[folder.path] = folder
        if self._poll is None and not self._closed:
            self._schedule()
        self._open_notifier()
        if self._notifier:
            self._notifier.watch(folder.path, lambda: self._hint(folder))

    def _open_notifier(self) -> None:
        """The inotify notifier, made once per process: at the first
        mailbox opened (an APPEND, a SELECT), so the first SELECT after a
        burst of APPENDs does not pay for it (only for its two watches)."""
        if self._notifier is None and not self._closed and self._clock is None:
            from twisted.internet import reactor

            from mailframe.store._inotify import open_notifier

            self._notifier = open_notifier(reactor) or False

    def _schedule(self) -> None:
        clock = self._clock
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self._poll = clock.callLater(POLL_INTERVAL, self._tick)

    def _hint(self, folder: Folder) -> None:
        """Something may have changed on disk: queue one refresh."""
        d = folder.request_refresh()
        if d is not None:
            d.addErrback(self._poll_failed, folder.path)

    def _poll_failed(self, failure: Any, path: str) -> None:
        if failure.check(FileNotFoundError, NonexistentMailbox):
            self._unwatch(path)
        else:
            _log.failure("maildir poll of {path} failed", failure, path=path)

    def _unwatch(self, path: str) -> None:
        self._watched.pop(path, None)
        if self._notifier:
            self._notifier.unwatch(path)

    # -- letting idle folders' files go ----------------------------------

    def _opening(self) -> None:
        """A mailbox is being opened (reactor thread): now and then, close
        the files of folders nobody watches and no job used for
        :attr:`idle_close` seconds.  Each open folder holds descriptors of
        ``dovecot-uidlist`` and ``mailframe-index`` (see
        :mod:`mailframe.store._maildir_held`); opening mailboxes is what
        adds them, so it is also what lets the idle ones go — no timer
        (a quiet process keeps the few it has).  The next use of a closed
        folder reads its files again from the start, as a newly opened
        folder does.  Only while jobs run in threads (a server)."""
        if self.idle_close <= 0 or self._closed or self._reactor is None:
            return
        if self._notifier is None and self._reactor.running:
            self._open_notifier()
        now = time.monotonic()
        if now - self._swept < self.idle_close / 2:
            return
        self._swept = now
        for acct in list(self._accounts.values()):
            acct._close_idle(now, self.idle_close)

    def _tick(self) -> None:
        self._poll = None
        for path, folder in list(self._watched.items()):
            if not folder.watched:
                self._unwatch(path)
                continue
            self._hint(folder)
        if self._watched and not self._closed:
            self._schedule()


def _account_file(name: str) -> bool:
    """A name at a Maildir root whose change is a change of the account's
    mailbox list, subscriptions or METADATA."""
    return (name.startswith(".") and not name.startswith("..")) or name in (
        "subscriptions", "mailframe-metadata")


def _close_failed(failure: Any, path: str) -> None:
    _log.failure("letting the files of idle folder {path} go failed", failure, path=path)


def _open_root(root: str) -> None:
    """Create a user's Maildir root if needed and finish what a crash
    interrupted: mailbox trees renamed out of sight by DELETE, and
    ``tmp/`` files older than 36 hours (the Maildir spec's rule) in the
    INBOX."""
    make_maildir(root, subfolder=False)
    now = time.time()
    for entry in os.listdir(root):
        if entry.startswith("..mailframe-deleted."):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    tmp = os.path.join(root, "tmp")
    for entry in os.listdir(tmp):
        path = os.path.join(tmp, entry)
        try:
            if now - os.stat(path).st_mtime > 36 * 3600:
                os.unlink(path)
        except OSError:
            pass


@implementer(IAccount)
class MaildirAccount:
    """One user's Maildir++ root: INBOX there, other mailboxes in
    ``.Name.Sub`` directories.

    The folder table lives on the reactor thread; directory work runs in
    the account's own serial worker (so subscription updates and mailbox
    renames keep their order), each folder's work in the folder's."""

    def __init__(self, store: MaildirStore, username: str, root: str) -> None:
        self.store = store
        self.username = username
        self.root = root
        self._folders: dict[str, Folder] = {}
        self._worker = store._new_worker()

    def _run(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        return self._worker.submit(fn, *args)

    def _path(self, name: str) -> str:
        return os.path.join(self.root, folder_for(name))

    def _folder(self, name: str) -> Folder:
        path = self._path(name)
        folder = self._folders.get(path)
        if folder is None:
            folder = self._folders[path] = Folder(path, self.root, self.store._new_worker())
        return folder

    def _close_idle(self, now: float, idle: float) -> None:
        """Let idle folders' files go (see :meth:`MaildirStore._opening`)."""
        for folder in self._folders.values():
            if folder.holds_files and not folder.watched and folder.idle_for(now) >= idle:
                folder.worker.submit(folder.close).addErrback(_close_failed, folder.path)

    def _forget(self, prefix_dir: str) -> list[defer.Deferred[None]]:
        """Drop the folders at and under ``prefix_dir`` (reactor thread);
        each closes after the jobs already queued in it."""
        closing = []
        for path in list(self._folders):
            if path == prefix_dir or path.startswith(prefix_dir + "."):
                folder = self._folders.pop(path)
                closing.append(folder.worker.submit(folder.close))
                self.store._unwatch(path)
        return closing

    def _close(self) -> list[defer.Deferred[None]]:
        closing = [f.worker.submit(f.close) for f in self._folders.values()]
        self._folders.clear()
        return closing

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

        return self._run(run)

    def _special_use(self, name: str) -> frozenset[str]:
        try:
            with open(os.path.join(self._path(name), _SPECIAL_USE), encoding="utf-8") as f:
                return frozenset(f.read().split())
        except FileNotFoundError:
            return frozenset()

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        def open_folder(folder: Folder) -> IMailbox:
            self._checked_selectable(checked)
            folder.refresh()
            return MaildirMailbox(self, checked, folder)

        async def run() -> IMailbox:
            await self._run(self._checked_selectable, checked)
            folder = self._folder(checked)
            return await folder.worker.submit_read(open_folder, folder)

        self.store._opening()
        try:
            checked = check_name(name)
        except Exception:
            return defer.fail()
        known = self._folders.get(self._path(checked))
        if known is not None:
            if known.now(lambda _log: True):  # refreshed, and nothing changed since
                return defer.succeed(MaildirMailbox(self, checked, known))
            return known.worker.submit_read(open_folder, known)  # one job, in the folder's worker
        return defer.ensureDeferred(run())

    def _checked_selectable(self, checked: str) -> None:
        if not self._selectable(checked):
            raise NonexistentMailbox(f"no mailbox {checked!r}")

    def _create(self, name: str, special_use: frozenset[str] = frozenset()) -> None:
        path = self._path(name)
        make_maildir(path, subfolder=name != INBOX)
        if special_use:
            with open(os.path.join(path, _SPECIAL_USE), "w", encoding="utf-8") as f:
                f.write(" ".join(sorted(special_use)) + "\n")
        fsync_dir(self.root)

    def _create_parents(self, name: str) -> None:
        levels = name.split("/")
        for i in range(1, len(levels)):
            parent = "/".join(levels[:i])
            if parent != INBOX and not os.path.isdir(self._path(parent)):
                self._create(parent)

    def create_mailbox(
        self, name: str, special_use: frozenset[str] = frozenset()
    ) -> defer.Deferred[None]:
        def run() -> None:
            unknown = frozenset(special_use) - SPECIAL_USE
            if unknown:
                # RFC 6154 §3: CREATE-SPECIAL-USE with an unknown attribute
                raise CannotDo(
                    f"unsupported special-use attribute {sorted(unknown)[0]}", code="USEATTR"
                )
            if checked == INBOX or self._selectable(checked):
                raise MailboxExists(f"mailbox {name!r} exists")
            self._create_parents(checked)
            self._create(checked, frozenset(special_use))

        try:
            checked = check_name(name)
        except Exception:
            return defer.fail()

        def forget(_: None) -> None:
            self._forget(self._path(checked))  # a folder object from before a DELETE

        return self._run(run).addCallback(forget)

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
            if not os.path.isdir(path):
                raise NonexistentMailbox(f"no mailbox {name!r}")
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

        try:
            checked = check_name(name)
            if checked == INBOX:
                raise CannotDo("INBOX cannot be deleted")
        except Exception:
            return defer.fail()
        path = self._path(checked)
        self._forget(path)
        return self._run(run)

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        def check() -> list[tuple[str, str]]:
            if not os.path.isdir(self._path(src)) and src != INBOX:
                raise NonexistentMailbox(f"no mailbox {old!r}")
            if dst == INBOX or os.path.isdir(self._path(dst)):
                raise MailboxExists(f"mailbox {new!r} exists")
            if dst.startswith(src + "/"):
                raise CannotDo("cannot move a mailbox into itself")
            self._create_parents(dst)
            if src == INBOX:
                self._create(dst)
                return []
            return [(src, dst)] + [
                (child, dst + child[len(src) :]) for child in self._children(src)
            ]

        def move(moves: list[tuple[str, str]]) -> None:
            for a, b in moves:
                os.rename(self._path(a), self._path(b))
            fsync_dir(self.root)

        async def run() -> None:
            moves = await self._run(check)
            if src == INBOX:
                # RFC 3501 §6.3.5: INBOX's mail moves, INBOX stays (empty)
                inbox, target = self._folder(INBOX), self._folder(dst)
                uids = await inbox.worker.submit(lambda: list(inbox.refresh().uids))
                await copy_between(inbox, target, uids)
                await inbox.worker.submit(inbox.remove, uids)
                return
            for a, _b in moves:
                await defer.DeferredList(self._forget(self._path(a)), consumeErrors=True)
            await self._run(move, moves)

        try:
            src, dst = check_name(old), check_name(new)
        except Exception:
            return defer.fail()
        return defer.ensureDeferred(run())

    def watch_mailboxes(self, callback: Callable[[], object]) -> Callable[[], None] | None:
        """Hint ``callback`` when this account's mailbox list (a ``.Name``
        folder made, removed or renamed), subscriptions or METADATA file
        may have changed, by this process or another (NOTIFY's mailbox
        and metadata events across processes, RFC 5465 §5.4-§5.7); None
        where it cannot be watched."""
        from mailframe.store.dirwatch import watch_names

        return watch_names(self.root, _account_file, callback)

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
        return self._run(self._read_subs)

    def subscribe(self, name: str) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            subs = self._read_subs()
            if checked not in subs:
                self._write_subs(subs | {checked})

        return self._run(run)

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        def run() -> None:
            checked = check_name(name)
            subs = self._read_subs()
            if checked in subs:
                self._write_subs(subs - {checked})

        return self._run(run)


