"""Change watchers of a mailbox: the "something changed" hints of
DESIGN.md's log model, shared by every backend."""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

_log = Logger()


class Watchers:
    """Callbacks to call after each committed change.

    An exception from one is logged (twisted.logger) and does not stop the
    others or the change itself.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], object]] = []

    def add(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Register ``callback``; returns its unregister function (safe to
        call twice)."""
        self._callbacks.append(callback)

        def unregister() -> None:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                pass

        return unregister

    def notify(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                _log.failure("mailbox watcher {callback!r} failed", callback=callback)

    def clear(self) -> None:
        self._callbacks.clear()

    def __len__(self) -> int:
        return len(self._callbacks)
