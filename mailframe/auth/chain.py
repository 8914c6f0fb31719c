"""Several user tables as one checker: ``--user`` entries first, then the
users file (the portal takes one checker per credential type)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mailframe.auth.checkers import CheckerError, UserTableChecker


class ChainedChecker(UserTableChecker):
    """The first table that knows a user answers for it."""

    def __init__(self, tables: Sequence[object]) -> None:
        super().__init__()
        for table in tables:
            if not isinstance(table, UserTableChecker):
                raise CheckerError(
                    f"{type(table).__name__} can not be combined with --user; use one or the other"
                )
        self.tables = list(tables)

    def stored_password(self, username: str) -> str | None:
        for table in self.tables:
            stored = table.stored_password(username)  # type: ignore[attr-defined]
            if stored is not None:
                # Keep each table's own default scheme explicit.
                if not stored.startswith("{"):
                    stored = "{%s}%s" % (table.default_scheme, stored)  # type: ignore[attr-defined]
                return str(stored)
        return None

    def all_stored(self) -> Iterable[str] | None:
        """Every table's passwords with their schemes spelt out, so the
        mechanisms offered work for every user of every table."""
        out: list[str] = []
        for table in self.tables:
            stored = table.all_stored()  # type: ignore[attr-defined]
            if stored is None:
                return None
            scheme = table.default_scheme  # type: ignore[attr-defined]
            out.extend(s if s.startswith("{") else "{%s}%s" % (scheme, s) for s in stored)
        return out

    def user_names(self) -> Iterable[str] | None:
        names: dict[str, None] = {}
        for table in self.tables:
            mine = table.user_names()  # type: ignore[attr-defined]
            if mine is None:
                return None
            names.update(dict.fromkeys(mine))
        return names.keys()
