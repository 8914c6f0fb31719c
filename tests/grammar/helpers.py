"""Shared helpers for the grammar tests."""

from __future__ import annotations

from mailframe.imap.command import Command
from mailframe.imap.grammar import parse_command
from mailframe.imap.limits import DEFAULT_LIMITS, Limits
from mailframe.imap.unparse import frame_of, unparse


def parse(line: bytes, limits: Limits = DEFAULT_LIMITS, utf8: bool = False) -> Command:
    """Parse one command given as wire bytes (CRLF added when missing)."""
    if not line.endswith(b"\n"):
        line += b"\r\n"
    return parse_command(frame_of(line, limits), limits, utf8=utf8)


def round_trips(cmd: Command) -> bool:
    """``parse(unparse(cmd)) == cmd``, with sync and non-sync literals."""
    limits = Limits(max_nonsync_literal=Limits().max_literal)
    return (
        parse_command(frame_of(unparse(cmd), limits), limits) == cmd
        and parse_command(frame_of(unparse(cmd, literal_plus=True), limits), limits) == cmd
        and parse_command(frame_of(unparse(cmd, utf8=True), limits), limits, utf8=True) == cmd
    )
