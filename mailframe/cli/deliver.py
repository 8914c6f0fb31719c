"""``mailframe deliver``: a local delivery agent (:mod:`mailframe.smtp.deliver_tool`)."""

from __future__ import annotations

import argparse

HELP = "deliver a message read from standard input into a user's mailbox (an MDA)"
PASSTHROUGH = True


def run(args: argparse.Namespace) -> int:
    from mailframe.smtp.deliver_tool import main

    return main(args.rest)
