"""The mbox store: the whole conformance suite, restarts included, in
both of Dovecot's layouts."""

from __future__ import annotations

import shutil
import tempfile
from unittest import SkipTest

from twisted.trial.unittest import TestCase

from mailframe.errors import CannotDo
from mailframe.store.mbox import MboxStore
from mailframe.testing import PersistentBackendConformance

_PLAIN = ("Dovecot's plain mbox layout: a name is a file (messages) or a directory "
          "(inferiors), never both; MboxDirnameConformance runs this check with DIRNAME=")


class MboxConformance(PersistentBackendConformance, TestCase):
    """``mbox:ROOT``: mailbox a/b is the file ROOT/a/b."""

    dirname: str | None = None

    def make_store(self) -> MboxStore:
        self.path = tempfile.mkdtemp(prefix="mf-mbox-")
        self.addCleanup(shutil.rmtree, self.path, True)
        return MboxStore(self.path + "/%u", dirname=self.dirname)

    def reopen_store(self) -> MboxStore:
        return MboxStore(self.path + "/%u", dirname=self.dirname)

    # the checks that need a mailbox with both messages and inferiors
    async def test_delete_child_keeps_parent(self) -> None:
        raise SkipTest(_PLAIN)

    async def test_delete_with_children_leaves_noselect(self) -> None:
        raise SkipTest(_PLAIN)

    async def test_mailbox_tree_and_subscriptions_survive(self) -> None:
        raise SkipTest(_PLAIN)

    async def test_noselect_placeholder_can_be_created_again(self) -> None:
        raise SkipTest(_PLAIN)

    async def test_rename_noselect_parent_moves_children(self) -> None:
        raise SkipTest(_PLAIN)

    async def test_a_file_cannot_have_inferiors(self) -> None:
        """As Dovecot: CREATE under a mailbox file fails with a reason;
        under a directory works and the directory is \\Noselect."""
        account = await self.account()
        await account.create_mailbox("f")
        with self.assertRaises(CannotDo):
            await account.create_mailbox("f/child")
        await account.create_mailbox("d/child")
        names = await self.names()
        assert "\\Noselect" in names["d"], names
        with self.assertRaises(CannotDo):
            await account.create_mailbox("d")


class MboxDirnameConformance(PersistentBackendConformance, TestCase):
    """``mbox:ROOT:DIRNAME=mBoX-MeSsAgEs``: every mailbox may have inferiors."""

    def make_store(self) -> MboxStore:
        self.path = tempfile.mkdtemp(prefix="mf-mbox-")
        self.addCleanup(shutil.rmtree, self.path, True)
        return MboxStore(self.path + "/%u", dirname="mBoX-MeSsAgEs")

    def reopen_store(self) -> MboxStore:
        return MboxStore(self.path + "/%u", dirname="mBoX-MeSsAgEs")
