"""STORE over many messages in one transaction (RFC 3501 §6.4.6): the
flag transforms and file-name suffixes worked out once per distinct
flag set and suffix (issue 16, STORE 1:* +FLAGS) give every message the
name a message-by-message STORE gives it — letters of other programs
(Dovecot's ``P``, an unknown ``Z``, text after a comma) kept, keyword
letters from ``dovecot-keywords``."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from mailframe.records import NewMessage, StoreMode
from mailframe.store._maildir_files import flags_from_name, info_for
from mailframe.store._maildir_writes import _THREADED_RENAMES
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

MSG = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"
#: the info each message's file is given by "another program" first
INFOS = [":2,", ":2,S", ":2,FS", ":2,PS", ":2,SZ", ":2,S,extra", ":2,a", ":2,", ":2,S", ":2,FS"]


def test_a_batch_store_names_every_file_as_one_at_a_time_would() -> None:
    root = tempfile.mkdtemp(prefix="mf-maildir-store-")
    try:
        store = MaildirStore(root, threads=False)
        box: Any = result(result(store.account("u")).mailbox("INBOX"))
        uids = list(result(box.append_many(
            [NewMessage(MSG % (i, i), frozenset({"$seed"})) for i in range(len(INFOS))])).uids)
        folder = box.folder
        cur = os.path.join(root, "u", "cur")
        for uid, info in zip(uids, INFOS, strict=True):  # as another program left them
            name = folder.meta[uid].name[4:]
            os.rename(os.path.join(cur, name), os.path.join(cur, name.split(":")[0] + info))
        os.utime(cur, ns=(1, 1))  # a time of its own: the next refresh lists cur/
        before = {uid: (folder.meta[uid].name, st.flags)
                  for uid, st in zip(uids, result(box.states(uids)), strict=True)}
        changed = result(box.store(uids, StoreMode.ADD, frozenset({"\\Seen", "$new"}), None))
        keywords = folder.index.keywords
        for uid in uids:
            old_name, old_flags = before[uid]
            _, unknown = flags_from_name(old_name[4:], keywords)
            want = old_name.split(":")[0] + info_for(old_flags | {"\\Seen", "$new"}, keywords, unknown)
            assert folder.meta[uid].name == want, (uid, old_name)
            assert os.path.exists(os.path.join(root, "u", want))
        assert {s.uid for s in changed.changed} == set(uids)
        fresh: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        assert result(fresh.states(uids)) == result(box.states(uids))  # the index says the same
    finally:
        shutil.rmtree(root, True)


def test_a_large_store_renames_off_thread_and_skips_a_file_gone_unseen() -> None:
    """A STORE over more messages than ``_THREADED_RENAMES`` renames in a
    helper thread, relative to the folder's descriptor: every file gets
    its flags, the index lines agree with the names, and a file another
    program deleted without our noticing (``cur/``'s time put back) is
    left out of the answer instead of failing the command."""
    root = tempfile.mkdtemp(prefix="mf-maildir-store-")
    try:
        store = MaildirStore(root, threads=False)
        box: Any = result(result(store.account("u")).mailbox("INBOX"))
        n = 3 * _THREADED_RENAMES
        uids = list(result(box.append_many(
            [NewMessage(MSG % (i, i), frozenset()) for i in range(n)])).uids)
        folder = box.folder
        cur = os.path.join(root, "u", "cur")
        gone = uids[n // 2]
        st = os.stat(cur)
        os.unlink(os.path.join(root, "u", folder.meta[gone].name))
        os.utime(cur, ns=(st.st_atime_ns, st.st_mtime_ns))
        changed = result(box.store(uids, StoreMode.ADD, frozenset({"\\Seen"}), None))
        assert {s.uid for s in changed.changed} == set(uids) - {gone}
        names = set(os.listdir(cur))
        for uid in uids:
            if uid != gone:
                name = folder.meta[uid].name
                assert name.endswith(":2,S") and name[4:] in names, name
        fresh: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        live = [u for u in uids if u != gone]
        assert [s.flags for s in result(fresh.states(live))] == [frozenset({"\\Seen"})] * len(live)
    finally:
        shutil.rmtree(root, True)
