"""The custom-store example works as a user would use it."""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.trial.unittest import TestCase

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from default_folders import DefaultFoldersStore, from_url  # noqa: E402

from mailframe.store.memory import MemoryStore  # noqa: E402
from mailframe.testing.transcript import run_transcript  # noqa: E402


class DefaultFoldersTests(TestCase):
    async def test_new_account_has_special_use_folders_once(self) -> None:
        store = DefaultFoldersStore(MemoryStore())
        account = await store.account("alice")
        await account.delete_mailbox("Junk")
        again = await store.account("alice")  # not re-created within a run
        names = {e.name: e.attributes for e in await again.list_mailboxes()}
        self.assertEqual(set(names), {"INBOX", "Drafts", "Sent", "Trash"})
        self.assertEqual(names["Sent"], frozenset({"\\Sent"}))

    async def test_clients_see_them_over_imap(self) -> None:
        store = from_url("default-folders:memory")
        await run_transcript(
            "S~ \\* OK .*\n"
            "C: a1 LOGIN alice secret\n"
            "S~ a1 OK .*\n"
            'C: a2 LIST "" * RETURN (SPECIAL-USE)\n'
            'S: * LIST (\\HasNoChildren) "/" INBOX\n'
            'S: * LIST (\\HasNoChildren \\Drafts) "/" Drafts\n'
            'S: * LIST (\\HasNoChildren \\Junk) "/" Junk\n'
            'S: * LIST (\\HasNoChildren \\Sent) "/" Sent\n'
            'S: * LIST (\\HasNoChildren \\Trash) "/" Trash\n'
            "S: a2 OK LIST completed\n"
            "C: a3 LSUB \"\" *\n"
            'S: * LSUB () "/" Drafts\n'
            'S: * LSUB () "/" Junk\n'
            'S: * LSUB () "/" Sent\n'
            'S: * LSUB () "/" Trash\n'
            "S: a3 OK LSUB completed\n",
            store,
        )
