"""IMAPClient, aioimaplib, mbsync and offlineimap (tests/interop, their
tests unchanged) against mailframe on the mbox store (issue 15)."""

from __future__ import annotations

from tests.interop.test_aioimaplib import *  # noqa: F403  (the suite's tests)
from tests.interop.test_imapclient import *  # noqa: F403
from tests.interop.test_mbsync import *  # noqa: F403
from tests.interop.test_offlineimap import *  # noqa: F403
from tests.store.mbox.interop_mbox import account, account_factory, shared_server  # noqa: F401
