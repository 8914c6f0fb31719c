"""A private PostgreSQL cluster for the tests: initdb into a temporary
directory, started on a Unix socket in it (no TCP, no systemd), stopped
when the test process exits.

Absent PostgreSQL the tests skip and say why; with
``MAILFRAME_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead,
so CI never counts a skip as a pass.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

from twisted.trial.unittest import SkipTest

__all__ = ["Cluster", "cluster", "new_database"]


def _bindir() -> str | None:
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return os.path.dirname(shutil.which("initdb") or "")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class Cluster:
    """One running cluster; ``conninfo(db)`` connects to database ``db``."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.root = tempfile.mkdtemp(prefix="mailframe-pg-")
        self.data = os.path.join(self.root, "data")
        self.user = "mailframe"
        self.port = 5432  # names the socket file only: the socket dir is private
        self._prefix: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user, "-E", "UTF8")
        self.start()
        atexit.register(self.stop)

    def start(self) -> None:
        """Start the server (again, after :meth:`pause`)."""
        options = f"-k {self.root} -p {self.port} -c listen_addresses='' -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            os.path.join(self.root, "log"),
            "-w",
            "start",
        )

    def pause(self) -> None:
        """Stop the server, keeping its data (``pg_ctl stop -m fast``:
        sessions are cut, as when a database host restarts)."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._prefix, os.path.join(self.bindir, tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.root} port={self.port} user={self.user} dbname={dbname}"

    def stop(self) -> None:
        if os.path.exists(self.data):
            subprocess.run(
                [
                    *self._prefix,
                    os.path.join(self.bindir, "pg_ctl"),
                    "-D",
                    self.data,
                    "-m",
                    "immediate",
                    "stop",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(self.root, ignore_errors=True)


_cluster: Cluster | None = None
_counter = itertools.count(1)


def cluster() -> Cluster:
    """The process's cluster, started on first use; SkipTest (or, under
    MAILFRAME_REQUIRE_POSTGRES=1, a failure) when PostgreSQL is absent."""
    global _cluster
    if _cluster is None:
        missing = None
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "psycopg is not installed (pip install 'psycopg[binary]')"
        bindir = _bindir()
        if missing is None and bindir is None:
            missing = "PostgreSQL is not installed (apt-get install postgresql)"
        if missing is not None:
            if os.environ.get("MAILFRAME_REQUIRE_POSTGRES") == "1":
                raise RuntimeError(f"MAILFRAME_REQUIRE_POSTGRES=1 but {missing}")
            raise SkipTest(f"PostgreSQL tests skipped: {missing}")
        assert bindir is not None
        _cluster = Cluster(bindir)
    return _cluster


def new_database() -> str:
    """A fresh, empty database in the cluster; its conninfo."""
    import psycopg

    c = cluster()
    name = f"t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(c.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return c.conninfo(name)


def stop_cluster() -> None:
    """Stop the process's cluster if one was started.  Called at the end of
    the test session (tests/store/sql/conftest.py): pytest-xdist's workers
    leave without running atexit handlers."""
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None
