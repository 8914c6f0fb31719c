"""Golden ACL transcripts (tests/transcripts/acl/*.imap) through the real
Twisted protocol, on every store that holds ACLs (memory, Maildir); and
on the stores that do not yet (mbox, SQLite), proof that ACL is neither
advertised nor served there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.acl.namespaces import Namespaces
from mailframe.auth.realm import MailRealm
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript

HERE = Path(__file__).resolve().parent.parent / "transcripts" / "acl"
TRANSCRIPTS = sorted(HERE.glob("*.imap"))
USERS = {"alice": "secret", "bob": "hunter2", "carol": "pw3", "root": "toor"}


async def play(text: str, store: Any) -> None:
    # (05_private_seen.imap needs the Public/ mailboxes' \Seen per reader)
    realm = MailRealm(store, ["root"], sharing=Namespaces(private_seen="public"))
    try:
        await run_transcript(text, store, USERS, realm=realm)
    finally:
        await defer.maybeDeferred(store.close)


class _ACLTranscripts(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError


def _test_for(path: Path) -> Callable[[Any], Any]:
    async def test(self: Any) -> None:
        await play(path.read_text(encoding="utf-8"), self.make_store())

    test.__name__ = "test_" + path.stem
    test.__doc__ = f"tests/transcripts/acl/{path.name}"
    return test


for _path in TRANSCRIPTS:
    setattr(_ACLTranscripts, "test_" + _path.stem, _test_for(_path))


class MemoryACLTranscripts(_ACLTranscripts):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirACLTranscripts(_ACLTranscripts):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


del _ACLTranscripts

NOT_SERVED = r"""
S~ \* OK \[CAPABILITY .*\] mailframe ready\.
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY (?!.*\bACL\b)(?!.*RIGHTS=)(?!.*LIST-MYRIGHTS).*\] Logged in
C: a2 MYRIGHTS INBOX
S: a2 BAD ACL is not available here
C: a3 SETACL INBOX bob lr
S: a3 BAD ACL is not available here
C: a4 NAMESPACE
S: * NAMESPACE (("" "/")) NIL NIL
S: a4 OK Namespace completed
C: a5 LIST "" "*" RETURN (MYRIGHTS)
S: a5 BAD Unknown LIST return option MYRIGHTS
"""


class StoresWithoutACL(TestCase):
    """mbox and SQL do not hold ACLs yet: nothing is advertised or served,
    even with sharing configured (DESIGN.md: advertise only what works)."""

    async def test_mbox(self) -> None:
        await play(NOT_SERVED, mbox_from_url(f"mbox:{self.mktemp()}/mail/%u"))

    async def test_sqlite(self) -> None:
        await play(NOT_SERVED, sqlite_from_url(f"sqlite:{self.mktemp()}.db"))


SHARED_MODE = r"""
S~ \* OK \[CAPABILITY .*\] mailframe ready\.
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY .*\] Logged in
C: a2 CREATE Projects
S: a2 OK Create completed
C: a3 SETACL Projects bob lrs
S: a3 OK Setacl complete
C: a4 APPEND Projects (\Seen) {12}
S: + Ready for literal data
C: Subject: 1
C:
S~ a4 OK \[APPENDUID \d+ 1\] Append completed
S~2 \* OK \[CAPABILITY .*\] mailframe ready\.
C2: b1 LOGIN bob hunter2
S~2 b1 OK \[CAPABILITY .*\] Logged in
C2: b2 STATUS shared/alice/Projects (UNSEEN)
S2: * STATUS shared/alice/Projects (UNSEEN 1)
S2: b2 OK Status completed
C2: b3 EXAMINE shared/alice/Projects
S*2
S2: b3 OK [READ-ONLY] Examine completed
C2: b4 FETCH 1 (FLAGS)
S2: * 1 FETCH (FLAGS (\Recent))
S2: b4 OK Fetch completed
C: a5 STATUS Projects (UNSEEN)
S: * STATUS Projects (UNSEEN 0)
S: a5 OK Status completed
"""


class PrivateSeenModes(TestCase):
    """``--acl-private-seen shared``: every mailbox one does not own keeps
    one's own \\Seen (alice's \\Seen is not bob's); ``off``: all shared."""

    async def test_shared_mode(self) -> None:
        store = MemoryStore()
        realm = MailRealm(store, ["root"], sharing=Namespaces(private_seen="shared"))
        await run_transcript(SHARED_MODE, store, USERS, realm=realm)

    async def test_off(self) -> None:
        store = maildir_from_url(f"maildir:{self.mktemp()}/mail")
        realm = MailRealm(store, ["root"], sharing=Namespaces(private_seen="off"))
        script = (SHARED_MODE.replace("(UNSEEN 1)", "(UNSEEN 0)")
                  .replace("S2: * 1 FETCH (FLAGS (\\Recent))", "S2: * 1 FETCH (FLAGS (\\Seen \\Recent))"))
        try:
            await run_transcript(script, store, USERS, realm=realm)
        finally:
            await store.close()
