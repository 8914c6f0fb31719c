"""The mbox store: Dovecot-compatible mbox files (``--store mbox:ROOT[:INBOX=PATH]``).

Layout as Dovecot's ``mail_location = mbox:ROOT:INBOX=PATH`` (``%u`` is the
user name): INBOX is ``PATH`` (default ``ROOT/inbox``), every other mailbox
``ROOT/<name>``, a hierarchy level a directory
(:mod:`mailframe.store._mbox_account`).

The file is the truth: UIDVALIDITY, UIDs, flags and keywords live in
Dovecot's headers (:mod:`mailframe.store._mbox_format`), so Dovecot, mutt
or procmail may use the same file.  Beside it an index
(:mod:`mailframe.store._mbox_index`) keeps offsets and modseqs: losing it
loses modseqs only; the mailbox's HIGHESTMODSEQ is shared by the worker
processes in a file beside it (:mod:`mailframe.store._mbox_modseq`).  Each command first notices another program's change
(:mod:`mailframe.store._mbox_mailbox`); file I/O runs in threads
(:mod:`mailframe.store._mbox_file`), under the locks other programs use
(:mod:`mailframe.store._mbox_lock`); expunges rewrite the file from the
first expunged message on (:mod:`mailframe.store._mbox_rewrite`).

This module holds the store (accounts, polling watched mailboxes so IDLE
hears of other programs' changes) and the ``mbox:`` URL.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailframe.errors import MailframeError, StoreUnavailable
from mailframe.store._mbox_account import MboxAccount
from mailframe.store._mbox_file import SETTLE, MboxFile
from mailframe.store._mbox_lock import LOCK_TIMEOUT, READ_LOCKS, WRITE_LOCKS, parse_locks
from mailframe.store._mbox_mailbox import MboxMailbox
from mailframe.store.logaccount import LogAccount, LogStore

__all__ = ["MboxStore", "MboxAccount", "MboxMailbox", "from_url", "POLL_INTERVAL"]

_log = Logger()
#: seconds between checks of watched mailboxes for other programs' changes.
POLL_INTERVAL = 1.0
_EXPUNGE_MODES = ("tail", "rename")


class MboxStore(LogStore):
    """Every user's mbox files, by the ROOT and INBOX templates."""

    def __init__(self, root: str, inbox: str | None = None, dirname: str | None = None,
                 clock: IReactorTime | None = None,
                 write_locks: tuple[str, ...] = WRITE_LOCKS,
                 read_locks: tuple[str, ...] = READ_LOCKS,
                 lock_timeout: float = LOCK_TIMEOUT, expunge: str = "tail",
                 settle: float = SETTLE) -> None:
        super().__init__()
        if expunge not in _EXPUNGE_MODES:
            raise ValueError(f"expunge is one of {_EXPUNGE_MODES}: {expunge!r}")
        #: Dovecot's mbox_write_locks / mbox_read_locks / mbox_lock_timeout
        self.write_locks = write_locks
        self.read_locks = read_locks
        self.lock_timeout = lock_timeout
        #: "tail" (rewrite from the first expunged message, as Dovecot) or "rename"
        self.expunge = expunge
        #: seconds a half-written-looking file must stay still (``SETTLE=``)
        self.settle = settle
        self.root = root
        self.inbox = inbox
        self.dirname = dirname
        self._clock = clock
        self._poll: IDelayedCall | None = None
        self._closed = False
        self._notifier: Any = None  # FileNotifier, opened at the first watch
        #: path -> the watched mailbox whose file the notifier reports
        self._notified: dict[str, MboxMailbox] = {}

    def start_polling(self) -> None:
        """Check watched mailboxes every :data:`POLL_INTERVAL` seconds while
        any has a watcher, and at once when inotify reports a write to one
        (:mod:`mailframe.store._mbox_notify`)."""
        self._watch_files()
        if self._poll is None and not self._closed:
            clock = self._clock
            if clock is None:
                from twisted.internet import reactor

                clock = reactor
            assert clock is not None
            self._poll = clock.callLater(POLL_INTERVAL, self._tick)

    def _watched(self) -> list[MboxMailbox]:
        return [box for account in self._accounts.values() for box in account.mailboxes()
                if isinstance(box, MboxMailbox) and box.log.watcher_count]

    def _watch_files(self) -> None:
        """inotify watches on exactly the watched mailboxes' files (not
        with a test clock: the reactor is the real one's)."""
        if self._closed or self._clock is not None:
            return
        if self._notifier is None:
            from twisted.internet import reactor

            from mailframe.store._mbox_notify import open_notifier

            self._notifier = open_notifier(reactor) or False
        if not self._notifier:
            return
        want = {box.path: box for box in self._watched()}
        for path, box in list(self._notified.items()):
            if want.get(path) is not box:
                self._notifier.unwatch(path)
                del self._notified[path]
        for path, box in want.items():
            if path not in self._notified and self._notifier.watch(
                    path, lambda box=box: self._hint(box)):
                self._notified[path] = box

    def _hint(self, box: MboxMailbox) -> None:
        """inotify saw a write to ``box``'s file: sync it (its watchers hear)."""

        def failed(f: Failure) -> None:
            if f.check(MailframeError, OSError):  # e.g. the name is a directory now: the
                return None  # next command on it answers NO with the reason
            _log.failure("checking {path}", f, path=box.path)
            return None

        box.sync().addErrback(failed)

    def _tick(self) -> None:
        self._poll = None
        self._watch_files()
        d = self.poll_once()
        d.addErrback(lambda f: _log.failure("polling mbox files", f))
        d.addCallback(lambda watched: self.start_polling() if watched else None)

    def poll_once(self) -> defer.Deferred[bool]:
        """Sync every watched mailbox now; True when any is watched."""

        async def run() -> bool:
            watched = self._watched()
            for box in watched:
                try:
                    await box.sync()
                except (MailframeError, OSError):  # gone or a directory now: the next
                    continue  # command on it answers NO, this is no fault
                except Exception:
                    _log.failure("checking {path}", path=box.path)
            return bool(watched)

        return defer.Deferred.fromCoroutine(run())

    def make_account(self, username: str) -> LogAccount:
        if not username or "/" in username or username in (".", "..") or "\0" in username:
            raise ValueError(f"unusable user name {username!r}")
        root = self.root.replace("%u", username)
        inbox = (self.inbox.replace("%u", username) if self.inbox
                 else os.path.join(root, "inbox"))
        os.makedirs(root, mode=0o700, exist_ok=True)
        return MboxAccount(self, username, root, inbox, self.dirname,
                           new_file=self.new_file, on_watch=self.start_polling)

    def new_file(self, path: str) -> MboxFile:
        """The :class:`MboxFile` of ``path`` with this store's locking."""
        return MboxFile(path, self.write_locks, self.read_locks, self.lock_timeout, self.expunge,
                        self.settle)

    def close(self) -> defer.Deferred[None]:
        """Wait for every mailbox's background index save, then close."""

        async def run() -> None:
            self._closed = True
            if self._poll is not None and self._poll.active():
                self._poll.cancel()
            self._poll = None
            if self._notifier:
                self._notifier.close()
            self._notifier = None
            self._notified.clear()
            for account in self._accounts.values():
                for box in account.mailboxes():
                    if isinstance(box, MboxMailbox):
                        await box.flush()
            await super(MboxStore, self).close()

        return defer.Deferred.fromCoroutine(run())


def from_url(url: str) -> MboxStore:
    """``mbox:ROOT[:INBOX=PATH][:DIRNAME=NAME][:WRITE_LOCKS=fcntl+dotlock]
    [:READ_LOCKS=fcntl][:LOCK_TIMEOUT=30][:EXPUNGE=tail|rename][:SETTLE=0.2]``
    (Dovecot's ``mail_location`` syntax; the lock options are its
    ``mbox_write_locks``, ``mbox_read_locks`` and ``mbox_lock_timeout``;
    ``SETTLE`` is how long a file that looks half-written by a program
    that dropped its lock must stay still before it is trusted) → a store;
    the ``mailframe.stores`` entry point."""
    scheme, sep, rest = url.partition(":")
    if scheme.strip().lower() != "mbox" or not sep or not rest:
        raise StoreUnavailable(f"not an mbox URL: {url!r} (mbox:ROOT[:INBOX=PATH])")
    parts = rest.split(":")
    root, inbox, dirname = parts[0], None, None
    locks: dict[str, tuple[str, ...]] = {"WRITE_LOCKS": WRITE_LOCKS, "READ_LOCKS": READ_LOCKS}
    timeout, expunge, settle = LOCK_TIMEOUT, "tail", SETTLE
    for p in parts[1:]:
        key, eq, value = p.partition("=")
        key = key.upper()
        if key == "INBOX" and eq:
            inbox = os.path.abspath(os.path.expanduser(value))
        elif key == "DIRNAME" and eq and value and "/" not in value:
            dirname = value
        elif key in ("WRITE_LOCKS", "READ_LOCKS") and eq:
            try:
                locks[key] = parse_locks(value)
            except ValueError as e:
                raise StoreUnavailable(f"{key}: {e}") from None
            if not locks[key]:
                raise StoreUnavailable(f"{key} names no lock: {value!r}")
        elif key == "LOCK_TIMEOUT" and eq:
            try:
                timeout = float(value)
            except ValueError:
                raise StoreUnavailable(f"LOCK_TIMEOUT takes seconds: {value!r}") from None
        elif key == "SETTLE" and eq:
            try:
                settle = float(value)
            except ValueError:
                raise StoreUnavailable(f"SETTLE takes seconds: {value!r}") from None
            if not 0 <= settle < 60:
                raise StoreUnavailable(f"SETTLE takes 0 to 60 seconds: {value!r}")
        elif key == "EXPUNGE" and eq:
            if value.lower() not in _EXPUNGE_MODES:
                raise StoreUnavailable(f"EXPUNGE takes tail or rename: {value!r}")
            expunge = value.lower()
        elif p:
            raise StoreUnavailable(
                f"unknown mbox option {p!r} (INBOX=PATH, DIRNAME=NAME, WRITE_LOCKS=fcntl+dotlock, "
                "READ_LOCKS=fcntl, LOCK_TIMEOUT=SECONDS, EXPUNGE=tail|rename, SETTLE=SECONDS)")
    root = os.path.abspath(os.path.expanduser(root))
    base = os.path.dirname(root.split("%u", 1)[0]) if "%u" in root else root
    try:
        os.makedirs(base or ".", mode=0o700, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create {base}: {e.strerror}") from e
    return MboxStore(root, inbox, dirname, write_locks=locks["WRITE_LOCKS"],
                     read_locks=locks["READ_LOCKS"], lock_timeout=timeout, expunge=expunge,
                     settle=settle)
