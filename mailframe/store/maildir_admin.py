"""Maildir maintenance for ``mailframe check``, ``reindex`` and ``import``.

:func:`check_folder` compares a folder's three records of its messages —
the files in ``cur/`` and ``new/``, ``dovecot-uidlist`` (UID ⇄ file) and
``mailframe-index`` with its ``mailframe-cache`` (see
:mod:`mailframe.store._maildir_index`) — under the folder's ``dovecot-uidlist.lock``, so a
running server is not caught half-way through a write.  ``repair=True``
drops uidlist records whose file is gone and, when the index disagrees
with the files, rebuilds it (:func:`reindex_folder`); no message file is
ever deleted or rewritten, and UIDs stay those of the uidlist.

:class:`MaildirRestorer` appends messages *with given UIDs* (and gives a
never-used mailbox a given UIDVALIDITY), so an import keeps the UIDs a
client has cached (RFC 3501 §2.3.1.1 allows it: UIDs stay strictly
ascending and are never reused).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mailframe.message import MessageInfo
from mailframe.store._maildir_files import base_of
from mailframe.store._maildir_folder import Folder
from mailframe.store._maildir_index import (
    Added,
    CacheFile,
    CorruptIndex,
    Expunged,
    FlagsChanged,
    IndexFile,
)
from mailframe.store._maildir_names import folder_for
from mailframe.store._maildir_uidlist import CorruptUidList, UidList

__all__ = ["FolderReport", "check_folder", "reindex_folder", "folder_path", "MaildirRestorer"]


def folder_path(root: str, name: str) -> str:
    """The directory of mailbox ``name`` under a Maildir++ root."""
    return os.path.join(root, folder_for(name))


@dataclass
class FolderReport:
    """What :func:`check_folder` found in one folder."""

    mailbox: str
    messages: int = 0
    #: uidlist records whose file is gone (expunged, not yet compacted away)
    uidlist_without_file: list[int] = field(default_factory=list)
    #: files in cur/ that the uidlist gives no UID
    files_without_uid: list[str] = field(default_factory=list)
    #: files in new/ not seen by any server yet (normal: new mail)
    unseen_new: int = 0
    #: UIDs the uidlist and files have but the index lacks
    missing_from_index: list[int] = field(default_factory=list)
    #: index entries whose file is gone or whose UID the uidlist disagrees with
    index_without_file: list[int] = field(default_factory=list)
    #: index entries whose cached parse cannot be read back
    bad_cache: list[int] = field(default_factory=list)
    #: files that could not be read at all (uidlist, index)
    unreadable: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (len(self.files_without_uid) + len(self.missing_from_index)
                + len(self.index_without_file) + len(self.bad_cache) + len(self.unreadable))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems}

    def lines(self) -> list[str]:
        """The report in words."""
        out = []
        for key, text in (
            ("unreadable", "unreadable: {}"),
            ("files_without_uid", "{n} file(s) in cur/ without a UID in dovecot-uidlist: {}"),
            ("missing_from_index", "{n} message(s) missing from mailframe-index: UIDs {}"),
            ("index_without_file", "{n} index entr(y/ies) without a matching file: UIDs {}"),
            ("bad_cache", "{n} bad mailframe-cache entr(y/ies): UIDs {}"),
            ("uidlist_without_file", "{n} uidlist record(s) of expunged messages: UIDs {}"),
        ):
            items = getattr(self, key)
            if items:
                shown = ", ".join(map(str, items[:10])) + (" ..." if len(items) > 10 else "")
                out.append(text.format(shown, n=len(items)))
        if self.unseen_new:
            out.append(f"{self.unseen_new} new message(s) in new/ not yet seen by a server")
        out.extend(f"repaired: {r}" for r in self.repaired)
        return out


def _index_view(path: str) -> dict[int, tuple[str, int, int]]:
    """uid → (file name, cache offset, cache length) from the index file,
    replayed read-only (:class:`CorruptIndex` if it cannot be read)."""
    checkpoint, events = IndexFile(os.path.join(path, "mailframe-index")).read()
    if checkpoint is None:
        raise CorruptIndex("no index")
    try:
        view = {int(row[0]): (str(row[1]), int(row[5]), int(row[6])) for row in checkpoint["meta"]}
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CorruptIndex(f"bad checkpoint: {e}") from None
    for event in events:
        if isinstance(event, Added):
            view[event.uid] = (event.meta.name, event.meta.coff, event.meta.clen)
        elif isinstance(event, FlagsChanged):
            if event.uid in view:
                view[event.uid] = (event.name, *view[event.uid][1:])
        elif isinstance(event, Expunged):
            for uid in event.uids:
                view.pop(uid, None)
    return view


def _listing(path: str) -> tuple[dict[str, str], int]:
    """base → "cur/<name>" for cur/, and how many files wait in new/."""
    files: dict[str, str] = {}
    for name in os.listdir(os.path.join(path, "cur")):
        if not name.startswith("."):
            files[base_of(name)] = "cur/" + name
    new = 0
    for name in os.listdir(os.path.join(path, "new")):
        if not name.startswith("."):
            files.setdefault(base_of(name), "new/" + name)
            new += 1
    return files, new


def check_folder(root: str, mailbox: str, repair: bool = False) -> FolderReport:
    """Check (and with ``repair`` fix) one folder; see the module docstring."""
    path = folder_path(root, mailbox)
    report = FolderReport(mailbox)
    folder = Folder(path, root)
    with folder.lock:
        files, report.unseen_new = _listing(path)
        uidlist = UidList(os.path.join(path, "dovecot-uidlist"))
        try:
            uidlist.refresh()
        except CorruptUidList as e:
            report.unreadable.append(f"dovecot-uidlist ({e})")
        try:
            index = _index_view(path)
            cp, _ = IndexFile(os.path.join(path, "mailframe-index")).read()
            if cp is not None and cp.get("uidvalidity") != uidlist.peek_uidvalidity():
                raise CorruptIndex("index belongs to another UIDVALIDITY")
        except CorruptIndex as e:
            report.unreadable.append(f"mailframe-index ({e})")
            index = {}
        by_base = uidlist.by_base
        for uid, name in sorted(uidlist.names.items()):
            if base_of(name) not in files:
                report.uidlist_without_file.append(uid)
        for base, name in sorted(files.items()):
            if base not in by_base and name.startswith("cur/"):
                report.files_without_uid.append(name)
        if not any(u.startswith("mailframe-index") for u in report.unreadable):
            cache = CacheFile(os.path.join(path, "mailframe-cache"))
            try:
                for uid, (name, coff, clen) in sorted(index.items()):
                    base = base_of(name[4:])
                    if base not in files or by_base.get(base) != uid:
                        report.index_without_file.append(uid)
                        continue
                    blob = cache.get(coff, clen) if coff >= 0 else None
                    prefix = b"%d\n" % uid
                    try:
                        ok = blob is not None and blob.startswith(prefix)
                        if ok:
                            MessageInfo.load(blob[len(prefix):])  # type: ignore[index]
                    except Exception:
                        ok = False
                    if not ok and coff >= 0:
                        report.bad_cache.append(uid)
            finally:
                cache.close()
            indexed = set(index)
            for uid, name in sorted(uidlist.names.items()):
                if base_of(name) in files and uid not in indexed and files[base_of(name)].startswith("cur/"):
                    report.missing_from_index.append(uid)
        report.messages = len(files)
        if repair:
            _repair(folder, uidlist, files, report)
    return report


def _repair(folder: Folder, uidlist: UidList, files: dict[str, str], report: FolderReport) -> None:
    """Lock held.  Never deletes or rewrites a message file."""
    if report.uidlist_without_file and not report.unreadable:
        live = {u: n for u, n in uidlist.names.items() if base_of(n) in files}
        uidlist.rewrite(live)
        report.repaired.append(
            f"dropped {len(report.uidlist_without_file)} uidlist record(s) without a file")
    if report.problems:
        reindex_folder(folder)
        report.repaired.append("rebuilt mailframe-index and mailframe-cache from the files")


def reindex_folder(folder: Folder) -> int:
    """Rebuild the folder's index and cache from ``dovecot-uidlist`` and
    the files (UIDs kept; modseqs continue upwards); how many messages."""
    with folder.lock:
        try:
            os.unlink(folder.index.file.path)
        except FileNotFoundError:
            pass
        folder.index.unload()
        folder.rebuild()
        assert folder.log is not None
        return len(folder.log)


class MaildirRestorer:
    """Append with chosen UIDs into a :class:`mailframe.store.maildir.MaildirMailbox`."""

    def __init__(self, mailbox: Any) -> None:
        self.folder: Folder = mailbox.folder

    def adopt_uidvalidity(self, uidvalidity: int) -> bool:
        """Give the mailbox ``uidvalidity`` if it never held a message;
        True when it has that UIDVALIDITY afterwards."""
        folder = self.folder
        with folder.lock:
            folder.scanner.locked_refresh()
            log = folder.log
            assert log is not None
            if log.uidvalidity == uidvalidity:
                return True
            if len(log) or log.uidnext != 1 or folder.uidlist.next_uid != 1:
                return False
            folder.uidlist.create(uidvalidity)
            folder.rebuild()
            return folder.log is not None and folder.log.uidvalidity == uidvalidity

    def next_uid(self) -> int:
        folder = self.folder
        log = folder.refresh()
        folder.uidlist.refresh()
        return max(log.uidnext, int(folder.uidlist.next_uid))

    def append(self, items: list[tuple[int, bytes, frozenset[str], datetime | None]]) -> list[int]:
        """Append ``(uid, content, flags, internaldate)`` items, UIDs
        ascending; a run of consecutive UIDs goes in as one batch.  An item
        whose UID is already below the mailbox's next UID gets the next
        free one instead.  Returns the UIDs given."""
        folder = self.folder
        out: list[int] = []
        i = 0
        while i < len(items):
            j = i + 1
            while j < len(items) and items[j][0] == items[j - 1][0] + 1:
                j += 1
            run = items[i:j]
            with folder.lock:
                folder.scanner.locked_refresh()
                assert folder.log is not None
                nxt = max(folder.log.uidnext, folder.uidlist.next_uid)
                if run[0][0] > nxt:
                    folder.uidlist.header_next = run[0][0]
                out += folder.append_many([(c, f, d) for _u, c, f, d in run])
            i = j
        return out

    def reserve(self, uidnext: int) -> None:
        """Make the next UID at least ``uidnext`` (the source's): messages
        expunged at the source keep their UIDs used up here too, so a
        client that saw them never mistakes new mail for them."""
        folder = self.folder
        with folder.lock:
            folder.scanner.locked_refresh()
            assert folder.log is not None
            if max(folder.log.uidnext, folder.uidlist.next_uid) >= uidnext:
                return
            folder.uidlist.header_next = uidnext
            folder.uidlist.rewrite({u: m.name[4:] for u, m in folder.meta.items()})
            reindex_folder(folder)
