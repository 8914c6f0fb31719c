"""Launch the servers the comparison runs against, each on a free
loopback port in its own temporary directory, with users alice/secret:

- mailframe (``twistd -n mailframe``, Maildir store) via tests/support;
  ``mailframe-sqlite`` and ``mailframe-postgresql`` the same on the
  database store (PostgreSQL: a private cluster, tests/store/sql/pgcluster.py);
- Dovecot from Debian (``dovecot -F -c <conf>``, passwd-file, Maildir);
- pymap from PyPI (``pymap maildir``).

``store="mbox"`` runs mailframe and Dovecot on mbox files instead
(``mbox:ROOT/%u:INBOX=ROOT/%u/inbox`` for both, their default locks);
pymap has no mbox backend.

Each launcher raises :class:`Unavailable` with a one-line reason when the
server is missing or does not come up, so the table can say why.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import ServerProcess, free_port  # noqa: E402

USER, PASSWORD = "alice", "secret"


class Unavailable(Exception):
    """The server cannot be installed or started here (the reason)."""


def wait_greeting(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise Unavailable(f"exited with status {proc.returncode}: {tail.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(200).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"no IMAP greeting on port {port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a reference server, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """A started server: ``name``, ``port``, ``pid`` (for memory), ``stop()``."""

    name = "?"
    port = 0
    pid: int | None = None
    version = ""

    def __init__(self, workdir: Path, store: str = "maildir") -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Mailframe(Server):
    name = "mailframe"
    #: more ``twistd mailframe`` options for every mailframe launcher
    #: (compare.py --mailframe-args, e.g. "--workers 1" or "--stall-warn 10")
    extra_args: list[str] = []

    def __init__(self, workdir: Path, store: str = "maildir") -> None:
        import mailframe
        self.version = getattr(mailframe, "__version__", "") + f" ({store})"
        url = f"mbox:{workdir}/mail/%u" if store == "mbox" else None
        self.proc = ServerProcess(workdir, "--max-connections-per-ip", "0",
                                  "--max-connections-per-user", "0", *self.extra_args,
                                  users={USER: PASSWORD}, store=url)
        try:
            self.proc.start(timeout=30)
        except RuntimeError as exc:
            raise Unavailable(str(exc).splitlines()[0][:200]) from exc
        self.port = self.proc.imap_port
        self.pid = self.proc.proc.pid if self.proc.proc else None

    def stop(self) -> None:
        self.proc.stop()


DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = {location}
mail_max_userip_connections = 4000
default_process_limit = 4000
default_client_limit = 8000
default_vsz_limit = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service imap {{
  process_limit = 4000
}}
service anvil {{
  client_limit = 8100
}}
service auth {{
  client_limit = 8100
}}
"""


class Dovecot(Server):
    """Dovecot as installed by Debian's ``dovecot-imapd``, configured only
    by a file in ``workdir`` (no systemd, no /etc/dovecot)."""

    name = "dovecot"

    def __init__(self, workdir: Path, store: str = "maildir") -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(binary):
            raise Unavailable("dovecot not installed (apt-get install -y dovecot-imapd)")
        self.version = subprocess.run([binary, "--version"], capture_output=True,
                                      text=True).stdout.split()[0] + f" ({store})"
        workdir.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "mail"):
            (workdir / sub).mkdir(exist_ok=True)
        # Mail processes may not run as root: use nobody, who must reach the mail.
        uid, gid = 65534, 65534
        try:
            for path in (workdir, *workdir.parents):
                if str(path) == "/":
                    break
                os.chmod(path, os.stat(path).st_mode | 0o711)
            os.chown(workdir / "mail", uid, gid)
        except OSError as exc:
            raise Unavailable(f"needs root to run its mail processes as nobody: {exc}") from exc
        (workdir / "passwd").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{workdir}/mail/{USER}::\n")
        self.port = free_port()
        conf = workdir / "dovecot.conf"
        location = (f"mbox:{workdir}/mail/%u:INBOX={workdir}/mail/%u/inbox" if store == "mbox"
                    else f"maildir:{workdir}/mail/%u")
        conf.write_text(DOVECOT_CONF.format(d=workdir, port=self.port, location=location))
        log = workdir / "dovecot.log"
        self.proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(log, "ab"))
        self.pid = self.proc.pid
        try:
            wait_greeting(self.port, self.proc, 20, log)
        except Unavailable:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc)


def pbkdf2_record(password: str, rounds: int = 1000) -> str:
    """A pysasl BuiltinHash string with few rounds, so pymap's LOGIN costs
    what a plain passwd-file costs the other servers."""
    salt = b"benchsaltbenchsa"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return (f"$pbkdf2-sha256${rounds}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


class Pymap(Server):
    """pymap (PyPI) with its maildir backend and a users file in ``workdir``."""

    name = "pymap"

    def __init__(self, workdir: Path, store: str = "maildir") -> None:
        if store != "maildir":
            raise Unavailable(f"pymap has no {store} backend")
        binary = Path(sys.executable).parent / "pymap"
        if not binary.exists():
            found = shutil.which("pymap")
            if not found:
                raise Unavailable("pymap not installed (pip install pymap)")
            binary = Path(found)
        try:
            from importlib.metadata import version
            self.version = version("pymap")
        except Exception:  # noqa: BLE001 - the version is only shown
            self.version = "?"
        base = workdir / "maildir"
        base.mkdir(parents=True, exist_ok=True)
        (base / "pymap-etc-passwd").write_text(f"{USER}:::::{USER}:\n")
        (base / "pymap-etc-shadow").write_text(f"{USER}:{pbkdf2_record(PASSWORD)}:::::::\n")
        self.port = free_port()
        log = workdir / "pymap.log"
        self.proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--no-tls",
             "--no-service", "admin", "maildir", str(base)],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), cwd=workdir)
        self.pid = self.proc.pid
        try:
            wait_greeting(self.port, self.proc, 30, log)
        except Unavailable:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc)


class MailframeSqlite(Mailframe):
    """mailframe on ``sqlite:<workdir>/mail.db``."""

    name = "mailframe-sqlite"

    def _store(self, workdir: Path) -> str:
        return f"sqlite:{workdir / 'mail.db'}"

    def __init__(self, workdir: Path, store: str = "maildir") -> None:
        import mailframe  # ``store`` (compare.py --store) is for the file stores: not used here

        self.version = getattr(mailframe, "__version__", "") + f" ({self.name[10:]})"
        self.proc = ServerProcess(workdir, "--max-connections-per-ip", "0",
                                  "--max-connections-per-user", "0", *self.extra_args,
                                  users={USER: PASSWORD}, store=self._store(workdir))
        try:
            self.proc.start(timeout=60)
        except RuntimeError as exc:
            raise Unavailable(str(exc).splitlines()[0][:200]) from exc
        self.port = self.proc.imap_port
        self.pid = self.proc.proc.pid if self.proc.proc else None


class MailframePostgres(MailframeSqlite):
    """mailframe on a database of a private PostgreSQL cluster (initdb in
    a temporary directory, Unix socket only, stopped with the server)."""

    name = "mailframe-postgresql"

    def _store(self, workdir: Path) -> str:
        from tests.store.sql import pgcluster

        try:
            conninfo = pgcluster.new_database()
        except BaseException as exc:  # SkipTest, RuntimeError: no PostgreSQL here
            raise Unavailable(str(exc).splitlines()[0][:200]) from exc
        return "postgresql:///?" + "&".join(conninfo.replace(" ", "&").split("&"))

    def stop(self) -> None:
        from tests.store.sql import pgcluster

        super().stop()
        pgcluster.stop_cluster()


LAUNCHERS: dict[str, type[Server]] = {
    "mailframe": Mailframe,
    "dovecot": Dovecot,
    "pymap": Pymap,
    "mailframe-sqlite": MailframeSqlite,
    "mailframe-postgresql": MailframePostgres,
}
