"""The Maildir backend: the whole conformance suite, restarts included."""

from __future__ import annotations

import shutil
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.store.maildir import MaildirStore
from mailframe.testing import PersistentBackendConformance


class MaildirConformance(PersistentBackendConformance, TestCase):
    def make_store(self) -> MaildirStore:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)
        return MaildirStore(self.path)

    def reopen_store(self) -> MaildirStore:
        return MaildirStore(self.path)
