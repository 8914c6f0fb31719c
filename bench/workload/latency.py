"""NOOP latency probes (issue 16, "Never block the reactor").

A probe is a separate process (``python -m bench.workload.latency``) with
its own plain blocking sockets, so what it measures is the server's delay,
not the benchmark client's own event loop, busy checking the answers of
the load it drives.  It logs ``sessions`` sessions in, selects INBOX and
then, every ``interval`` seconds, sends ``NOOP`` on each session in turn
and times each one to its tagged OK (RFC 3501 §6.1.2: NOOP does nothing
but answer, so its latency is the time the server kept the client
waiting).  Each sample is ``(monotonic send time, seconds)``: the caller
keeps the samples inside the window it cares about (the mixed load, the
50 MB APPEND); ``CLOCK_MONOTONIC`` is one clock for every process.

The probe says ``ready`` on stdout once its sessions are selected and
stops when its stdin says anything (or closes); it then prints its
samples as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import socket
import sys
import time
from dataclasses import dataclass

#: How long a probe may take to log in and select.
READY_TIMEOUT = 60.0


class _Session:
    """One blocking IMAP connection that can LOGIN, SELECT and NOOP."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.n = 0
        self._line()  # greeting

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def run(self, command: bytes) -> None:
        self.n += 1
        tag = b"P%d" % self.n
        self.sock.sendall(tag + b" " + command + b"\r\n")
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ConnectionError(line.decode(errors="replace"))
                return
            if line.endswith(b"}"):  # a literal in an untagged answer: skip it
                size = int(line[line.rindex(b"{") + 1 : -1].rstrip(b"+"))
                while len(self.buf) < size:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    self.buf += chunk
                self.buf = self.buf[size:]


def _quote(text: str) -> bytes:
    return b'"' + text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def probe_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="NOOP latency probe")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args(argv)
    sessions = []
    for _ in range(args.sessions):
        s = _Session(args.host, args.port)
        s.run(b"LOGIN " + _quote(args.user) + b" " + _quote(args.password))
        s.run(b"SELECT INBOX")
        sessions.append(s)
    print("ready", flush=True)
    samples: list[tuple[float, float]] = []
    stdin = sys.stdin.fileno()
    while True:
        for s in sessions:
            start = time.monotonic()
            s.run(b"NOOP")
            samples.append((start, time.monotonic() - start))
        if select.select([stdin], [], [], args.interval)[0]:
            break
    for s in sessions:
        try:
            s.run(b"LOGOUT")
        except (OSError, ConnectionError):
            pass
        s.sock.close()
    print(json.dumps(samples), flush=True)
    return 0


@dataclass
class Latencies:
    """NOOP latencies (seconds) inside one window."""

    samples: list[float]

    def quantile(self, q: float) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]

    @property
    def worst(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    def summary(self) -> str:
        return (f"NOOP p50 {self.quantile(0.5) * 1000:.1f} ms, p99 {self.quantile(0.99) * 1000:.1f} ms, "
                f"max {self.worst * 1000:.1f} ms over {len(self.samples)}")


class Probe:
    """A running probe process: ``async with Probe(...) as p`` starts it
    and waits for ``ready``; :meth:`window` after the block gives the
    samples sent between two ``time.monotonic()`` instants."""

    def __init__(self, host: str, port: int, user: str, password: str,
                 sessions: int = 1, interval: float = 0.02) -> None:
        self.cmd = [sys.executable, "-m", "bench.workload.latency", "--host", host,
                    "--port", str(port), "--user", user, "--password", password,
                    "--sessions", str(sessions), "--interval", str(interval)]
        self.samples: list[tuple[float, float]] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Probe:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), READY_TIMEOUT)
        if line.strip() != b"ready":
            await self.proc.wait()
            raise OSError(f"NOOP probe did not start: {line!r}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        proc.stdin.close()
        out = await asyncio.wait_for(proc.stdout.read(), 120)
        await proc.wait()
        lines = out.strip().splitlines()
        if lines:
            self.samples = [(float(a), float(b)) for a, b in json.loads(lines[-1])]

    def window(self, start: float, end: float) -> Latencies:
        """The latencies of the NOOPs sent in ``[start, end]``."""
        return Latencies([d for t, d in self.samples if start <= t <= end])


if __name__ == "__main__":
    raise SystemExit(probe_main())
