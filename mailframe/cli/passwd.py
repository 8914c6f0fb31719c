"""``mailframe passwd``: print a password hash (:mod:`mailframe.auth.passwd_tool`)."""

from __future__ import annotations

import argparse

HELP = "print a password hash for a passwd-file (see also `mailframe user`)"
PASSTHROUGH = True


def run(args: argparse.Namespace) -> int:
    from mailframe.auth.passwd_tool import main

    return main(args.rest)
