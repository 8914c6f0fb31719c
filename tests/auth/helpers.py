"""Small real implementations the auth tests share (no mocks)."""

from __future__ import annotations

from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker, UserTableChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import LoginThrottle
from mailframe.interfaces import IAccount, IMailStore


@implementer(IAccount)
class Account:
    def __init__(self, username: str) -> None:
        self.username = username


@implementer(IMailStore)
class AccountsStore:
    """The account part of a store: one Account per user name."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def account(self, username: str) -> Deferred[Account]:
        return succeed(self.accounts.setdefault(username, Account(username)))

    def close(self) -> Deferred[None]:
        return succeed(None)


def sync_checker(users: dict[str, str], **kw: Any) -> InMemoryChecker:
    """An in-memory checker hashing inline (deterministic under a Clock)."""
    return InMemoryChecker(users, run_blocking=maybeDeferred, **kw)


def make_authenticator(checker: UserTableChecker | None = None, admins: tuple[str, ...] = (),
                       base: float = 0.5, maximum: float = 4.0, **kw: Any
                       ) -> tuple[Authenticator, Clock, AccountsStore]:
    clock = Clock()
    store = AccountsStore()
    checker = checker or sync_checker({"alice": "wonderland", "admin": "root-pw",
                                       "bob": "{SHA512-CRYPT}" + _BOB_HASH})
    portal = Portal(MailRealm(store, admins=admins), [checker])
    throttle = LoginThrottle(clock, base=base, maximum=maximum, lockout_after=kw.pop("lockout", 50),
                             address_lockout_after=kw.pop("address_lockout", 100))
    return Authenticator(portal, throttle=throttle, **kw), clock, store


# `mkpasswd -m sha512crypt secret`
_BOB_HASH = ("$6$hYRRdSY9rk1V8E9c$tVNBXHPu3xRh5XjONejLRCD6VjkdSxJ82nTnfTW6joQXdiCORjJWYMQl09aQnZhLJmncH"
             "tUFN58RuDoqDLXhX1")


def result_of(d: Deferred[Any]) -> Any:
    """The result of an already-fired Deferred (raises its failure)."""
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "Deferred has not fired"
    value = out[0]
    if hasattr(value, "raiseException"):
        value.raiseException()
    return value


def temp_path(case: Any) -> str:
    """A fresh path in the system temp directory, removed after the test
    (trial's ``mktemp`` would create it under the current directory)."""
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="mailframe-auth-")
    case.addCleanup(shutil.rmtree, base, True)
    return base + "/p"
