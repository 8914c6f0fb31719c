"""Public helpers for backend authors: the backend conformance suite.

Every mailframe backend (memory, Maildir, SQL, ...) and a user's own passes
the same tests of the :mod:`mailframe.interfaces` contract ("the mailbox is a
log", DESIGN.md).  Run them against your store in three lines::

    from twisted.trial.unittest import TestCase
    from mailframe.testing import BackendConformance

    class MyStoreTests(BackendConformance, TestCase):
        def make_store(self):
            return MyStore(self.mktemp())

``make_store`` returns a new, empty IMailStore (or a Deferred of one); it is
called once per test and the store is closed (``close()``) when the test
ends — override ``cleanup_store(store)`` to do more.  A backend whose mail
survives restarts adds :class:`PersistentBackendConformance` instead, with
``reopen_store()`` returning a new store over the same data::

    class MyDiskStoreTests(PersistentBackendConformance, TestCase):
        def make_store(self):
            self.path = self.mktemp()
            return MyStore(self.path)

        def reopen_store(self):
            return MyStore(self.path)

From the shell, with words a newcomer can act on::

    python -m mailframe.testing mypackage.mystore:make_store
    python -m mailframe.testing --read-only --user alice mypackage.archive:make_store

A store that cannot change mail uses :class:`ReadOnlyConformance`: its
``make_store()`` returns a store that already holds mail for
``readonly_username``.

The tests are ``async def`` methods on a twisted.trial TestCase; both
``trial`` and ``pytest`` run them.  Watchers may be called asynchronously:
the suite waits up to ``watch_timeout`` seconds (default 5) for them.
"""

from __future__ import annotations

from mailframe.testing._base import AWKWARD, AWKWARD_STORED, DATE, SIMPLE, BackendFixture, message
from mailframe.testing.conformance_account import INVALID_NAMES, AccountConformance
from mailframe.testing.conformance_mailbox import (
    MailboxLogConformance,
    RecentCopyWatchConformance,
    StoreConformance,
)
from mailframe.testing.conformance_persist import PersistenceConformance
from mailframe.testing.conformance_random import RandomWalkConformance
from mailframe.testing.conformance_readonly import ReadOnlyConformance

__all__ = [
    "BackendConformance",
    "PersistentBackendConformance",
    "BackendFixture",
    "MailboxLogConformance",
    "StoreConformance",
    "RecentCopyWatchConformance",
    "AccountConformance",
    "PersistenceConformance",
    "RandomWalkConformance",
    "ReadOnlyConformance",
    "INVALID_NAMES",
    "SIMPLE",
    "AWKWARD",
    "AWKWARD_STORED",
    "DATE",
    "message",
]


class BackendConformance(
    MailboxLogConformance,
    StoreConformance,
    RecentCopyWatchConformance,
    AccountConformance,
    RandomWalkConformance,
):
    """Every conformance test for an IMailStore; mix with a trial TestCase
    and define ``make_store()``."""


class PersistentBackendConformance(BackendConformance, PersistenceConformance):
    """:class:`BackendConformance` plus restart checks; also define
    ``reopen_store()``."""
