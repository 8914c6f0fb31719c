"""``--workers N`` (issue 16, "Every core"): real processes, real sockets.

Which worker serves a connection is read from the kernel: the server end
of the client's TCP connection (``/proc/net/tcp``) is a socket inode that
exactly one worker holds open (``/proc/PID/fd``).  No timing is asserted:
every wait below is a deadline for something that must happen.
"""

from __future__ import annotations

import imaplib
import os
import re
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(180)

STARTED = re.compile(r"worker (\d+) started pid=(\d+)")
MESSAGE = b"From: a@example.org\r\nTo: alice@localhost\r\nSubject: hi\r\n\r\nbody\r\n"


def wait_for(what: str, check: Callable[[], Any], deadline: float = 60.0) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def worker_of(srv: ServerProcess, local_port: int) -> int:
    """The pid of the worker holding the server end of the connection
    from ``local_port``."""
    want = f"0100007F:{srv.imap_port:04X} 0100007F:{local_port:04X}"
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f:
            fields = line.split()
            if " ".join(fields[1:3]) == want:
                inode = fields[9]
    assert inode is not None, f"no server socket for port {local_port}"
    target = f"socket:[{inode}]"
    for pid in workers(srv).values():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except FileNotFoundError:
                pass
    raise AssertionError(f"no worker holds the connection from port {local_port}")


def workers(srv: ServerProcess) -> dict[int, int]:
    """Worker index → its current pid (the latest start line of each)."""
    return {int(i): int(p) for i, p in STARTED.findall(srv.read_log())}


def connect(srv: ServerProcess) -> tuple[imaplib.IMAP4, int]:
    m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
    return m, worker_of(srv, m.sock.getsockname()[1])


def connect_to(srv: ServerProcess, pid: int) -> imaplib.IMAP4:
    """A logged-in connection served by worker ``pid``."""
    for _ in range(200):
        m, got = connect(srv)
        if got == pid:
            m.login("alice", "secret")
            return m
        m.logout()
    raise AssertionError(f"no connection landed on worker {pid} in 200 tries")


def two_workers(srv: ServerProcess) -> tuple[int, int]:
    """The two workers' pids, once both listen (their reactors run)."""
    pids = wait_for("two workers", lambda: len(workers(srv)) == 2 and workers(srv))
    wait_for("both workers listening", lambda: srv.read_log().count(
        "Starting factory <mailframe.server.protocol.IMAPFactory") >= 2)
    return pids[0], pids[1]


def test_connections_land_on_every_worker(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        assert srv.proc is not None and srv.proc.pid not in (a, b)
        seen: dict[int, int] = {}
        for _ in range(60):
            m, pid = connect(srv)
            assert m.login("alice", "secret")[0] == "OK"
            m.logout()
            seen[pid] = seen.get(pid, 0) + 1
            if len(seen) == 2 and min(seen.values()) >= 3:
                break
        assert set(seen) == {a, b}, seen
        # and the log names the worker of each connection
        logged = set(map(int, re.findall(r"imap conn=\S+ open .* worker=(\d+)", srv.read_log())))
        assert logged == {a, b}


def test_idle_in_one_worker_hears_append_through_another(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        idler = connect_to(srv, a)
        idler.select("INBOX")
        tag = idler._new_tag().decode()
        idler.send(f"{tag} IDLE\r\n".encode())
        assert idler.readline().startswith(b"+")
        writer = connect_to(srv, b)
        assert writer.append("INBOX", None, None, MESSAGE)[0] == "OK"
        line = idler.readline()  # blocks until the hint crosses processes
        assert line == b"* 1 EXISTS\r\n", line
        idler.send(b"DONE\r\n")
        while not idler.readline().startswith(tag.encode()):
            pass
        idler.logout()
        writer.logout()


def test_recent_goes_to_exactly_one_session_across_workers(tmp_path: Path) -> None:
    """RFC 3501 §2.3.2: worker B has the folder open from before the
    APPEND, worker A's session claims the new message first; B's next
    session must not see it \\Recent again."""
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        early = connect_to(srv, b)
        early.select("INBOX")
        early.logout()
        writer = connect_to(srv, a)
        assert writer.append("INBOX", None, None, MESSAGE)[0] == "OK"
        counts = []
        for pid in (a, b, a, b):
            m = connect_to(srv, pid)
            m.select("INBOX")
            counts.append(int(m.response("RECENT")[1][0]))
            m.logout()
        writer.logout()
        assert counts == [1, 0, 0, 0]


def test_recent_claimed_in_the_appending_worker_is_no_one_elses(tmp_path: Path) -> None:
    """RFC 3501 §2.3.2 with the claim made both ways: a session of the
    worker that appended claims on its reactor thread (its folder is
    current), one of the other worker through its folder's worker (the
    folder changed under it).  Whichever SELECTs first gets each message
    \\Recent; nobody after does."""
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        for pid in (a, b):  # both workers have the folder open
            m = connect_to(srv, pid)
            m.select("INBOX")
            m.logout()
        writer = connect_to(srv, a)
        counts = []
        for round_ in range(3):
            for _ in range(round_ + 1):
                assert writer.append("INBOX", None, None, MESSAGE)[0] == "OK"
            order = (a, b, a) if round_ % 2 == 0 else (b, a, b)
            for pid in order:
                m = connect_to(srv, pid)
                m.select("INBOX")
                counts.append(int(m.response("RECENT")[1][0]))
                m.logout()
        writer.logout()
        assert counts == [1, 0, 0, 2, 0, 0, 3, 0, 0]


def test_killed_worker_is_restarted_and_serves(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        os.kill(a, signal.SIGKILL)
        new = wait_for("worker 0 restarted", lambda: workers(srv)[0] != a and workers(srv)[0])
        assert new not in (a, b)
        assert "worker 0 pid=%d ended" % a in srv.read_log()
        m = connect_to(srv, new)
        assert m.select("INBOX")[0] == "OK"
        m.logout()
        m = connect_to(srv, b)  # the other one served throughout
        m.logout()


def test_sigterm_stops_supervisor_and_workers(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path, "--workers", "2").start()
    try:
        a, b = two_workers(srv)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        # twistd ends by re-raising the signal it stopped on, as one process does
        assert srv.proc.wait(60) == -signal.SIGTERM
        for pid in (a, b):
            wait_for(f"worker {pid} gone", lambda pid=pid: not _alive(pid))
        # each worker shut down its own reactor, then the supervisor
        assert srv.read_log().count("Server Shut Down") == 3
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.imap_port), timeout=5).close()
    finally:
        srv.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_sighup_reloads_tls_in_every_worker(tmp_path: Path) -> None:
    from mailframe.server.tls import CertificateAuthority

    ca = CertificateAuthority()
    certs = tmp_path / "certs"
    cert, key = ca.issue(str(certs))
    imaps = free_port()
    with ServerProcess(tmp_path / "srv", "--workers", "2", "--no-tls",
                       "--imaps", f"ssl:{imaps}:privateKey={key}:certKey={cert}") as srv:
        two_workers(srv)
        first = _peer_cert(imaps)
        ca.issue(str(certs))  # a new certificate over the same files
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("both workers reloading",
                 lambda: srv.read_log().count("TLS certificate reloaded") >= 2)
        served = {_peer_cert(imaps) for _ in range(20)}
        assert first not in served


def _peer_cert(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_memory_store_runs_one_process_and_says_so(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "2", store="memory") as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
        m.login("alice", "secret")
        m.logout()
        log = srv.read_log()
        assert log.count("--store memory cannot be shared between processes") == 1
        assert "supervisor" not in log and "worker=" not in log


def test_one_worker_is_one_process(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "1") as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
        m.login("alice", "secret")
        m.logout()
        assert srv.proc is not None
        children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
        assert children == []
        assert "supervisor" not in srv.read_log()


def test_sigkill_of_a_worker_then_of_the_whole_group_loses_no_acknowledged_append(
        tmp_path: Path) -> None:
    store = "maildir:" + str(tmp_path / "mail")
    acked: list[bytes] = []
    srv = ServerProcess(tmp_path / "one", "--workers", "2", store=store).start()
    try:
        a, b = two_workers(srv)
        ca, cb = connect_to(srv, a), connect_to(srv, b)
        for i in range(20):
            subject = b"m%d" % i
            conn = ca if i % 2 else cb
            assert conn.append("INBOX", None, None, MESSAGE.replace(b"hi", subject))[0] == "OK"
            acked.append(subject)
        # an APPEND in flight when its worker is killed: never acknowledged
        ca.send(b"X1 APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        os.kill(a, signal.SIGKILL)
        for i in range(20, 30):
            subject = b"m%d" % i
            assert cb.append("INBOX", None, None, MESSAGE.replace(b"hi", subject))[0] == "OK"
            acked.append(subject)
        new = wait_for("worker 0 restarted", lambda: workers(srv)[0] != a and workers(srv)[0])
        # then the whole group at once, supervisor first
        assert srv.proc is not None
        for pid in (srv.proc.pid, new, b):
            os.kill(pid, signal.SIGKILL)
        srv.proc.wait(30)
        for pid in (new, b):
            wait_for(f"worker {pid} gone", lambda pid=pid: not _alive(pid))
    finally:
        srv.stop()
    with ServerProcess(tmp_path / "two", "--workers", "1", store=store) as again:
        m = imaplib.IMAP4("127.0.0.1", again.imap_port, timeout=30)
        m.login("alice", "secret")
        m.select("INBOX")
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        m.logout()
    subjects = [part[1].split(b":", 1)[1].strip() for part in data if isinstance(part, tuple)]
    uids = [re.search(rb"UID (\d+)", part[0]).group(1)  # type: ignore[union-attr]
            for part in data if isinstance(part, tuple)]
    assert set(acked) <= set(subjects)
    assert len(uids) == len(set(uids)) and len(subjects) in (len(acked), len(acked) + 1)
