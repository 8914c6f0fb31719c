"""The index the mbox store keeps beside each file
(``ROOT/.mailframe/<name>.json``): the last scan (offsets of every
message's ``From_`` line, header and body, header digest, flags), the file
identity it describes, and the mailbox log (modseqs, tombstones).

It is a cache: when it is missing, damaged or describes another state of
the file, the file is scanned again and only modseqs are lost (UIDs,
UIDVALIDITY, flags and keywords live in the file's own headers).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mailframe.store import _mbox_format as fmt
from mailframe.store._log import MailboxLog
from mailframe.store._mbox_io import Ident, ident, peek_base

__all__ = ["load", "state", "save"]


def load(index_path: str, path: str, uidvalidity: int
         ) -> tuple[MailboxLog, fmt.Scan | None, Ident | None]:
    """(log, scan, identity) saved beside ``path`` when they still match the
    file; otherwise a log started from the file's base header (or
    ``uidvalidity`` for a new mailbox) and no scan."""
    try:
        with open(index_path, encoding="utf-8") as f:
            saved = json.load(f)
        log = MailboxLog.from_state(saved["log"])
        st = os.stat(path)
        if tuple(saved["ident"]) != ident(st):
            return log, None, None
        scan = fmt.Scan(saved["uidvalidity"], saved["last_uid"], list(saved["keywords"]),
                        tuple(saved["pseudo"]) if saved["pseudo"] else None,
                        tuple(saved["base_span"]) if saved["base_span"] else None,
                        bool(saved["base_in_pseudo"]),
                        [fmt.Entry.from_json(v) for v in saved["entries"]],
                        saved["ident"][1])
        return log, scan, ident(st)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    base = peek_base(path)
    if base is not None:
        # The index (and its modseqs) is lost: new modseqs start above the
        # time in milliseconds so they never go backwards, and the expunges
        # before are unknown (RFC 7162 §3.1.2, §3.2.5.2).
        log = MailboxLog(base[0], base[1] + 1, int(time.time() * 1000))
        log.tombstone_floor = log.highestmodseq
        return log, None, None
    return MailboxLog(uidvalidity), None, None


def state(scan: fmt.Scan, file_ident: Ident | None, log: MailboxLog) -> dict[str, Any]:
    """What :func:`save` writes (built on the reactor side, saved in a thread)."""
    return {
        "ident": list(file_ident) if file_ident else [0, 0, 0],
        "uidvalidity": scan.uidvalidity, "last_uid": scan.last_uid, "keywords": scan.keywords,
        "pseudo": list(scan.pseudo) if scan.pseudo else None,
        "base_span": list(scan.base_span) if scan.base_span else None,
        "base_in_pseudo": scan.base_in_pseudo,
        "entries": [e.to_json() for e in scan.entries],
        "log": log.to_state(),
    }


def save(index_path: str, data: dict[str, Any]) -> None:
    """Save the index atomically (a cache: failing to costs modseqs only)."""
    try:
        os.makedirs(os.path.dirname(index_path), exist_ok=True)
        tmp = f"{index_path}.{os.getpid()}.tmp"  # (other processes save it too)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, index_path)
    except FileNotFoundError:  # the mailbox was renamed or deleted meanwhile
        pass
