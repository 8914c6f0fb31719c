"""Hints of files appearing, disappearing or being replaced in a
directory, by this process or another (Linux inotify, on the reactor).

Used where a change made by one process must reach sessions in another
(``--workers``, two servers on one tree) and no mailbox watch covers it:
a reader's private ``\\Seen`` file (:mod:`mailframe.acl.storage`), and
a Maildir account's mailbox list, subscriptions and METADATA
(:meth:`mailframe.store.maildir.MaildirAccount.watch_mailboxes`, for
NOTIFY's MailboxName, SubscriptionChange and metadata events, RFC 5465
§5.4-§5.7).  Hints carry no data (DESIGN.md): the watcher reads what
changed itself.  One inotify descriptor per process, opened at the first
watch and closed with the last; one kernel watch per directory however
many watchers.  Without inotify (another OS, a full watch table) nothing
is watched and the change is seen at the client's next command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["watch_names", "SETTLE"]

_log = Logger()

#: Seconds between an event and the callback (one call for a burst).
SETTLE = 0.002

_Watcher = tuple[Callable[[str], bool], Callable[[], object]]


class _DirWatch:
    """The process's inotify watches on directories."""

    def __init__(self, reactor: Any, notifier: Any, inotify: Any) -> None:
        self.reactor = reactor
        self.notifier = notifier
        self.inotify = inotify
        #: directory → its watchers (``wanted(name)``, callback)
        self.dirs: dict[str, list[_Watcher]] = {}
        self.pending: dict[int, tuple[str, Any]] = {}

    def add(self, directory: str, wanted: Callable[[str], bool],
            callback: Callable[[], object]) -> Callable[[], None] | None:
        from twisted.python.filepath import FilePath

        watchers = self.dirs.get(directory)
        if watchers is None:
            i = self.inotify
            try:
                self.notifier.watch(FilePath(directory.encode()),
                                     mask=i.IN_MOVED_TO | i.IN_MOVED_FROM | i.IN_CLOSE_WRITE
                                     | i.IN_CREATE | i.IN_DELETE,
                                     callbacks=[self._event(directory)])
            except Exception as e:  # INotifyError: ENOSPC, EACCES ...
                _log.warn("inotify watch of {path} failed ({error}); changes by other processes "
                          "are seen at the next command", path=directory, error=e)
                if not self.dirs:
                    self.close()
                return None
            watchers = self.dirs[directory] = []
        entry: _Watcher = (wanted, callback)
        watchers.append(entry)

        def stop() -> None:
            listed = self.dirs.get(directory)
            if listed is None or entry not in listed:
                return
            listed.remove(entry)
            pending = self.pending.pop(id(entry), None)
            if pending is not None and pending[1].active():
                pending[1].cancel()
            if not listed:
                del self.dirs[directory]
                try:
                    self.notifier.ignore(FilePath(directory.encode()))
                except KeyError:  # the kernel dropped it (directory deleted)
                    pass
            if not self.dirs:  # nothing watched: no descriptor left open
                self.close()

        return stop

    def close(self) -> None:
        for _, call in self.pending.values():
            if call.active():
                call.cancel()
        self.pending.clear()
        self.notifier.loseConnection()
        if _state and _state[0] is self:
            _state.clear()

    def _event(self, directory: str) -> Callable[[Any, Any, int], None]:
        def event(_ignored: Any, fp: Any, mask: int) -> None:
            name = fp.basename().decode("utf-8", "replace")
            for entry in list(self.dirs.get(directory, ())):
                if id(entry) not in self.pending and entry[0](name):
                    call = self.reactor.callLater(SETTLE, self._fire, entry)
                    self.pending[id(entry)] = (directory, call)

        return event

    def _fire(self, entry: _Watcher) -> None:
        self.pending.pop(id(entry), None)
        try:
            entry[1]()
        except Exception:
            _log.failure("directory watcher {callback!r} failed", callback=entry[1])


#: The process's watcher while it watches something (False: no inotify).
_state: list[_DirWatch | bool] = []


def _get() -> _DirWatch | None:
    if not _state:
        try:
            from twisted.internet import inotify, reactor

            notifier = inotify.INotify(reactor)
            notifier.startReading()
            _state.append(_DirWatch(reactor, notifier, inotify))
        except Exception as e:  # ImportError off Linux, INotifyError (EMFILE)
            _log.debug("no inotify ({error}): changes by other processes are seen at the next "
                       "command", error=e)
            _state.append(False)
    found = _state[0]
    return found if isinstance(found, _DirWatch) else None


def watch_names(directory: str, wanted: Callable[[str], bool],
                callback: Callable[[], object]) -> Callable[[], None] | None:
    """Call ``callback`` (on the reactor, :data:`SETTLE` seconds after the
    first of a burst) when a name in ``directory`` for which ``wanted``
    is true is created, written, renamed in or out, or deleted; returns
    the unregister, or None when the directory cannot be watched."""
    watcher = _get()
    if watcher is None:
        return None
    return watcher.add(directory, wanted, callback)
