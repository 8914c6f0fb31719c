"""Run ``mailframe`` as a user would: a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import PLUGIN_ROOT


def mf(*args: str, cwd: Path | None = None, stdin: bytes | str = b"",
       timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PLUGIN_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "mailframe.cli", *args], input=data,
                          capture_output=True, cwd=cwd, env=env, timeout=timeout)


def ok(*args: str, **kw: object) -> str:
    r = mf(*args, **kw)  # type: ignore[arg-type]
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.decode()
