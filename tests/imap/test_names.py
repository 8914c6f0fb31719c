"""No mailbox name, however odd, ends a connection (issue 11, defect 4).

Arbitrary names go through the real protocol (the Twisted adapter over a
transport) in every place a mailbox name or pattern is taken, as an atom,
a quoted string or a literal; every command gets its tagged answer, none
is an internal error, and the session still works afterwards.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailframe.imap._chars import ATOM_CHARS
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for

#: Characters that make names interesting: modified UTF-7's shift and
#: end, the separator, wildcards, quoting, 8-bit and control octets.
_ODD = "&-/%*\"\\+,.~{}()[] \t\x7f\x00é☺AZaz09INBOXinbox"
names = st.one_of(
    st.binary(max_size=24),
    st.text(st.sampled_from(_ODD), max_size=16).map(lambda t: t.encode("utf-8")),
    st.sampled_from([
        b"!#$&'+,-.0123456789:;<=>?@^_`|[}", b"&", b"&-", b"&Jjo", b"&Jjo-", b"&AGE-",
        b"a&b", b"INBOX/&", b"/", b"//", b"", b"INBOX", b"*", b"%", b"&U,BTFw-&ZeVnLIqe-",
    ]),
)

COMMANDS = [
    b"SELECT {n}", b"EXAMINE {n}", b"CREATE {n}", b"STATUS {n} (MESSAGES UIDNEXT)",
    b"SUBSCRIBE {n}", b"UNSUBSCRIBE {n}", b"RENAME {n} {n}x", b"DELETE {n}",
    b'LIST "" {n}', b'LIST "" {n}%*', b"LIST {n} *", b'LSUB "" {n}',
    b'LIST (SUBSCRIBED RECURSIVEMATCH) "" ({n} *) RETURN (CHILDREN STATUS (MESSAGES))',
    b"APPEND {n} {1+}\r\nm", b"SELECT INBOX", b"COPY 1 {n}", b"MOVE 1 {n}",
]


def forms(name: bytes) -> list[bytes]:
    """``name`` as a literal, and as a quoted string / atom where it can be."""
    out = [b"{%d+}\r\n%s" % (len(name), name)]
    if name and all(c in ATOM_CHARS for c in name):
        out.append(name)
    if not re.search(rb'[\r\n"\\\x00\x80-\xff]', name):
        out.append(b'"' + name + b'"')
    return out


def session() -> Any:
    store = MemoryStore()
    conn = connect(context_for(store))
    conn.protocol.dataReceived(b"a0 LOGIN alice secret\r\na00 APPEND INBOX {1+}\r\nm\r\n")
    return conn


class AnyNameTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(names)
    def test_any_name_gets_an_answer_and_the_session_lives_on(self, name: bytes) -> None:
        conn = session()
        self.addCleanup(lambda: conn.protocol.lost or conn.protocol.connectionLost(None))
        sent = []
        for i, template in enumerate(COMMANDS):
            for j, form in enumerate(forms(name)):
                tag = b"t%d.%d" % (i, j)
                sent.append(tag)
                line = template.replace(b"{n}", form)
                conn.protocol.dataReceived(tag + b" " + line + b"\r\n")
        conn.protocol.dataReceived(b"zz9 NOOP\r\n")
        out = conn.transport.value()
        self.assertFalse(conn.transport.disconnecting, out[-300:])
        # Only at a line start: the name itself (say "* BYE") may come back
        # quoted inside a reply.
        self.assertIsNone(re.search(rb"^\* BYE|^\S+ NO \[SERVERBUG\]", out, re.M), out[-300:])
        answered = re.findall(rb"^(t\d+\.\d+) (?:OK|NO|BAD) ", out, re.M)
        self.assertEqual(answered, sent)
        self.assertIn(b"zz9 OK NOOP completed\r\n", out)
