"""The sans-IO core never imports twisted (DESIGN.md, "Layers")."""

import subprocess
import sys
from pathlib import Path

import mailframe

ROOT = Path(mailframe.__file__).parent
SANS_IO = ("imap", "message")


def test_sans_io_packages_do_not_import_twisted() -> None:
    modules = sorted(
        "mailframe." + ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for pkg in SANS_IO
        for p in (ROOT / pkg).rglob("*.py")
    )
    assert modules, "no sans-IO modules found"
    code = (
        "import sys\n"
        f"for m in {modules!r}:\n"
        "    __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'twisted' or m.startswith('twisted.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"sans-IO core pulled in: {out.stdout.strip()}"
