"""The README's three-command sharing example works as written."""

from __future__ import annotations

import shlex
from pathlib import Path

from imapclient import IMAPClient

from tests.cli._support import ok
from tests.support.server import ServerProcess

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def example() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = text.split("default shared namespace does).  Three commands:\n\n", 1)[1]
    lines = block.split("\n\n", 1)[0].splitlines()
    return [shlex.split(line) for line in lines]


def test_readme_sharing_example(tmp_path: Path) -> None:
    (create, share, serve) = example()
    assert create[:2] == ["mailframe", "mailbox"] and share[:2] == ["mailframe", "acl"]
    assert serve[:3] == ["twistd", "-n", "mailframe"]
    ok(*create[1:], cwd=tmp_path)
    ok(*share[1:], cwd=tmp_path)
    args = serve[3:]
    users = dict(args[i + 1].split(":", 1) for i, a in enumerate(args) if a == "--user")
    flags = [a for i, a in enumerate(args) if a != "--user" and (i == 0 or args[i - 1] != "--user")]
    store = "maildir:" + str(tmp_path / "mailframe-data" / "mail")
    with ServerProcess(tmp_path / "server", *flags, users=users, store=store) as srv:
        bob = IMAPClient("127.0.0.1", srv.imap_port, ssl=False, timeout=30)
        bob.login("bob", users["bob"])
        names = [name for _, _, name in bob.list_folders()]
        assert "shared/alice/Projects" in names
        assert bob.select_folder("shared/alice/Projects")[b"READ-WRITE"]
        bob.logout()
