"""APPEND sizes its message for QUOTA (RFC 9208 §4.3) only when the
account has a quota: counting the bare LFs of a 50 MB literal is a scan
of every octet on the reactor thread (issue 16, NOOP latency during a
50 MB APPEND), wasted when nothing limits storage."""

from __future__ import annotations

import pytest

from mailframe.errors import OverQuota
from mailframe.quota import QuotaLimits, ensure_room
from mailframe.store.memory import MemoryStore
from mailframe.store.quota import with_quota


def _sizer(calls: list[int], size: int):  # type: ignore[no-untyped-def]
    def size_of() -> int:
        calls.append(size)
        return size
    return size_of


def _run(coro):  # type: ignore[no-untyped-def]
    from twisted.internet.defer import Deferred, ensureDeferred

    out: list[object] = []
    d: Deferred[object] = ensureDeferred(coro)
    d.addBoth(out.append)
    assert out, "the store answered later than expected"
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()  # type: ignore[attr-defined]
    return out[0]


def test_no_quota_never_sizes() -> None:
    calls: list[int] = []
    account = _run(MemoryStore().account("alice"))
    _run(ensure_room(account, _sizer(calls, 10**9), 1))
    assert calls == []


def test_quota_sizes_once_and_refuses() -> None:
    calls: list[int] = []
    store = with_quota(MemoryStore(), QuotaLimits(storage=1000, messages=None))
    account = _run(store.account("alice"))
    with pytest.raises(OverQuota):
        _run(ensure_room(account, _sizer(calls, 2000), 1))
    assert calls == [2000]
    _run(ensure_room(account, _sizer(calls, 10), 1))
    assert calls == [2000, 10]
