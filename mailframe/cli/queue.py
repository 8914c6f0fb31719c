"""``mailframe queue``: list, flush or delete outbound mail
(:mod:`mailframe.smtp.queue_tool`)."""

from __future__ import annotations

import argparse

HELP = "list, flush or delete outbound mail waiting in the submission queue"
PASSTHROUGH = True


def run(args: argparse.Namespace) -> int:
    from mailframe.smtp.queue_tool import main

    return main(args.rest)
