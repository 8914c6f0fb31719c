"""THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES,
over the cached sort keys of the matching messages."""

from __future__ import annotations

import gc
from typing import Any

from mailframe.imap.command import Thread
from mailframe.imap.commands.sort import found_with_keys
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.serialize import Atom, Raw
from mailframe.message.threads import ordered_subject, references, thread_wire


@command(Thread, SELECTED, expunge_ok=not_by_sequence)
async def thread(session: Any, cmd: Thread) -> Reply:
    found = await found_with_keys(session, cmd.key)
    numbers = found.uids if cmd.uid else found.seqs
    messages = list(zip(numbers, found.keys, strict=True))
    algorithm = ordered_subject if cmd.algorithm == "ORDEREDSUBJECT" else references
    # One container per message, linked both ways: the cyclic collector
    # would walk them (and every cached key) many times while they are
    # built; they are freed together afterwards.
    was = gc.isenabled()
    gc.disable()
    try:
        wire = thread_wire(algorithm(messages))
    finally:
        if was:
            gc.enable()
    if wire:
        session.untagged(Atom("THREAD"), Raw(wire.encode()))
    else:
        session.untagged(Atom("THREAD"))
    return Reply("Thread completed")
