"""Resource limits the framer and the grammar enforce on client input.

The defaults follow common server practice: Dovecot's
``imap_max_line_length`` is 64 KiB; RFC 7888 §4 fixes LITERAL- at 4096
octets for non-synchronizing literals.  A deployment that advertises
LITERAL+ instead should set ``max_nonsync_literal`` to ``max_literal``.
Before login a client gets :meth:`Limits.preauth`: literals of at most
``max_preauth_literal`` (8 KiB, about what Dovecot's login processes
accept) and whole commands of at most ``max_line``, so nobody can make the
server buffer much without a password.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Limits:
    """Bounds on one client's commands (sizes in octets)."""

    #: One command line, without its literals (RFC 7162 §4 asks servers to
    #: accept lines of at least 8192 octets).
    max_line: int = 65536
    #: One literal (APPEND content, usually).
    max_literal: int = 64 * 1024 * 1024
    #: One whole command: every line and literal of it.
    max_command: int = 64 * 1024 * 1024 + 1024 * 1024
    #: Parenthesis nesting in one command (search keys, lists).
    max_depth: int = 64
    #: Largest non-synchronizing literal ``{n+}`` (RFC 7888 §4, LITERAL-).
    max_nonsync_literal: int = 4096
    #: Commands queued from one client (enforced by the session).
    max_pending: int = 32
    #: Before login: the largest literal (a LOGIN argument, say).
    max_preauth_literal: int = 8192

    def preauth(self) -> Limits:
        """These limits as they apply before login: literals capped at
        ``max_preauth_literal``, a whole command (lines and literals) at
        ``max_line`` -- LOGIN, AUTHENTICATE and ID need no more (imaptest's
        ID test sends one 32 KiB line)."""
        cap = self.max_preauth_literal
        return replace(self, max_literal=min(self.max_literal, cap),
                       max_command=min(self.max_command, self.max_line),
                       max_nonsync_literal=min(self.max_nonsync_literal, cap))


#: The default limits (a module-level instance: ``Limits`` is immutable).
DEFAULT_LIMITS = Limits()
