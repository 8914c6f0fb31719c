"""A recording imaplib client: every line the server sent is kept, so tests
can assert exact wire bytes and *when* untagged responses arrived."""

from __future__ import annotations

import imaplib
from typing import Any

from tests.interop.conftest import Account


class RecordingIMAP4(imaplib.IMAP4):
    """``imaplib.IMAP4`` that keeps each server line (without CRLF) in
    ``lines``; ``take()`` returns and clears them."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.lines: list[bytes] = []
        super().__init__(host, port, timeout=timeout)

    def _get_line(self) -> bytes:
        line: bytes = super()._get_line()  # type: ignore[misc]
        self.lines.append(line)
        return line

    def take(self) -> list[bytes]:
        """The lines received since the last ``take()`` (and forget the
        untagged data imaplib collected, so the next command's data is its own)."""
        out, self.lines = self.lines, []
        self.untagged_responses.clear()
        return out

    def untagged(self) -> list[bytes]:
        """The untagged lines received since the last ``take()``."""
        return [line for line in self.take() if line.startswith(b"* ")]


def connect(account: Account, login: bool = True) -> RecordingIMAP4:
    """A connected (and by default logged-in) recording client."""
    client = RecordingIMAP4(account.host, account.port)
    if login:
        typ, _ = client.login(account.user, account.password)
        assert typ == "OK"
    client.take()
    return client


def ok(result: tuple[str, Any]) -> list[Any]:
    """Assert an imaplib result is OK and return its data."""
    typ, data = result
    assert typ == "OK", data
    return list(data)
