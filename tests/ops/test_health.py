"""``--health``: 200 only while every listener is up and the store
answers; 503 with the reason otherwise (issue 17, "Metrics and health").

The tests run as root, which ignores permission bits, so "the store's
directory becomes unwritable" is made real with the immutable attribute
(``chattr +i``; refused even to root, EPERM), and where the file system
cannot set it, by putting a file where the directory was (ENOTDIR): both
make every delivery into that store fail too.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest

from mailframe.ops.health import Health
from mailframe.store.maildir import from_url
from mailframe.store.memory import MemoryStore
from tests.support.server import ServerProcess, free_port


def get(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _make_unwritable(directory: Path) -> tuple[str, object]:
    """Make ``directory`` unwritable even for root; returns how, and
    what :func:`_restore` needs."""
    if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0:
        return "chattr", None
    aside = directory.with_name(directory.name + ".aside")
    directory.rename(aside)
    directory.write_text("not a directory\n")
    return "file", aside


def _restore(directory: Path, how: str, aside: object) -> None:
    if how == "chattr":
        subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.unlink()
        assert isinstance(aside, Path)
        aside.rename(directory)


def test_health_flips_to_503_when_the_store_directory_is_unwritable(tmp_path: Path) -> None:
    port = free_port()
    work = tmp_path / "srv"
    with ServerProcess(work, "--health", f"tcp:{port}:interface=127.0.0.1", smtp=True):
        assert get(port) == (200, "ok\n")
        mail = work / "mail"
        how, aside = _make_unwritable(mail)
        try:
            status, body = get(port)
        finally:
            _restore(mail, how, aside)
        assert status == 503
        assert body.startswith(f"store: {mail}/.mailframe-health-")
        assert ("Operation not permitted" if how == "chattr" else "Not a directory") in body
        assert get(port) == (200, "ok\n")


class HealthChecks(unittest.TestCase):
    """The checks themselves, on real listening ports and real stores."""

    def listen(self, health: Health, port: int) -> Deferred[object]:
        endpoint = health.watch(f"imap tcp:{port}", TCP4ServerEndpoint(reactor, port,
                                                                       interface="127.0.0.1"))
        return endpoint.listen(Factory.forProtocol(Protocol))

    async def test_listener_stopped_or_failed_is_reported(self) -> None:
        health = Health(reactor, MemoryStore())
        self.assertEqual(await health.check(), [])
        port_number = free_port()
        port = await self.listen(health, port_number)
        self.assertEqual(await health.check(), [])
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            with self.assertRaises(CannotListenError):
                await self.listen(health, taken)
        problems = await health.check()
        self.assertEqual(len(problems), 1)
        self.assertTrue(problems[0].startswith(f"listener imap tcp:{taken}: listen failed"))
        await port.stopListening()  # type: ignore[attr-defined]
        problems = await health.check()
        self.assertIn(f"listener imap tcp:{port_number}: no longer listening", problems)

    async def test_maildir_probe_leaves_nothing_behind(self) -> None:
        root = Path(tempfile.mkdtemp()) / "mail"
        store = from_url(f"maildir:{root}/%u")
        health = Health(reactor, store)
        self.assertEqual(await health.check(), [])
        self.assertEqual(list(root.iterdir()), [])  # the probe file is gone
        shutil.rmtree(root.parent)
        problems = await health.check()
        self.assertEqual(len(problems), 1)
        self.assertIn("No such file or directory", problems[0])

    async def test_store_health_method_is_used(self) -> None:
        class Sick(MemoryStore):
            def health(self) -> None:
                raise RuntimeError("database unreachable")

        self.assertEqual(await Health(reactor, Sick()).check(),
                         ["store: RuntimeError: database unreachable"])
