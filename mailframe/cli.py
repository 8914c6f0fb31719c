"""The ``mailframe`` command: small tools around the server.

- ``mailframe passwd`` — print a ``{ARGON2ID}`` hash for a users file;
- ``mailframe deliver`` — deliver a message from standard input (an MDA);
- ``mailframe serve [twistd mailframe options]`` — the same as
  ``twistd -n mailframe ...``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: mailframe COMMAND [ARGS]

commands:
  serve     run the server in the foreground (same options as `twistd -n mailframe`)
  passwd    print a password hash for a passwd-file users file
  deliver   deliver a message read from standard input into a user's mailbox
  queue     list, flush or delete outbound mail (`mailframe queue --help`)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "passwd":
        from mailframe.auth.passwd_tool import main as passwd

        return passwd(rest)
    if command == "deliver":
        from mailframe.smtp.deliver_tool import main as deliver

        return deliver(rest)
    if command == "queue":
        from mailframe.smtp.queue_tool import main as queue

        return queue(rest)
    if command == "serve":
        return serve(rest)
    sys.stderr.write(f"mailframe: unknown command {command!r}\n{USAGE}")
    return 2


def serve(args: list[str]) -> int:
    """Run ``twistd -n --pidfile= mailframe ARGS`` in this process."""
    from twisted.scripts import twistd

    sys.argv = ["twistd", "-n", "--pidfile=", "mailframe", *args]
    try:
        twistd.run()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
