"""IMAP URLs (RFC 5092) that point at a message or a part of one in the
user's own mailboxes, as CATENATE takes them (RFC 4469 §3).

Sans-IO: :func:`parse_message_url` turns the URL text and the base it is
relative to into an :class:`ImapUrl`; resolving it against a store is
:mod:`mailframe.imap.commands.catenate`'s work.

Only relative URLs are taken (RFC 4469 §3: "only relative IMAP message or
message part URLs (i.e., those having no scheme or <iserver>) are used";
a server "would return NO" to anything else).  The base is
``imap://user@server/`` in the authenticated state and
``imap://user@server/<selected mailbox>`` in the selected state; forms:

- ``/mailbox[;UIDVALIDITY=n]/;UID=m[/;SECTION=s][/;PARTIAL=o[.l]]``
  (``iabsolute-path``, RFC 5092 §11);
- ``mailbox[;UIDVALIDITY=n]/;UID=m...`` (``imsg-or-part``, a relative
  path: merged with the base path as RFC 3986 §5.2.3 says, so it names a
  sibling of the selected mailbox, or a top-level one when none is);
- ``;UID=m...`` (``iuid-only``...): a message of the selected mailbox.

``enc-mailbox`` is UTF-8, percent-encoded (RFC 5092 §9), never modified
UTF-7.  Keys (``;UID=``...) are case-insensitive, as Dovecot takes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailframe.imap.grammar_fetch import section as parse_section
from mailframe.imap.grammar_reader import ParseError, Reader
from mailframe.imap.limits import DEFAULT_LIMITS
from mailframe.imap.types import Section

__all__ = ["ImapUrl", "UrlError", "parse_message_url", "url_text"]

#: ``bchar`` (RFC 5092 §11): unreserved, sub-delims-sh, pct-encoded,
#: "&", "=", ":", "@", "/"; and ";" which separates the parameters.
_BCHARS = re.compile(r"[A-Za-z0-9\-._~!$'()*+,&=:@/;%]*")
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NZ = re.compile(r"[1-9][0-9]{0,9}")
_NUMBER = re.compile(r"[0-9]{1,10}")
_MAX32 = 0xFFFFFFFF
#: ``scheme ":"`` (RFC 3986 §3.1) before any "/": an absolute URL.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class UrlError(ValueError):
    """The URL is not a message (part) URL this server resolves: the
    command fails with ``NO [BADURL url]`` (RFC 4469 §4.1)."""


@dataclass(frozen=True)
class ImapUrl:
    """One message or message part: ``section`` None for the whole
    message, ``partial`` (origin, length or None) from ``;PARTIAL=``."""

    mailbox: str
    uid: int
    uidvalidity: int | None = None
    section: Section | None = None
    partial: tuple[int, int | None] | None = None


def _unescape(text: str) -> str:
    """Percent-decode ``text`` as UTF-8 (RFC 5092 §9); UrlError on a bad
    escape or invalid UTF-8."""
    if _PCT.search(text):
        raise UrlError("bad percent escape")
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += text[i].encode("ascii")
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UrlError("invalid UTF-8") from e


def _param(segment: str, key: str) -> str | None:
    """The value of ``;KEY=value`` when ``segment`` is that parameter."""
    prefix = ";" + key + "="
    if segment[: len(prefix)].upper() == prefix:
        return segment[len(prefix) :]
    return None


def _nz(value: str, what: str) -> int:
    if not _NZ.fullmatch(value) or int(value) > _MAX32:
        raise UrlError(f"invalid {what}")
    return int(value)


def _section(value: str) -> Section:
    """``enc-section``: the ``section-spec`` of BODY[...] (RFC 5092 §4),
    percent-decoded, read with FETCH's section grammar."""
    spec = _unescape(value).encode("utf-8")
    r = Reader((b"[" + spec + b"]",), DEFAULT_LIMITS)
    try:
        sec = parse_section(r)
        r.end()
    except ParseError as e:
        raise UrlError(f"invalid section: {e.text}") from e
    return sec


def _partial(value: str) -> tuple[int, int | None]:
    """``partial-range = number ["." nz-number]`` (RFC 5092 §11)."""
    origin, dot, length = value.partition(".")
    if not _NUMBER.fullmatch(origin) or int(origin) > _MAX32:
        raise UrlError("invalid partial range")
    return int(origin), (_nz(length, "partial length") if dot else None)


def parse_message_url(url: str, selected: str | None) -> ImapUrl:
    """The message (part) ``url`` names, relative to the session's base
    URL (RFC 4469 §3): ``selected`` is the selected mailbox's name, None
    in the authenticated state.  Raises :class:`UrlError`."""
    if not url or not _BCHARS.fullmatch(url) or "?" in url:
        raise UrlError("not a message URL")  # scheme, iserver, or a search
    if url.startswith("//") or _SCHEME.match(url):
        raise UrlError("only URLs of this session are taken")
    if url.startswith("/"):
        path = url[1:]
    elif url.startswith(";"):
        if selected is None:
            raise UrlError("no mailbox selected")
        if _param(url, "UID") is None:
            raise UrlError("no UID")  # the base names no message
        return _message(None, url.split("/"), selected)
    else:
        # RFC 3986 §5.2.3 merge: all but the last segment of the base path.
        parent = selected.rpartition("/")[0] if selected is not None else ""
        path = _remove_dots((_escape_path(parent) + "/" if parent else "") + url)
    # imailbox-ref "/" iuid ...: the mailbox runs up to "/;UID=".
    m = re.search(r"/(?=;[Uu][Ii][Dd]=)", path)
    if m is None:
        raise UrlError("not a message URL (no ;UID=)")
    mailbox_ref, rest = path[: m.start()], path[m.end() :]
    uidvalidity = None
    if ";" in mailbox_ref:
        mailbox_ref, _, param = mailbox_ref.partition(";")
        value = _param(";" + param, "UIDVALIDITY")
        if value is None:
            raise UrlError("unknown mailbox parameter")
        uidvalidity = _nz(value, "UIDVALIDITY")
    if not mailbox_ref:
        raise UrlError("no mailbox")
    mailbox = _unescape(mailbox_ref)
    if mailbox.upper() == "INBOX":
        mailbox = "INBOX"
    return _message(uidvalidity, rest.split("/"), mailbox)


def _remove_dots(path: str) -> str:
    """RFC 3986 §5.2.4 remove_dot_segments, on the mailbox part of a
    merged path (``Work/../INBOX/;UID=1`` is ``INBOX/;UID=1``)."""
    mailbox, sep, rest = path.partition("/;")
    out: list[str] = []
    for segment in mailbox.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    return "/".join(out) + sep + rest


def _escape_path(name: str) -> str:
    """A mailbox name as ``enc-mailbox`` (for merging a relative path)."""
    return "".join(
        c if re.fullmatch(r"[A-Za-z0-9\-._~!$'()*+,&=:@/]", c) else "".join(f"%{b:02X}" for b in c.encode())
        for c in name
    )


def _message(uidvalidity: int | None, segments: list[str], mailbox: str) -> ImapUrl:
    """``;UID=m [/;SECTION=s] [/;PARTIAL=p]`` after the mailbox."""
    uid_text = _param(segments[0], "UID")
    if uid_text is None:
        raise UrlError("no UID")
    uid = _nz(uid_text, "UID")
    section: Section | None = None
    partial = None
    for segment in segments[1:]:
        sec = _param(segment, "SECTION")
        part = _param(segment, "PARTIAL")
        if sec is not None and section is None and partial is None:
            section = _section(sec)
        elif part is not None and partial is None:
            partial = _partial(part)
        else:
            raise UrlError("unexpected URL component")  # e.g. ;URLAUTH=
    return ImapUrl(mailbox, uid, uidvalidity, section, partial)


def url_text(url: str) -> str:
    """``url-resp-text`` for ``[BADURL ...]`` (RFC 4469 §5): any TEXT-CHAR
    but ``]``; what cannot be said is percent-encoded."""
    out = []
    for c in url:
        if c == "]" or not (0x20 <= ord(c) < 0x7F):
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8")))
        else:
            out.append(c)
    return "".join(out) or "%00"
