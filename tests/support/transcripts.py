"""Golden transcripts played on every store: one test class per store,
one test per transcript file, built the same way for the core transcripts
(tests/transcripts) and each extension's own directory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url

__all__ = ["STORES", "THREE_MESSAGES", "with_transcripts", "per_store"]

#: The opening of a transcript that races a command with another session:
#: alice logs in and appends three messages (Subject 1 to 3) to INBOX.
THREE_MESSAGES = """\
S~ \\* OK \\[CAPABILITY .*\\] mailframe ready\\.
C: a1 LOGIN alice secret
S~ a1 OK .* Logged in
C: a2 APPEND INBOX {12+}
C: Subject: 1
C:
S~ a2 OK .*
C: a3 APPEND INBOX {12+}
C: Subject: 2
C:
S~ a3 OK .*
C: a4 APPEND INBOX {12+}
C: Subject: 3
C:
S~ a4 OK .*
"""

#: A fresh store of each kind we ship (PostgreSQL: tests/store/sql).
STORES: dict[str, Callable[[TestCase], Any]] = {
    "Memory": lambda case: MemoryStore(),
    "Maildir": lambda case: maildir_from_url(f"maildir:{case.mktemp()}/mail"),
    "Mbox": lambda case: mbox_from_url(f"mbox:{case.mktemp()}/mail/%u:DIRNAME=mBoX-MeSsAgEs"),
    "Sqlite": lambda case: sqlite_from_url(f"sqlite:{case.mktemp()}.db"),
}


def _test_for(path: Path) -> Callable[[Any], Any]:
    async def test(self: Any) -> None:
        await self.play(path)

    test.__name__ = "test_" + path.stem
    test.__doc__ = str(path.relative_to(path.parents[1]))
    return test


def with_transcripts(base: type[TestCase], paths: Iterable[Path]) -> type[TestCase]:
    """``base`` (whose ``play(path)`` plays one file on ``self.make_store()``)
    with a ``test_<stem>`` method per transcript in ``paths``."""
    for path in paths:
        setattr(base, "test_" + path.stem, _test_for(path))
    return base


def per_store(namespace: dict[str, Any], base: type[TestCase], suffix: str,
              stores: Iterable[str] = tuple(STORES)) -> None:
    """Define ``<Store><suffix>`` in ``namespace`` (a test module's
    globals) for each of ``stores``: ``base`` with that store's
    ``make_store``, so the runner collects one class per store."""
    for name in stores:
        make = STORES[name]
        cls_name = name + suffix
        namespace[cls_name] = type(cls_name, (base,), {
            "make_store": lambda self, make=make: make(self),
            "__module__": namespace["__name__"],
        })
