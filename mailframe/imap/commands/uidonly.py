"""UIDONLY (RFC 9586): once a client sends ``ENABLE UIDONLY`` it never
sees or uses a message sequence number again.

- Commands that take message numbers (FETCH, STORE, SEARCH, COPY, MOVE and
  SORT/THREAD, not their UID forms), a UID SEARCH/SORT/THREAD whose
  criteria hold message numbers, and SELECT's QRESYNC seq-match-data are
  answered ``BAD [UIDREQUIRED]`` (§3, §3.3, §3.4).
- FETCH data goes out as ``* <uid> UIDFETCH (...)`` instead of
  ``* <seq> FETCH (...)``, the UID item only when asked for (§3.1).
- Expunges are always reported as ``VANISHED`` (§3.2), as after
  ``ENABLE QRESYNC``.
- SELECT sends no ``[UNSEEN n]`` (a message number).

The session view still keeps its UID list (it is cheap: 4 bytes a
message) so EXISTS stays right; nothing here changes the store.
"""

from __future__ import annotations

from typing import Any

from mailframe.imap import command as c
from mailframe.imap.types import SearchSet, search_leaves

__all__ = ["UIDONLY", "uidonly", "vanished", "uid_required"]

UIDONLY = "UIDONLY"

_NUMBERED = (c.Fetch, c.Store, c.Search, c.Copy, c.Move, c.Sort, c.Thread)


def uidonly(session: Any) -> bool:
    """Whether the client enabled UIDONLY."""
    return UIDONLY in session.enabled


def vanished(session: Any) -> bool:
    """Expunges are told as VANISHED: after ENABLE QRESYNC (RFC 7162
    §3.2.10) or ENABLE UIDONLY (RFC 9586 §3.2)."""
    return bool(session.enabled & {"QRESYNC", UIDONLY})


def uid_required(session: Any, cmd: c.Command) -> str | None:
    """Why ``cmd`` is refused with ``BAD [UIDREQUIRED]`` in a UIDONLY
    session, or None."""
    if not uidonly(session):
        return None
    if isinstance(cmd, _NUMBERED) and not cmd.uid:
        return "Message sequence numbers cannot be used with UIDONLY"
    key = getattr(cmd, "key", None)
    if key is not None and any(isinstance(k, SearchSet) and not k.uid and not k.numbers.saved for k in search_leaves(key)):
        return "Message sequence numbers in search criteria cannot be used with UIDONLY"
    if isinstance(cmd, c.Select) and cmd.seq_match is not None:
        return "Message sequence match data cannot be used with UIDONLY"
    return None
