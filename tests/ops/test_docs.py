"""The docs in the repository hold together: every relative link in
README.md and docs/*.md names an existing file and, with ``#anchor``, an
existing heading (GitHub's slug rules); every ``--option`` the user guide
mentions in code is one the server, the ``mailframe`` command or twistd
knows."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mailframe.cli import build_parser
from mailframe.server.options import Options

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TWISTD_OPTIONS = {"logfile", "logger", "pidfile", "uid", "gid", "syslog", "reactor", "nodaemon",
                  "help", "version"}


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", page.read_text(), re.M)}


def test_relative_links_resolve() -> None:
    assert (ROOT / "docs" / "user-guide.md").exists() and (ROOT / "docs" / "architecture.md").exists()
    readme = (ROOT / "README.md").read_text()
    assert "docs/user-guide.md" in readme and "docs/architecture.md" in readme
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.exists(), f"{page.name}: broken link {target}"
            if anchor:
                assert anchor in anchors(dest), f"{page.name}: no heading for {target}"


def _cli_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every ``--long`` option of the ``mailframe`` command and its subcommands."""
    found: set[str] = set()
    for action in parser._actions:
        found |= {o[2:] for o in action.option_strings if o.startswith("--")}
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _cli_options(sub)
    return found


def test_options_in_the_guide_exist() -> None:
    known = {name for name, *_ in Options.optParameters} | {n for n, *_ in Options.optFlags}
    known |= {m[4:].replace("_", "-") for m in dir(Options) if m.startswith("opt_")}
    known |= _cli_options(build_parser())
    guide = (ROOT / "docs" / "user-guide.md").read_text()
    code = " ".join(re.findall(r"`([^`]+)`", guide)) + " ".join(
        re.findall(r"^    .*$", guide, re.M))
    mentioned = set(re.findall(r"(?<![\w-])--([a-z][a-z-]+)", code))
    # options of other commands in the examples: useradd, systemctl
    others = {"system", "home-dir", "shell", "now"}
    unknown = mentioned - known - TWISTD_OPTIONS - others
    assert not unknown, unknown
