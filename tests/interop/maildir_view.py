"""Read a client-side Maildir as the user would see it: which messages
(by Message-ID) are in each folder, with which Maildir flags."""

from __future__ import annotations

import email.parser
from pathlib import Path

#: Maildir info flag letters → IMAP flags (the Maildir spec, as mbsync,
#: offlineimap and Dovecot use them).
LETTERS = {"D": b"\\Draft", "F": b"\\Flagged", "R": b"\\Answered", "S": b"\\Seen",
           "T": b"\\Deleted"}


def message_id(path: Path) -> bytes:
    """The Message-ID header of a message file."""
    with open(path, "rb") as f:
        headers = email.parser.BytesHeaderParser().parse(f)
    return str(headers["Message-ID"]).strip().encode()


def file_flags(path: Path) -> set[bytes]:
    """The IMAP flags a Maildir file name carries (``...:2,FS``)."""
    info = path.name.rsplit(":2,", 1)[1] if ":2," in path.name else ""
    return {LETTERS[ch] for ch in info if ch in LETTERS}


def folder_view(folder: Path) -> dict[bytes, set[bytes]]:
    """``{Message-ID: flags}`` of one Maildir folder; fails on duplicates."""
    out: dict[bytes, set[bytes]] = {}
    for sub in ("new", "cur"):
        d = folder / sub
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            mid = message_id(path)
            assert mid not in out, f"duplicate {mid!r} in {folder}"
            out[mid] = file_flags(path)
    return out


def set_flags(folder: Path, mid: bytes, flags: str) -> None:
    """Give the message ``mid`` in ``folder`` exactly the flag letters
    ``flags`` (moving it to cur/ as a mail reader does)."""
    for sub in ("new", "cur"):
        for path in (folder / sub).iterdir():
            if message_id(path) == mid:
                base = path.name.split(":2,", 1)[0]
                path.rename(folder / "cur" / f"{base}:2,{''.join(sorted(flags))}")
                return
    raise KeyError(mid)


def remove(folder: Path, mid: bytes) -> None:
    """Delete the message ``mid`` from ``folder`` (a local expunge)."""
    for sub in ("new", "cur"):
        for path in (folder / sub).iterdir():
            if message_id(path) == mid:
                path.unlink()
                return
    raise KeyError(mid)


def deliver(folder: Path, name: str, message: bytes) -> None:
    """Put a new message into ``folder``/new as a local MDA would."""
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "new" / name).write_bytes(message)
