"""The Maildir cache file read in runs (issue 16: a header sync's first
FETCH read each message's parsed form with its own ``pread``): the same
blobs as one read each, whatever the order, gaps, foreign or missing
entries; and a cold FETCH of records through a new store object gives
the same records as the folder that appended them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from twisted.internet import defer

from mailframe.records import NewMessage
from mailframe.store._maildir_index import CacheFile
from mailframe.store.maildir import MaildirStore


def test_get_many_is_get_of_each(tmp_path: Path) -> None:
    cache = CacheFile(str(tmp_path / "mailframe-cache"))
    spans = [cache.add(b"%d\n" % i + os.urandom(i * 37 % 5000 + 1)) for i in range(300)]
    wanted = spans[::-1] + [spans[5], (-1, 0), (10**9, 20), spans[0]]
    wanted += [(spans[7][0], spans[7][1] + 10 ** 8)]  # past the end of the file
    assert cache.get_many(wanted) == [cache.get(off, length) for off, length in wanted]
    assert cache.get_many([]) == []
    cache.close()


def _result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    return out[0]


def _box(path: Path) -> Any:
    return _result(_result(MaildirStore(str(path)).account("u")).mailbox("INBOX"))


def test_cold_records_are_the_appended_ones(tmp_path: Path) -> None:
    box = _box(tmp_path)
    messages = [b"Subject: m%d\r\nFrom: a@example.org\r\n\r\n" % i + b"body %d\r\n" % i * (i + 1) for i in range(60)]
    _result(box.append_many([NewMessage(m, frozenset(), None) for m in messages]))
    uids = [m.uid for m in _result(box.snapshot()).messages]
    warm = _result(box.records(uids))
    cold = _result(_box(tmp_path).records(uids[::2] + uids[1::2]))
    assert [(r.uid, r.size, r.internaldate, r.info) for r in cold] == [
        (r.uid, r.size, r.internaldate, r.info) for r in warm
    ]
    assert [r.info.header for r in cold] == [m.split(b"\r\n\r\n")[0] + b"\r\n\r\n" for m in messages]


def test_first_fetch_after_append_or_copy_reads_no_cache_file(tmp_path: Path) -> None:
    """The writer keeps the parsed form it made at APPEND (and COPY) in
    the folder's memory: the header sync that follows a delivery does not
    read each message back from ``mailframe-cache`` (issue 16)."""
    account = _result(MaildirStore(str(tmp_path)).account("u"))
    _result(account.create_mailbox("Other"))
    box = _result(account.mailbox("INBOX"))
    other = _result(account.mailbox("Other"))
    messages = [b"Subject: m%d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n" % (i, i) for i in range(20)]
    _result(box.append_many([NewMessage(m, frozenset(), None) for m in messages]))
    uids = [m.uid for m in _result(box.snapshot()).messages]
    _result(box.copy(uids[:5], other))

    def no_read(*_: Any) -> Any:
        raise AssertionError("mailframe-cache read")

    for b in (box, other):
        b.folder.index.cache.get = b.folder.index.cache.get_many = no_read
    got = _result(box.records(uids))
    assert [r.info.header for r in got] == [m.split(b"\r\n\r\n")[0] + b"\r\n\r\n" for m in messages]
    copied = _result(other.records([m.uid for m in _result(other.snapshot()).messages]))
    assert [r.info.header for r in copied] == [r.info.header for r in got[:5]]
