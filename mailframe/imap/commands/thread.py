"""THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES,
over the cached sort keys of the matching messages."""

from __future__ import annotations

from typing import Any

from mailframe.imap.command import Thread
from mailframe.imap.commands import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.commands.search import run_search
from mailframe.imap.commands.sortkeys_cache import keys_for
from mailframe.imap.serialize import Atom, Raw
from mailframe.message.threads import ordered_subject, references, thread_wire


@command(Thread, SELECTED, expunge_ok=not_by_sequence)
async def thread(session: Any, cmd: Thread) -> Reply:
    found = await run_search(session, cmd.key)
    keys = await keys_for(session, [u for _, u, _ in found])
    messages = [(u if cmd.uid else s, keys[u]) for s, u, _ in found if u in keys]
    algorithm = ordered_subject if cmd.algorithm == "ORDEREDSUBJECT" else references
    wire = thread_wire(algorithm(messages))
    if wire:
        session.untagged(Atom("THREAD"), Raw(wire.encode()))
    else:
        session.untagged(Atom("THREAD"))
    return Reply("Thread completed")
