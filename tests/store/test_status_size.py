"""STATUS SIZE (RFC 8438) and DELETED (RFC 9051 §6.3.11) on Maildir: the
counters kept by the log equal the per-message sizes (CRLF octets, as
RFC822.SIZE) after another program's LF-only delivery and after the store
is opened again (a restart), without reading the messages."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from mailframe.store.maildir import MaildirStore
from tests.store.test_maildir_layout import result


@pytest.fixture
def root() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mf-status-size-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _inbox(root: str) -> Any:
    return result(result(MaildirStore(root).account("u")).mailbox("INBOX"))


def _sizes(box: Any) -> tuple[int, int]:
    uids = [m.uid for m in result(box.snapshot()).messages]
    records = result(box.records(uids))
    return sum(r.size for r in records), sum(1 for r in records if "\\Deleted" in r.flags)


def test_size_and_deleted_survive_a_restart_and_foreign_deliveries(root: str) -> None:
    box = _inbox(root)
    result(box.append(b"Subject: a\r\n\r\none\r\n", frozenset({"\\Deleted"}), None))
    result(box.append(b"Subject: b\r\n\r\ntwo two\r\n", frozenset(), None))
    with open(os.path.join(root, "u", "new", "999.mda.host"), "wb") as f:
        f.write(b"Subject: via mda\n\nhello\nworld\n")  # LF only: served with CRLF
    st = result(box.status())
    assert (st.size, st.deleted) == _sizes(box)
    assert st.size == len(b"Subject: a\r\n\r\none\r\n") + len(b"Subject: b\r\n\r\ntwo two\r\n") + len(
        b"Subject: via mda\r\n\r\nhello\r\nworld\r\n")
    assert st.deleted == 1
    again = _inbox(root)  # a new store object: what a restarted server sees
    st2 = result(again.status())
    assert (st2.size, st2.deleted, st2.messages) == (st.size, st.deleted, 3)
    assert (st2.size, st2.deleted) == _sizes(again)
