"""contrib/'s systemd units (issue 17, "systemd").

The socket-activated service's own command line (ExecStart of
contrib/mailframe-activated.service) is started the way systemd starts
it: the test opens the listening sockets itself, passes them as file
descriptors 3 and 4 with LISTEN_FDS/LISTEN_PID set (sd_listen_fds(3)), and
then an IMAP client logs in on the TCP socket and an MTA delivers over
LMTP on the UNIX socket.
"""

from __future__ import annotations

import imaplib
import os
import re
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.server import PLUGIN_ROOT

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]

# Runs in the child: put the given descriptors at 3, 4, ... and exec the
# command with LISTEN_PID = its own pid (exec keeps the pid), as systemd does.
LAUNCH = """
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_FDNAMES"] = ":".join(["imap", "lmtp"][:len(fds)])
os.execv(sys.argv[2], sys.argv[2:])
"""


def exec_start(unit: Path, state_directory: Path) -> list[str]:
    """The unit's ExecStart as argv, with systemd's ${STATE_DIRECTORY}
    expanded and the installed twistd replaced by this interpreter's."""
    text = unit.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0].endswith("/twistd")
    argv = [a.replace("${STATE_DIRECTORY}", str(state_directory)) for a in argv]
    return TWISTD + argv[1:]


def test_socket_activated_service_serves_imap_and_lmtp(tmp_path: Path) -> None:
    unit = CONTRIB / "mailframe-activated.service"
    socket_unit = (CONTRIB / "mailframe.socket").read_text()
    listens = re.findall(r"^Listen\w+=(.+)$", socket_unit, re.M)
    assert listens == ["0.0.0.0:143", "/run/mailframe/lmtp"]  # index 0 and 1 below

    state = tmp_path / "state"
    state.mkdir()
    imap = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    imap.bind(("127.0.0.1", 0))
    imap.listen(16)
    port = imap.getsockname()[1]
    lmtp_path = str(tmp_path / "lmtp")
    lmtp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lmtp.bind(lmtp_path)
    lmtp.listen(16)

    cmd = exec_start(unit, state) + ["--user", "alice:secret"]
    fds = (imap.fileno(), lmtp.fileno())
    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, ",".join(map(str, fds)), *cmd],
            pass_fds=fds, cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT)
    imap.close()  # the server holds its own copies now
    lmtp.close()
    try:
        m = _connect(port, proc, log)
        m.login("alice", "secret")
        with smtplib.LMTP(lmtp_path) as s:
            s.sendmail("carol@example.org", ["alice@localhost"], b"Subject: hi\r\n\r\nvia lmtp\r\n")
        assert m.select("INBOX") == ("OK", [b"1"])
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
        assert data[0][1] == b"via lmtp\r\n"  # type: ignore[index]
        m.logout()
    finally:
        proc.terminate()
        proc.wait(20)
    # twistd ends by its own SIGTERM, which systemd counts as a clean stop.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    assert (state / "mail" / "alice").is_dir()  # the data dir is systemd's StateDirectory
    assert "login user=alice" in log.read_text()  # logs go to stdout, i.e. the journal


def _connect(port: int, proc: subprocess.Popen[bytes], log: Path) -> imaplib.IMAP4:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return imaplib.IMAP4("127.0.0.1", port, timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit files are well-formed (their twistd path pointed at an
    existing executable, as verify checks that)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    for name in ("mailframe.service", "mailframe.socket", "mailframe-activated.service"):
        text = (CONTRIB / name).read_text().replace("/opt/mailframe/bin/twistd", sys.executable)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in
                              ("mailframe.service", "mailframe.socket", "mailframe-activated.service"))],
        capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (done.stdout + done.stderr).splitlines()
                if "mailframe" in ln and "Unknown user" not in ln]
    assert done.returncode == 0 or not problems, done.stdout + done.stderr
    assert not problems, problems
