"""The interop suite's real clients against mailframe on PostgreSQL: the
fixtures the suite's tests ask for (tests/interop/conftest.py), with the
shared server's store a fresh PostgreSQL database of the private test
cluster.  Imported by the ``test_interop_pg_*`` modules, which import the
suite's test functions so they run here, unchanged, on this store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.interop.conftest import Account, new_account, spare_users
from tests.store.sql.pgcluster import new_database
from tests.support.server import ServerProcess

__all__ = ["shared_server", "account", "account_factory", "postgresql_url"]


def postgresql_url(conninfo: str) -> str:
    """A libpq key=value conninfo as a ``postgresql:`` store URL."""
    return "postgresql:///?" + "&".join(
        f"{k}={v}" for k, v in (p.split("=", 1) for p in conninfo.split())
    )


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``twistd mailframe --store postgresql://...``, shared by one module."""
    url = postgresql_url(new_database())
    workdir = tmp_path_factory.mktemp("interop-pg") / "server"
    with ServerProcess(workdir, users=spare_users(), store=url) as proc:
        proc.__dict__["_next_user"] = itertools.count()
        yield proc


@pytest.fixture
def account(shared_server: ServerProcess) -> Account:
    return new_account(shared_server)


@pytest.fixture
def account_factory(shared_server: ServerProcess) -> Callable[[], Account]:
    return lambda: new_account(shared_server)
