"""The ``mailframe`` command: one entry point, one subcommand per task.

    mailframe --version
    mailframe serve [twistd mailframe options]     # = twistd -n mailframe ...
    mailframe passwd | deliver                     # hash a password; an MDA
    mailframe user add|del|list|passwd ...         # the passwd-file
    mailframe mailbox list|create|delete|rename|status|fetch USER ...
    mailframe reindex USER [MAILBOX] | check USER [--repair]
    mailframe import USER SRC | export USER DST
    mailframe queue list|flush|delete ...          # outbound mail
    mailframe acl get|set|delete|rights|shared USER ...  # shared mailboxes
    mailframe db check|migrate --store URL         # a database store's consistency

Exit status, as Unix tools have it: 0 done, 1 failed (one line on stderr),
2 wrong arguments (one line on stderr).  ``mailframe deliver`` keeps the
sysexits.h codes an MTA expects of an MDA.

Adding a subcommand is one line in :data:`COMMANDS`: its name and the
module that defines it.  The module holds ``HELP`` (one line for
``mailframe --help``), ``configure(parser)`` (add its arguments, or
sub-subcommands) and ``run(args) -> int``; a module that parses its own
arguments sets ``PASSTHROUGH = True`` and gets them as ``args.rest``.
Modules import twisted and the store only inside ``run``, so
``mailframe --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mailframe import __version__
from mailframe.cli._common import CommandError, Parser, fail

__all__ = ["COMMANDS", "main", "build_parser"]

#: name → module.  One line per subcommand.
COMMANDS: dict[str, str] = {
    "serve": "mailframe.cli.serve",
    "passwd": "mailframe.cli.passwd",
    "deliver": "mailframe.cli.deliver",
    "user": "mailframe.cli.users",
    "mailbox": "mailframe.cli.mailbox",
    "reindex": "mailframe.cli.reindex",
    "check": "mailframe.cli.check",
    "import": "mailframe.cli.import_",
    "export": "mailframe.cli.export",
    "queue": "mailframe.cli.queue",
    "acl": "mailframe.cli.acl",
    "db": "mailframe.cli.db",
}


def build_parser() -> Parser:
    """The whole argument parser (each subcommand's module configures its part)."""
    parser = Parser(
        prog="mailframe",
        description="Run and administer a mailframe mail server.",
        epilog="Each command takes --help.  Exit status: 0 ok, 1 failure, 2 wrong arguments.",
    )
    parser.add_argument("--version", action="version", version=f"mailframe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        passthrough = getattr(module, "PASSTHROUGH", False)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           add_help=not passthrough)
        if passthrough:
            p.add_argument("rest", nargs="...", help="the command's own arguments")
        else:
            module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mailframe ARGS``; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[args_list[0]])
        if getattr(module, "PASSTHROUGH", False):
            # its own parser sees every argument, options first included
            ns = argparse.Namespace(command=args_list[0], rest=args_list[1:], _run=module.run)
            return _call(ns)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return _call(args)


def _call(args: argparse.Namespace) -> int:
    try:
        return int(args._run(args))
    except CommandError as e:
        return fail(args, str(e), e.status)
    except KeyboardInterrupt:
        return fail(args, "interrupted", 130)
    except BrokenPipeError:
        return 1
    except Exception as e:  # one line, never a traceback
        from mailframe.errors import MailframeError

        text = e.text if isinstance(e, MailframeError) else (
            f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename and e.strerror
            else " ".join(str(e).split()) or type(e).__name__)
        return fail(args, text, 1)


if __name__ == "__main__":
    sys.exit(main())
