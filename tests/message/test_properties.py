"""Property tests.

* For random MIME trees built and serialised by the stdlib ``email``
  package, every ``BODY[section]`` we serve equals the bytes of that part as
  the stdlib parser sees them, and ``BINARY[section]`` equals its decoded
  payload.
* Arbitrary bytes (and mutated corpus messages) never make the library
  raise, and every range it hands out lies inside the message.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailframe.errors import UnknownCTE
from mailframe.message import (
    MessageInfo,
    binary_size,
    body_matches,
    decode_binary,
    find_part,
    header_fields,
    header_matches,
    parse,
    part_header_range,
    section_range,
    text_matches,
)

from .test_corpus import _tree

CORPUS = [
    p.read_bytes()
    for p in sorted((Path(__file__).parent.parent / "data" / "messages").glob("*.eml"))
]

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r")
    | st.just("\n"),
    max_size=200,
)


@st.composite
def leaf(draw: st.DrawFn) -> EmailMessage:
    msg = EmailMessage()
    if draw(st.booleans()):
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "us-ascii"]))
        text = draw(_text)
        if charset != "utf-8":
            text = text.encode(charset, "replace").decode(charset)
        cte = draw(st.sampled_from(["quoted-printable", "base64", "7bit", "8bit"]))
        if cte == "7bit" and (charset != "us-ascii" or not text.isascii()):
            cte = "quoted-printable"
        msg.set_content(
            text, subtype=draw(st.sampled_from(["plain", "html"])), charset=charset, cte=cte
        )
    else:
        data = draw(st.binary(max_size=300))
        msg.set_content(data, maintype="application", subtype="octet-stream", filename="f.bin")
    return msg


def tree(depth: int) -> st.SearchStrategy[EmailMessage]:
    if depth == 0:
        return leaf()
    return st.one_of(leaf(), multipart(depth), rfc822(depth))


@st.composite
def multipart(draw: st.DrawFn, depth: int) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "multi"
    kids = draw(st.lists(tree(depth - 1), min_size=1, max_size=4))
    msg.make_mixed()
    for kid in kids:
        msg.attach(kid)
    return msg


@st.composite
def rfc822(draw: st.DrawFn, depth: int) -> EmailMessage:
    inner = draw(tree(depth - 1))
    del inner["Subject"]
    inner["Subject"] = "inner"
    inner["From"] = "a@example.com"
    outer = EmailMessage()
    outer.set_content(inner)
    return outer


def _parts(
    msg: Message, prefix: tuple[int, ...], out: dict[tuple[int, ...], Message], top: bool
) -> None:
    """RFC 3501 §6.4.5 part numbers of a stdlib message tree."""
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        for i, kid in enumerate(msg.get_payload(), 1):
            number = prefix + (i,)
            out[number] = kid
            _inner(kid, number, out)
    elif top:
        out[prefix + (1,)] = msg


def _inner(part: Message, number: tuple[int, ...], out: dict[tuple[int, ...], Message]) -> None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()[0]  # type: ignore[index]
        _parts(inner, number, out, top=True)  # type: ignore[arg-type]
    elif part.get_content_maintype() == "multipart":
        _parts(part, number, out, top=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree(3), st.sampled_from(["\r\n", "\n"]))
def test_sections_equal_stdlib_parts(msg: EmailMessage, linesep: str) -> None:
    msg["From"] = "x@example.com"
    policy = email.policy.default.clone(linesep=linesep)
    raw = msg.as_bytes(policy=policy)
    info = parse(raw)
    # MIME header + body of every part is that part as the generator wrote it
    originals: dict[tuple[int, ...], Message] = {}
    _parts(msg, (), originals, top=True)
    for number, original in originals.items():
        mime = section_range(info, number, "MIME")
        whole = section_range(info, number, None)
        assert mime is not None and whole is not None, number
        assert raw[mime[0] : whole[1]] == original.as_bytes(policy=policy), number
    oracle = email.message_from_bytes(raw, policy=email.policy.compat32)
    numbers: dict[tuple[int, ...], Message] = {}
    _parts(oracle, (), numbers, top=True)
    assert numbers
    for number, part in numbers.items():
        rng = section_range(info, number, None)
        assert rng is not None, number
        served = raw[rng[0] : rng[1]]
        if part.is_multipart():
            continue  # containers: their children are checked instead
        payload = part.get_payload(decode=False)
        assert isinstance(payload, str)
        # compat32 hands 8-bit payloads back decoded with the part's charset
        charset = part.get_content_charset() or "ascii"
        assert served == payload.encode(charset, "surrogateescape"), number
        decoded = part.get_payload(decode=True)
        assert decode_binary(info, number, served) == decoded, number
        assert binary_size(info, number, served) == len(decoded)


def _check_invariants(raw: bytes, info: MessageInfo) -> None:
    assert info.size == len(raw)
    assert raw.startswith(info.header)
    _tree(info.envelope_wire)
    _tree(info.bodystructure_wire)
    _tree(info.body_wire)
    assert MessageInfo.load(info.dump()) == info
    stack: list[tuple[int, ...]] = [()]
    seen = 0
    while stack and seen < 200:
        number = stack.pop()
        seen += 1
        for text in (None, "HEADER", "TEXT", "MIME"):
            rng = section_range(info, number, text)
            if rng is not None:
                assert 0 <= rng[0] <= rng[1] <= len(raw)
        hdr = part_header_range(info, number)
        if hdr is not None:
            header_fields(raw[hdr[0] : hdr[1]], ("SUBJECT", "FROM"), False)
            header_fields(raw[hdr[0] : hdr[1]], ("SUBJECT",), True)
        if number:
            rng = section_range(info, number, None)
            assert rng is not None
            try:
                decode_binary(info, number, raw[rng[0] : rng[1]])
            except UnknownCTE:
                pass
        for i in range(1, 4):
            if find_part(info, number + (i,)) is not None and len(number) < 8:
                stack.append(number + (i,))
    header_matches(info, "subject", "a")
    body_matches(info, raw, "a")
    text_matches(info, raw, "é")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _check_invariants(raw, parse(raw))


_MIME_BITS = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--b\r\n",
    b"--b--\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"=?utf-8?b?",
    b"?=",
    b'"',
    b"(",
    b"<",
    b":",
    b";",
    b"=",
    b"\xff",
    b" ",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_MIME_BITS) | st.binary(max_size=8), max_size=60))
def test_mime_shaped_noise_never_raises(bits: list[bytes]) -> None:
    raw = b"".join(bits)
    _check_invariants(raw, parse(raw))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CORPUS), st.data())
def test_mutated_corpus_never_raises(raw: bytes, data: st.DataObject) -> None:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        if not buf:
            break
        at = data.draw(st.integers(0, len(buf) - 1))
        op = data.draw(st.sampled_from(["del", "ins", "flip", "cut"]))
        if op == "del":
            del buf[at : at + data.draw(st.integers(1, 20))]
        elif op == "ins":
            buf[at:at] = data.draw(st.sampled_from(_MIME_BITS))
        elif op == "flip":
            buf[at] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del buf[at:]
    raw = bytes(buf)
    _check_invariants(raw, parse(raw))
