"""Run the IMAP benchmark workload against one running server.

    .venv/bin/python bench/imap_workload.py --port 1143 --user alice \
        --password secret [-n 2000] [--pid SERVER_PID] [--quick]

The mailbox INBOX of the user must start empty.  Phases and checks are in
bench/workload/phases.py; ``bench/compare.py`` starts Dovecot, pymap and
mailframe itself and runs this same workload against each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.workload.corpus import Corpus  # noqa: E402
from bench.workload.phases import Workload, run_workload  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1143)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", default="secret")
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pid", type=int, help="server pid, for the idle-memory phase")
    parser.add_argument("--mixed-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--many-sessions", type=int, default=64, help="sessions of the second mixed phase")
    parser.add_argument("--big-append-mb", type=float, default=50.0,
                        help="size of the one large APPEND timed against NOOP latency (MB)")
    parser.add_argument("--quick", action="store_true", help="N=200, 2 s mixed, 100 connections")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.mixed_seconds, args.connections, args.big_append_mb = 200, 2.0, 100, 5.0
    workload = Workload(args.host, args.port, args.user, args.password,
                        Corpus(args.messages, args.seed), server_pid=args.pid,
                        mixed_seconds=args.mixed_seconds, connections=args.connections,
                        many_sessions=args.many_sessions,
                        big_append=int(args.big_append_mb * 2**20))
    results = asyncio.run(run_workload(workload))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
