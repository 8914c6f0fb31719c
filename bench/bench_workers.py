"""Worker scaling (issue 16, "Every core"): the mixed phase of the
workload (bench/workload) against mailframe's Maildir store with
``--workers`` 1, 2 and 4, back to back, each on a fresh server and corpus.

For each run it also reports:

- the worst and 99th-percentile NOOP latency of one extra session sending
  NOOP every 20 ms throughout the mixed load (how long the busiest
  reactor keeps another client waiting);
- the cross-process change-hint delay: 8 sessions IDLE on a mailbox,
  chosen (by /proc, Linux) to be served by other workers than the one
  session that APPENDs to it; per APPEND, the time from its tagged OK to
  the last idler's ``* n EXISTS`` (inotify under --workers; with 1 worker
  it is the in-process figure).

::

    .venv/bin/python bench/bench_workers.py                 # N=1000, 15 s mixed, workers 1 2 4
    .venv/bin/python bench/bench_workers.py -n 2000 --workers 1,2 --mixed-seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.workload.client import Client  # noqa: E402
from bench.workload.corpus import Corpus  # noqa: E402
from bench.workload.phases import Workload, run_workload  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


async def noop_probe(port: int, stop: asyncio.Event, phase: list[str],
                     out: list[float]) -> None:
    """NOOP every 20 ms on its own selected session; latencies measured
    while the mixed phase runs go to ``out``."""
    client = await Client.connect("127.0.0.1", port)
    await client.login("alice", "secret")
    await client.run(b"SELECT INBOX")
    while not stop.is_set():
        start = time.perf_counter()
        during = phase[0] == "mixed"
        await client.run(b"NOOP")
        if during and phase[0] == "mixed":
            out.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)
    await client.logout()


def server_pid_of(port: int, local_port: int) -> int | None:
    """The pid holding the server end of the loopback connection from
    ``local_port`` (Linux: /proc/net/tcp, then /proc/PID/fd)."""
    want = f"0100007F:{port:04X} 0100007F:{local_port:04X}"
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f:
            fields = line.split()
            if " ".join(fields[1:3]) == want:
                inode = fields[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
        except OSError:
            continue
    return None


async def idle_delays(port: int, idlers: int = 8, appends: int = 20) -> tuple[list[float], int]:
    """Per APPEND: seconds from its tagged OK to the last EXISTS among
    the idlers served by another process than the appender (all idlers
    when there is one process); and how many idlers that was."""
    writer = await Client.connect("127.0.0.1", port)
    await writer.login("alice", "secret")
    writer_pid = server_pid_of(port, writer.writer.get_extra_info("sockname")[1])
    sessions = []
    others = 0
    for _ in range(idlers * 4):
        c = await Client.connect("127.0.0.1", port)
        pid = server_pid_of(port, c.writer.get_extra_info("sockname")[1])
        if pid == writer_pid and others < idlers and _ < idlers * 3:
            c.close()
            continue
        await c.login("alice", "secret")
        await c.run(b"SELECT IdleBench")
        c.writer.write(b"I IDLE\r\n")
        await c.writer.drain()
        line = (await c.read_response()).line
        assert line.startswith(b"+"), line
        sessions.append(c)
        others += pid != writer_pid
        if len(sessions) == idlers:
            break
    watched = sessions
    delays = []
    for i in range(appends):
        msg = b"Subject: idle %d\r\n\r\nhello\r\n" % i
        await writer.run_with_literal(b"APPEND IdleBench ()", msg)
        ok = time.perf_counter()
        last = ok
        for c in watched:
            while True:
                line = (await asyncio.wait_for(c.read_response(), 30)).line
                if line == b"* %d EXISTS" % (i + 1):
                    break
            last = max(last, time.perf_counter())
        delays.append(last - ok)
        await asyncio.sleep(0.05)
    for c in sessions:
        c.writer.write(b"DONE\r\n")
        c.close()
    await writer.logout()
    return delays, others


async def one(workers: int, n: int, mixed_seconds: float, sessions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mf-workers-") as tmp:
        srv = ServerProcess(Path(tmp), "--workers", str(workers), "--max-connections-per-ip", "0",
                            "--max-connections-per-user", "0")
        srv.start(timeout=60)
        try:
            await asyncio.sleep(3)  # every worker up, not just the first
            workload = Workload("127.0.0.1", srv.imap_port, "alice", "secret", Corpus(n),
                                mixed_seconds=mixed_seconds, sessions=sessions)
            phase = [""]
            stop = asyncio.Event()
            lat: list[float] = []
            probe = asyncio.create_task(noop_probe(srv.imap_port, stop, phase, lat))

            def hook(name: str, event: str) -> None:
                phase[0] = name if event == "start" else ""

            results = await run_workload(workload, log=lambda s: None, hook=hook,
                                         phases=("append", "select", "header_sync", "mixed"))
            stop.set()
            await probe
            if not all(r.ok for r in results) or results[-1].value is None:
                raise SystemExit(f"failed: {[(r.name, r.status) for r in results]}")
            ops = results[-1].value
            c = await Client.connect("127.0.0.1", srv.imap_port)
            await c.login("alice", "secret")
            await c.run(b"CREATE IdleBench")
            await c.logout()
            delays, others = await idle_delays(srv.imap_port)
        finally:
            srv.stop()
    lat.sort()
    delays.sort()
    return {
        "ops": ops,
        "noop_max_ms": lat[-1] * 1000,
        "noop_p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "idle_median_ms": delays[len(delays) // 2] * 1000,
        "idle_max_ms": delays[-1] * 1000,
        "idle_others": others,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--mixed-seconds", type=float, default=15.0)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"N = {args.messages}, {args.sessions} sessions, {args.mixed_seconds:.0f} s mixed; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    for w in counts:
        got = asyncio.run(one(w, args.messages, args.mixed_seconds, args.sessions))
        rows.append((w, got))
        print(f"  workers={w}: {got['ops']:.0f} ops/s (load {os.getloadavg()[0]:.1f})", flush=True)
    base = rows[0][1]["ops"]
    print()
    print("| workers | mixed ops/s | vs first | worst NOOP ms | p99 NOOP ms "
          "| IDLE hint median ms | IDLE hint max ms | idlers in another process |")
    print("|---|---|---|---|---|---|---|---|")
    for w, got in rows:
        print(f"| {w} | {got['ops']:,.0f} | {got['ops'] / base:.2f}× | {got['noop_max_ms']:.0f} "
              f"| {got['noop_p99_ms']:.0f} | {got['idle_median_ms']:.1f} | {got['idle_max_ms']:.1f} "
              f"| {got['idle_others']:.0f} of 8 |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
