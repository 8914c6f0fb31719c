"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running ``twistd mailframe`` with users alice/secret and bob/hunter2
    on the Maildir store under a temporary directory."""
    with ServerProcess(tmp_path / "server") as proc:
        yield proc


@pytest.fixture
def memory_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The same on the memory store."""
    with ServerProcess(tmp_path / "server", store="memory") as proc:
        yield proc
