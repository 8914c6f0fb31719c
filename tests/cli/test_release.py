"""Release basics: ``python -m build`` makes an sdist and a wheel; the
wheel installed into a fresh venv runs ``twistd -n mailframe`` from
another directory (the plugin ships as package data) and ``mailframe
--version``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest

import mailframe
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_wheel_installs_and_runs_from_elsewhere(tmp_path: Path) -> None:
    if not (ROOT / "setup.cfg").exists():
        pytest.skip("not a source checkout")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, env=env, timeout=240)
    assert built.returncode == 0, built.stderr.decode()[-2000:]
    wheels = list(dist.glob("mailframe-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("mailframe-*.tar.gz"))
    assert wheels[0].name.startswith(f"mailframe-{mailframe.__version__}-")

    # A fresh venv; its dependencies come from this interpreter's
    # site-packages (a .pth line: no download), mailframe from the wheel.
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    py = target / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                           # --force-reinstall: under tox the borrowed site-packages
                           # holds mailframe already, and pip would call it installed
                           "--force-reinstall", "--no-deps", "--no-index", str(wheels[0])],
                          capture_output=True, env=env, timeout=120)
    assert inst.returncode == 0, inst.stderr.decode()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(py), "-c", "import mailframe; print(mailframe.__file__)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, check=True)
    assert where.stdout.startswith(str(target)), where.stdout
    version = subprocess.run([str(target / "bin" / "mailframe"), "--version"], capture_output=True,
                             text=True, cwd=elsewhere, env=env, timeout=60)
    assert version.stdout == f"mailframe {mailframe.__version__}\n", version.stderr

    port = free_port()
    proc = subprocess.Popen(
        [str(py), "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
         "mailframe", "--imap", f"tcp:{port}:interface=127.0.0.1", "--no-smtp",
         "--user", "alice:secret"],
        cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        greeting = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    greeting = s.recv(200)
                    break
            except OSError:
                time.sleep(0.1)
        assert greeting.startswith(b"* OK"), (greeting, proc.poll())
        assert (elsewhere / "mailframe-data").is_dir()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
