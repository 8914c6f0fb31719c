"""LITERAL+ / LITERAL- (RFC 7888): which one is advertised follows the
non-synchronizing literal cap, and a LITERAL- server takes ``{4096+}`` and
refuses ``{4097+}`` with BAD [TOOBIG] (§4, §5) -- on every store, and from
the command line (``--max-nonsync-literal``)."""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.limits import Limits
from mailframe.imap.session import ServerConfig, literal_capability, server_limits
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import run_transcript
from tests.support.server import ServerProcess

BODY = "x" * 4094  # + CRLF of the transcript line: 4096 octets

LITERAL_MINUS = f"""\
S~ \\* OK \\[CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR .*\\] mailframe ready\\.
C: a1 LOGIN alice secret
S~ a1 OK \\[CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR .* UNAUTHENTICATE COMPRESS=DEFLATE\\] Logged in
C: a2 APPEND INBOX {{4096+}}
C: {BODY}
C:
S~ a2 OK \\[APPENDUID \\d+ 1\\] Append completed
C: a3 APPEND INBOX {{4097+}}
C: {BODY}x
C:
S: a3 BAD [TOOBIG] Non-synchronizing literal too big
C: a4 APPEND INBOX {{4097}}
S: + Ready for literal data
C: {BODY}x
C:
S~ a4 OK \\[APPENDUID \\d+ 2\\] Append completed
C: a5 LOGOUT
S: * BYE Logging out
S: a5 OK Logout completed
"""


def test_which_capability() -> None:
    assert literal_capability(server_limits()) == "LITERAL+"
    assert literal_capability(server_limits(max_nonsync_literal=4096)) == "LITERAL-"
    assert literal_capability(Limits()) == "LITERAL-"  # the bare defaults cap at 4096
    # a cap that is neither "everything" nor RFC 7888 §4's 4096: no promise
    assert literal_capability(server_limits(max_nonsync_literal=100)) is None
    assert literal_capability(server_limits(max_nonsync_literal=10000)) is None
    # every literal may be non-synchronizing: LITERAL+, however small
    assert literal_capability(server_limits(max_literal=1000, max_nonsync_literal=1000)) == "LITERAL+"


class LiteralMinusTranscripts(TestCase):
    config = ServerConfig(limits=server_limits(max_nonsync_literal=4096))

    async def test_memory(self) -> None:
        await run_transcript(LITERAL_MINUS, MemoryStore(), config=self.config)

    async def test_maildir(self) -> None:
        store = maildir_from_url(f"maildir:{self.mktemp()}/mail")
        try:
            await run_transcript(LITERAL_MINUS, store, config=self.config)
        finally:
            await defer.maybeDeferred(store.close)


def test_command_line_option(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--max-nonsync-literal", "4096") as server:
        with socket.create_connection(("127.0.0.1", server.imap_port), timeout=10) as s:
            greeting = s.recv(1000)
    assert b" LITERAL- " in greeting and b"LITERAL+" not in greeting
