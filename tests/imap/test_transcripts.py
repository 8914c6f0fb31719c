"""Golden transcripts (tests/transcripts/*.imap) through the real Twisted
protocol, against every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import TranscriptMismatch, run_transcript

HERE = Path(__file__).resolve().parent.parent / "transcripts"
TRANSCRIPTS = sorted(HERE.glob("*.imap"))

STORES = {
    "memory": lambda tmp: MemoryStore(),
    "maildir": lambda tmp: maildir_from_url(f"maildir:{tmp}/mail"),
}


def _run(coro: Any) -> None:
    """Drive a coroutine on the real reactor until it finishes."""
    from tests.support.reactor import run_on_reactor

    run_on_reactor(coro)


@pytest.mark.parametrize("store_name", sorted(STORES))
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path, store_name: str, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    store = STORES[store_name](tmp_path)

    async def play() -> None:
        try:
            await run_transcript(text, store)
        finally:
            await defer.maybeDeferred(store.close)

    _run(play())


def test_a_wrong_line_is_reported(tmp_path: Path) -> None:
    """The runner itself fails on a difference (so a passing transcript
    means something)."""
    with pytest.raises(TranscriptMismatch, match="expected 'a1 OK nope'"):
        _run(run_transcript("C: a1 NOOP\nS: * OK [CAPABILITY .*\nS: a1 OK nope\n".replace("S: * OK [CAPABILITY .*", "S~ \\* OK \\[CAPABILITY .*"), MemoryStore()))
