"""Change hints from other processes within milliseconds (Linux inotify).

Several processes serve one Maildir (``--workers``, Dovecot, an MDA, mutt):
a mailframe process commits each change by appending an event line to
``mailframe-index`` after its renames (see
:mod:`mailframe.store._maildir_folder`), Dovecot by rewriting
``dovecot-uidlist``, an MDA by a file appearing in ``new/``.  The store's
``stat()`` poll notices all of them within about a second; a
:class:`FolderNotifier` makes those three a few milliseconds by asking the
kernel (``inotify(7)``, through ``twisted.internet.inotify``, on the
reactor) to report them in every folder someone watches (an IDLE session,
or any selected mailbox).  Each burst of events becomes one ``refresh()``
of the folder a moment later (:data:`SETTLE` seconds), which reads what
changed and tells its watchers.  ``cur/`` is not watched: mailframe's own
renames there are always followed by their index line (reacting to the
rename would only race the writer), and a rename by another program (a
flag set by mutt or Dovecot) is left to the poll, as is everything on
systems without inotify or with a full watch table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.filepath import FilePath

__all__ = ["FolderNotifier", "open_notifier", "SETTLE"]

_log = Logger()

#: Seconds between the first event of a burst and the refresh (one
#: refresh for a writer's several lines).
SETTLE = 0.002

#: The folder files whose change means another writer committed something
#: (not ``mailframe-cache``, which readers fill in).
_COMMIT_FILES = frozenset({b"mailframe-index", b"dovecot-uidlist"})


class FolderNotifier:
    """inotify watches on watched folders, each calling its ``refresh``."""

    def __init__(self, reactor: Any, inotify: Any) -> None:
        from twisted.internet import inotify as _in

        self.reactor = reactor
        self._in = _in
        self._notifier = inotify
        self._folders: dict[str, tuple[Callable[[], object], list[FilePath[bytes]]]] = {}
        self._pending: dict[str, Any] = {}

    def watch(self, path: str, refresh: Callable[[], object]) -> bool:
        """Watch the Maildir folder at ``path`` (its index and uidlist, and
        ``new/``); ``refresh`` runs after each burst of changes.
        False if the kernel refused (the poll still covers it)."""
        if path in self._folders:
            return True
        _in = self._in
        entries: list[FilePath[bytes]] = []
        try:
            top = FilePath(path.encode())
            self._notifier.watch(top, mask=_in.IN_MODIFY | _in.IN_MOVED_TO | _in.IN_CREATE,
                                 callbacks=[self._event(path, files_only=True)])
            entries.append(top)
            new = top.child(b"new")
            self._notifier.watch(new, mask=_in.IN_CREATE | _in.IN_MOVED_TO,
                                 callbacks=[self._event(path, files_only=False)])
            entries.append(new)
        except Exception as e:  # INotifyError: ENOSPC (watch table full), EACCES ...
            _log.warn("inotify watch of {path} failed ({error}); changes by other processes "
                      "are seen by polling", path=path, error=e)
            for fp in entries:
                self._notifier.ignore(fp)
            return False
        self._folders[path] = (refresh, entries)
        return True

    def unwatch(self, path: str) -> None:
        entry = self._folders.pop(path, None)
        call = self._pending.pop(path, None)
        if call is not None and call.active():
            call.cancel()
        if entry is None:
            return
        for fp in entry[1]:
            try:
                self._notifier.ignore(fp)
            except KeyError:  # the kernel dropped it (directory deleted)
                pass

    def close(self) -> None:
        for path in list(self._folders):
            self.unwatch(path)
        self._notifier.loseConnection()

    def _event(self, path: str, files_only: bool) -> Callable[[Any, FilePath[bytes], int], None]:
        def event(_ignored: Any, fp: FilePath[bytes], mask: int) -> None:
            if files_only and fp.basename() not in _COMMIT_FILES:
                return
            if path in self._folders and path not in self._pending:
                self._pending[path] = self.reactor.callLater(SETTLE, self._fire, path)

        return event

    def _fire(self, path: str) -> None:
        self._pending.pop(path, None)
        entry = self._folders.get(path)
        if entry is None:
            return
        try:
            entry[0]()
        except FileNotFoundError:
            self.unwatch(path)
        except Exception:
            _log.failure("refresh of {path} after an inotify event failed", path=path)


def open_notifier(reactor: Any) -> FolderNotifier | None:
    """A notifier on ``reactor``, or None where inotify is unavailable."""
    try:
        from twisted.internet import inotify

        notifier = inotify.INotify(reactor)
        notifier.startReading()
    except Exception as e:  # ImportError off Linux, INotifyError (EMFILE)
        _log.debug("no inotify ({error}): changes by other processes are seen by polling", error=e)
        return None
    return FolderNotifier(reactor, notifier)
