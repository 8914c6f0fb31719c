"""IDLE push latency: APPEND on one connection until ``* n EXISTS``
reaches another connection idling in the same mailbox (prints figures,
asserts nothing; the interop tests only check that the push arrives).

    .venv/bin/python bench/bench_idle.py [--rounds 50] [--store memory]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess  # noqa: E402


def _conn(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.recv(4096)
    s.sendall(b"l LOGIN alice secret\r\ns SELECT INBOX\r\n")
    _until(s, b"s OK")
    return s


def _until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("server closed")
        data += chunk
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--store", default="memory", help="memory or maildir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = "memory" if args.store == "memory" else f"maildir:{tmp}/mail"
        with ServerProcess(Path(tmp) / "srv", store=store) as srv:
            watcher, writer = _conn(srv.imap_port), _conn(srv.imap_port)
            watcher.sendall(b"i IDLE\r\n")
            _until(watcher, b"+ ")
            message = b"Subject: x\r\n\r\nbody\r\n"
            latencies = []
            for n in range(1, args.rounds + 1):
                start = time.perf_counter()
                writer.sendall(b"a%d APPEND INBOX {%d+}\r\n" % (n, len(message)) + message + b"\r\n")
                _until(watcher, b"* %d EXISTS" % n)
                latencies.append(time.perf_counter() - start)
                _until(writer, b"a%d OK" % n)
            ms = sorted(x * 1000 for x in latencies)
            print(f"IDLE push latency over {args.rounds} appends ({args.store}): "
                  f"median {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.2f} ms, "
                  f"max {ms[-1]:.2f} ms")


if __name__ == "__main__":
    main()
