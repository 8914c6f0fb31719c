"""Namespaces (RFC 2342): where a mailbox name leads.

- **personal** (prefix ``""``): the logged-in user's own mailboxes;
- **other users** (``shared/`` by default, Dovecot's ``shared/%u/``):
  ``shared/alice/Projects`` is Alice's ``Projects``;
- **shared** (``Public/`` by default): mailboxes that belong to no one
  user (a team inbox), kept in the store under a configured account name
  (``public``) that nobody needs to log in as.

A name in the other-users namespace names its owner in the second level;
that level goes through the realm's user-name normalisation, so a name
that cannot be a user (``..``, ``%u``, an empty level, a control
character) leads nowhere, and ``shared/ALICE/x`` is Alice's ``x`` (user
names compare as the realm compares them).  Prefixes are matched
case-sensitively, as Dovecot matches them: ``Shared/x`` is a personal
mailbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailframe.errors import NonexistentMailbox

__all__ = ["Namespaces", "Target", "missing"]


def missing(name: str) -> NonexistentMailbox:
    """NO [NONEXISTENT] in Dovecot's words, the same whether the mailbox
    is absent or only invisible to this user (RFC 4314 §6)."""
    return NonexistentMailbox(f"Mailbox doesn't exist: {name}")


@dataclass(frozen=True)
class Target:
    """Where a name leads: ``store_user``'s mailbox ``inner``; ``owner``
    is who owns it for RFC 4314 (None in the shared namespace) and
    ``prefix`` what the user's name puts before ``inner``."""

    owner: str | None
    store_user: str
    inner: str
    prefix: str


def _identity(name: str) -> str:
    return name


@dataclass(frozen=True)
class Namespaces:
    """The namespace layout (RFC 2342 §5)."""

    other_prefix: str = "shared/"
    public_prefix: str | None = "Public/"
    public_owner: str = "public"
    separator: str = "/"
    #: Whose \\Seen is their own (:mod:`mailframe.acl.private_seen`):
    #: ``public`` (the shared namespace's mailboxes), ``shared`` (every
    #: mailbox the reader does not own) or ``off`` (Dovecot's default
    #: without ``INDEXPVT``).
    private_seen: str = "off"

    def roots(self) -> tuple[str, ...]:
        """Names that are namespace roots, never mailboxes."""
        out = [self.other_prefix.rstrip(self.separator)]
        if self.public_prefix:
            out.append(self.public_prefix.rstrip(self.separator))
        return tuple(out)

    def resolve(self, user: str, name: str, normalize: Callable[[str], str] = _identity) -> Target:
        """The :class:`Target` of ``name`` for ``user``; NonexistentMailbox
        for a name that leads nowhere (a namespace root, a bad user)."""
        if name in self.roots():
            raise missing(name)
        if name.startswith(self.other_prefix):
            owner, sep, inner = name[len(self.other_prefix):].partition(self.separator)
            try:
                owner = normalize(owner)
            except ValueError:
                raise missing(name) from None
            if not owner or not sep or not inner:
                raise missing(name)
            return Target(owner, owner, inner, self.other_prefix + owner + self.separator)
        if self.public_prefix and name.startswith(self.public_prefix):
            inner = name[len(self.public_prefix):]
            if not inner:
                raise missing(name)
            return Target(None, self.public_owner, inner, self.public_prefix)
        return Target(user, user, name, "")

    def response(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        """The three lists of the NAMESPACE response (RFC 2342 §5)."""
        public = [(self.public_prefix, self.separator)] if self.public_prefix else []
        return [("", self.separator)], [(self.other_prefix, self.separator)], public
