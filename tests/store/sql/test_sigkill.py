"""SIGKILL of mailframe mid-load loses nothing acknowledged (issue 14, both
dialects): three imaplib clients APPEND, STORE and EXPUNGE against a real
``twistd mailframe``; once enough is acknowledged the server is killed
with ``kill -9`` while commands are in flight, restarted on the same
database, and then:

- every acknowledged APPEND is there, byte-exact, under the UID its
  APPENDUID gave (RFC 4315 §3), unless an EXPUNGE of it was sent;
- no message is there twice (an APPEND in flight when killed: at most once);
- an acknowledged STORE's keyword is on its message;
- an acknowledged EXPUNGE's messages are gone;
- UIDs are unique and below UIDNEXT, no message's MODSEQ is above
  HIGHESTMODSEQ (RFC 7162 §3.1.1), and ``mailframe db check`` finds the
  database consistent.
"""

from __future__ import annotations

import imaplib
import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli._support import ok
from tests.support.server import ServerProcess

#: acknowledged APPENDs before the kill (a count, not a time).
KILL_AFTER = 60


class Ledger:
    """What the clients sent and what the server acknowledged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.appended: dict[int, bytes] = {}  # uid -> body (acknowledged)
        self.sent: set[bytes] = set()  # every body an APPEND carried
        self.flagged: dict[int, str] = {}  # uid -> keyword (acknowledged STORE)
        self.expunged: set[int] = set()  # acknowledged
        self.maybe_expunged: set[int] = set()  # sent
        self.enough = threading.Event()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []


def _client(port: int) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login("alice", "secret")
    imap.select("INBOX")
    return imap


def _appender(port: int, ledger: Ledger, name: str) -> None:
    try:
        imap = _client(port)
        i = 0
        while not ledger.stop.is_set():
            i += 1
            body = f"Message-ID: <{name}-{i}@kill>\r\nSubject: {name} {i}\r\n\r\n{'x' * (i % 7)}\r\n"
            raw = body.encode()
            with ledger.lock:
                ledger.sent.add(raw)
            typ, data = imap.append("INBOX", None, None, raw)
            assert typ == "OK", data
            m = re.search(rb"APPENDUID \d+ (\d+)", data[-1])
            assert m is not None, data
            with ledger.lock:
                ledger.appended[int(m.group(1))] = raw
                if len(ledger.appended) >= KILL_AFTER:
                    ledger.enough.set()
    except (OSError, imaplib.IMAP4.abort, EOFError):
        return  # the server was killed
    except BaseException as exc:  # a wrong answer before the kill
        ledger.errors.append(exc)
        ledger.enough.set()


def _mutator(port: int, ledger: Ledger) -> None:
    try:
        imap = _client(port)
        n = 0
        while not ledger.stop.is_set():
            with ledger.lock:
                uids = sorted(set(ledger.appended) - ledger.maybe_expunged)
            if len(uids) < 4:
                imap.noop()
                continue
            n += 1
            uid = uids[n % len(uids)]
            keyword = f"$k{n}"
            # Not .SILENT: a UID this session has not heard of yet (appended
            # through another connection, maybe another worker, since its
            # last command) is not in its view, and UID STORE of it is OK
            # with nothing done (RFC 3501 §6.4.8); only a FETCH back says
            # the keyword was stored.
            typ, data = imap.uid("STORE", str(uid), "+FLAGS", f"({keyword})")
            assert typ == "OK"
            if not any(isinstance(d, bytes) and re.search(rb"UID %d\b" % uid, d) for d in data):
                continue
            with ledger.lock:
                ledger.flagged[uid] = keyword
            if n % 3 == 0:
                victim = uids[0]
                with ledger.lock:
                    ledger.maybe_expunged.add(victim)
                imap.uid("STORE", str(victim), "+FLAGS.SILENT", "(\\Deleted)")
                typ, _ = imap.uid("EXPUNGE", str(victim))
                assert typ == "OK"
                with ledger.lock:
                    ledger.expunged.add(victim)
    except (OSError, imaplib.IMAP4.abort, EOFError):
        return
    except BaseException as exc:
        ledger.errors.append(exc)
        ledger.enough.set()


def _store_url(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:{tmp_path / 'mail.db'}"
        return
    from tests.store.sql.pgcluster import new_database

    conninfo = new_database()
    yield "postgresql:///?" + "&".join(
        f"{k}={v}" for k, v in (p.split("=", 1) for p in conninfo.split())
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_sigkill_mid_load(engine: str, tmp_path: Path) -> None:
    url = next(_store_url(engine, tmp_path))
    server = ServerProcess(tmp_path / "server", store=url).start()
    ledger = Ledger()
    threads = [
        threading.Thread(target=_appender, args=(server.imap_port, ledger, "a"), daemon=True),
        threading.Thread(target=_appender, args=(server.imap_port, ledger, "b"), daemon=True),
        threading.Thread(target=_mutator, args=(server.imap_port, ledger), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        assert ledger.enough.wait(120), "the clients never got going: " + server.read_log()
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-command: the clients are still sending
        server.proc.wait()
    finally:
        ledger.stop.set()
        for t in threads:
            t.join(30)
        server.stop()

    with ServerProcess(tmp_path / "again", store=url) as again:
        imap = imaplib.IMAP4("127.0.0.1", again.imap_port)
        imap.login("alice", "secret")
        imap.enable("CONDSTORE")
        typ, data = imap.select("INBOX")
        assert typ == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(UID MODSEQ FLAGS BODY.PEEK[])")
        assert typ == "OK"
        found: dict[int, tuple[bytes, int, bytes]] = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, body = item
            uid = int(re.search(rb"UID (\d+)", meta).group(1))  # type: ignore[union-attr]
            modseq = int(re.search(rb"MODSEQ \((\d+)\)", meta).group(1))  # type: ignore[union-attr]
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1)  # type: ignore[union-attr]
            assert uid not in found
            found[uid] = (body, modseq, flags)
        status = imap.status("INBOX", "(UIDNEXT HIGHESTMODSEQ)")[1][0]
        uidnext = int(re.search(rb"UIDNEXT (\d+)", status).group(1))  # type: ignore[union-attr]
        highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", status).group(1))  # type: ignore[union-attr]
        imap.logout()

    assert not ledger.errors, ledger.errors
    assert ledger.flagged and ledger.expunged  # the load did mix all three
    bodies = [body for body, _, _ in found.values()]
    assert len(bodies) == len(set(bodies)), "a message is there twice"
    assert set(bodies) <= ledger.sent, "a message nobody sent"
    for uid, raw in ledger.appended.items():
        if uid in ledger.maybe_expunged:
            continue
        assert uid in found, f"acknowledged APPEND of UID {uid} lost"
        assert found[uid][0] == raw, f"UID {uid} is not byte-exact"
    for uid in ledger.expunged:
        assert uid not in found, f"acknowledged EXPUNGE of UID {uid} undone"
    for uid, keyword in ledger.flagged.items():
        if uid in found:
            assert keyword.encode() in found[uid][2].split(), f"STORE {keyword} on {uid} lost"
    assert all(uid < uidnext for uid in found)
    assert all(modseq <= highest for _, modseq, _ in found.values())
    assert "consistent" in ok("db", "check", "--store", url)
