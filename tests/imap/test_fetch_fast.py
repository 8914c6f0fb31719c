"""The one-step FETCH responses (mailframe.imap.fetch_fast, issue 16) are
byte for byte what the general item encoders send (RFC 3501 §7.4.2), for
the shapes they take; every other shape is left to the general path."""

from __future__ import annotations

import imaplib
from datetime import UTC, datetime, timedelta

import pytest

from mailframe import message as mm
from mailframe.imap.command import Fetch
from mailframe.imap.commands.fetch import Message, _respond, _spec
from mailframe.imap.fetch_fast import compile_plan
from mailframe.imap.fetch_response import COPY_MAX
from mailframe.imap.framing import Frame
from mailframe.imap.grammar import parse_command
from mailframe.imap.types import FetchAtt
from mailframe.imap.view import SelectedView
from mailframe.records import FlagState, MessageRecord, Snapshot
from tests.support.server import ServerProcess

BIG = b"x" * 70 + b"\r\n"
MESSAGES = [
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
    # folded field, repeated field, lower-case names, a NUL in the body
    b"from: a@example.org\r\nSubject: one\r\n two\r\nX-A: 1\r\nTo: c@example.org\r\nTo: d@example.org\r\n"
    b"Message-ID: <m@x>\r\n\r\nnul \x00 here\r\n",
    # big enough that its bytes are a piece of their own
    b"From: big@example.org\r\nSubject: big\r\n\r\n" + BIG * (2 * COPY_MAX // len(BIG)),
    # a header without its blank line (header-only mail), LF line ends
    b"From: lf@example.org\nSubject: lf\n",
    b"Subject: only\r\n",
]
FLAGS = [frozenset(), frozenset({"\\Seen", "$Work"}), frozenset({"\\Flagged"}), frozenset(), frozenset({"\\Seen"})]
WHEN = datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC)


def _items(spec: str) -> list[FetchAtt]:
    cmd = parse_command(Frame((b"a FETCH 1:* " + spec.encode(),)))
    assert isinstance(cmd, Fetch)
    return list(cmd.items)


def _setup() -> tuple[SelectedView, list[MessageRecord]]:
    records = [
        MessageRecord(uid, FLAGS[i], 1, len(raw), WHEN + timedelta(hours=i), mm.parse(raw))
        for i, raw in enumerate(MESSAGES)
        for uid in [10 + i]
    ]
    states = tuple(FlagState(r.uid, r.flags, 1) for r in records)
    return SelectedView(Snapshot(7, 20, 1, states), False, [11, 13]), records


SHAPES = [
    "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])",
    "(UID BODY.PEEK[HEADER.FIELDS.NOT (TO X-A)])",
    "BODY.PEEK[HEADER]",
    "(ENVELOPE BODYSTRUCTURE)",
    "(FLAGS BODY)",
    "BODY.PEEK[]",
    "(UID RFC822.SIZE FLAGS)",
    "(UID FLAGS BODY[])",
    "RFC822",
    "FAST",
    "ALL",
]


@pytest.mark.parametrize("spec", SHAPES)
@pytest.mark.parametrize("word", [b"FETCH", b"UIDFETCH"])
def test_same_bytes_as_the_general_encoders(spec: str, word: bytes) -> None:
    view, records = _setup()
    items = _items(spec)
    fast = compile_plan(items, view, False, word)
    assert fast is not None, spec
    plan = [(_spec(a, False), a) for a in items]
    for seq, record in enumerate(records, 1):
        raw = MESSAGES[seq - 1]
        general = _respond(seq, Message(view, record.uid, record, None, raw), plan, word)
        assert isinstance(general, list)
        quick = fast(seq, record.uid, record, raw)
        assert quick is not None
        assert b"".join(quick) == b"".join(p for p in general if isinstance(p, bytes)), (spec, seq)
        if len(raw) >= COPY_MAX and spec in WHOLE:
            assert any(p is raw for p in quick)  # the message's bytes are not copied


WHOLE = {"BODY.PEEK[]", "(UID FLAGS BODY[])", "RFC822"}


def test_header_syncs_in_turn_with_other_field_lists() -> None:
    """The HEADER.FIELDS item a message kept from the last sync is used
    only for the same field list: syncs asking other lists, in turn, on
    the same records (as sessions of one mailbox share them), each get
    what records that never synced get -- their own fields (RFC 3501
    §6.4.5; those bytes are the general encoders', above)."""
    view, shared = _setup()
    specs = [
        "(UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
        "(UID BODY.PEEK[HEADER.FIELDS (TO)])",
        "(UID BODY.PEEK[HEADER.FIELDS (from subject)])",
        "(UID BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)])",
        "(UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
    ]
    for spec in specs * 2:
        fast = compile_plan(_items(spec), view, False)
        assert fast is not None
        _, fresh = _setup()  # parsed anew: nothing kept
        for seq, (record, new) in enumerate(zip(shared, fresh, strict=True), 1):
            quick = fast(seq, record.uid, record, None)
            first = fast(seq, new.uid, new, None)
            assert quick is not None and first is not None
            assert b"".join(quick) == b"".join(first), (spec, seq)


@pytest.mark.parametrize(
    "spec",
    [
        "BODY.PEEK[]<0.10>",  # a partial
        "BODY.PEEK[1]",  # a part
        "(BODY.PEEK[] UID)",  # the whole message not last
        "(UID MODSEQ)",  # MODSEQ keeps the session's fetched modseq
        "BINARY.PEEK[]",
        "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.5>)",
        "RFC822.TEXT",
    ],
)
def test_other_shapes_go_the_general_way(spec: str) -> None:
    view, _ = _setup()
    assert compile_plan(_items(spec), view, False) is None


def test_utf8_sessions_go_the_general_way() -> None:
    view, _ = _setup()
    assert compile_plan(_items("(ENVELOPE)"), view, True) is None


def test_a_message_not_read_ahead_goes_the_general_way() -> None:
    view, records = _setup()
    fast = compile_plan(_items("BODY.PEEK[]"), view, False)
    assert fast is not None
    assert fast(1, records[0].uid, records[0], None) is None
    assert fast(1, records[0].uid, records[0], MESSAGES[0][:-1]) is None  # changed under us


def test_over_a_socket_with_imaplib(server: ServerProcess) -> None:
    """The shapes a client syncs with, through the real server: bodies and
    header fields exact, \\Recent in FLAGS (APPEND refuses NUL: the
    unit test above covers its 0x80)."""
    with imaplib.IMAP4("127.0.0.1", server.imap_port) as c:
        c.login("alice", "secret")
        sent = [MESSAGES[0], MESSAGES[1].replace(b"\x00", b"0"), MESSAGES[2]]
        for raw in sent:
            c.append("INBOX", "(\\Flagged)", None, raw)
        c.select("INBOX")
        typ, data = c.fetch("1:3", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])")
        assert typ == "OK"
        heads = [d for d in data if isinstance(d, tuple)]
        assert heads[1][1] == b"Subject: one\r\n two\r\nTo: c@example.org\r\nTo: d@example.org\r\n\r\n"
        assert b"\\Recent" in heads[0][0] and b"\\Flagged" in heads[0][0]
        typ, data = c.fetch("1:3", "BODY.PEEK[]")
        bodies = [d[1] for d in data if isinstance(d, tuple)]
        assert bodies == sent
