"""The IMAP session driven with no reactor and no socket
(mailframe.imap.driver): bytes in, bytes out, the real framer, grammar,
handlers, view and memory store."""

from __future__ import annotations

import subprocess
import sys

from mailframe.imap.driver import SessionDriver
from mailframe.store.memory import MemoryStore

MSG = b"Subject: hi\r\n\r\nhello\r\n"


def _logged_in(store: MemoryStore | None = None) -> SessionDriver:
    driver = SessionDriver(store or MemoryStore())
    assert driver.take().startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert b"a OK [CAPABILITY" in driver.send(b"a LOGIN alice secret\r\n")
    return driver


def test_login_select_append_fetch_logout() -> None:
    d = _logged_in()
    out = d.send(b"b APPEND INBOX (\\Flagged) {%d}\r\n" % len(MSG))
    assert out == b"+ Ready for literal data\r\n"
    out = d.send(MSG + b"\r\n")
    assert out.startswith(b"b OK [APPENDUID ") and out.endswith(b" 1] Append completed\r\n"), out
    out = d.send(b"c SELECT INBOX\r\n")
    assert b"* 1 EXISTS\r\n" in out and b"* 1 RECENT\r\n" in out and b"c OK [READ-WRITE]" in out
    out = d.send(b"d FETCH 1 (FLAGS BODY[TEXT])\r\n")
    assert b"* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent) BODY[TEXT] {7}\r\nhello\r\n)\r\n" in out, out
    out = d.send(b"e LOGOUT\r\n")
    assert out.startswith(b"* BYE") and b"e OK" in out
    assert d.finished and d.closed
    assert d.errors == []


def test_pipelined_commands_and_errors_keep_the_connection() -> None:
    d = _logged_in()
    out = d.send(b"x1 NOOP\r\nx2 FETCH 1 FLAGS\r\nx3 BOGUS\r\nx4 SELECT Nowhere\r\nx5 NOOP\r\n")
    lines = out.split(b"\r\n")
    assert [line.split(b" ")[0:2] for line in lines if line.startswith(b"x")] == [
        [b"x1", b"OK"], [b"x2", b"BAD"], [b"x3", b"BAD"], [b"x4", b"NO"], [b"x5", b"OK"],
    ]
    assert not d.finished


def test_another_sessions_append_reaches_an_idle_session() -> None:
    store = MemoryStore()
    watcher, writer = _logged_in(store), _logged_in(store)
    watcher.send(b"s SELECT INBOX\r\n")
    assert watcher.send(b"i IDLE\r\n").startswith(b"+ ")
    writer.send(b"w APPEND INBOX {%d+}\r\n" % len(MSG) + MSG + b"\r\n")
    assert watcher.send(b"") == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    assert watcher.send(b"DONE\r\n") == b"i OK Idle completed\r\n"


def test_no_reactor_is_needed() -> None:
    """Run a whole exchange in a fresh interpreter and check that no
    Twisted reactor was ever installed."""
    code = (
        "import sys\n"
        "from mailframe.store.memory import MemoryStore\n"
        "from mailframe.imap.driver import SessionDriver\n"
        "d = SessionDriver(MemoryStore())\n"
        "d.send(b'a LOGIN alice secret\\r\\n')\n"
        "assert b'b OK' in d.send(b'b SELECT INBOX\\r\\n')\n"
        "assert 'twisted.internet.reactor' not in sys.modules, 'a reactor was installed'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
