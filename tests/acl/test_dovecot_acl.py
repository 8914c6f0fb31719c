"""Dovecot with its acl plugin and mailframe on one Maildir agree on who
may do what (issue 13).

Dovecot 2.3 runs on loopback (``acl = vfile``, ``acl_shared_dict`` the
file mailframe keeps beside the Maildirs, a ``shared/%u/`` namespace as
mailframe's); a mailframe server with ``--acl`` serves the same Maildir.
Rights set through either server are read by the other, both answer
MYRIGHTS and GETACL alike, list the shared mailbox to the grantee only,
and refuse and allow the same commands.  Skipped with a message when the
``dovecot`` binary is not installed.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.store.test_maildir_dovecot import CONF, DOVECOT, Dovecot
from tests.support.server import ServerProcess

pytestmark = pytest.mark.skipif(
    DOVECOT is None, reason="dovecot binary not found (apt-get install dovecot-imapd): "
                            "the Dovecot/mailframe ACL agreement test needs it"
)

ACL_CONF = CONF.replace(
    "namespace inbox {{\n  inbox = yes\n  separator = /\n}}",
    """namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
namespace {{
  type = shared
  separator = /
  prefix = shared/%%u/
  location = maildir:{d}/mail/%%u:INDEX={d}/home/%u/shared/%%u
  subscriptions = no
  list = children
}}
# mailframe creates folders Dovecot's list index has not seen; without
# the index Dovecot lists the Maildir itself (as it does for any MDA).
mailbox_list_index = no
mail_plugins = acl
protocol imap {{
  mail_plugins = $mail_plugins imap_acl
}}
plugin {{
  acl = vfile
  acl_shared_dict = file:{d}/mail/shared-mailboxes.db
  acl_anyone = allow
}}""",
)
USERS = {"alice": "pw", "bob": "pw", "carol": "pw"}
MESSAGE = b"Subject: agree\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Dovecot, ServerProcess]]:
    root = tempfile.mkdtemp(prefix="mf-dovecot-acl-")
    dovecot = Dovecot(root, ACL_CONF)
    with open(os.path.join(root, "passwd"), "a") as f:
        f.write("carol:{PLAIN}pw\n")
    mailframe = ServerProcess(
        os.path.join(root, "mailframe"), "--acl", users=USERS,  # type: ignore[arg-type]
        store="maildir:" + os.path.join(root, "mail", "%u"),
    )
    mailframe.start()
    try:
        yield dovecot, mailframe
    finally:
        mailframe.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


def mf_client(server: ServerProcess, user: str) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    c.login(user, USERS[user])
    return c


def answer(c: imaplib.IMAP4, *args: str) -> tuple[str, list[bytes]]:
    """(status, untagged data of the command's own response) — the status
    code word, without the text, which differs between servers."""
    name = {"GETACL": "ACL"}.get(args[0].upper(), args[0].upper())
    typ, data = c._simple_command(*args)  # type: ignore[attr-defined]
    _, untagged = c._untagged_response(typ, data, name)  # type: ignore[attr-defined]
    c.untagged_responses.clear()
    return typ, [u for u in untagged if isinstance(u, bytes)]


def myrights(c: imaplib.IMAP4, name: str) -> str | None:
    typ, data = answer(c, "MYRIGHTS", f'"{name}"')
    if typ != "OK":
        return None
    return data[0].decode().rsplit(" ", 1)[1]


def acl_of(c: imaplib.IMAP4, name: str) -> dict[str, set[str]]:
    typ, data = answer(c, "GETACL", f'"{name}"')
    assert typ == "OK", data
    words = data[0].decode().split()[1:]
    return {words[i]: set(words[i + 1]) - {"c", "d"} for i in range(0, len(words), 2)}


def listed(c: imaplib.IMAP4) -> set[str]:
    typ, data = c.list('""', '"shared/*"')
    assert typ == "OK"
    return {d.decode().rsplit(" ", 1)[1].strip('"') for d in data if isinstance(d, bytes)}


def both(dovecot: Dovecot, mailframe: ServerProcess, user: str) -> list[imaplib.IMAP4]:
    return [dovecot.client(user), mf_client(mailframe, user)]


def test_rights_set_in_dovecot_are_mailframes(servers: tuple[Dovecot, ServerProcess]) -> None:
    dovecot, mailframe = servers
    alice = dovecot.client("alice")
    assert alice.create("Projects")[0] == "OK"
    assert alice.append("Projects", None, None, MESSAGE)[0] == "OK"
    assert answer(alice, "SETACL", "Projects", "bob", "lrs")[0] == "OK"
    assert answer(alice, "SETACL", "Projects", "-bob", "s")[0] == "OK"
    alice.logout()
    dovecot.give_back()
    _agree(dovecot, mailframe, "shared/alice/Projects", bob_rights="lr")


def test_rights_set_in_mailframe_are_dovecots(servers: tuple[Dovecot, ServerProcess]) -> None:
    dovecot, mailframe = servers
    alice = mf_client(mailframe, "alice")
    assert alice.create("Team")[0] == "OK"
    assert alice.append("Team", None, None, MESSAGE)[0] == "OK"
    assert answer(alice, "SETACL", "Team", "bob", "lrwi")[0] == "OK"
    alice.logout()
    dovecot.give_back()
    _agree(dovecot, mailframe, "shared/alice/Team", bob_rights="lrwi")


def _agree(dovecot: Dovecot, mailframe: ServerProcess, name: str, bob_rights: str) -> None:
    box = name.split("/", 2)[2]
    # the owner sees the same ACL on both
    acls = [acl_of(c, box) for c in both(dovecot, mailframe, "alice")]
    assert acls[0] == acls[1], acls
    # bob: same rights, mailbox listed, the same commands allowed/refused
    answers = []
    for c in both(dovecot, mailframe, "bob"):
        owner = mf_client(mailframe, "alice")
        owner.select(box)
        owner.store("1", "-FLAGS", "(\\Flagged \\Seen \\Deleted)")
        owner.logout()
        rights = myrights(c, name)
        shown = name in listed(c)
        typ = c.select(f'"{name}"', readonly=True)[0]
        try:
            selected = c.select(f'"{name}"')[0]
        except imaplib.IMAP4.readonly:
            selected = "READ-ONLY"
            c.untagged_responses.clear()
            c.is_readonly = True
        flags: set[str] = set()
        if selected != "NO":
            # What changed, not the status: on a READ-ONLY mailbox Dovecot
            # ignores a STORE with OK where mailframe says NO [CANNOT].
            for flag in ("\\Flagged", "\\Seen", "\\Deleted"):
                status = answer(c, "STORE", "1", "+FLAGS.SILENT", f"({flag})")[0]
                assert status == "OK" or selected == "READ-ONLY" or flag != "\\Flagged" or "w" not in rights
            _, fetched = answer(c, "FETCH", "1", "(FLAGS)")
            flags = set(fetched[0].decode().split("(FLAGS (")[1].split(")")[0].split()) - {"\\Recent"}
        getacl = answer(c, "GETACL", f'"{name}"')[0]
        answers.append((set(rights or ""), shown, typ, selected, flags, getacl))
        c.logout()
    assert answers[0] == answers[1], answers
    assert answers[0][0] - {"c", "d"} == set(bob_rights)
    assert answers[0][1] is True
    # carol: nothing, and the mailbox does not exist for her on either
    for c in both(dovecot, mailframe, "carol"):
        assert myrights(c, name) is None
        assert name not in listed(c)
        assert answer(c, "SELECT", f'"{name}"')[0] == "NO"
        c.logout()
