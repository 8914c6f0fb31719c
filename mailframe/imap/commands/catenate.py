"""CATENATE (RFC 4469): building APPEND's messages from literals and IMAP
URLs (RFC 5092) that point into the user's own mailboxes; and the checks
of the ``UTF8 (literal8)`` data item (RFC 6855 §4).

:func:`resolve_messages` runs in the APPEND handler after the target
mailbox was found (so a missing target is ``NO [TRYCREATE]`` whatever the
URLs say, as imaptest's ``catenate`` script and Dovecot have it) and
before anything is stored (so MULTIAPPEND stays all or none, RFC 3502).

Each URL is resolved to byte ranges first, through the cheap per-message
state or the parsed structure of the one message it names (never a
snapshot of its mailbox); the total is checked against the message size
limit (``NO [TOOBIG]``, RFC 4469 §4.2) before one octet is read, and the
ranges are then read in chunks (``IMailbox.read``), giving other sessions
a turn between chunks.  The first URL that cannot be resolved fails the
command with ``NO [BADURL url]`` (§4.1); a body part the message does not have is
empty, as FETCH answers it (Dovecot does the same).  Reading a part never sets
``\\Seen`` (§3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mailframe import message as mm
from mailframe.errors import CommandFailed, ExpungeIssued, NonexistentMailbox, ProtocolError, TooBig
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.imapurl import ImapUrl, UrlError, parse_message_url, url_text
from mailframe.imap.types import AppendMessage

__all__ = ["resolve_messages", "UTF8_ACCEPT"]

UTF8_ACCEPT = "UTF8=ACCEPT"
#: Octets read from the store at a time while copying a URL's part.
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Range:
    """Octets ``[start, end)`` of message ``uid`` in ``mailbox``."""

    mailbox: Any
    uid: int
    start: int
    end: int


_Piece = bytes | _Range


class BadUrl(CommandFailed):
    """A CATENATE URL that cannot be resolved (RFC 4469 §4.1)."""


def _bad(url: str, why: str) -> BadUrl:
    return BadUrl(f"Invalid URL: {why}", f"BADURL {url_text(url)}")


async def resolve_messages(
    session: AuthenticatedContext, messages: tuple[AppendMessage, ...]
) -> tuple[AppendMessage, ...]:
    """``messages`` with every CATENATE message's content built from its
    parts (RFC 4469 §3); the others unchanged.  Fails with BADURL, TOOBIG,
    or BAD for ``UTF8`` data from a client that has not enabled
    UTF8=ACCEPT (RFC 6855 §4)."""
    utf8 = UTF8_ACCEPT in session.enabled
    limit = session.config.limits.max_literal
    out: list[AppendMessage] = []
    opened: dict[str, Any] = {}
    for msg in messages:
        if msg.utf8 and not utf8:
            raise ProtocolError("UTF8 data needs ENABLE UTF8=ACCEPT")
        if msg.catenate is None:
            out.append(msg)
            continue
        pieces: list[_Piece] = []
        for kind, data in msg.catenate:
            if kind == "UTF8" and not utf8:
                raise ProtocolError("UTF8 data needs ENABLE UTF8=ACCEPT")
            if kind == "URL":
                pieces += await _url_pieces(session, data.decode("utf-8", "replace"), opened)
            else:
                pieces.append(data)
        size = sum(len(p) if isinstance(p, bytes) else p.end - p.start for p in pieces)
        if size > limit:
            raise TooBig(f"Message would be larger than {limit} octets")
        out.append(replace(msg, content=await _read(session, pieces, size), catenate=None))
    return tuple(out)


async def _read(session: AuthenticatedContext, pieces: list[_Piece], size: int) -> bytes:
    """The octets of ``pieces``, read in chunks."""
    buf = bytearray()
    for piece in pieces:
        if isinstance(piece, bytes):
            buf += piece
            continue
        pos = piece.start
        while pos < piece.end:
            end = min(pos + CHUNK, piece.end)
            try:
                buf += await piece.mailbox.read(piece.uid, pos, end)
            except ExpungeIssued as e:  # expunged meanwhile
                raise CommandFailed("A message the URL names was expunged", "EXPUNGEISSUED") from e
            pos = end
            if pos < piece.end:
                await session.io.pause()
    return bytes(buf)


async def _mailbox(session: AuthenticatedContext, url: ImapUrl, text: str, opened: dict[str, Any]) -> Any:
    """The mailbox ``url`` names, checked against its UIDVALIDITY."""
    selected = session.mailbox
    if selected is not None and session.view is not None and selected.name == url.mailbox:
        if url.uidvalidity is not None and url.uidvalidity != session.view.uidvalidity:
            raise _bad(text, "UIDVALIDITY does not match")
        return selected
    mailbox = opened.get(url.mailbox)
    if mailbox is None:
        try:
            mailbox = await session.account.mailbox(url.mailbox)
        except NonexistentMailbox as e:
            raise _bad(text, "no such mailbox") from e
        except CommandFailed as e:  # an invalid name, no permission...
            raise _bad(text, e.text) from e
        opened[url.mailbox] = mailbox
    if url.uidvalidity is not None and url.uidvalidity != (await mailbox.status()).uidvalidity:
        raise _bad(text, "UIDVALIDITY does not match")
    return mailbox


async def _url_pieces(session: AuthenticatedContext, text: str, opened: dict[str, Any]) -> list[_Piece]:
    """What the URL ``text`` points at, as if the literal of a FETCH
    BODY[section]<partial> response were put in its place (RFC 4469 §3)."""
    selected = session.mailbox.name if session.mailbox is not None and session.view is not None else None
    try:
        url = parse_message_url(text, selected)
    except UrlError as e:
        raise _bad(text, str(e)) from e
    mailbox = await _mailbox(session, url, text, opened)
    section = url.section
    found = await (mailbox.records([url.uid]) if section is not None else mailbox.states([url.uid]))
    if not found:
        raise _bad(text, "no such message")
    record = found[0]
    pieces: list[_Piece]
    if section is None:
        pieces = [_Range(mailbox, url.uid, 0, record.size)]
    elif section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        info = record.info
        if section.part:
            rng = mm.part_header_range(info, section.part)
            block = b"" if rng is None else await mailbox.read(url.uid, *rng)
        else:
            block = info.header
        pieces = [mm.header_fields(bytes(block), section.fields, section.text.endswith(".NOT"))]
    elif not section.part and section.text == "HEADER":
        pieces = [bytes(record.info.header)]
    else:
        rng = mm.section_range(record.info, section.part, section.text)
        # A part that does not exist is empty, as its FETCH BODY[...] is
        # (and as Dovecot has it): only a bad URL or UID is BADURL.
        pieces = [b"" if rng is None else _Range(mailbox, url.uid, *rng)]
    if url.partial is None:
        return pieces
    return [_partial(pieces[0], *url.partial)]


def _partial(piece: _Piece, origin: int, length: int | None) -> _Piece:
    """``;PARTIAL=origin.length`` of a piece (RFC 5092 §5): like FETCH's
    ``<origin.length>``, empty past the end."""
    size = len(piece) if isinstance(piece, bytes) else piece.end - piece.start
    lo = min(origin, size)
    hi = size if length is None else min(lo + length, size)
    if isinstance(piece, bytes):
        return piece[lo:hi]
    return replace(piece, start=piece.start + lo, end=piece.start + hi)
