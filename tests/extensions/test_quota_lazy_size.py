"""APPEND sizes its message for QUOTA (RFC 9208 §4.3) only when a storage
limit applies: counting the bare LFs of a 50 MB literal is a scan of
every octet on the reactor thread (issue 16, NOOP latency during a 50 MB
APPEND), wasted when nothing limits storage."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import ensureDeferred, inlineCallbacks
from twisted.trial.unittest import TestCase

from mailframe.errors import OverQuota
from mailframe.quota import QuotaLimits, ensure_room
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from mailframe.store.quota import with_quota


def _sizer(calls: list[int], size: int) -> Callable[[], int]:
    def size_of() -> int:
        calls.append(size)
        return size
    return size_of


class LazySizeTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_no_quota_never_sizes(self):  # type: ignore[no-untyped-def]
        calls: list[int] = []
        account = yield MemoryStore().account("alice")
        yield ensureDeferred(ensure_room(account, _sizer(calls, 10**9), 1))
        self.assertEqual(calls, [])

    @inlineCallbacks
    def test_storage_limit_sizes_once_and_refuses(self):  # type: ignore[no-untyped-def]
        calls: list[int] = []
        store = with_quota(MemoryStore(), QuotaLimits(storage=1000, messages=None))
        account = yield store.account("alice")
        with self.assertRaises(OverQuota):
            yield ensureDeferred(ensure_room(account, _sizer(calls, 2000), 1))
        self.assertEqual(calls, [2000])
        yield ensureDeferred(ensure_room(account, _sizer(calls, 10), 1))
        self.assertEqual(calls, [2000, 10])

    @inlineCallbacks
    def test_message_limit_only_never_sizes(self):  # type: ignore[no-untyped-def]
        """A Maildir account always answers QUOTA (its usage is counted);
        with no storage limit an APPEND is not sized."""
        calls: list[int] = []
        store = with_quota(MaildirStore(self.mktemp() + "/%u"), QuotaLimits(storage=None, messages=5))
        account = yield store.account("alice")
        yield ensureDeferred(ensure_room(account, _sizer(calls, 10**9), 1))
        self.assertEqual(calls, [])
        yield store.close()
