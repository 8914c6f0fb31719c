"""Python's imaplib (tests/interop/test_imaplib*.py, unchanged) against
mailframe on the mbox store (issue 15)."""

from __future__ import annotations

from tests.interop.test_imaplib import *  # noqa: F403  (the suite's tests and fixtures)
from tests.interop.test_imaplib_more import *  # noqa: F403
from tests.store.mbox.interop_mbox import account, account_factory, shared_server  # noqa: F401
