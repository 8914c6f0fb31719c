"""Abuse limits around authentication (issue 5, "Abuse limits").

- :class:`LoginThrottle` — a failed login is answered only after a delay that
  doubles with each recent failure from the same address *or* for the same
  user (``base`` · 2^(n-1), capped at ``maximum``); failures are forgotten
  ``forget_after`` seconds after the last one, and a success clears the
  user's count and the address's.  An address with ``lockout_after`` recent
  failures is refused at once (``[LIMIT]``) until it is forgiven.  IPv6
  addresses count per /64 (one host usually owns a whole /64); the tables
  are bounded (``max_entries``, oldest dropped first).
- :class:`AttemptCounter` — the session's cap on authentication attempts per
  connection (RFC 4959 leaves it to the server; RFC 3501 §6.2.2 allows
  closing after repeated failures).
- :class:`ConnectionLimiter` — concurrent connections per IP and per user.

Every refusal is logged with twisted.logger.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from mailframe.errors import LimitExceeded

__all__ = ["LoginThrottle", "AttemptCounter", "ConnectionLimiter", "address_key"]

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
    """Failed-login delays growing per address and per user."""

    def __init__(self, clock: IReactorTime, base: float = 1.0, maximum: float = 15.0,
                 forget_after: float = 600.0, lockout_after: int | None = 50,
                 ipv6_prefix: int = 64, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.base = base
        self.maximum = maximum
        self.forget_after = forget_after
        self.lockout_after = lockout_after
        self.ipv6_prefix = ipv6_prefix
        self.max_entries = max_entries
        self._by_peer: dict[str, _Failures] = {}
        self._by_user: dict[str, _Failures] = {}

    def _count(self, table: dict[str, _Failures], key: str) -> int:
        entry = table.get(key)
        if entry is None:
            return 0
        if self.clock.seconds() - entry.last > self.forget_after:
            del table[key]
            return 0
        return entry.count

    def failures(self, peer: str, username: str | None = None) -> int:
        """Recent failures counted against this address or user (the larger)."""
        n = self._count(self._by_peer, address_key(peer, self.ipv6_prefix))
        if username:
            n = max(n, self._count(self._by_user, username))
        return n

    def delay_for(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** min(failures - 1, 62)))

    def check(self, peer: str) -> None:
        """Raise LimitExceeded if ``peer`` is locked out; call before checking credentials."""
        key = address_key(peer, self.ipv6_prefix)
        if self.lockout_after is not None and self._count(self._by_peer, key) >= self.lockout_after:
            _log.warn("refused authentication from {peer}: too many failures", peer=peer)
            raise LimitExceeded("Too many failed authentication attempts; try later")

    def record_failure(self, peer: str, username: str | None) -> Deferred[None]:
        """Count a failure; the Deferred fires after the delay the client must wait."""
        now = self.clock.seconds()
        keys = [(self._by_peer, address_key(peer, self.ipv6_prefix))]
        if username:
            keys.append((self._by_user, username))
        for table, key in keys:
            count = self._count(table, key)
            table.pop(key, None)  # re-insert: the dict's order is "least recent first"
            table[key] = _Failures(count + 1, now)
            self._bound(table, now)
        delay = self.delay_for(self.failures(peer, username))
        _log.info("authentication failed for {user!r} from {peer}; answering in {delay:.2f}s",
                  user=username, peer=peer, delay=delay)
        return deferLater(self.clock, delay, lambda: None)

    def _bound(self, table: dict[str, _Failures], now: float) -> None:
        if len(table) <= self.max_entries:
            return
        for key in [k for k, v in table.items() if now - v.last > self.forget_after]:
            del table[key]
        while len(table) > self.max_entries:
            del table[next(iter(table))]

    def record_success(self, peer: str, username: str) -> None:
        self._by_peer.pop(address_key(peer, self.ipv6_prefix), None)
        self._by_user.pop(username, None)


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


class ConnectionLimiter:
    """Concurrent connections per IP address and logged-in sessions per user.

    The adapter calls :meth:`acquire` on connect (refusing the connection
    when it is False: ``* BYE Too many connections``), :meth:`release` on
    disconnect, and :meth:`acquire_user` / :meth:`release_user` around an
    authenticated session.  ``None`` means unlimited.
    """

    def __init__(self, per_ip: int | None = 20, per_user: int | None = 10) -> None:
        self.per_ip = per_ip
        self.per_user = per_user
        self._ips: Counter[str] = Counter()
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

    def acquire(self, peer: str) -> bool:
        return self._take(self._ips, peer, self.per_ip, "address")

    def release(self, peer: str) -> None:
        self._give(self._ips, peer)

    def acquire_user(self, username: str) -> bool:
        return self._take(self._users, username, self.per_user, "user")

    def release_user(self, username: str) -> None:
        self._give(self._users, username)

    def connections(self, peer: str) -> int:
        return self._ips[peer]

    def sessions(self, username: str) -> int:
        return self._users[username]
