"""The imaplib flows again, against ``--store memory``: every backend must
look the same to a client. (The same test functions, collected here with a
memory-store server in place of the module's Maildir one.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.interop.conftest import spare_users
from tests.interop.test_imaplib import (  # noqa: F401  (collected again here)
    loaded,
    test_append_literal_8bit_flags_date_and_select,
    test_copy_move_expunge_uid_expunge,
    test_create_list_rename_delete,
    test_fetch_envelope_bodystructure_body_exact,
    test_fetch_rfc822_items_uid_and_seen,
    test_fetch_sections_and_partials,
    test_idle_sees_append_from_other_connection,
    test_search_keys,
    test_store_flags_and_keywords,
    test_two_sessions_flags_and_expunge_rules,
)
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A memory-store server for this module (overrides conftest's)."""
    workdir = tmp_path_factory.mktemp("interop-memory") / "server"
    with ServerProcess(workdir, users=spare_users(), store="memory") as proc:
        proc.__dict__["_next_user"] = itertools.count()
        yield proc


def test_server_really_uses_memory_store(shared_server: ServerProcess) -> None:
    assert shared_server.store == "memory"
    assert not (shared_server.workdir / "mail").exists()
