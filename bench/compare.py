"""Side-by-side IMAP benchmark: mailframe against Dovecot and pymap.

Starts each server itself on a loopback port (bench/servers.py), runs the
identical checked workload (bench/workload/) against each in turn, and
prints one Markdown table per corpus size: each phase's figure per server
and mailframe's relative performance to each (> 1: mailframe better).

    .venv/bin/python bench/compare.py                 # N = 2000 and 20000
    .venv/bin/python bench/compare.py --quick         # ~1 minute smoke run
    .venv/bin/python bench/compare.py -n 2000 --servers mailframe,dovecot
    .venv/bin/python bench/compare.py --store mbox --servers mailframe,dovecot

A server that cannot be installed or started gets "n/a" and the reason
under the table; a phase whose answers do not match the corpus shows as
WRONG, never as a rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.profile_summary import report  # noqa: E402
from bench.servers import LAUNCHERS, Mailframe, Server, Unavailable  # noqa: E402
from bench.workload.corpus import Corpus  # noqa: E402
from bench.workload.memory import raise_nofile  # noqa: E402
from bench.workload.phases import PHASES, PhaseResult, Workload, run_workload, with_setup  # noqa: E402

REFERENCE = "mailframe"


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    total = mem[1].split()[1] if len(mem) > 1 else "?"
    return (f"{os.cpu_count()} CPUs ({cpu}), {total} RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, mailframe tree {tree_version()}")


def tree_version() -> str:
    """The commit mailframe runs from, and whether its files differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mailframe"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (" + uncommitted changes in mailframe/" if dirty else "")


def run_one(name: str, n: int, args: argparse.Namespace, corpus: Corpus,
            log: Callable[[str], None]) -> tuple[list[PhaseResult] | None, str]:
    """Start server ``name``, run the workload, stop it; (results, note)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=args.tmp))
    server: Server | None = None
    try:
        server = LAUNCHERS[name](workdir / name, store=args.store)
        log(f"{name} {server.version} on port {server.port}, pid {server.pid}, N={n}")
        workload = Workload("127.0.0.1", server.port, "alice", "secret", corpus,
                            server_pid=server.pid, mixed_seconds=args.mixed_seconds,
                            connections=args.connections, bodies=min(500, n),
                            many_sessions=args.many_sessions,
                            big_append=int(args.big_append_mb * 2**20))
        hook = Profiler(server.pid, Path(args.profile), n, log) if (
            args.profile and name == REFERENCE and server.pid) else None
        load = os.getloadavg()[0]
        results = asyncio.run(run_workload(workload, log=log, phase_timeout=args.phase_timeout,
                                           hook=hook, phases=args.phases))
        return results, (f"{name} {server.version}; load average {load:.1f} at start, "
                         f"{os.getloadavg()[0]:.1f} at end")
    except Unavailable as exc:
        log(f"{name}: unavailable: {exc}")
        return None, f"{name}: not run: {exc}"
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


class Profiler:
    """Attach ``py-spy record`` to the server for each phase; write the raw
    collapsed stacks and their summary (bench/profile_summary.py) to
    ``<dir>/<N>-<phase>.txt`` / ``.summary.txt``."""

    def __init__(self, pid: int, directory: Path, n: int, log: Callable[[str], None]) -> None:
        self.pid, self.directory, self.n, self.log = pid, directory, n, log
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.spy = str(Path(sys.executable).parent / "py-spy")

    def __call__(self, phase: str, event: str) -> None:
        raw = self.directory / f"{self.n}-{phase}.txt"
        if event == "start":
            self.proc = subprocess.Popen(
                [self.spy, "record", "--pid", str(self.pid), "--format", "raw", "--rate", "200", "--subprocesses",
                 "--nonblocking", "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        elif self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            if raw.exists():
                summary = report(raw.read_text(), 30)
                (self.directory / f"{self.n}-{phase}.summary.txt").write_text(summary)


def fmt(result: PhaseResult | None) -> str:
    if result is None:
        return "n/a"
    if result.value is None:
        return result.status.split(":")[0]
    value = f"{result.value:,.0f}" if abs(result.value) >= 100 else f"{result.value:,.1f}"
    return value if result.ok else f"{result.status.split(':')[0]} ({value})"


def ratio(mine: PhaseResult | None, other: PhaseResult | None) -> str:
    """mailframe relative to ``other``: > 1 means mailframe is better."""
    if mine is None or other is None or not (mine.ok and other.ok):
        return "-"
    if not mine.value or not other.value or mine.value <= 0 or other.value <= 0:
        return "-"
    r = mine.value / other.value if mine.higher_is_better else other.value / mine.value
    return f"{r:.2f}×"


def table(n: int, runs: dict[str, list[PhaseResult] | None], notes: list[str]) -> str:
    names = list(runs)
    others = [s for s in names if s != REFERENCE]
    phases: list[tuple[str, str]] = []
    for results in runs.values():
        for r in results or []:
            if (r.name, r.unit) not in phases:
                phases.append((r.name, r.unit))
    header = [f"phase (N = {n})", "unit", *names] + [f"{REFERENCE} vs {o}" for o in others]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, unit in phases:
        row = {s: next((r for r in runs[s] or [] if r.name == name), None) for s in names}
        cells = [name, unit] + [fmt(row[s]) if runs[s] is not None else "n/a" for s in names]
        if REFERENCE in runs:
            cells += [ratio(row[REFERENCE], row[o]) for o in others]
        lines.append("| " + " | ".join(cells) + " |")
    problems = [f"- {s}: {r.name}: {r.status}" for s in names for r in runs[s] or [] if not r.ok]
    out = "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes)
    if problems:
        out += "\n\nNot OK:\n" + "\n".join(problems)
    return out + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--messages", type=int, action="append",
                        help="corpus size (repeatable; default 2000 and 20000)")
    parser.add_argument("--servers", default="mailframe,dovecot,pymap")
    parser.add_argument("--store", choices=("maildir", "mbox"), default="maildir",
                        help="the mail storage of mailframe and Dovecot (mbox: mbox files)")
    parser.add_argument("--pymap-max", type=int, default=2000,
                        help="largest N to run pymap at (it is ~30x slower)")
    parser.add_argument("--mixed-seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--many-sessions", type=int, default=64,
                        help="sessions of the second mixed phase (issue 16: 64)")
    parser.add_argument("--mailframe-args", default="",
                        help='more options for mailframe, e.g. "--workers 1 --stall-warn 10"')
    parser.add_argument("--big-append-mb", type=float, default=50.0,
                        help="size of the one large APPEND timed against NOOP latency (MB)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated phases to run (append, select and header_sync "
                             "set up the rest and are added when missing); default all: " + ",".join(PHASES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N=200, 2 s mixed workload, 100 connections")
    parser.add_argument("--tmp", default=None, help="parent of the servers' temp dirs")
    parser.add_argument("--keep", action="store_true", help="keep the servers' temp dirs")
    parser.add_argument("--phase-timeout", type=float, default=600.0,
                        help="seconds before a phase counts as TIMEOUT")
    parser.add_argument("--profile", help="py-spy each mailframe phase into this directory")
    parser.add_argument("--json", help="also write all results to this JSON file")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args(argv)
    args.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if set(args.phases) - set(PHASES):
        parser.error(f"unknown phase(s) {sorted(set(args.phases) - set(PHASES))}; known: {PHASES}")
    args.phases = with_setup(args.phases)  # (the later phases need the UIDs)
    if args.quick:
        args.messages = args.messages or [200]
        args.mixed_seconds, args.connections, args.big_append_mb = 2.0, 100, 5.0
    sizes = args.messages or [2000, 20000]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in servers if s not in LAUNCHERS]
    if unknown:
        parser.error(f"unknown server(s) {unknown}; known: {sorted(LAUNCHERS)}")
    Mailframe.extra_args = shlex.split(args.mailframe_args)
    # Children (the servers) inherit this limit: 1 000 connections need fds.
    raise_nofile(4 * args.connections + 1024)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    output = [f"Run {started} on {machine()}.\n"]
    everything: dict[str, dict[str, object]] = {}
    ok = True
    for n in sizes:
        log(f"generating corpus N={n} (seed {args.seed})")
        corpus = Corpus(n, args.seed)
        runs: dict[str, list[PhaseResult] | None] = {}
        notes: list[str] = []
        for name in servers:
            if name == "pymap" and n > args.pymap_max:
                runs[name] = None
                notes.append(f"pymap: not run at N = {n} (> --pymap-max {args.pymap_max}): its "
                             "APPEND runs at ~6 msg/s and each phase takes minutes per 2 000")
                continue
            results, note = run_one(name, n, args, corpus, log)
            runs[name] = results
            notes.append(note)
            if name == REFERENCE and results is not None:
                ok = ok and all(r.ok for r in results)
        notes.append(f"mixed workloads {args.mixed_seconds:g} s each; idle memory over "
                     f"{args.connections} connections")
        text = table(n, runs, notes)
        output.append(text)
        print(text, flush=True)
        everything[str(n)] = {s: [asdict(r) for r in rs] if rs is not None else None
                              for s, rs in runs.items()}
        everything[str(n)]["notes"] = notes
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(output))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
