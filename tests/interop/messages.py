"""Test messages with their exact expected IMAP views (sizes, sections)."""

from __future__ import annotations

import base64

#: A one-part ASCII message.
SIMPLE = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: Lunch on Friday\r\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
    b"Message-ID: <simple-1@example.org>\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
    b"-- Alice\r\n"
)

#: Raw bytes of the attachment in MULTIPART (base64-encoded on the wire).
ATTACHMENT = bytes(range(256)) * 3

_B64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")

#: The 8-bit UTF-8 text part of MULTIPART, exactly as it is on the wire.
TEXT_PART_BODY = "Grüße aus Köln – ça va? 日本語\r\n".encode()

TEXT_PART_MIME = (
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
)

MULTIPART_HEADER = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.de>\r\n"
    b"To: Alice <alice@example.org>, bob@example.net\r\n"
    b"Cc: carol@example.com\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file\r\n"
    b"Date: Tue, 03 Jan 2023 11:30:00 +0000\r\n"
    b"Message-ID: <multi-1@example.de>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XyZ"\r\n'
    b"\r\n"
)

MULTIPART_TEXT = (
    b"--XyZ\r\n"
    + TEXT_PART_MIME
    + TEXT_PART_BODY
    + b"--XyZ\r\n"
    b'Content-Type: application/octet-stream; name="blob.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="blob.bin"\r\n'
    b"\r\n"
    + _B64
    + b"--XyZ--\r\n"
)

#: multipart/mixed: 8-bit UTF-8 text part and a base64 attachment.
MULTIPART = MULTIPART_HEADER + MULTIPART_TEXT

#: Size of the base64 body of MULTIPART's part 2, as BODYSTRUCTURE counts it.
B64_SIZE = len(_B64)
B64_LINES = _B64.count(b"\n")


def plain(subject: str, body: str = "hello\r\n", sender: str = "x@example.org") -> bytes:
    """A small message with the given Subject."""
    return (
        f"From: {sender}\r\nTo: y@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@example.org>\r\n"
        "Date: Wed, 04 Jan 2023 09:00:00 +0000\r\n\r\n"
    ).encode() + body.encode()
