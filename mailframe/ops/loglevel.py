"""``--log-level``: drop log events below a level, whatever observers
twistd installed (its log file, ``--syslog``, or a ``--logger`` factory
such as :func:`mailframe.ops.jsonlog.observer`).

twistd starts logging after the service is built and offers no level of
its own, so :class:`LogLevelService` wraps each observer of the global
log publisher in a level filter when the service starts.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    globalLogPublisher,
)

__all__ = ["LEVELS", "parse_level", "apply_level", "LogLevelService"]

#: The names ``--log-level`` accepts.
LEVELS = ("debug", "info", "warn", "error", "critical")


def parse_level(name: str) -> LogLevel:
    """The LogLevel named ``name`` (``warning`` is ``warn``); ValueError
    for anything else."""
    name = name.strip().lower()
    if name == "warning":
        name = "warn"
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}")
    level: LogLevel = LogLevel.levelWithName(name)
    return level


class _LevelFilter(FilteringLogObserver):
    """Marks the filters this module installed (so they are not wrapped twice)."""


def apply_level(level: LogLevel, publisher: LogPublisher = globalLogPublisher) -> int:
    """Wrap every observer of ``publisher`` so events below ``level`` are
    dropped; returns how many were wrapped."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    observers: list[Any] = list(getattr(publisher, "_observers", ()))
    wrapped = 0
    for observer in observers:
        if isinstance(observer, _LevelFilter):
            continue
        publisher.removeObserver(observer)
        publisher.addObserver(_LevelFilter(observer, [predicate]))
        wrapped += 1
    return wrapped


class LogLevelService(service.Service):
    """Applies ``level`` once twistd's logging has begun (at start)."""

    def __init__(self, level: LogLevel) -> None:
        self.level = level

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        apply_level(self.level)
