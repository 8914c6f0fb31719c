"""Run a real ``twistd mailframe`` in a child process for tests that use
real clients over real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mailframe

# The directory holding both mailframe/ and twisted/plugins/ (the source
# tree, or site-packages when installed), so twistd finds the plugin.
PLUGIN_ROOT = str(Path(mailframe.__file__).resolve().parent.parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``twistd -n mailframe`` on loopback with the given options."""

    def __init__(
        self,
        workdir: Path,
        *args: str,
        users: dict[str, str] | None = None,
        store: str | None = None,
        smtp: bool = False,
        lmtp: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.imap_port = free_port()
        self.smtp_port = free_port() if smtp else None
        self.lmtp_port = free_port() if lmtp else None
        self.users = {"alice": "secret", "bob": "hunter2"} if users is None else users
        self.store = store or "maildir:" + str(self.workdir / "mail")
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "server.log"

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
            "-n", "--pidfile=", "--logfile", str(self.log), "mailframe",
            "--data-dir", str(self.workdir / "data"),
            "--imap", f"tcp:{self.imap_port}:interface=127.0.0.1",
        ]
        if self.store != "default":  # "default": leave the store to the server
            cmd += ["--store", self.store]
        if self.smtp_port:
            cmd += ["--smtp", f"tcp:{self.smtp_port}:interface=127.0.0.1"]
        else:
            cmd += ["--no-smtp"]
        if self.lmtp_port:
            cmd += ["--lmtp", f"tcp:{self.lmtp_port}:interface=127.0.0.1"]
        for name, password in self.users.items():
            cmd += ["--user", f"{name}:{password}"]
        return cmd + self.args

    def start(self, timeout: float = 20.0) -> ServerProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server already started: a second one would be left running")
        env = dict(os.environ)
        env["PYTHONPATH"] = PLUGIN_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"mailframe exited with {self.proc.returncode}: {out}{self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as s:
                    # under --workers the supervisor's socket accepts before
                    # a worker is up: wait on this one connection for the greeting
                    s.settimeout(max(1.0, deadline - time.monotonic()))
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mailframe did not start in time:\n" + self.read_log())

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """The log once ``text`` is in it (workers' lines reach the log
        through the supervisor, a little after they happen); the log as it
        stands when ``timeout`` runs out, for the caller's assert to show."""
        deadline = time.monotonic() + timeout
        log = self.read_log()
        while text not in log and time.monotonic() < deadline:
            time.sleep(0.05)
            log = self.read_log()
        return log

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            self.assert_no_passwords_logged()

    def assert_no_passwords_logged(self) -> None:
        """No user's password appears anywhere in the server's log (issue
        17: every real-client run doubles as a check that nothing logs a
        password)."""
        log = self.read_log()
        found = sorted(u for u, pw in self.users.items() if len(pw) >= 6 and pw in log)
        if found:
            raise AssertionError(f"the passwords of {found} appear in {self.log}")
