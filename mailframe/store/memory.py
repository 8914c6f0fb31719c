"""The in-memory backend: every IMailStore method, nothing on disk.

For tests, trials (``twistd -n mailframe --store memory``) and as the
reference the conformance suite (:mod:`mailframe.testing`) is written
against.  It is the public bases with a dict for primitives: the
bookkeeping lives in :class:`mailframe.store.base.LogMailbox`, the
mailbox tree and its CREATE / DELETE / RENAME rules (RFC 3501
§6.3.3-6.3.5) in :class:`mailframe.store.logaccount.LogAccount`.

Every method returns a Deferred (already fired: nothing here waits).
"""

from __future__ import annotations

from collections.abc import Sequence

from mailframe.store._log import MailboxLog
from mailframe.store.base import LogMailbox, StoredMessage, StoredMeta
from mailframe.store.logaccount import LogAccount, LogStore
from mailframe.vocabulary import SPECIAL_USE

__all__ = ["MemoryStore", "MemoryAccount", "MemoryMailbox", "from_url", "SPECIAL_USE"]


class MemoryMailbox(LogMailbox):
    """One mailbox: a :class:`LogMailbox` whose primitives are a dict.

    A mailbox object outlives RENAME (it takes the new name) and DELETE:
    after DELETE its messages are expunged (so selected sessions hear of
    it) and APPEND/COPY into it fail with TryCreate.
    """

    def __init__(self, account: MemoryAccount, name: str, uidvalidity: int) -> None:
        super().__init__(name, MailboxLog(uidvalidity))
        self.account = account
        self._messages: dict[int, tuple[bytes, StoredMeta]] = {}

    @property
    def uidvalidity(self) -> int:
        """Cheap here (no I/O); not part of the interface."""
        return self.log.uidvalidity

    def __repr__(self) -> str:
        return f"<MemoryMailbox {self.account.username}:{self.name} uidvalidity={self.uidvalidity}>"

    def put_messages(self, messages: Sequence[StoredMessage]) -> None:
        for m in messages:
            self._messages[m.uid] = (m.content, m.meta)

    def message_meta(self, uid: int) -> StoredMeta:
        return self._messages[uid][1]

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        return self._messages[uid][0][start:end]

    def drop_messages(self, uids: Sequence[int]) -> None:
        for uid in uids:
            self._messages.pop(uid, None)


class MemoryAccount(LogAccount):
    """One user's mailbox tree.  INBOX always exists."""

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        return MemoryMailbox(self, name, uidvalidity)


class MemoryStore(LogStore):
    """Accounts by username, created on first use; nothing persists."""

    def make_account(self, username: str) -> LogAccount:
        return MemoryAccount(self, username)


def from_url(url: str = "memory") -> MemoryStore:
    """Entry point ``mailframe.stores: memory``: ``memory`` or ``memory:``
    (anything after the colon is refused, so typos do not pass silently)."""
    scheme, _, rest = url.partition(":")
    if scheme.strip().lower() != "memory" or rest.strip():
        raise ValueError(f"the memory store takes no arguments: {url!r}")
    return MemoryStore()
