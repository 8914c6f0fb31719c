"""UTF8=ACCEPT (RFC 6855) with Python's imaplib over a real socket:
``IMAP4.enable("UTF8=ACCEPT")`` switches imaplib to UTF-8, and the
names and header values it gets back are UTF-8 (not modified UTF-7, not
literals); a second client that did not enable it sees what it always
saw.

imaplib (3.11) wraps APPEND data in ``UTF8 (...)`` *inside* its literal
once UTF-8 is enabled (fixed in later CPython), so mail is appended here
before enabling, or with the ``UTF8 (~{n}...)`` form written by hand.
"""

from __future__ import annotations

import imaplib

from tests.interop.conftest import Account

MSG = "From: Jörg Müller <j@example.com>\r\nSubject: Grüße aus Köln\r\n\r\nbody\r\n".encode()


def _connect(account: Account) -> imaplib.IMAP4:
    c = imaplib.IMAP4(account.host, account.port)
    c.login(account.user, account.password)
    return c


def test_imaplib_with_utf8_enabled(account: Account) -> None:
    c = _connect(account)
    assert "UTF8=ACCEPT" in c.capabilities
    assert c.append("INBOX", "", None, MSG)[0] == "OK"
    typ, data = c.enable("UTF8=ACCEPT")
    assert typ == "OK" and c.untagged_responses.get("ENABLED") == [b"UTF8=ACCEPT"]
    assert c.create('"Entwürfe"')[0] == "OK"
    typ, names = c.list('""', "*")
    assert typ == "OK"
    assert '(\\HasNoChildren) "/" "Entwürfe"'.encode() in names
    assert c.status('"Entwürfe"', "(MESSAGES)") == ("OK", ['"Entwürfe" (MESSAGES 0)'.encode()])
    assert c.select("INBOX") == ("OK", [b"1"])
    typ, data = c.fetch("1", "ENVELOPE")
    assert typ == "OK"
    assert data == ['1 (ENVELOPE (NIL "Grüße aus Köln" (("Jörg Müller" NIL "j" "example.com")) '
                    '(("Jörg Müller" NIL "j" "example.com")) (("Jörg Müller" NIL "j" "example.com")) '
                    'NIL NIL NIL NIL NIL))'.encode()]
    assert c.search(None, "SUBJECT", '"grüße"') == ("OK", [b"1"])
    # RFC 6855 §3: no CHARSET once enabled (imaplib itself refuses to
    # send one in UTF-8 mode, so the command is written by hand).
    tag = c._new_tag()  # type: ignore[attr-defined]
    c.send(tag + b' SEARCH CHARSET UTF-8 SUBJECT "gr\xc3\xbc\xc3\x9fe"\r\n')
    while not (line := c.readline()).startswith(tag):
        pass
    assert line.startswith(tag + b" BAD "), line
    # The UTF8 APPEND data item (RFC 6855 §4), written out by hand.
    body = "Subject: Ünïcödé\r\n\r\nx\r\n".encode()
    tag = c._new_tag()  # type: ignore[attr-defined]
    c.send(tag + b' APPEND "Entw\xc3\xbcrfe" UTF8 (~{%d+}\r\n' % len(body) + body + b")\r\n")
    while not (line := c.readline()).startswith(tag):
        pass
    assert line.startswith(tag + b" OK [APPENDUID "), line
    c.logout()

    other = _connect(account)  # never enabled it: modified UTF-7, literals
    typ, names = other.list('""', "*")
    assert b'(\\HasNoChildren) "/" Entw&APw-rfe' in names
    assert other.select("Entw&APw-rfe", readonly=True) == ("OK", [b"1"])
    typ, data = other.fetch("1", "(ENVELOPE BODY.PEEK[])")
    assert data[0][1] == "Ünïcödé".encode()  # type: ignore[index]  # a literal
    assert data[1][1] == body  # type: ignore[index]
    other.logout()
