"""Abuse limits: failed-login delays, per-connection attempt cap, connection limits."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from mailframe.auth.throttle import AttemptCounter, ConnectionLimiter, LoginThrottle
from mailframe.errors import LimitExceeded


def fired_after(throttle: LoginThrottle, clock: Clock, peer: str, user: str | None) -> float:
    d = throttle.record_failure(peer, user)
    out: list[object] = []
    d.addBoth(out.append)
    waited = 0.0
    while not out:
        clock.advance(0.125)
        waited += 0.125
    return waited


def test_delay_grows_per_address_and_is_capped() -> None:
    clock = Clock()
    t = LoginThrottle(clock, base=0.125, maximum=1.0)
    assert [fired_after(t, clock, "10.0.0.1", None) for _ in range(6)] == \
        [0.125, 0.25, 0.5, 1.0, 1.0, 1.0]
    # another address starts from the base
    assert fired_after(t, clock, "10.0.0.2", None) == 0.125


def test_delay_is_keyed_on_address_and_user() -> None:
    """Issue 11 defect 17: failures for alice elsewhere do not slow alice
    (or anyone) at an address that has not failed."""
    clock = Clock()
    t = LoginThrottle(clock, base=0.125, maximum=8.0)
    delays = [fired_after(t, clock, f"10.0.0.{i}", "alice") for i in range(4)]
    assert delays == [0.125] * 4
    assert [fired_after(t, clock, "10.0.0.1", "alice") for _ in range(3)] == [0.25, 0.5, 1.0]
    assert t.failures("10.0.0.99", "alice") == 0
    assert t.failures("10.0.0.1", "alice") == 4 and t.failures("10.0.0.1", "bob") == 0
    assert t.address_failures("10.0.0.1") == 4
    t.check("10.0.0.99", "alice")  # never refused where nothing failed


def test_failures_forgotten_and_success_clears() -> None:
    clock = Clock()
    t = LoginThrottle(clock, base=0.125, maximum=8.0, forget_after=60)
    for _ in range(3):
        fired_after(t, clock, "10.0.0.1", "alice")
    assert t.failures("10.0.0.1", "alice") == 3
    clock.advance(61)
    assert t.failures("10.0.0.1", "alice") == 0
    for _ in range(2):
        fired_after(t, clock, "10.0.0.1", "alice")
    t.record_success("10.0.0.1", "alice")
    assert t.failures("10.0.0.1", "alice") == 0


def test_lockout_then_forgiven() -> None:
    clock = Clock()
    t = LoginThrottle(clock, base=0.125, maximum=0.125, forget_after=30, lockout_after=3,
                      address_lockout_after=5)
    for _ in range(3):
        fired_after(t, clock, "10.0.0.1", "alice")
    with pytest.raises(LimitExceeded) as info:
        t.check("10.0.0.1", "alice")
    assert info.value.code == "LIMIT"
    t.check("10.0.0.1", "bob")  # another user from there is not
    t.check("10.0.0.1")
    t.check("10.0.0.2", "alice")  # others unaffected
    for _ in range(2):
        fired_after(t, clock, "10.0.0.1", "bob")
    with pytest.raises(LimitExceeded):
        t.check("10.0.0.1")  # five from the address: spraying
    clock.advance(31)
    t.check("10.0.0.1", "alice")


def test_attempt_counter() -> None:
    c = AttemptCounter(limit=2)
    c.attempt()
    assert not c.exhausted
    c.attempt()
    assert c.exhausted
    with pytest.raises(LimitExceeded):
        c.attempt()
    assert AttemptCounter(limit=2).used == 0  # per connection


class _Conn:
    def __init__(self, idle: bool = True) -> None:
        self.idle = idle
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True


def test_connection_limits_per_ip_and_user_with_log_lines() -> None:
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        lim = ConnectionLimiter(per_ip=2, per_user=1, preauth_per_ip=2)
        a, b, c = _Conn(idle=False), _Conn(idle=False), _Conn()
        assert lim.admit("10.0.0.1", a) and lim.admit("10.0.0.1", b)
        assert not lim.admit("10.0.0.1", c)  # both busy: refused
        assert lim.admit("10.0.0.2", c)  # other addresses unaffected
        assert lim.promote("10.0.0.1", a)
        assert lim.preauth_connections("10.0.0.1") == 1 and lim.connections("10.0.0.1") == 2
        d = _Conn()
        assert lim.admit("10.0.0.1", d)
        assert lim.promote("10.0.0.1", b)
        assert not lim.promote("10.0.0.1", d)  # two logged in already
        lim.release("10.0.0.1", a, logged_in=True)
        assert lim.promote("10.0.0.1", d)
        assert lim.acquire_user("alice")
        assert not lim.acquire_user("alice")
        assert lim.acquire_user("bob")
        lim.release_user("alice")
        assert lim.acquire_user("alice")
        lim.release("10.0.0.1", b, logged_in=True)
        lim.release("10.0.0.1", d, logged_in=True)
        lim.release("10.0.0.2", c, logged_in=False)
        lim.release("10.0.0.9", _Conn(), logged_in=False)  # releasing an unknown one is harmless
        assert lim.connections("10.0.0.1") == 0 and lim.connections("10.0.0.9") == 0
    finally:
        globalLogPublisher.removeObserver(events.append)
    refusals = [e for e in events if str(e.get("log_format", "")).startswith("refused connection")]
    assert [e.get("key") for e in refusals] == ["10.0.0.1", "10.0.0.1", "alice"]


def test_oldest_idle_prelogin_connection_makes_way() -> None:
    """Issue 11 defect 18: a full pre-login table closes its oldest idle
    connection rather than refusing the newcomer."""
    lim = ConnectionLimiter(per_ip=None, per_user=None, preauth_per_ip=3)
    busy, idle1, idle2 = _Conn(idle=False), _Conn(), _Conn()
    for conn in (busy, idle1, idle2):
        assert lim.admit("10.0.0.1", conn)
    new = _Conn()
    assert lim.admit("10.0.0.1", new)
    assert not busy.evicted and idle1.evicted and not idle2.evicted
    assert lim.preauth_connections("10.0.0.1") == 3
    lim.release("10.0.0.1", idle1, logged_in=False)  # its connectionLost: no double count
    assert lim.preauth_connections("10.0.0.1") == 3


def test_unlimited() -> None:
    lim = ConnectionLimiter(per_ip=None, per_user=None, preauth_per_ip=None)
    assert all(lim.admit("10.0.0.1", _Conn()) for _ in range(1000))


def test_ipv6_counts_per_prefix() -> None:
    clock = Clock()
    t = LoginThrottle(clock, base=0.125, maximum=8.0)
    delays = [fired_after(t, clock, f"2001:db8:1:2::{i}", None) for i in range(1, 4)]
    assert delays == [0.125, 0.25, 0.5]
    assert fired_after(t, clock, "2001:db8:1:3::1", None) == 0.125  # another /64
    assert t.failures("2001:db8:1:2:ffff::9") == 3


@pytest.mark.parametrize(("peer", "key"), [
    ("192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::/64"), ("::ffff:192.0.2.1", "192.0.2.1"),
    ("fe80::1%eth0", "fe80::/64"), ("unix", "unix"),
])
def test_address_key(peer: str, key: str) -> None:
    from mailframe.auth.throttle import address_key
    assert address_key(peer) == key


def test_tables_are_bounded() -> None:
    clock = Clock()
    t = LoginThrottle(clock, base=0.0, maximum=0.0, max_entries=100)
    for i in range(1000):
        t.record_failure(f"10.0.{i // 256}.{i % 256}", f"user{i}")
    assert len(t._by_peer) <= 100 and len(t._by_pair) <= 100
    assert t.failures("10.0.3.231", "user999") == 1  # the newest are kept
