"""Profile one server-side phase at a time with py-spy: the phases of
bench/compare.py take well under a second at N = 2 000, too short for a
sampling profiler, so each command here is repeated for ``--seconds``
while ``py-spy record`` watches the mailframe server (Maildir store).

    .venv/bin/python bench/profile_phases.py -n 2000 --out /tmp/prof [--phase bodies]

Writes ``<out>/<phase>.txt`` (collapsed stacks) and ``<phase>.summary.txt``
(bench/profile_summary.py) for each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.profile_summary import report  # noqa: E402
from bench.servers import Mailframe  # noqa: E402
from bench.workload.client import Client  # noqa: E402
from bench.workload.corpus import Corpus  # noqa: E402
from bench.workload.phases import HEADER_SYNC, imap_date  # noqa: E402

#: phase name -> the commands repeated while it is profiled.
COMMANDS: dict[str, list[bytes]] = {
    "header_sync": [HEADER_SYNC],
    "envelope": [b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)"],
    "bodies": [b"FETCH 1:500 BODY.PEEK[]"],
    "search_header": [b'SEARCH SUBJECT "kiwi-sub"', b'SEARCH FROM "ben@example"'],
    "search_body": [b'SEARCH BODY "bravo-body"'],
    "search_flag": [b"SEARCH FLAGGED", b"SEARCH UNSEEN"],
    "store": [b"STORE 1:* +FLAGS (\\Seen)", b"STORE 1:* -FLAGS.SILENT (\\Seen)"],
}


async def load(port: int, corpus: Corpus) -> Client:
    client = await Client.connect("127.0.0.1", port)
    await client.login("alice", "secret")
    for i, meta in enumerate(corpus.metas):
        flags = b"(\\Flagged)" if meta.flagged else b"()"
        await client.run_with_literal(b"APPEND INBOX " + flags + b" " + imap_date(i), corpus.message(i))
    await client.run(b"SELECT INBOX")
    return client


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live
    children (the --workers processes): a figure the load of other
    programs on the machine hardly moves, unlike wall time."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def repeat(client: Client, commands: list[bytes], seconds: float) -> tuple[int, float, float]:
    """(commands run, seconds, seconds of the first round: the cold one)."""
    count, start = 0, time.perf_counter()
    first = 0.0
    while time.perf_counter() - start < seconds:
        for command in commands:
            await client.run(command)
            count += 1
        first = first or time.perf_counter() - start
    return count, time.perf_counter() - start, first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--phase", action="append", choices=sorted(COMMANDS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-profile", action="store_true", help="time the commands only")
    parser.add_argument("--server", default="mailframe",
                        choices=["mailframe", "mailframe-sqlite", "mailframe-postgresql"],
                        help="the store (the PostgreSQL server's own CPU is not counted)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    if args.server == "mailframe":
        server = Mailframe(workdir / "mailframe")
    else:
        from bench.servers import MailframePostgres, MailframeSqlite
        kind = MailframeSqlite if args.server == "mailframe-sqlite" else MailframePostgres
        server = kind(workdir / "mailframe")
    spy = str(Path(sys.executable).parent / "py-spy")

    async def run() -> None:
        client = await load(server.port, Corpus(args.messages))
        for phase in args.phase or list(COMMANDS):
            raw = out / f"{phase}.txt"
            proc = None
            if not args.no_profile:
                proc = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--format", "raw",
                                         "--rate", "250", "--subprocesses", "--nonblocking", "-o", str(raw)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.0)
            cpu = tree_cpu(server.pid) if server.pid else 0.0
            count, elapsed, first = await repeat(client, COMMANDS[phase], args.seconds)
            cpu = (tree_cpu(server.pid) if server.pid else 0.0) - cpu
            print(f"{phase}: {count} commands in {elapsed:.1f} s, {elapsed / count * 1000:.1f} ms each "
                  f"(first round {first * 1000:.0f} ms), server CPU {cpu / count * 1000:.1f} ms each",
                  flush=True)
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
                if raw.exists():
                    (out / f"{phase}.summary.txt").write_text(report(raw.read_text(), 30))
        await client.logout()

    try:
        asyncio.run(run())
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
