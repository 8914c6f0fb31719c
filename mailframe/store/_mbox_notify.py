"""Change hints for watched mbox files within milliseconds (Linux inotify).

Another process writing a file a session watches (the other worker
process serving the tree under ``--workers``, Dovecot, mutt, an MDA)
is noticed by the store's one-second poll; a :class:`FileNotifier` makes
it a few milliseconds by asking the kernel (``inotify(7)``, through
``twisted.internet.inotify``, on the reactor) to report writes to the
file, or a file renamed over it (a rewrite), in its directory.  Each
burst of events becomes one ``refresh()`` a moment later (:data:`SETTLE`
seconds).  Without inotify, or with a full watch table, the poll alone
covers it (RFC 2177 asks only that an IDLE client hears soon).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.filepath import FilePath

__all__ = ["FileNotifier", "open_notifier", "SETTLE"]

_log = Logger()

#: Seconds between the first event of a burst and the refresh.
SETTLE = 0.002


class FileNotifier:
    """inotify watches on the directories of watched files."""

    def __init__(self, reactor: Any, inotify: Any) -> None:
        from twisted.internet import inotify as _in

        self.reactor = reactor
        self._in = _in
        self._notifier = inotify
        #: directory -> {file name -> refresh}
        self._dirs: dict[bytes, dict[bytes, Callable[[], object]]] = {}
        self._pending: dict[bytes, Any] = {}

    def watching(self, path: str) -> bool:
        d, name = os.path.split(os.fsencode(path))
        return name in self._dirs.get(d, {})

    def watch(self, path: str, refresh: Callable[[], object]) -> bool:
        """Call ``refresh`` after each burst of changes to the file at
        ``path``; False if the kernel refused (the poll still covers it)."""
        d, name = os.path.split(os.fsencode(path))
        files = self._dirs.get(d)
        if files is None:
            _in = self._in
            try:
                self._notifier.watch(
                    FilePath(d), mask=_in.IN_MODIFY | _in.IN_ATTRIB | _in.IN_MOVED_TO
                    | _in.IN_CREATE | _in.IN_DELETE, callbacks=[self._event(d)])
            except Exception as e:  # INotifyError: ENOSPC (watch table full), ENOENT ...
                _log.debug("inotify watch of {path} failed ({error}); changes by other "
                           "processes are seen by polling", path=path, error=e)
                return False
            files = self._dirs[d] = {}
        files[name] = refresh
        return True

    def unwatch(self, path: str) -> None:
        d, name = os.path.split(os.fsencode(path))
        call = self._pending.pop(os.path.join(d, name), None)
        if call is not None and call.active():
            call.cancel()
        files = self._dirs.get(d)
        if files is None:
            return
        files.pop(name, None)
        if not files:
            del self._dirs[d]
            try:
                self._notifier.ignore(FilePath(d))
            except KeyError:  # the kernel dropped it (directory deleted)
                pass

    def close(self) -> None:
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        self._dirs.clear()
        self._notifier.loseConnection()

    def _event(self, d: bytes) -> Callable[[Any, FilePath[bytes], int], None]:
        def event(_ignored: Any, fp: FilePath[bytes], mask: int) -> None:
            name = fp.basename()
            if name in self._dirs.get(d, {}):
                key = os.path.join(d, name)
                if key not in self._pending:
                    self._pending[key] = self.reactor.callLater(SETTLE, self._fire, d, name)

        return event

    def _fire(self, d: bytes, name: bytes) -> None:
        self._pending.pop(os.path.join(d, name), None)
        refresh = self._dirs.get(d, {}).get(name)
        if refresh is None:
            return
        try:
            refresh()
        except Exception:
            _log.failure("refresh of {path} after an inotify event failed",
                         path=os.path.join(d, name))


def open_notifier(reactor: Any) -> FileNotifier | None:
    """A notifier on ``reactor``, or None where inotify is unavailable."""
    try:
        from twisted.internet import inotify

        notifier = inotify.INotify(reactor)
        notifier.startReading()
    except Exception as e:  # ImportError off Linux, INotifyError (EMFILE)
        _log.debug("no inotify ({error}): changes by other processes are seen by polling",
                   error=e)
        return None
    return FileNotifier(reactor, notifier)
