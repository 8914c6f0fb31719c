"""The RFC 4314 rights model: rights, identifiers, ACLs, effective rights.

Sans-IO and store-independent.  An ACL is an ordered mapping of
*identifiers* to sets of rights (RFC 4314 §2):

- a user name (the identifiers LOGIN and AUTHENTICATE accept);
- ``anyone`` (every session, §2) and ``authenticated`` (every logged-in
  user: an implementation-defined identifier, as Dovecot names it);
- any of those prefixed with ``-``: *negative rights*, removed from what
  the positive entries grant (§2).

The owner of a mailbox appears under their own user name (as Dovecot
shows it in GETACL); stores that persist the ACL may spell it ``owner``
(:mod:`mailframe.acl.dovecot_acl`).  A mailbox with no stored ACL has the
default one: the owner holds every right, nobody else any; an ACL with
no entry for the owner keeps the owner's default entry (Dovecot's rule).  The owner
always keeps ``a`` (RFC 4314 §2 lets an implementation tie rights to the
owner; Dovecot does the same), so nobody can lock themselves out of their
own mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mailframe.vocabulary import DELETED, SEEN

__all__ = [
    "ALL_RIGHTS",
    "ANYONE",
    "AUTHENTICATED",
    "ACL",
    "RightsError",
    "parse_rights",
    "parse_modification",
    "apply_modification",
    "format_rights",
    "check_identifier",
    "effective_rights",
    "default_acl",
    "with_owner",
    "flag_right",
    "allowed_flags",
    "READ_WRITE_RIGHTS",
    "LISTRIGHTS_GROUPS",
    "RIGHTS_CAPABILITY",
]

#: The standard rights of RFC 4314 §2.1, in the order Dovecot prints them.
ALL_RIGHTS = "lrwstipekxa"

#: Obsolete RFC 2086 rights (RFC 4314 §2.1.1), first reading: "c" is the
#: union of "k" and "x", "d" the union of "e" and "t".
OBSOLETE = {"c": "kx", "d": "et"}

#: The ``RIGHTS=`` capability: the rights beyond RFC 2086's (§5.1.1).
RIGHTS_CAPABILITY = "RIGHTS=texk"

ANYONE = "anyone"
AUTHENTICATED = "authenticated"

#: SELECT answers READ-WRITE when one of these is granted (RFC 4314 §5.2:
#: "i", "e" and the shared flag rights; every flag is shared here).
READ_WRITE_RIGHTS = frozenset("iewst")

#: LISTRIGHTS (§3.4, §3.7): nothing is granted always, every right alone
#: (none is tied to another), then the obsolete "c" and "d" as §2.1.1 asks.
LISTRIGHTS_GROUPS = (*ALL_RIGHTS, "c", "d")

ACL = dict[str, frozenset[str]]


class RightsError(ValueError):
    """Rights text RFC 4314 says must be refused with BAD (§3.1)."""


def parse_rights(text: str) -> frozenset[str]:
    """The rights in ``text``; ``c`` and ``d`` expand as §2.1.1 says.
    An unknown right (an uppercase one included) raises
    :class:`RightsError`: "an unrecognized right MUST cause the command
    to return the BAD response" (§3.1)."""
    out: set[str] = set()
    for ch in text:
        if ch in ALL_RIGHTS:
            out.add(ch)
        elif ch in OBSOLETE:
            out.update(OBSOLETE[ch])
        elif ch.isupper():
            raise RightsError("Uppercase rights are not allowed")
        else:
            raise RightsError(f"Invalid ACL right: {ch}")
    return frozenset(out)


def parse_modification(text: str) -> tuple[str, frozenset[str]]:
    """SETACL's third argument (§3.1): ``("+"|"-"|"=", rights)``."""
    if text[:1] in ("+", "-"):
        return text[0], parse_rights(text[1:])
    return "=", parse_rights(text)


def apply_modification(current: frozenset[str], mode: str, rights: frozenset[str]) -> frozenset[str]:
    """Rights after SETACL: added (``+``), removed (``-``) or replaced."""
    if mode == "+":
        return current | rights
    if mode == "-":
        return current - rights
    return rights


def format_rights(rights: Iterable[str]) -> str:
    """Rights in canonical order, plus the virtual ``c`` and ``d`` when any
    of their members is present (§2.1.1: "the server MUST also include")."""
    have = set(rights)
    text = "".join(r for r in ALL_RIGHTS if r in have)
    if have & set(OBSOLETE["c"]):
        text += "c"
    if have & set(OBSOLETE["d"]):
        text += "d"
    return text


def check_identifier(identifier: str) -> str:
    """Prepare an identifier (§3: SASLprep, BAD when that fails or gives
    an empty string).  ``anyone``/``authenticated`` are case-insensitive
    keywords; user names are compared as given after SASLprep."""
    from mailframe.auth.scram_math import saslprep

    negative = identifier.startswith("-")
    body = identifier[1:] if negative else identifier
    try:
        body = saslprep(body)
    except ValueError as e:
        raise RightsError(f"Invalid identifier: {e}") from None
    if not body or any(ord(c) < 0x20 or c in " \x7f" for c in body):
        raise RightsError("Invalid identifier")
    if body.lower() in (ANYONE, AUTHENTICATED):
        body = body.lower()
    return ("-" if negative else "") + body


def default_acl(owner: str | None) -> ACL:
    """The ACL of a mailbox for which none is stored: the owner may do
    everything, nobody else anything (a mailbox of the public namespace,
    ``owner`` None, starts empty)."""
    return {owner: frozenset(ALL_RIGHTS)} if owner else {}


def with_owner(acl: Mapping[str, frozenset[str]] | None, owner: str | None) -> ACL:
    """``acl`` as it applies: with no entry for the owner, the owner holds
    the default rights (every right), as Dovecot's ``vfile`` backend has
    it for a ``dovecot-acl`` file without an ``owner`` line."""
    if acl is None:
        return default_acl(owner)
    if owner is not None and owner not in acl:
        return {**default_acl(owner), **acl}
    return dict(acl)


def _applies(identifier: str, user: str | None) -> bool:
    if identifier == ANYONE:
        return True
    if identifier == AUTHENTICATED:
        return user is not None
    return user is not None and identifier == user


def effective_rights(
    acl: Mapping[str, frozenset[str]] | None,
    user: str | None,
    owner: str | None,
    admin: bool = False,
) -> frozenset[str]:
    """What ``user`` may do on a mailbox of ``owner`` with ``acl``
    (``None``: none stored, see :func:`default_acl`).

    The union of the rights of every identifier that applies (RFC 4314 §2
    leaves the combination to the implementation; union is Dovecot's),
    minus the union of the negative entries that apply.  The owner always
    keeps ``a``; an administrator of the realm holds every right on every
    mailbox."""
    if admin:
        return frozenset(ALL_RIGHTS)
    acl = with_owner(acl, owner)
    granted: set[str] = set()
    denied: set[str] = set()
    for identifier, rights in acl.items():
        if identifier.startswith("-"):
            if _applies(identifier[1:], user):
                denied |= rights
        elif _applies(identifier, user):
            granted |= rights
    result = frozenset(granted - denied)
    if owner is not None and user == owner:
        result |= {"a"}
    return result


def flag_right(flag: str) -> str:
    """The right that changing ``flag`` needs (RFC 4314 §4, STORE):
    ``t`` for ``\\Deleted``, ``s`` for ``\\Seen``, ``w`` for the rest."""
    lowered = flag.lower()
    if lowered == DELETED.lower():
        return "t"
    if lowered == SEEN.lower():
        return "s"
    return "w"


def allowed_flags(flags: Iterable[str], rights: frozenset[str]) -> frozenset[str]:
    """Those of ``flags`` that ``rights`` allow setting (APPEND, COPY and
    STORE keep only these: RFC 4314 §4)."""
    return frozenset(f for f in flags if flag_right(f) in rights)
