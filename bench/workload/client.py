"""A lean asyncio IMAP client for benchmarks.

Not imaplib: it sends plain command bytes and splits the server's answer
into responses (a line with its literals, RFC 3501 §4.3 / §7) without
building a parse tree, so the client costs little next to the server.
The phases pull what they check (sizes, bodies, counts) out of the raw
response text with small regular expressions.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}\r\n\Z")
STATUS = re.compile(rb"^(\S+) (OK|NO|BAD)\b ?(.*)", re.S)


class ImapError(Exception):
    """The server answered NO or BAD (or the connection broke)."""


@dataclass
class Response:
    """One server response: its line text (literal markers kept in place)
    and the literals in order (RFC 3501 §4.3)."""

    line: bytes
    literals: list[bytes] = field(default_factory=list)


@dataclass
class Result:
    """The outcome of one tagged command."""

    status: bytes
    text: bytes
    untagged: list[Response]

    def named(self, name: bytes) -> list[Response]:
        """Untagged responses ``* <name> ...`` or ``* <n> <name> ...``."""
        out = []
        for r in self.untagged:
            words = r.line.split(b" ", 3)
            if len(words) > 1 and words[1].upper() == name:
                out.append(r)
            elif len(words) > 2 and words[2].upper() == name:
                out.append(r)
        return out


class Client:
    """One IMAP connection.  Not safe for concurrent commands: each
    session of a benchmark owns one client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.counter = 0
        self.capabilities: set[bytes] = set()
        self.greeting = b""

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        client = cls(reader, writer)
        greeting = await client.read_response()
        client.greeting = greeting.line
        if not greeting.line.startswith((b"* OK", b"* PREAUTH")):
            raise ImapError("bad greeting: " + greeting.line.decode(errors="replace"))
        return client

    async def read_response(self) -> Response:
        """One response: a line, and if it ends in ``{n}`` the literal and
        the rest of the line, repeatedly."""
        try:
            line = await self.reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ImapError(f"connection lost: {exc!r}") from exc
        parts = [line]
        literals: list[bytes] = []
        match = LITERAL_AT_END.search(line)
        while match:
            literals.append(await self.reader.readexactly(int(match.group(1))))
            line = await self.reader.readuntil(b"\r\n")
            parts.append(line)
            match = LITERAL_AT_END.search(line)
        text = b"".join(parts)
        return Response(text[:-2] if text.endswith(b"\r\n") else text, literals)

    def _tag(self) -> bytes:
        self.counter += 1
        return b"B%d" % self.counter

    async def _finish(self, tag: bytes) -> Result:
        untagged: list[Response] = []
        while True:
            response = await self.read_response()
            if response.line.startswith(tag + b" "):
                match = STATUS.match(response.line)
                status = match.group(2) if match else b"BAD"
                text = match.group(3) if match else response.line
                result = Result(status, text, untagged)
                if status != b"OK":
                    raise ImapError(f"{tag.decode()} {status.decode()} {text.decode(errors='replace')}")
                return result
            if response.line.startswith(b"+"):
                raise ImapError("unexpected continuation request: " + response.line.decode())
            untagged.append(response)

    async def run(self, command: bytes) -> Result:
        """Send ``<tag> <command>`` and collect every response up to the
        tagged one; raise :class:`ImapError` unless it is OK."""
        tag = self._tag()
        self.writer.write(tag + b" " + command + b"\r\n")
        return await self._finish(tag)

    async def run_with_literal(self, head: bytes, data: bytes, tail: bytes = b"") -> Result:
        """A command whose last argument is a literal (APPEND): a
        non-synchronizing literal (RFC 7888) when small enough, else a synchronizing literal
        after the ``+`` continuation (RFC 3501 §7.5) for larger ones."""
        tag = self._tag()
        # {n+} only where both LITERAL+ and LITERAL- allow it (RFC 7888
        # §4: 4096 octets), so every server gets the same round trips.
        if len(data) <= 4096 and self.capabilities & {b"LITERAL+", b"LITERAL-"}:
            self.writer.write(b"%s %s {%d+}\r\n%s%s\r\n" % (tag, head, len(data), data, tail))
        else:
            self.writer.write(b"%s %s {%d}\r\n" % (tag, head, len(data)))
            while True:
                response = await self.read_response()
                if response.line.startswith(b"+"):
                    break
                if response.line.startswith(tag + b" "):
                    raise ImapError(response.line.decode(errors="replace"))
            self.writer.write(data + tail + b"\r\n")
        return await self._finish(tag)

    async def login(self, user: str, password: str) -> None:
        result = await self.run(b"LOGIN " + _quote(user) + b" " + _quote(password))
        await self._load_capabilities(result)

    async def _load_capabilities(self, result: Result) -> None:
        match = re.search(rb"\[CAPABILITY ([^\]]*)\]", result.text)
        if match:
            self.capabilities = set(match.group(1).upper().split())
        else:
            caps = (await self.run(b"CAPABILITY")).named(b"CAPABILITY")
            if caps:
                self.capabilities = set(caps[0].line.upper().split()[2:])

    async def logout(self) -> None:
        try:
            await self.run(b"LOGOUT")
        except ImapError:
            pass
        self.close()

    def close(self) -> None:
        self.writer.close()


def _quote(text: str) -> bytes:
    """A quoted string (RFC 3501 §4.3)."""
    return b'"' + text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


quote = _quote
