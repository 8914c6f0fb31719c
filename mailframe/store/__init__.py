"""Mailbox backends and the store-URL resolver.

A store is named by a short URL-like string (DESIGN.md, "Configuration and
launch"): ``memory``, ``maildir:/var/mail/%u``, ``postgresql://...``.  The
scheme (the text before the first ``:``, or the whole string) names an entry
point in the ``mailframe.stores`` group whose target is a factory
``from_url(url: str) -> IMailStore``; third-party backends plug in by
declaring one.  A built-in table covers mailframe's own backends so a
source checkout works without installation.

Backend authors build on :class:`LogMailbox`, :class:`LogAccount` and
:class:`LogStore` (the "mailbox is a log" bookkeeping and the mailbox-tree
rules, over four storage primitives; ``examples/file_store.py`` is a whole
store in under 150 lines), or on :class:`MailboxLog` alone, and check their
store with ``python -m mailframe.testing module.path:factory``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any

from mailframe.errors import StoreUnavailable
from mailframe.loading import load_factory, looks_like_factory, module_exists
from mailframe.store._log import MailboxLog, new_uidvalidity
from mailframe.store.base import LogMailbox, StoredMessage, StoredMeta
from mailframe.store.logaccount import LogAccount, LogStore

__all__ = [
    "open_store",
    "store_factory",
    "BUILTIN_STORES",
    "MailboxLog",
    "new_uidvalidity",
    "LogMailbox",
    "LogAccount",
    "LogStore",
    "StoredMessage",
    "StoredMeta",
]

#: scheme → "module:function" for mailframe's own backends.
BUILTIN_STORES: dict[str, str] = {
    "memory": "mailframe.store.memory:from_url",
    "maildir": "mailframe.store.maildir:from_url",
    "mbox": "mailframe.store.mbox:from_url",
    "sqlite": "mailframe.store.sql:sqlite_from_url",
    "postgresql": "mailframe.store.sql:postgresql_from_url",
    "postgres": "mailframe.store.sql:postgresql_from_url",
}


def _scheme(url: str) -> str:
    scheme, _, _ = url.partition(":")
    return scheme.strip().lower()


def store_factory(scheme: str) -> Callable[[str], Any]:
    """The ``from_url`` factory for ``scheme``: an installed
    ``mailframe.stores`` entry point first, then :data:`BUILTIN_STORES`.
    Raises StoreUnavailable when neither knows it or it cannot be loaded."""
    target: str | None = None
    for ep in importlib.metadata.entry_points(group="mailframe.stores"):
        if ep.name.lower() == scheme:
            try:
                return ep.load()  # type: ignore[no-any-return]
            except Exception as exc:  # a broken plugin: fall back, then report
                error = f"store {scheme!r} could not be loaded: {exc}"
                target = BUILTIN_STORES.get(scheme)
                if target is None:
                    raise StoreUnavailable(error) from exc
            break
    target = target or BUILTIN_STORES.get(scheme)
    if target is None:
        known = sorted(
            set(BUILTIN_STORES)
            | {ep.name for ep in importlib.metadata.entry_points(group="mailframe.stores")}
        )
        raise StoreUnavailable(
            f"unknown store {scheme!r} (known: {', '.join(known)}; "
            "or module.path:factory for a store of your own)"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise StoreUnavailable(f"store {scheme!r} is not available: {exc}") from exc


def _known(scheme: str) -> bool:
    return scheme in BUILTIN_STORES or any(
        ep.name.lower() == scheme
        for ep in importlib.metadata.entry_points(group="mailframe.stores")
    )


def _from_factory(spec: str) -> Any:
    """``module.path:factory`` → ``factory()``, which must give an IMailStore."""
    from mailframe.interfaces import IMailStore

    try:
        store = load_factory(spec)()
    except StoreUnavailable:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreUnavailable(f"cannot open store {spec!r}: {reason}") from exc
    if not IMailStore.providedBy(store):
        raise StoreUnavailable(
            f"{spec!r} gave {type(store).__name__}, which does not provide IMailStore "
            "(decorate its class with @implementer(IMailStore))"
        )
    return store


def open_store(url: str) -> Any:
    """Open the store named by ``url`` and return its IMailStore.

    ``url`` is a store URL (``maildir:/var/mail/%u``) or, for a store of
    your own that is not packaged, ``module.path:factory``: ``factory()``
    is called and must return an IMailStore.

    Any failure (unknown scheme, bad path, unreachable server) becomes
    StoreUnavailable with a one-line reason, so ``twistd mailframe`` can
    print it and exit with status 1 rather than a traceback.
    """
    if not isinstance(url, str) or not url.strip():
        raise StoreUnavailable("empty store URL")
    url = url.strip()
    if looks_like_factory(url) and not _known(_scheme(url)) and module_exists(url):
        return _from_factory(url)
    factory = store_factory(_scheme(url))
    try:
        return factory(url)
    except StoreUnavailable:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreUnavailable(f"cannot open store {url!r}: {reason}") from exc
