"""Abuse limits around authentication (issue 5, "Abuse limits").

- :class:`LoginThrottle` — a failed login is answered only after a delay
  that doubles with each recent failure of the same user from the same
  address (``base`` · 2^(n-1), capped at ``maximum``); failures are
  forgotten ``forget_after`` seconds after the last one, and a success
  clears that user's count at that address.  The key is the pair (address,
  user), never the user alone: whoever knows a name must not be able to
  lock its owner out, so a correct password from an address that has not
  failed is never delayed or refused.  A pair with ``lockout_after`` recent
  failures, or an address with ``address_lockout_after`` (password spraying
  over many names), is refused at once (``[LIMIT]``) until forgiven.  IPv6
  addresses count per /64 (one host usually owns a whole /64); the tables
  are bounded (``max_entries``, oldest dropped first).
- :class:`AttemptCounter` — the session's cap on authentication attempts per
  connection (RFC 4959 leaves it to the server; RFC 3501 §6.2.2 allows
  closing after repeated failures).
- :class:`ConnectionLimiter` — concurrent connections per IP (pre-login and
  logged-in apart; the oldest idle pre-login one makes way for a new one)
  and per user.

Every refusal is logged with twisted.logger.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from mailframe.errors import LimitExceeded

__all__ = ["LoginThrottle", "AttemptCounter", "ConnectionLimiter", "Evictable", "address_key"]

_log = Logger()


def address_key(peer: str, ipv6_prefix: int = 64) -> str:
    """The key a peer's failures count under: IPv4 as is, IPv6 by prefix."""
    try:
        addr = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, ipv6_prefix), strict=False))
    return str(addr)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    """Failed-login delays and lockouts keyed on (address, user)."""

    def __init__(self, clock: IReactorTime, base: float = 1.0, maximum: float = 15.0,
                 forget_after: float = 600.0, lockout_after: int | None = 10,
                 address_lockout_after: int | None = 100,
                 ipv6_prefix: int = 64, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.base = base
        self.maximum = maximum
        self.forget_after = forget_after
        self.lockout_after = lockout_after
        self.address_lockout_after = address_lockout_after
        self.ipv6_prefix = ipv6_prefix
        self.max_entries = max_entries
        self._by_pair: dict[tuple[str, str], _Failures] = {}
        self._by_peer: dict[str, _Failures] = {}

    def _count(self, table: dict[Any, _Failures], key: Any) -> int:
        entry = table.get(key)
        if entry is None:
            return 0
        if self.clock.seconds() - entry.last > self.forget_after:
            del table[key]
            return 0
        return entry.count

    def _pair(self, peer: str, username: str | None) -> tuple[str, str]:
        return address_key(peer, self.ipv6_prefix), username or ""

    def failures(self, peer: str, username: str | None = None) -> int:
        """Recent failures of ``username`` (or of unnamed attempts) from this address."""
        return self._count(self._by_pair, self._pair(peer, username))

    def address_failures(self, peer: str) -> int:
        """Recent failures from this address, whatever the user."""
        return self._count(self._by_peer, address_key(peer, self.ipv6_prefix))

    def delay_for(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** min(failures - 1, 62)))

    def check(self, peer: str, username: str | None = None) -> None:
        """Raise LimitExceeded if this address (or this user from this
        address, when ``username`` is given) is locked out; call before
        checking credentials."""
        if self.address_lockout_after is not None and \
                self.address_failures(peer) >= self.address_lockout_after:
            _log.warn("refused authentication from {peer}: too many failures from that address",
                      peer=peer)
            raise LimitExceeded("Too many failed authentication attempts; try later")
        if username is not None and self.lockout_after is not None and \
                self.failures(peer, username) >= self.lockout_after:
            _log.warn("refused authentication of {user!r} from {peer}: too many failures",
                      user=username, peer=peer)
            raise LimitExceeded("Too many failed authentication attempts; try later")

    def record_failure(self, peer: str, username: str | None) -> Deferred[None]:
        """Count a failure; the Deferred fires after the delay the client must wait."""
        now = self.clock.seconds()
        pair = self._pair(peer, username)
        keys: list[tuple[dict[Any, _Failures], Any]] = [(self._by_pair, pair), (self._by_peer, pair[0])]
        for table, key in keys:
            count = self._count(table, key)
            table.pop(key, None)  # re-insert: the dict's order is "least recent first"
            table[key] = _Failures(count + 1, now)
            self._bound(table, now)
        delay = self.delay_for(self.failures(peer, username))
        _log.info("authentication failed for {user!r} from {peer}; answering in {delay:.2f}s",
                  user=username, peer=peer, delay=delay)
        return deferLater(self.clock, delay, lambda: None)

    def _bound(self, table: dict[Any, _Failures], now: float) -> None:
        if len(table) <= self.max_entries:
            return
        for key in [k for k, v in table.items() if now - v.last > self.forget_after]:
            del table[key]
        while len(table) > self.max_entries:
            del table[next(iter(table))]

    def record_success(self, peer: str, username: str) -> None:
        self._by_pair.pop(self._pair(peer, username), None)


class AttemptCounter:
    """Authentication attempts on one connection; the session owns one."""

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.used = 0

    def attempt(self) -> None:
        """Count one LOGIN/AUTHENTICATE; LimitExceeded once over the cap.

        The session should then answer NO [LIMIT] and may close the connection.
        """
        if self.used >= self.limit:
            _log.warn("refused authentication attempt {n}: per-connection cap {limit}",
                      n=self.used + 1, limit=self.limit)
            raise LimitExceeded("Too many authentication attempts on this connection")
        self.used += 1

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit


class Evictable(Protocol):
    """What :class:`ConnectionLimiter` needs of a pre-login connection."""

    @property
    def idle(self) -> bool:
        """No command in progress (waiting for the client)."""

    def evict(self) -> None:
        """Say BYE and close; :meth:`ConnectionLimiter.release` follows."""


class ConnectionLimiter:
    """Connections per IP address, pre-login and logged-in counted apart,
    and logged-in sessions per user.

    - :meth:`admit` on connect: a pre-login slot of the address
      (``preauth_per_ip``).  When the address has none left, its oldest
      *idle* pre-login connection is closed to make room (so a burst of
      slow or silent connections cannot lock out the next client from that
      address for the whole pre-login timeout); only when all of them are
      busy is the new one refused (``* BYE Too many connections``).
    - :meth:`promote` at login: the connection moves to the address's
      logged-in count (``per_ip``); False when that is full.
    - :meth:`acquire_user` / :meth:`release_user` around an authenticated
      session (``per_user``).
    - :meth:`release` on disconnect, whatever the connection's state.

    ``None`` means unlimited.
    """

    def __init__(self, per_ip: int | None = 20, per_user: int | None = 10,
                 preauth_per_ip: int | None = 100) -> None:
        self.per_ip = per_ip
        self.per_user = per_user
        self.preauth_per_ip = preauth_per_ip
        self._preauth: dict[str, dict[Evictable, None]] = {}  # address -> connections, oldest first
        self._ips: Counter[str] = Counter()  # logged-in connections per address
        self._users: Counter[str] = Counter()

    @staticmethod
    def _take(counter: Counter[str], key: str, limit: int | None, what: str) -> bool:
        if limit is not None and counter[key] >= limit:
            _log.warn("refused connection: {what} {key} already has {n} (limit {limit})",
                      what=what, key=key, n=counter[key], limit=limit)
            return False
        counter[key] += 1
        return True

    @staticmethod
    def _give(counter: Counter[str], key: str) -> None:
        if counter[key] <= 1:
            counter.pop(key, None)
        else:
            counter[key] -= 1

    def admit(self, peer: str, conn: Evictable) -> bool:
        """A pre-login slot for ``conn``, evicting the oldest idle pre-login
        connection of ``peer`` if need be; False when none could be freed."""
        waiting = self._preauth.setdefault(peer, {})
        limit = self.preauth_per_ip
        while limit is not None and len(waiting) >= limit:
            victim = next((c for c in waiting if c.idle), None)
            if victim is None:
                _log.warn("refused connection: address {key} already has {n} busy pre-login "
                          "connections (limit {limit})", key=peer, n=len(waiting), limit=limit)
                if not waiting:
                    del self._preauth[peer]
                return False
            _log.info("closing the oldest idle pre-login connection from {key} to admit a new one "
                      "(limit {limit})", key=peer, limit=limit)
            del waiting[victim]
            victim.evict()
        waiting[conn] = None
        return True

    def promote(self, peer: str, conn: Evictable) -> bool:
        """Count ``conn`` as logged in; False (and still pre-login) when
        ``peer`` has ``per_ip`` logged-in connections already."""
        if not self._take(self._ips, peer, self.per_ip, "address"):
            return False
        waiting = self._preauth.get(peer)
        if waiting is not None:
            waiting.pop(conn, None)
            if not waiting:
                del self._preauth[peer]
        return True

    def release(self, peer: str, conn: Evictable, logged_in: bool) -> None:
        """Forget ``conn`` (harmless if it was never counted or was evicted)."""
        if logged_in:
            self._give(self._ips, peer)
            return
        waiting = self._preauth.get(peer)
        if waiting is not None:
            waiting.pop(conn, None)
            if not waiting:
                del self._preauth[peer]

    def acquire_user(self, username: str) -> bool:
        return self._take(self._users, username, self.per_user, "user")

    def release_user(self, username: str) -> None:
        self._give(self._users, username)

    def connections(self, peer: str) -> int:
        """Pre-login and logged-in connections from ``peer``."""
        return self.preauth_connections(peer) + self._ips[peer]

    def preauth_connections(self, peer: str) -> int:
        return len(self._preauth.get(peer, ()))

    def sessions(self, username: str) -> int:
        return self._users[username]
