"""A complete store of your own: one file per message, read in threads.

The bookkeeping (UIDs, modseqs, flags, \\Recent, watchers, the mailbox
tree, COPY/MOVE, SEARCH over flags/sizes/dates) comes from mailframe's
public bases; this file says only where the bytes live:

- ``put_messages``: write each message to ``<root>/<user>/<uidvalidity>/<uid>.eml``
  (all or none: a failure removes what was written);
- ``message_meta``: the internal date and parsed structure, kept in memory;
- ``read_range``: the asked byte range, read from the file in a thread;
- ``drop_messages``: delete the files of expunged messages.

Flags and UIDs live in memory here, so they do not survive a restart: a
store that must keeps ``self.log.to_state()`` in ``log_changed()``.

Check it, then serve it::

    python -m mailframe.testing examples.file_store:make_store
    twistd -n mailframe --store examples.file_store:make_store --user a:b

``FILE_STORE_ROOT`` names the directory (default: a new temporary one).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from twisted.internet import defer, threads

from mailframe.store import LogAccount, LogMailbox, LogStore, MailboxLog, StoredMessage, StoredMeta


class FileMailbox(LogMailbox):
    """Messages as files in one directory per mailbox."""

    def __init__(self, directory: str, name: str, uidvalidity: int) -> None:
        super().__init__(name, MailboxLog(uidvalidity))
        self.directory = directory
        self.meta: dict[int, StoredMeta] = {}

    def _path(self, uid: int) -> str:
        return os.path.join(self.directory, f"{uid}.eml")

    def _write_all(self, messages: Sequence[StoredMessage]) -> None:
        os.makedirs(self.directory, exist_ok=True)
        written = []
        try:
            for m in messages:
                with open(self._path(m.uid), "wb") as f:
                    f.write(m.content)
                    f.flush()
                    os.fsync(f.fileno())
                written.append(m.uid)
        except BaseException:
            for uid in written:  # all or none
                os.unlink(self._path(uid))
            raise

    def put_messages(self, messages: Sequence[StoredMessage]) -> defer.Deferred[None]:
        def remember(_: object) -> None:
            for m in messages:
                self.meta[m.uid] = m.meta

        return threads.deferToThread(self._write_all, messages).addCallback(remember)

    def message_meta(self, uid: int) -> StoredMeta:
        return self.meta[uid]

    def _read(self, uid: int, start: int, end: int | None) -> bytes:
        with open(self._path(uid), "rb") as f:
            f.seek(start)
            return f.read(-1 if end is None else max(0, end - start))

    def read_range(self, uid: int, start: int, end: int | None) -> defer.Deferred[bytes]:
        return threads.deferToThread(self._read, uid, start, end)

    def _unlink(self, uids: Sequence[int]) -> None:
        for uid in uids:
            try:
                os.unlink(self._path(uid))
            except FileNotFoundError:
                pass

    def drop_messages(self, uids: Sequence[int]) -> defer.Deferred[None]:
        for uid in uids:
            self.meta.pop(uid, None)
        return threads.deferToThread(self._unlink, list(uids))


class FileAccount(LogAccount):
    """One user: a directory; each mailbox a subdirectory named by its
    UIDVALIDITY (unique in the store, so RENAME moves no file)."""

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        assert isinstance(self.store, FileStore)
        directory = os.path.join(self.store.root, self.username, str(uidvalidity))
        return FileMailbox(directory, name, uidvalidity)


class FileStore(LogStore):
    """Every user's messages under ``root``."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def make_account(self, username: str) -> LogAccount:
        if not username or "/" in username or username in (".", ".."):
            raise ValueError(f"unusable user name {username!r}")
        return FileAccount(self, username)


def make_store() -> FileStore:
    """The factory ``--store examples.file_store:make_store`` calls."""
    root = os.environ.get("FILE_STORE_ROOT") or tempfile.mkdtemp(prefix="file-store-")
    return FileStore(root)
