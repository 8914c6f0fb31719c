"""Optional capability interfaces are found with providedBy, and an
extension is advertised only where the account provides what it needs."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from mailframe.imap import session as session_module
from mailframe.imap.driver import SessionDriver
from mailframe.interfaces import IQuotaAccount, optional_capabilities
from mailframe.quota import QuotaLimits, QuotaUsage
from mailframe.store.memory import MemoryAccount, MemoryStore


@implementer(IQuotaAccount)
class _QuotaAccount(MemoryAccount):
    def quota(self) -> defer.Deferred[tuple[QuotaUsage, QuotaLimits]]:
        return defer.succeed((QuotaUsage(0, 0), QuotaLimits(1024 * 1024, None)))


class _QuotaStore(MemoryStore):
    def make_account(self, username: str) -> Any:
        return _QuotaAccount(self, username)


def test_discovered_with_provided_by() -> None:
    quota_account = _QuotaAccount(_QuotaStore(), "u")
    plain_account = MemoryAccount(MemoryStore(), "u")
    assert optional_capabilities(quota_account, frozenset({"QUOTA"})) == ["QUOTA"]
    assert optional_capabilities(plain_account, frozenset({"QUOTA"})) == []
    assert optional_capabilities(quota_account, frozenset()) == []  # no handlers: not served


def _caps_after_login(store: Any) -> bytes:
    d = SessionDriver(store)
    out = d.send(b"a LOGIN alice secret\r\nb CAPABILITY\r\n")
    return [line for line in out.split(b"\r\n") if line.startswith(b"* CAPABILITY")][0]


def test_advertised_only_where_provided_and_served(monkeypatch: Any) -> None:
    assert b" QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE" in _caps_after_login(_QuotaStore())
    assert b" QUOTA" not in _caps_after_login(MemoryStore())
    monkeypatch.setattr(session_module, "SERVED_OPTIONAL", frozenset())
    assert b" QUOTA" not in _caps_after_login(_QuotaStore())  # no handlers: not served
