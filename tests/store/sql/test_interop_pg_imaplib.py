"""Python's imaplib (tests/interop/test_imaplib*.py, unchanged) against
mailframe on PostgreSQL."""

from __future__ import annotations

from tests.interop.test_imaplib import *  # noqa: F403  (the suite's tests and fixtures)
from tests.interop.test_imaplib_more import *  # noqa: F403
from tests.store.sql.interop_pg import account, account_factory, shared_server  # noqa: F401
