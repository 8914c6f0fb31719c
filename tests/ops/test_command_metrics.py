"""Command metrics through the real protocol (mailframe.testing.transcript):
commands that read more client frames (AUTHENTICATE's responses, IDLE's
DONE) count once, with their latency, and a line the server cannot tag
does not leave a command "in flight" that would swallow the next ones."""

from __future__ import annotations

from twisted.trial import unittest

from mailframe.ops import metrics
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import run_transcript

TRANSCRIPT = r"""
S*
S~ \* OK .*
C: a1 AUTHENTICATE PLAIN
S~ \+ ?
C: AGFsaWNlAHNlY3JldA==
S~ a1 OK .*Logged in
C: a2 SELECT INBOX
S*
S~ a2 OK .*
C: a3 IDLE
S: + idling
C: DONE
S: a3 OK Idle completed
C: +++ NOOP
S~ \* BAD .*
C: a4 NOOP
S: a4 OK NOOP completed
C: a5 UID FETCH 1:* FLAGS
S: a5 OK Fetch completed
C: a6 LOGOUT
S*
S~ a6 OK .*
"""


def count(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class CommandMetrics(unittest.TestCase):
    async def test_multi_frame_commands_count_once(self) -> None:
        keys = [("mailframe_imap_commands_total", {"command": c, "status": "OK"})
                for c in ("AUTHENTICATE", "SELECT", "IDLE", "NOOP", "UID FETCH", "LOGOUT")]
        keys.append(("mailframe_imap_command_seconds_count", {"command": "IDLE"}))
        keys.append(("mailframe_logins_total", {"mechanism": "PLAIN", "result": "ok"}))
        before = [count(n, **lab) for n, lab in keys]
        await run_transcript(TRANSCRIPT, MemoryStore())
        after = [count(n, **lab) for n, lab in keys]
        self.assertEqual([a - b for a, b in zip(after, before, strict=True)], [1.0] * len(keys))
