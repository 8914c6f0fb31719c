"""mbsync (isync 1.4) speaks COMPRESS=DEFLATE (RFC 4978) whenever the
server offers it: a pull of a few hundred messages goes through the
DEFLATE layer (the server's log says how many octets it saved) and every
message arrives byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

from tests.interop.cli_support import bulk_append
from tests.interop.conftest import Account
from tests.interop.test_mbsync import _config, _mbsync
from tests.support.corpus import messages

_X_TUID = re.compile(rb"X-TUID: \S+\n")  # mbsync's own tracking header
_COMPRESS_LINE = re.compile(r"imap compress peer=\S+ out=(\d+)->(\d+) in=(\d+)->(\d+)")


def test_mbsync_pulls_through_compress(account: Account, tmp_path: Path) -> None:
    corpus = messages(300, seed=42)
    bulk_append(account, "INBOX", [(m, None) for m in corpus])
    before = len(_COMPRESS_LINE.findall(account.server.read_log()))
    _mbsync(_config(account, tmp_path))
    got = sorted(_X_TUID.sub(b"", p.read_bytes())
                 for sub in ("new", "cur") for p in (tmp_path / "inbox" / sub).iterdir())
    assert got == sorted(m.replace(b"\r\n", b"\n") for m in corpus)  # mbsync stores LF
    # the connection closed: its line is in the log (written at close)
    lines = _COMPRESS_LINE.findall(account.server.read_log())[before:]
    assert lines, "mbsync did not use COMPRESS"
    plain_out, wire_out = max((int(a), int(b)) for a, b, _, _ in lines)
    assert plain_out > 200_000 and wire_out * 2 < plain_out
