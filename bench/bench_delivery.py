"""Delivery throughput: messages/s by SMTP and LMTP into each store.

The server runs in this process (one reactor, as in production); the
clients are separate Python processes using smtplib, each sending its
messages over one connection (as an MTA does), so client CPU is not
counted against the server's.  Figures, not asserts.

    .venv/bin/python bench/bench_delivery.py [--messages 2000] [--clients 2]
        [--size 4096] [--stores memory,maildir]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet import reactor as _reactor  # noqa: E402
from twisted.internet.defer import Deferred, succeed  # noqa: E402
from twisted.internet.threads import blockingCallFromThread  # noqa: E402
from zope.interface import implementer  # noqa: E402

from mailframe.interfaces import IUserDirectory  # noqa: E402
from mailframe.smtp import Delivery, lmtp_factory, smtp_factory  # noqa: E402

reactor: Any = _reactor

CLIENT = r"""
import smtplib, sys
port, proto, count, size, rcpt = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
body = b"From: bench@example.net\r\nTo: " + rcpt.encode() + b"\r\nSubject: bench\r\n\r\n"
line = b"x" * 70 + b"\r\n"
body += line * max(1, (size - len(body)) // len(line))
cls = smtplib.LMTP if proto == "lmtp" else smtplib.SMTP
with cls("127.0.0.1", port) as s:
    for i in range(count):
        s.sendmail("bench@example.net", [rcpt], body)
"""


@implementer(IUserDirectory)
class _Users:
    def exists(self, username: str) -> Deferred[bool]:
        return succeed(username.startswith("user"))


def open_store(kind: str, tmp: str) -> Any:
    if kind == "memory":
        from mailframe.store.memory import MemoryStore

        return MemoryStore()
    from mailframe.store import open_store as by_url

    return by_url(f"maildir:{tmp}/%u")


async def _count(store: Any, users: list[str]) -> int:
    total = 0
    for u in users:
        box = await (await store.account(u)).mailbox("INBOX")
        total += (await box.status()).messages
    return total


def run_one(kind: str, proto: str, messages: int, clients: int, size: int) -> tuple[float, float]:
    """(messages/s wall clock, server CPU ms per message)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(kind, tmp)
        delivery = Delivery(store, _Users())
        make = lmtp_factory if proto == "lmtp" else smtp_factory
        factory = make(delivery, ["example.org"], hostname="bench.test")
        port = blockingCallFromThread(reactor, reactor.listenTCP, 0, factory, interface="127.0.0.1")
        n: int = port.getHost().port
        per = messages // clients
        users = [f"user{i}" for i in range(clients)]
        t0 = time.perf_counter()
        c0 = time.process_time()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLIENT,
                    str(n),
                    proto,
                    str(per),
                    str(size),
                    f"{u}@example.org",
                ]
            )
            for u in users
        ]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit(f"client failed with status {p.returncode}")
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        count: Any = lambda: Deferred.fromCoroutine(_count(store, users))  # noqa: E731
        stored: int = blockingCallFromThread(reactor, count)
        assert stored == per * clients, (stored, per * clients)
        blockingCallFromThread(reactor, port.stopListening)
        close = getattr(store, "close", None)
        if close is not None:
            blockingCallFromThread(reactor, close)
        return per * clients / elapsed, cpu * 1000 / (per * clients)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--stores", default="memory,maildir")
    opts = ap.parse_args()
    kinds = []
    for kind in opts.stores.split(","):
        if kind == "maildir":
            try:
                import mailframe.store.maildir  # noqa: F401
            except ImportError:
                print("maildir: mailframe.store.maildir not available yet, skipped")
                continue
        kinds.append(kind)

    def work() -> None:
        try:
            for kind in kinds:
                for proto in ("smtp", "lmtp"):
                    rate, cpu = run_one(kind, proto, opts.messages, opts.clients, opts.size)
                    print(
                        f"{proto.upper():4} → {kind:8} {rate:8.0f} messages/s, "
                        f"server CPU {cpu:.2f} ms/message "
                        f"({opts.messages} × {opts.size} B, {opts.clients} clients)",
                        flush=True,
                    )
        finally:
            reactor.callFromThread(reactor.stop)

    threading.Thread(target=work, daemon=True).start()
    reactor.run()


if __name__ == "__main__":
    main()
