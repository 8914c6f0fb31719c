"""Hear of a reader's private ``\\Seen`` file being replaced, by this
process or another serving the same Maildir (``--workers``), within
milliseconds (Linux inotify, on the reactor).

A private change (:mod:`mailframe.acl.private_seen`) rewrites
``mailframe-seen.READER`` in the folder's directory (a temporary file
renamed over it); the reader's sessions in every process watch that name,
so an IDLE there is woken at once (RFC 2177 §3: the server sends the
updates "as they occur") and the next catch-up reads the new private
modseqs.  One inotify watch per folder directory and process, however
many sessions; without inotify (another OS, a full watch table) the
change is seen at the client's next command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["watch_file", "SETTLE"]

_log = Logger()

#: Seconds between an event and the callbacks (one call for a burst).
SETTLE = 0.002


class _Watcher:
    """The process's inotify watches on folder directories."""

    def __init__(self, reactor: Any, notifier: Any, inotify: Any) -> None:
        self.reactor = reactor
        self.notifier = notifier
        self.inotify = inotify
        #: directory → file name → callbacks
        self.dirs: dict[str, dict[str, set[Callable[[], object]]]] = {}
        self.pending: dict[tuple[str, str], Any] = {}

    def add(self, directory: str, name: str, callback: Callable[[], object]) -> Callable[[], None] | None:
        from twisted.python.filepath import FilePath

        names = self.dirs.get(directory)
        if names is None:
            try:
                self.notifier.watch(FilePath(directory.encode()),
                                    mask=self.inotify.IN_MOVED_TO | self.inotify.IN_CLOSE_WRITE,
                                    callbacks=[self._event(directory)])
            except Exception as e:  # INotifyError: ENOSPC, EACCES ...
                _log.warn("inotify watch of {path} failed ({error}); private \\Seen changes by "
                          "other processes are seen at the next command", path=directory, error=e)
                return None
            names = self.dirs[directory] = {}
        names.setdefault(name, set()).add(callback)

        def stop() -> None:
            watched = self.dirs.get(directory)
            if watched is None:
                return
            callbacks = watched.get(name)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del watched[name]
            if not watched:
                del self.dirs[directory]
                for key in [k for k in self.pending if k[0] == directory]:
                    call = self.pending.pop(key)
                    if call.active():
                        call.cancel()
                try:
                    self.notifier.ignore(FilePath(directory.encode()))
                except KeyError:  # the kernel dropped it (directory deleted)
                    pass
            if not self.dirs:  # nothing watched: no inotify descriptor left open
                self.close()

        return stop

    def close(self) -> None:
        for call in self.pending.values():
            if call.active():
                call.cancel()
        self.pending.clear()
        self.notifier.loseConnection()
        if _watcher and _watcher[0] is self:
            _watcher.clear()

    def _event(self, directory: str) -> Callable[[Any, Any, int], None]:
        def event(_ignored: Any, fp: Any, mask: int) -> None:
            name = fp.basename().decode("utf-8", "replace")
            if name in self.dirs.get(directory, {}) and (directory, name) not in self.pending:
                self.pending[(directory, name)] = self.reactor.callLater(SETTLE, self._fire, directory, name)

        return event

    def _fire(self, directory: str, name: str) -> None:
        self.pending.pop((directory, name), None)
        for callback in list(self.dirs.get(directory, {}).get(name, ())):
            try:
                callback()
            except Exception:
                _log.failure("private \\Seen watcher {callback!r} failed", callback=callback)


#: The process's watcher while it watches something (False: no inotify
#: here).
_watcher: list[_Watcher | bool] = []


def _get() -> _Watcher | None:
    if not _watcher:
        try:
            from twisted.internet import inotify, reactor

            notifier = inotify.INotify(reactor)
            notifier.startReading()
            _watcher.append(_Watcher(reactor, notifier, inotify))
        except Exception as e:  # ImportError off Linux, INotifyError (EMFILE)
            _log.debug("no inotify ({error}): private \\Seen changes by other processes are seen "
                       "at the next command", error=e)
            _watcher.append(False)
    found = _watcher[0]
    return found if isinstance(found, _Watcher) else None


def watch_file(directory: str, name: str, callback: Callable[[], object]) -> Callable[[], None] | None:
    """Call ``callback`` (on the reactor) after ``directory/name`` is
    written or renamed into place; returns the unregister, or None when
    it cannot be watched."""
    watcher = _get()
    if watcher is None:
        return None
    return watcher.add(directory, name, callback)
