"""``CREATE name/`` in Dovecot's plain mbox layout (RFC 3501 §6.3.3: a
trailing separator declares inferiors to come): a \\Noselect directory,
not a mailbox file that could never hold them (imaptest's list, listext
and subscribe groups failed on the plain layout before)."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.errors import MailboxExists
from mailframe.store.mbox import MboxStore


class CreateParent(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-parent-")
        self.addCleanup(shutil.rmtree, self.root, True)

    async def account(self, dirname: str | None = None) -> object:
        store = MboxStore(os.path.join(self.root, "%u"), dirname=dirname)
        self.addCleanup(store.close)
        return await store.account("u")

    async def test_plain_layout_makes_a_directory(self) -> None:
        account = await self.account()
        await account.create_parent("p")  # type: ignore[attr-defined]
        assert os.path.isdir(os.path.join(self.root, "u", "p"))
        await account.create_mailbox("p/c")  # type: ignore[attr-defined]
        entries = {e.name: e.attributes for e in await account.list_mailboxes()}  # type: ignore[attr-defined]
        assert "\\Noselect" in entries["p"] and "p/c" in entries
        with self.assertRaises(MailboxExists):
            await account.create_parent("p")  # type: ignore[attr-defined]
        await account.create_mailbox("f")  # type: ignore[attr-defined]
        with self.assertRaises(MailboxExists):  # a file already (Dovecot: ALREADYEXISTS)
            await account.create_parent("f")  # type: ignore[attr-defined]

    async def test_dirname_layout_makes_a_mailbox(self) -> None:
        account = await self.account("mBoX-MeSsAgEs")
        await account.create_parent("p")  # type: ignore[attr-defined]
        await account.create_mailbox("p/c")  # type: ignore[attr-defined]
        assert (await (await account.mailbox("p")).status()).messages == 0  # type: ignore[attr-defined]
