"""What every subcommand shares: the one-line argument errors, the exit
statuses, ``--json`` output, the store and users options as the server
takes them, and running store Deferreds to completion."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

__all__ = ["Parser", "CommandError", "fail", "add_store_options", "add_users_options",
           "store_url", "users_path", "add_json_option", "print_json", "wait", "open_account"]

T = TypeVar("T")

#: what ``twistd mailframe`` uses without --data-dir (mailframe.server.options)
DEFAULT_DATA = "mailframe-data"


class Parser(argparse.ArgumentParser):
    """argparse with Unix manners: a wrong argument is one line on stderr
    and exit status 2 (argparse alone prints its whole usage first)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


class CommandError(Exception):
    """A failure to report in one line; ``status`` is the exit status."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.status = status


def fail(args: argparse.Namespace, text: str, status: int = 1) -> int:
    """Write ``mailframe COMMAND: text`` on stderr; return ``status``."""
    name = " ".join(filter(None, ["mailframe", getattr(args, "command", None),
                                  getattr(args, "action", None)]))
    sys.stderr.write(f"{name}: {text}\n")
    return status


# ------------------------------------------------------------- options


def add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--data-dir", default=DEFAULT_DATA,
                   help=f"the server's data directory (default ./{DEFAULT_DATA})")
    p.add_argument("-s", "--store", help="store URL as the server takes it "
                   "(default maildir:<data-dir>/mail)")


def add_users_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--data-dir", default=DEFAULT_DATA,
                   help=f"the server's data directory (default ./{DEFAULT_DATA})")
    p.add_argument("-u", "--users", help="passwd-file:PATH or a path, as the server's --users "
                   "(default passwd-file:<data-dir>/users)")


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def store_url(args: argparse.Namespace) -> str:
    return args.store or "maildir:" + os.path.join(args.data_dir, "mail")


def users_path(args: argparse.Namespace) -> str:
    spec = args.users or "passwd-file:" + os.path.join(args.data_dir, "users")
    scheme, sep, rest = spec.partition(":")
    if sep and scheme == "passwd-file":
        return rest
    if sep and "/" not in scheme and scheme:
        raise CommandError(f"--users {spec!r}: only a passwd-file can be edited here", 2)
    return spec


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


# ------------------------------------------------------------- the store


def wait(work: Coroutine[Any, Any, T] | Any) -> T:
    """The result of a coroutine or Deferred.  A store whose Deferreds have
    already fired (Maildir, memory) runs without a reactor; otherwise the
    reactor runs until the work is done (once per process)."""
    from twisted.internet.defer import Deferred, ensureDeferred
    from twisted.python.failure import Failure

    d: Deferred[T] = ensureDeferred(work)
    box: list[Any] = []
    d.addBoth(box.append)
    if not box:
        from twisted.internet import reactor

        d.addBoth(lambda _: reactor.stop())
        reactor.run()
    result = box[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[no-any-return]


def open_store(url: str) -> Any:
    from mailframe.store import open_store as _open

    return _open(url)


async def open_account(store: Any, user: str, create: bool = False) -> Any:
    """The user's IAccount; for a store that can tell (Maildir), a user
    with no mail yet is an error unless ``create``."""
    root_for: Callable[[str], str] | None = getattr(store, "root_for", None)
    if root_for is not None and not create:
        try:
            root = root_for(user)
        except Exception as e:
            raise CommandError(f"invalid user name {user!r}: {e}") from None
        if not os.path.isdir(root):
            raise CommandError(f"user {user!r} has no mailboxes in this store ({root})")
    return await store.account(user)
