"""Change hints between processes by inotify (issue 16): a watcher of a
mailbox in one store hears a change made through another store on the
same Maildir (as another --workers process would make it) with the
one-second poll switched off, so only the kernel's notice can deliver it."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from mailframe.store import maildir
from mailframe.store.maildir import MaildirStore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


class InotifyTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.patch(maildir, "POLL_INTERVAL", 3600.0)
        root = self.mktemp()
        self.a = MaildirStore(root)
        self.b = MaildirStore(root)
        self.addCleanup(self.a.close)
        self.addCleanup(self.b.close)

    @defer.inlineCallbacks
    def _heard(self, change: Any) -> Any:
        """Watch INBOX in store A, make ``change`` through store B, and
        wait until A's watcher fires and A's snapshot shows it."""
        mine = yield (yield self.a.account("alice")).mailbox("INBOX")
        theirs = yield (yield self.b.account("alice")).mailbox("INBOX")
        yield theirs.append(MESSAGE, frozenset(), None)
        yield mine.snapshot()  # both have loaded the folder
        fired: list[int] = []
        unregister = mine.watch(lambda: fired.append(1))
        self.addCleanup(unregister)
        yield change(theirs)
        while not fired:  # the test's timeout is the deadline
            yield deferLater(reactor, 0.01, lambda: None)
        return (yield mine.snapshot())

    @defer.inlineCallbacks
    def test_append_elsewhere_is_heard_without_polling(self) -> None:
        snap = yield self._heard(lambda mb: mb.append(MESSAGE, frozenset(), None))
        self.assertEqual(len(snap.messages), 2)

    @defer.inlineCallbacks
    def test_flag_change_elsewhere_is_heard_without_polling(self) -> None:
        snap = yield self._heard(lambda mb: mb.store([1], "add", frozenset({"\\Seen"})))
        self.assertIn("\\Seen", snap.messages[0].flags)

    @defer.inlineCallbacks
    def test_mda_drop_into_new_is_heard_without_polling(self) -> None:
        def drop(mb: Any) -> Any:
            root = self.a.root_for("alice")
            tmp = os.path.join(root, "tmp", "1700000000.mda.host")
            with open(tmp, "wb") as f:
                f.write(MESSAGE)
            os.rename(tmp, os.path.join(root, "new", "1700000000.mda.host"))
            return defer.succeed(None)

        snap = yield self._heard(drop)
        self.assertEqual(len(snap.messages), 2)
