"""``mailframe deliver``: a local delivery agent (MDA) for use from a pipe.

Reads one message on stdin and stores it through the same
:class:`mailframe.smtp.delivery.Delivery` path as SMTP and LMTP, e.g. as
Postfix's ``mailbox_command``::

    mailframe deliver --store maildir:/var/mail/%u -a "$RECIPIENT" -f "$SENDER"

Input: an mbox ``From `` line, if first, is dropped; line endings become
CRLF (RFC 5322 §2.1, what IMAP serves); ``-f`` adds ``Return-Path:``
(RFC 5321 §4.4) unless the message already starts with one.

Exit status (sysexits.h, what MTAs expect from an MDA): 0 delivered;
64 usage; 65 empty message; 67 unknown user (with ``--users``); 75 temporary
failure (store unavailable, errors: the MTA retries); 77 refused for good
(over quota, a hook's 5xx: the MTA bounces).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

from mailframe.message import to_crlf
from mailframe.smtp.addressing import parse_recipient

__all__ = ["main", "run", "normalize_input"]

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_NOPERM = 0, 64, 65, 67, 75, 77


def normalize_input(data: bytes) -> bytes:
    """Drop a leading mbox ``"From "`` line; make every line end in CRLF."""
    if data.startswith(b"From "):
        nl = data.find(b"\n")
        data = b"" if nl < 0 else data[nl + 1 :]
    data = to_crlf(data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailframe deliver", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "-s",
        "--store",
        default=os.environ.get("MAILFRAME_STORE"),
        help="store URL (default: $MAILFRAME_STORE)",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("-u", "--user", help="deliver to this user")
    who.add_argument("-a", "--address", help="recipient address; user+detail@domain → folder")
    p.add_argument("-m", "--mailbox", help="folder (default: INBOX, or the address's +detail)")
    p.add_argument("-f", "--from", dest="sender", help="envelope sender, for Return-Path")
    p.add_argument("--flag", action="append", default=[], help="flag to set, e.g. \\\\Seen")
    p.add_argument(
        "--users", help="users URL (e.g. passwd-file:/etc/mailframe/users): refuse unknown users"
    )
    p.add_argument(
        "--create", action="store_true", help="create a missing folder instead of using INBOX"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print where the message went")
    return p


def _err(msg: str) -> None:
    sys.stderr.write(f"mailframe deliver: {msg}\n")


async def run(
    args: argparse.Namespace,
    data: bytes,
    store: Any = None,
    directory: Any = None,
    hooks: Sequence[Any] = (),
) -> int:
    """Deliver ``data`` as ``args`` say; the exit status.  ``store`` and
    ``directory`` override ``--store`` / ``--users``; ``hooks`` are
    delivery hooks (for embedding and tests)."""
    from mailframe.errors import MailframeError, OverQuota, StoreUnavailable
    from mailframe.smtp.delivery import Delivery
    from mailframe.smtp.hooks import DeliveryRefused, DeliveryRequest
    from mailframe.smtp.trace import return_path_header

    content = normalize_input(data)
    if not content.strip():
        _err("empty message on stdin")
        return EX_DATAERR
    if args.address:
        local, _, domain = (
            args.address.rpartition("@") if "@" in args.address else (args.address, "", "")
        )
        rcpt = parse_recipient(local, domain)
        user, mailbox = rcpt.local, rcpt.mailbox
    else:
        user, mailbox = args.user, "INBOX"
    mailbox = args.mailbox or mailbox
    try:
        if store is None:
            if not args.store:
                _err("no store: give --store URL or set MAILFRAME_STORE")
                return EX_USAGE
            from mailframe.store import open_store

            store = open_store(args.store)
        if directory is None and args.users:
            from mailframe.auth.checkers import open_checker

            directory = open_checker(args.users)
            if args.store:  # QUOTA (RFC 9208): the users file's quota_rule limits
                from mailframe.store.quota import with_quota

                store = with_quota(store, None, [directory])
    except StoreUnavailable as e:
        _err(str(e))
        return EX_TEMPFAIL
    except Exception as e:
        _err(" ".join(str(e).split()) or type(e).__name__)
        return EX_USAGE
    delivery = Delivery(store, directory, hooks, create_folders=args.create)
    try:
        if directory is not None:
            found = await delivery.lookup(user, rcpt.domain if args.address else "")
            if found is None:
                _err(f"unknown user {user!r}")
                return EX_NOUSER
            user = found
        if args.sender is not None and not content.lower().startswith(b"return-path:"):
            content = return_path_header(args.sender) + content
        request = DeliveryRequest(
            user, mailbox, content, frozenset(args.flag), sender=args.sender, recipient=args.address
        )
        delivered = await delivery.deliver_request(request)
    except DeliveryRefused as e:
        _err(f"{e.code} {e.status} {e.text}")
        return EX_NOPERM if e.code >= 500 else EX_TEMPFAIL
    except OverQuota as e:
        _err(f"over quota: {e.text}")
        return EX_NOPERM
    except MailframeError as e:
        _err(e.text)
        return EX_TEMPFAIL
    except Exception as e:
        _err(f"delivery failed: {type(e).__name__}: {e}")
        return EX_TEMPFAIL
    finally:
        close = getattr(store, "close", None)
        if close is not None and args.store:
            try:
                await close()
            except Exception:
                pass
    if args.verbose:
        print(f"delivered to {delivered.username}/{delivered.mailbox} uid {delivered.uid}")
    return EX_OK


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None) -> int:
    """Entry point: ``mailframe deliver ARGS``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return EX_USAGE if e.code else EX_OK
    data = (stdin or sys.stdin.buffer).read()

    from twisted.internet.defer import Deferred, ensureDeferred
    from twisted.internet.task import react

    status: list[int] = [EX_TEMPFAIL]

    def go(reactor: Any) -> Deferred[None]:
        def keep(code: int) -> None:
            status[0] = code

        return ensureDeferred(run(args, data)).addCallback(keep)

    try:
        react(go)
    except SystemExit:
        pass
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
