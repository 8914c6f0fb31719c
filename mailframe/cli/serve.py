"""``mailframe serve ARGS``: ``twistd -n mailframe ARGS`` in this process."""

from __future__ import annotations

import argparse
import sys

HELP = "run the server in the foreground (the options of `twistd -n mailframe`)"
PASSTHROUGH = True


def run(args: argparse.Namespace) -> int:
    from twisted.scripts import twistd

    sys.argv = ["twistd", "-n", "--pidfile=", "mailframe", *args.rest]
    try:
        twistd.run()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
