"""SORT and THREAD answers (RFC 5256, RFC 5957) equal Dovecot 2.3.19's on
one corpus (tests/support/sort_corpus.py: the sample messages plus
generated threads, decorated and encoded subjects, odd addresses, missing
and broken dates), both servers started here on loopback with Maildir.

Skipped, saying why, when Dovecot is not installed or cannot run its
mail processes (it needs root to run them as nobody).  ``SORT_CORPUS``
sets the corpus size (2 000 by default).
"""

from __future__ import annotations

import imaplib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess
from tests.support.sort_corpus import corpus

COUNT = int(os.environ.get("SORT_CORPUS", "2000"))

COMMANDS = [
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "SORT (SUBJECT DATE) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL",
    "SORT (CC REVERSE SIZE) UTF-8 ALL",
    "SORT (SIZE) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (REVERSE DISPLAYTO) UTF-8 ALL",
    "SORT (SUBJECT FROM ARRIVAL) US-ASCII 100:1500",
    "UID SORT (SUBJECT) UTF-8 SUBJECT meeting",
    "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (ALL) (DATE) UTF-8 1:300",
    "SORT RETURN (MIN MAX ALL) (REVERSE DATE) UTF-8 SUBJECT meeting",
    "SORT RETURN (PARTIAL 5:20) (SUBJECT) UTF-8 ALL",
    "UID SORT RETURN (PARTIAL 1990:2100) (DISPLAYFROM) UTF-8 ALL",
    "SEARCH RETURN (PARTIAL 100:150) ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 300:900",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD REFERENCES UTF-8 1:700",
    "UID THREAD REFERENCES UTF-8 NOT SUBJECT budget",
]


def _dovecot(workdir: Path) -> object:
    try:
        from bench.servers import Dovecot, Unavailable
    except ImportError as exc:  # pragma: no cover - bench/ ships with the tests
        pytest.skip(f"bench.servers not importable: {exc}")
    try:
        return Dovecot(workdir)
    except Unavailable as exc:
        pytest.skip(f"Dovecot unavailable: {exc}")


def _fill(port: int) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice", "secret")
    c.select("INBOX")
    for raw, when in corpus(COUNT):
        typ, data = c.append("INBOX", "", imaplib.Time2Internaldate(when), raw)
        assert typ == "OK", data
    typ, data = c.select("INBOX")
    assert data == [str(COUNT).encode()]
    return c


def _answer(c: imaplib.IMAP4, command: str) -> list[bytes]:
    """The untagged data lines of ``command``, raw."""
    tag = c._new_tag()  # type: ignore[attr-defined]
    c.send(tag + b" " + command.encode() + b"\r\n")
    lines = []
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            assert line.split()[1] == b"OK", line
            return lines
        lines.append(line.rstrip(b"\r\n").replace(tag, b"TAG"))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[imaplib.IMAP4, imaplib.IMAP4]]:
    # Not under pytest's basetemp: any pytest run makes that 0700 again,
    # and Dovecot's auth process (not root) must reach the passwd file.
    workdir = Path(tempfile.mkdtemp(prefix="mailframe-sortcmp-"))
    dovecot = _dovecot(workdir / "dovecot")
    try:
        with ServerProcess(tmp_path_factory.mktemp("sortcmp") / "mf", users={"alice": "secret"}) as mf:
            ours, theirs = _fill(mf.imap_port), _fill(dovecot.port)  # type: ignore[attr-defined]
            yield ours, theirs
            ours.logout()
            theirs.logout()
    finally:
        dovecot.stop()  # type: ignore[attr-defined]
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_same_answer_as_dovecot(servers: tuple[imaplib.IMAP4, imaplib.IMAP4], command: str) -> None:
    ours, theirs = servers
    mine, dovecot = _answer(ours, command), _answer(theirs, command)
    if mine != dovecot:
        a = mine[0].split(b" ") if mine else []
        b = dovecot[0].split(b" ") if dovecot else []
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        raise AssertionError(
            f"{command}: first difference at word {first}: "
            f"ours {b' '.join(a[max(0, first - 5) : first + 8])!r} "
            f"dovecot {b' '.join(b[max(0, first - 5) : first + 8])!r}"
        )
