"""Stop the private PostgreSQL cluster when the test session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store.sql.pgcluster import stop_cluster


@pytest.fixture(autouse=True, scope="session")
def _stop_postgres_at_the_end() -> Iterator[None]:
    yield
    stop_cluster()
