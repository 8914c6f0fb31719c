"""Store layers: a store wrapped to add one optional capability to its
accounts (QUOTA in :mod:`mailframe.store.quota`, METADATA in
:mod:`mailframe.store.metadata`, OBJECTID in :mod:`mailframe.store.objectid`),
each passing every other attribute and interface through to what it wraps,
so layers stack in any order and the framework still finds each
capability with ``providedBy`` (see
:data:`mailframe.interfaces.OPTIONAL_CAPABILITIES`).

A layer account keeps what it wraps as ``wrapped``; so does a layer store,
and code that needs the store underneath (the ACL storage) follows
``wrapped`` down.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from zope.interface import directlyProvides, providedBy
from zope.interface.interface import InterfaceClass

from mailframe.interfaces import IMailStore

__all__ = ["AccountLayer", "StoreLayer"]


class _Over:
    """What both layers share: every attribute a layer does not define is
    the wrapped object's."""

    _inner: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._inner!r}>"


class AccountLayer(_Over):
    """An account of the wrapped store with the interface ``adds``
    provided besides all of the wrapped account's; every attribute the
    layer does not define is the wrapped account's."""

    def __init__(self, inner: Any, adds: InterfaceClass) -> None:
        self._inner = inner
        directlyProvides(self, providedBy(inner), adds)

    @property
    def wrapped(self) -> Any:
        """The store's own account."""
        return self._inner


class StoreLayer(_Over):
    """A store whose accounts come wrapped by :meth:`layer_account` (one
    layer account per user, made again when the wrapped store hands out a
    new account object)."""

    def __init__(self, store: Any) -> None:
        self._inner = store
        self._accounts: dict[str, Any] = {}
        directlyProvides(self, providedBy(store), IMailStore)

    @property
    def wrapped(self) -> Any:
        """The store without this layer."""
        return self._inner

    def layer_account(self, username: str, inner: Any) -> Any | None:
        """The layer account over ``inner``, or None to hand ``inner`` out
        as it is (the capability cannot be served for it)."""
        raise NotImplementedError

    def account(self, username: str) -> defer.Deferred[Any]:
        async def run() -> Any:
            inner = await self._inner.account(username)
            known = self._accounts.get(username)
            if known is not None and known.wrapped is inner:
                return known
            layered = self.layer_account(username, inner)
            if layered is None:
                return inner
            self._accounts[username] = layered
            return layered

        return defer.Deferred.fromCoroutine(run())

    def close(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.maybeDeferred(self._inner.close)
        return d
