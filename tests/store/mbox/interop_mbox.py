"""The interop suite's real clients against mailframe on the mbox store:
the fixtures the suite's tests ask for (tests/interop/conftest.py), with
the shared server serving a fresh ``mbox:`` tree (Dovecot's layout with
a DIRNAME, so every mailbox may have inferiors as the clients expect).
Imported by the ``test_interop_mbox_*`` modules, which import the suite's
test functions so they run here, unchanged, on this store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.interop.conftest import Account, new_account, spare_users
from tests.support.server import ServerProcess

__all__ = ["shared_server", "account", "account_factory"]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``twistd mailframe --store mbox:ROOT/%u:DIRNAME=...``, shared by one module,
    with the default worker processes (several serve one tree)."""
    root = tmp_path_factory.mktemp("interop-mbox")
    url = f"mbox:{root / 'mail'}/%u:DIRNAME=mBoX-MeSsAgEs"  # a tree per user
    with ServerProcess(root / "server", users=spare_users(), store=url) as proc:
        proc.__dict__["_next_user"] = itertools.count()
        yield proc


@pytest.fixture
def account(shared_server: ServerProcess) -> Account:
    return new_account(shared_server)


@pytest.fixture
def account_factory(shared_server: ServerProcess) -> Callable[[], Account]:
    return lambda: new_account(shared_server)
