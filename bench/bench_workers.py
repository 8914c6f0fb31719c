"""Worker scaling (issue 16, "Every core"): the mixed phase of the
workload (bench/workload) against mailframe's Maildir store with
``--workers`` 1, 2 and 4, back to back, each on a fresh server and corpus.

For each run it also reports:

- the worst and 99th-percentile NOOP latency of one extra session sending
  NOOP every 20 ms throughout the mixed load, from a probe process of its
  own (bench/workload/latency.py: how long the busiest reactor keeps
  another client waiting), and likewise of four sessions NOOPing every
  10 ms while one session APPENDs a 50 MB message (``--big-append-mb``);
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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.workload.client import Client  # noqa: E402
from bench.workload.corpus import Corpus  # noqa: E402
from bench.workload.phases import PhaseResult, Workload, run_workload  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


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


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the live ``pids`` (py-spy, the
    sampler of ``--spy``, left out)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
            if "(py-spy)" in text:
                continue
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / os.sysconf("SC_CLK_TCK"), sum(v) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """Where the CPU went during the mixed phase (``hook`` of
    :func:`run_workload`): the server's processes, this bench with its
    probe, and everything else on the machine (other jobs), as cores
    busy on average.  Two workers reaching less than 2× one worker on a
    2-core machine is a CPU limit when the cores are full, a lock or
    disk limit when they are not."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start: tuple[float, float, float, float] | None = None
        self.cores: dict[str, float] = {}

    def _now(self) -> tuple[float, float, float, float]:
        busy, _ = _machine_busy()
        return (time.monotonic(), _cpu_seconds(_tree(self.server_pid)),
                _cpu_seconds(_tree(os.getpid())), busy)

    def __call__(self, phase: str, event: str) -> None:
        if phase != "mixed":
            return
        if event == "start":
            self.start = self._now()
            return
        assert self.start is not None
        end = self._now()
        wall = end[0] - self.start[0]
        server, bench, busy = (end[i] - self.start[i] for i in (1, 2, 3))
        self.cores = {"server": server / wall, "bench": bench / wall,
                      "other": max(0.0, busy - server - bench) / wall}


#: Frames of a Maildir job waiting for a folder lock (flock queue, the
#: dotlock, or a reader waiting for a writer to let go), and of its syncs.
LOCK_FRAMES = ("DotLock._queue", "DotLock._acquire", "DotLock.wait_free")
SYNC_FRAMES = ("fsync_dir ", "write_durably ", "NewFile.finish", "at_once", "IndexFile.append",
               "UidList.append")


def job_time_split(raw: str) -> dict[str, float]:
    """From ``py-spy record --idle --format raw`` stacks: of the samples
    of threads running a Maildir job (``guarded``), the share waiting for
    a lock, the share in an fsync, the rest (CPU, other I/O)."""
    counts = {"lock": 0, "sync": 0, "other": 0}
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if "guarded (" not in stack or not n.isdigit():
            continue
        if any(f in stack for f in LOCK_FRAMES):
            counts["lock"] += int(n)
        elif any(f in stack for f in SYNC_FRAMES):
            counts["sync"] += int(n)
        else:
            counts["other"] += int(n)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.items()}


class Spy:
    """``py-spy record --idle`` of the server's processes during the
    mixed phase (``--spy DIR``); :func:`job_time_split` of what it saw."""

    def __init__(self, server_pid: int, out: Path) -> None:
        self.server_pid, self.out = server_pid, out
        self.proc: subprocess.Popen[bytes] | None = None
        self.split: dict[str, float] = {}

    def __call__(self, phase: str, event: str) -> None:
        if phase != "mixed":
            return
        if event == "start":
            spy = str(Path(sys.executable).parent / "py-spy")
            self.proc = subprocess.Popen(
                [spy, "record", "--idle", "--subprocesses", "--nonblocking", "--rate", "100",
                 "--format", "raw", "--pid", str(self.server_pid), "-o", str(self.out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        elif self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)
            if self.out.exists():
                self.split = job_time_split(self.out.read_text())


def row(results: list[PhaseResult], prefix: str, suffix: str = "") -> float:
    """The value of the first result named ``prefix...suffix``."""
    for r in results:
        if r.name.startswith(prefix) and r.name.endswith(suffix):
            if not r.ok or r.value is None:
                raise SystemExit(f"failed: {r.name}: {r.status}")
            return r.value
    raise SystemExit(f"no result {prefix!r} in {[r.name for r in results]}")


async def one(workers: int, n: int, mixed_seconds: float, sessions: int,
              big_append: int, spy_dir: Path | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mf-workers-") as tmp:
        srv = ServerProcess(Path(tmp), "--workers", str(workers), "--max-connections-per-ip", "0",
                            "--max-connections-per-user", "0")
        srv.start(timeout=60)
        try:
            await asyncio.sleep(3)  # every worker up, not just the first
            workload = Workload("127.0.0.1", srv.imap_port, "alice", "secret", Corpus(n),
                                mixed_seconds=mixed_seconds, sessions=sessions,
                                big_append=big_append)
            phases = ("append", "select", "header_sync", "mixed") + (
                ("big_append",) if big_append else ())
            assert srv.proc is not None
            share = CpuShare(srv.proc.pid)
            spy = Spy(srv.proc.pid, spy_dir / f"workers-{workers}.txt") if spy_dir else None

            def hook(phase: str, event: str) -> None:
                share(phase, event)
                if spy is not None:
                    spy(phase, event)

            results = await run_workload(workload, log=lambda s: None, phases=phases, hook=hook)
            got = {
                "ops": row(results, "mixed"),
                "noop_max_ms": row(results, f"NOOP in mixed {sessions}, worst"),
                "noop_p99_ms": row(results, f"NOOP in mixed {sessions}, p99"),
            }
            for who, cores in share.cores.items():
                got[f"cores_{who}"] = cores
            for what, part in (spy.split if spy is not None else {}).items():
                got[f"jobs_{what}"] = part
            if big_append:
                got["append_mb_s"] = row(results, "APPEND ")
                got["big_max_ms"] = row(results, "NOOP during APPEND", "worst")
                got["big_p99_ms"] = row(results, "NOOP during APPEND", "p99")
            c = await Client.connect("127.0.0.1", srv.imap_port)
            await c.login("alice", "secret")
            await c.run(b"CREATE IdleBench")
            await c.logout()
            delays, others = await idle_delays(srv.imap_port)
        finally:
            srv.stop()
    delays.sort()
    got.update({
        "idle_median_ms": delays[len(delays) // 2] * 1000,
        "idle_max_ms": delays[-1] * 1000,
        "idle_others": others,
    })
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--mixed-seconds", type=float, default=15.0)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--big-append-mb", type=float, default=50.0,
                        help="also time one APPEND this large against NOOP latency (0: skip)")
    parser.add_argument("--spy", type=Path, default=None,
                        help="py-spy (--idle) the mixed phase into this directory and report "
                             "the share of Maildir job time spent waiting for locks and fsyncs")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"N = {args.messages}, {args.sessions} sessions, {args.mixed_seconds:.0f} s mixed; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    for w in counts:
        if args.spy:
            args.spy.mkdir(parents=True, exist_ok=True)
        got = asyncio.run(one(w, args.messages, args.mixed_seconds, args.sessions,
                              int(args.big_append_mb * 2**20), args.spy))
        rows.append((w, got))
        print(f"  workers={w}: {got['ops']:.0f} ops/s (load {os.getloadavg()[0]:.1f})", flush=True)
    base = rows[0][1]["ops"]
    print()
    big = args.big_append_mb > 0
    print("| workers | mixed ops/s | vs first | worst NOOP ms | p99 NOOP ms "
          + (f"| APPEND {args.big_append_mb:g} MB, MB/s | its worst NOOP ms | its p99 NOOP ms " if big else "")
          + "| IDLE hint median ms | IDLE hint max ms | idlers in another process |")
    print("|---|---|---|---|---|---|---|---|" + ("---|---|---|" if big else ""))
    for w, got in rows:
        extra = (f"| {got['append_mb_s']:.1f} | {got['big_max_ms']:.1f} | {got['big_p99_ms']:.1f} "
                 if big else "")
        print(f"| {w} | {got['ops']:,.0f} | {got['ops'] / base:.2f}× | {got['noop_max_ms']:.1f} "
              f"| {got['noop_p99_ms']:.1f} {extra}| {got['idle_median_ms']:.1f} | {got['idle_max_ms']:.1f} "
              f"| {got['idle_others']:.0f} of 8 |")
    print(f"\nCPU during the mixed phase ({os.cpu_count()} cores), cores busy on average:")
    print("| workers | server | bench + probe | other jobs | total |")
    print("|---|---|---|---|---|")
    for w, got in rows:
        parts = [got.get(f"cores_{k}", 0.0) for k in ("server", "bench", "other")]
        print(f"| {w} | " + " | ".join(f"{c:.2f}" for c in parts) + f" | {sum(parts):.2f} |")
    if args.spy:
        print("\nMaildir job time in the mixed phase (py-spy --idle samples of job threads):")
        print("| workers | waiting for a folder lock | in fsync | the rest |")
        print("|---|---|---|---|")
        for w, got in rows:
            print(f"| {w} | " + " | ".join(f"{100 * got.get(f'jobs_{k}', 0.0):.0f} %"
                                        for k in ("lock", "sync", "other")) + " |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
