"""The message corpus: expected ENVELOPE / BODYSTRUCTURE / BODY written once
(``regen_expected.py``, then read by hand against RFC 3501 §7.4.2) and
checked forever; plus agreement with Dovecot 2.3.19's answers for the same
messages (``tests/data/dovecot-2.3.19-fetch.json``), where every deliberate
difference is listed with its reason.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mailframe.message import MessageInfo, find_part, parse, section_range, to_crlf

DATA = Path(__file__).parent.parent / "data"
MESSAGES = sorted((DATA / "messages").glob("*.eml"))
IDS = [p.stem for p in MESSAGES]


def test_corpus_is_big_enough() -> None:
    assert len(MESSAGES) >= 40
    assert all(p.with_suffix(".expected").exists() for p in MESSAGES)


def _expected(path: Path) -> dict[str, bytes]:
    out = {}
    for line in path.with_suffix(".expected").read_text().splitlines():
        key, _, value = line.partition(" ")
        out[key] = codecs.escape_decode(value.encode("ascii"))[0]
    return out


@pytest.mark.parametrize("path", MESSAGES, ids=IDS)
def test_expected_wire_forms(path: Path) -> None:
    raw = path.read_bytes()
    info = parse(raw)
    exp = _expected(path)
    assert info.envelope_wire == exp["ENVELOPE"]
    assert info.bodystructure_wire == exp["BODYSTRUCTURE"]
    assert info.body_wire == exp["BODY"]
    assert (info.sent_date.isoformat().encode() if info.sent_date else b"NIL") == exp["SENTDATE"]
    assert info.size == len(raw)
    assert raw.startswith(info.header)


@pytest.mark.parametrize("path", MESSAGES, ids=IDS)
def test_dump_load_round_trip(path: Path) -> None:
    info = parse(path.read_bytes())
    again = MessageInfo.load(info.dump())
    assert again == info
    assert again.tree == info.tree
    assert again.sent_date == info.sent_date
    assert again.header == info.header


def _numbers(info: MessageInfo) -> list[tuple[int, ...]]:
    """Every addressable part number (RFC 3501 §6.4.5), found by probing."""
    out: list[tuple[int, ...]] = []

    def walk(prefix: tuple[int, ...]) -> None:
        n = 1
        while find_part(info, prefix + (n,)) is not None and len(prefix) < 12:
            out.append(prefix + (n,))
            walk(prefix + (n,))
            n += 1

    walk(())
    return out


@pytest.mark.parametrize("path", MESSAGES, ids=IDS)
def test_sections_tile_the_message(path: Path) -> None:
    """MIME header + body of every part are adjacent slices inside the
    message, and the body size is the size BODYSTRUCTURE reports."""
    raw = path.read_bytes()
    info = parse(raw)
    for number in _numbers(info):
        mime = section_range(info, number, "MIME")
        body = section_range(info, number, None)
        assert mime is not None and body is not None
        assert 0 <= mime[0] <= mime[1] == body[0] <= body[1] <= len(raw)


# --- agreement with Dovecot ----------------------------------------------------

#: Messages where we answer differently from Dovecot 2.3.19, on purpose.
DEVIATIONS = {
    # Dovecot rewrites a Content-Type equal to its default as lower case;
    # we keep type, subtype and parameters as sent (issue 3).
    "01-rfc3501-example": {"BODYSTRUCTURE", "BODY"},
    # RFC 9051 §9 (body-type-msg) gives message/global the envelope and
    # body of message/rfc822; Dovecot 2.3 treats it as a basic part.
    "32-message-global": {"BODYSTRUCTURE", "BODY"},
    # "Content-Type: text" is invalid; RFC 2045 §5.2 says use the default
    # text/plain, Dovecot sends an empty subtype.
    "43-invalid-content-type": {"BODYSTRUCTURE", "BODY"},
    # Same for "text; charset=..." and an empty Content-Type, where Dovecot
    # sends "" "" and drops the parameters.
    "51-type-without-subtype-params": {"BODYSTRUCTURE", "BODY"},
    "55-empty-content-type": {"BODYSTRUCTURE", "BODY"},
    # A lone "title*" (RFC 2231 §4, no continuation) stays "title*";
    # Dovecot renames it "title*2*" after the preceding continuation.
    "54-rfc2231-mixed-segments": {"BODYSTRUCTURE", "BODY"},
}


def _tree(data: bytes) -> list[Any]:
    """Parse IMAP response values: strings (quoted or literal) → bytes,
    atoms → bytes, lists → lists."""
    stack: list[list[Any]] = [[]]
    i = 0
    atom = re.compile(rb"[^ ()]+")
    while i < len(data):
        c = data[i : i + 1]
        if c == b" ":
            i += 1
        elif c == b"(":
            stack.append([])
            i += 1
        elif c == b")":
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif c == b'"':
            j, buf = i + 1, bytearray()
            while data[j : j + 1] != b'"':
                if data[j : j + 1] == b"\\":
                    j += 1
                buf += data[j : j + 1]
                j += 1
            stack[-1].append(bytes(buf))
            i = j + 1
        elif c == b"{":
            j = data.index(b"}", i)
            n = int(data[i + 1 : j])
            stack[-1].append(data[j + 3 : j + 3 + n])
            i = j + 3 + n
        else:
            m = atom.match(data, i)
            assert m
            stack[-1].append(m.group())
            i = m.end()
    return stack[0]


DOVECOT: dict[str, str | None] = json.loads((DATA / "dovecot-2.3.19-fetch.json").read_text())


@pytest.mark.parametrize("name", sorted(k for k, v in DOVECOT.items() if v), ids=str)
def test_agrees_with_dovecot(name: str) -> None:
    wire = DOVECOT[name]
    assert wire is not None
    items = _tree(wire.encode("latin-1"))[1]
    theirs = dict(zip(items[::2], items[1::2], strict=False))
    # what a store keeps: bare LF saved as CRLF, as Dovecot saves it
    info = parse(to_crlf((DATA / "messages" / f"{name}.eml").read_bytes()))
    ours = {
        "ENVELOPE": _tree(info.envelope_wire)[0],
        "BODYSTRUCTURE": _tree(info.bodystructure_wire)[0],
        "BODY": _tree(info.body_wire)[0],
    }
    for key, value in ours.items():
        same = value == theirs[key.encode()]
        assert same != (key in DEVIATIONS.get(name, set())), (key, value, theirs[key.encode()])
