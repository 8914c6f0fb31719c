"""Regenerate the Dovecot reference answers in ``tests/data/``.

Not a test: run by hand against a Dovecot on a loopback port, e.g. with
``apt-get install dovecot-imapd`` and a config like::

    protocols = imap
    listen = 127.0.0.1
    ssl = no
    disable_plaintext_auth = no
    mail_location = maildir:/tmp/dv/home/Maildir
    passdb { driver = static
             args = password=pass }
    userdb { driver = static
             args = uid=dovecot gid=dovecot home=/tmp/dv/home }
    service imap-login { inet_listener imap { address = 127.0.0.1
                                              port = 14399 } }

then ``python -m tests.message.dovecot_reference 127.0.0.1 14399``.  It
APPENDs every corpus message and records ENVELOPE / BODYSTRUCTURE / BODY
(``dovecot-<version>-fetch.json``) and, for CRLF messages, every section of
every part number plus one missing number per level
(``dovecot-<version>-sections.json``).
"""

from __future__ import annotations

import imaplib
import json
import re
import sys
from pathlib import Path
from typing import Any

from mailframe.message import MessageInfo, find_part, parse

DATA = Path(__file__).parent.parent / "data"


def _numbers(info: MessageInfo) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []

    def walk(prefix: tuple[int, ...]) -> None:
        n = 1
        while find_part(info, prefix + (n,)) is not None and len(prefix) < 10:
            out.append(prefix + (n,))
            walk(prefix + (n,))
            n += 1
        out.append(prefix + (n,))  # one that does not exist

    walk(())
    return out


_VALUE = re.compile(
    rb'(?:BODY|BINARY|BINARY\.SIZE)\[[^\]]*\](?:<\d+>)? (NIL|\d+|"(?:[^"\\]|\\.)*")'
)


def _value(data: list[Any]) -> str | int | None:
    for x in data:
        if isinstance(x, tuple):
            return x[1].decode("latin-1")  # type: ignore[no-any-return]
    line = b"".join(x for x in data if isinstance(x, bytes))
    m = _VALUE.search(line)
    if not m:
        return "??" + line.decode("latin-1")
    v = m.group(1)
    if v == b"NIL":
        return None
    if v.isdigit():
        return int(v)
    return re.sub(rb"\\(.)", rb"\1", v[1:-1]).decode("latin-1")


#: (search key, needle) pairs whose UID SEARCH answers are recorded.
SEARCHES = [
    ("SUBJECT", "café"),
    ("SUBJECT", "Übergrößenträgår"),
    ("SUBJECT", "こんにちは"),
    ("SUBJECT", "привет мир"),
    ("SUBJECT", "€uro"),
    ("SUBJECT", "grüße aus"),
    ("SUBJECT", "second"),
    ("SUBJECT", "first"),
    ("SUBJECT", ""),
    ("FROM", "andré"),
    ("FROM", "jürgen"),
    ("FROM", "pete"),
    ("FROM", "MISSING"),
    ("TO", "keld jørn"),
    ("TO", "undisclosed"),
    ("BCC", ""),
    ("CC", "team"),
    ("HEADER MESSAGE-ID", "child@"),
    ("HEADER X-LONG", "y y"),
    ("HEADER CONTENT-TYPE", "multipart"),
    ("BODY", "hello wörld"),
    ("BODY", "café crème"),
    ("BODY", "привет"),
    ("BODY", "html version"),
    ("BODY", "5 €"),
    ("BODY", "color: red"),
    ("BODY", "original html"),
    ("BODY", "alice"),
    ("BODY", "afternoon"),
    ("BODY", "soft break"),
    ("BODY", "cmVwb3J0"),
    ("BODY", "part 3.2 = qp"),
    ("BODY", "grüße"),
    ("BODY", "ünïcödé"),
    ("BODY", "version: 1"),
    ("BODY", "final-recipient"),
    ("BODY", "lf part"),
    ("BODY", "PART 4.2.2.2"),
    ("TEXT", "afternoon meeting"),
    ("TEXT", "alice@example.org"),
    ("TEXT", "subject:"),
    ("TEXT", "m1-inner"),
    ("TEXT", "hallo zoë"),
    ("TEXT", "content-type: text/plain"),
]


def main(host: str, port: int, version: str = "2.3.19") -> None:
    c = imaplib.IMAP4(host, port)
    c.login("t", "pass")
    for box in ("ref",):
        try:
            c.delete(box)
        except imaplib.IMAP4.error:
            pass
        c.create(box)
    c.select("ref")
    fetched: dict[str, str | None] = {}
    sections: dict[str, dict[str, Any]] = {}
    uid = 0
    for eml in sorted((DATA / "messages").glob("*.eml")):
        raw = eml.read_bytes()
        typ, _ = c.append("ref", None, None, raw)
        if typ != "OK":
            fetched[eml.stem] = None
            continue
        uid += 1
        typ, data = c.uid("FETCH", str(uid), "(ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE)")
        wire = b"".join(x[0] + b"\r\n" + x[1] if isinstance(x, tuple) else x for x in data)
        fetched[eml.stem] = wire.decode("latin-1")
        if raw.count(b"\n") != raw.count(b"\r\n"):
            continue  # Dovecot rewrites bare LF: sections would not compare
        items = [
            "BODY.PEEK[]",
            "BODY.PEEK[HEADER]",
            "BODY.PEEK[TEXT]",
            "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
            "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)]",
            "BINARY.PEEK[]",
            "BINARY.SIZE[]",
            "BODY.PEEK[]<5.10>",
            "BODY.PEEK[TEXT]<3.1000000>",
        ]
        for p in _numbers(parse(raw)):
            s = ".".join(map(str, p))
            items += [
                f"BODY.PEEK[{s}]",
                f"BODY.PEEK[{s}.MIME]",
                f"BODY.PEEK[{s}.HEADER]",
                f"BODY.PEEK[{s}.TEXT]",
                f"BINARY.PEEK[{s}]",
                f"BINARY.SIZE[{s}]",
                f"BODY.PEEK[{s}.HEADER.FIELDS (SUBJECT)]",
            ]
        res: dict[str, Any] = {}
        for it in items:
            try:
                typ, data = c.uid("FETCH", str(uid), f"({it})")
            except imaplib.IMAP4.abort as e:  # Dovecot hangs up on bad base64
                res[it] = f"ERROR {e}"
                c = imaplib.IMAP4(host, port)
                c.login("t", "pass")
                c.select("ref")
                continue
            ok = typ == "OK"
            res[it] = (
                _value(data)
                if ok
                else "ERROR " + " ".join(x.decode() for x in data if isinstance(x, bytes))
            )
        sections[eml.stem] = res
    searches: dict[str, list[str] | None] = {}
    names = [name for name, wire in fetched.items() if wire is not None]
    for key, needle in SEARCHES:
        query = f'{key} "{needle}"'.encode()
        typ, data = c.uid("SEARCH", "CHARSET", "UTF-8", query)  # type: ignore[arg-type]
        uids = [int(x) for x in data[0].split()] if typ == "OK" and data[0] else []
        searches[f"{key} {needle}"] = sorted(names[u - 1] for u in uids) if typ == "OK" else None
    c.logout()
    (DATA / f"dovecot-{version}-search.json").write_text(
        json.dumps(searches, indent=0, ensure_ascii=False)
    )
    (DATA / f"dovecot-{version}-fetch.json").write_text(json.dumps(fetched, indent=0))
    (DATA / f"dovecot-{version}-sections.json").write_text(
        json.dumps(sections, indent=0, sort_keys=True)
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
