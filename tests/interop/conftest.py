"""Fixtures for the real-client interop suite.

One ``twistd mailframe`` (Maildir store) is shared per test module; each test
gets its own user so tests never see each other's mail.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

#: How many spare users every shared server knows (``user0`` … ``userN-1``).
SPARE_USERS = 40


@dataclass(frozen=True)
class Account:
    """A user on a running server: where to connect and how to log in."""

    host: str
    port: int
    user: str
    password: str
    server: ServerProcess


def spare_users() -> dict[str, str]:
    """The extra users every shared interop server is started with."""
    users = {"alice": "secret", "bob": "hunter2"}
    users.update({f"user{i}": f"pw-{i}-x" for i in range(SPARE_USERS)})
    return users


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running ``twistd mailframe`` (Maildir) shared by one test module."""
    with ServerProcess(tmp_path_factory.mktemp("interop") / "server", users=spare_users()) as proc:
        proc.__dict__["_next_user"] = itertools.count()
        yield proc


def new_account(server: ServerProcess) -> Account:
    """Hand out the next unused spare user of ``server``."""
    i = next(server.__dict__["_next_user"])
    if i >= SPARE_USERS:
        raise RuntimeError("interop module used more spare users than SPARE_USERS")
    name = f"user{i}"
    return Account("127.0.0.1", server.imap_port, name, server.users[name], server)


@pytest.fixture
def account(shared_server: ServerProcess) -> Account:
    """A fresh user (empty INBOX) on the module's shared server."""
    return new_account(shared_server)


@pytest.fixture
def account_factory(shared_server: ServerProcess):  # type: ignore[no-untyped-def]
    """Call to get further fresh users on the same server."""
    return lambda: new_account(shared_server)


def mail_root(account: Account) -> Path:
    """The Maildir store's root directory of the shared server."""
    return Path(account.server.store.split(":", 1)[1])
