"""Python's imaplib against a real ``twistd mailframe`` (Maildir store).

RFC 3501 (IMAP4rev1) commands plus UIDPLUS (RFC 4315), MOVE (RFC 6851),
IDLE (RFC 2177) and BINARY (RFC 3516), over real loopback sockets.
"""

from __future__ import annotations

import base64
import imaplib
import re
import time

import pytest
from imapclient.response_parser import parse_fetch_response

from tests.interop import messages as M
from tests.interop.conftest import Account
from tests.interop.imaplib_support import RecordingIMAP4, connect, ok

DATE = '"14-Nov-2023 22:13:20 +0100"'
DATE_TS = 1700000000 - 3600


def test_login_wrong_password_then_right(account: Account) -> None:
    c = connect(account, login=False)
    assert "IMAP4REV1" in c.capabilities
    assert "AUTH=PLAIN" in c.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(account.user, "wrong")
    ok(c.login(account.user, account.password))
    assert c.state == "AUTH"
    for cap in ("IDLE", "UIDPLUS", "MOVE", "UNSELECT", "NAMESPACE", "BINARY", "LITERAL+"):
        assert cap in c.capabilities, cap
    assert c.logout()[0] == "BYE"


def test_authenticate_plain(account: Account) -> None:
    c = connect(account, login=False)
    cred = f"\0{account.user}\0{account.password}".encode()
    ok(c.authenticate("PLAIN", lambda _challenge: cred))
    assert ok(c.select("INBOX")) == [b"0"]
    c.logout()


def test_login_cram_md5(account: Account) -> None:
    c = connect(account, login=False)
    assert "AUTH=CRAM-MD5" in c.capabilities
    ok(c.login_cram_md5(account.user, account.password))
    assert c.state == "AUTH"
    c.logout()


def test_create_list_rename_delete(account: Account) -> None:
    c = connect(account)
    ok(c.create("Projects"))
    ok(c.create("Projects/2023"))
    ok(c.create("Projects/&AMQ-rger"))  # "Ärger" in modified UTF-7
    typ, data = c.create("Projects")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]

    listing = sorted(ok(c.list()))
    assert listing == sorted([
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasChildren) "/" Projects',
        b'(\\HasNoChildren) "/" Projects/2023',
        b'(\\HasNoChildren) "/" Projects/&AMQ-rger',
    ])
    assert sorted(ok(c.list('""', "%"))) == sorted(
        [b'(\\HasNoChildren) "/" INBOX', b'(\\HasChildren) "/" Projects'])
    assert sorted(ok(c.list("Projects/", "%"))) == sorted([
        b'(\\HasNoChildren) "/" Projects/2023',
        b'(\\HasNoChildren) "/" Projects/&AMQ-rger',
    ])
    # LIST "" "" asks for the hierarchy delimiter (RFC 3501 6.3.8).
    assert ok(c.list('""', '""')) == [b'(\\Noselect) "/" ""']

    ok(c.subscribe("Projects/2023"))
    assert ok(c.lsub('""', "*")) == [b'() "/" Projects/2023']

    ok(c.rename("Projects", "Archive"))
    assert sorted(ok(c.list())) == sorted([
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasChildren) "/" Archive',
        b'(\\HasNoChildren) "/" Archive/2023',
        b'(\\HasNoChildren) "/" Archive/&AMQ-rger',
    ])
    typ, data = c.select("Projects/2023")
    assert typ == "NO" and b"[NONEXISTENT]" in bytes(data[0] or b"")

    ok(c.delete("Archive/&AMQ-rger"))
    ok(c.delete("Archive/2023"))
    ok(c.delete("Archive"))
    assert ok(c.list()) == [b'(\\HasNoChildren) "/" INBOX']
    typ, data = c.delete("Archive")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    c.logout()


def test_append_literal_8bit_flags_date_and_select(account: Account) -> None:
    c = connect(account)
    typ, data = c.append("INBOX", r"(\Seen $Label1)", DATE, M.MULTIPART)
    assert typ == "OK"
    m = re.match(rb"\[APPENDUID (\d+) 1\]", data[0])
    assert m, data
    uidvalidity = int(m.group(1))
    ok(c.append("INBOX", None, None, M.SIMPLE))
    assert ok(c.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")) == [
        b"INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY %d UNSEEN 1)" % uidvalidity
    ]
    c.take()
    assert ok(c.select("INBOX")) == [b"2"]
    lines = c.take()
    assert b"* 2 EXISTS" in lines
    assert b"* 2 RECENT" in lines
    assert any(line.startswith(b"* OK [UIDVALIDITY %d]" % uidvalidity) for line in lines)
    assert any(line.startswith(b"* OK [UIDNEXT 3]") for line in lines)
    assert any(line.startswith(b"* OK [UNSEEN 2]") for line in lines)
    flags = [line for line in lines if line.startswith(b"* FLAGS ")]
    assert len(flags) == 1 and b"$Label1" in flags[0] and b"\\Seen" in flags[0]
    perm = [line for line in lines if b"[PERMANENTFLAGS" in line]
    assert len(perm) == 1 and b"\\*" in perm[0] and b"$Label1" in perm[0]
    assert lines[-1].split(b" ", 1)[1].startswith(b"OK [READ-WRITE]")

    # The stored message is byte-identical, with its flags and date.
    fetched = ok(c.uid("FETCH", "1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"))
    head: bytes = fetched[0][0]
    flag_match = re.search(rb"FLAGS \(([^)]*)\)", head)
    assert flag_match is not None
    assert sorted(flag_match.group(1).split()) == sorted([b"\\Recent", b"\\Seen", b"$Label1"])
    assert b"RFC822.SIZE %d" % len(M.MULTIPART) in head
    assert fetched[0][1] == M.MULTIPART
    internal = imaplib.Internaldate2tuple(head)
    assert internal is not None and time.mktime(internal) == pytest.approx(
        time.mktime(time.localtime(DATE_TS)))

    # EXAMINE: read-only, and \Recent already claimed by the first session.
    c2 = connect(account)
    assert ok(c2.select("INBOX", readonly=True)) == [b"2"]
    lines = c2.take()
    assert b"* 0 RECENT" in lines
    assert lines[-1].split(b" ", 1)[1].startswith(b"OK [READ-ONLY]")
    typ, _ = c2.store("1", "+FLAGS", "\\Flagged")
    assert typ == "NO"
    c2.logout()
    c.logout()


@pytest.fixture
def loaded(account: Account) -> RecordingIMAP4:
    """A session with SIMPLE (uid 1) and MULTIPART (uid 2) in INBOX, selected."""
    c = connect(account)
    ok(c.append("INBOX", None, None, M.SIMPLE))
    ok(c.append("INBOX", r"(\Flagged)", DATE, M.MULTIPART))
    ok(c.select("INBOX"))
    c.take()
    return c


def test_fetch_envelope_bodystructure_body_exact(loaded: RecordingIMAP4) -> None:
    ok(loaded.fetch("1:2", "(ENVELOPE BODYSTRUCTURE BODY)"))
    lines = loaded.untagged()
    assert lines == [
        b'* 1 FETCH (ENVELOPE ("Mon, 02 Jan 2023 10:00:00 +0100" "Lunch on Friday" '
        b'(("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) '
        b'(("Alice Example" NIL "alice" "example.org")) ((NIL NIL "bob" "example.net")) NIL NIL NIL '
        b'"<simple-1@example.org>") '
        b'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2 NIL NIL NIL NIL) '
        b'BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2))',
        b'* 2 FETCH (ENVELOPE ("Tue, 03 Jan 2023 11:30:00 +0000" "=?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file" '
        b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.de")) '
        b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.de")) '
        b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.de")) '
        b'(("Alice" NIL "alice" "example.org")(NIL NIL "bob" "example.net")) '
        b'((NIL NIL "carol" "example.com")) NIL NIL "<multi-1@example.de>") '
        b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 39 0 NIL NIL NIL NIL)'
        b'("application" "octet-stream" ("name" "blob.bin") NIL NIL "base64" %d NIL '
        b'("attachment" ("filename" "blob.bin")) NIL NIL) "mixed" ("boundary" "XyZ") NIL NIL NIL) '
        b'BODY (("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 39 0)'
        b'("application" "octet-stream" ("name" "blob.bin") NIL NIL "base64" %d) "mixed"))'
        % (M.B64_SIZE - 2, M.B64_SIZE - 2),
    ]


def test_fetch_sections_and_partials(loaded: RecordingIMAP4) -> None:
    c = loaded
    data = ok(c.fetch("2", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[1] BODY.PEEK[1.MIME] "
                           "BODY.PEEK[2.MIME] BODY.PEEK[]<0.20> BODY.PEEK[1]<6.9>)"))
    items = parse_fetch_response(data, True, False)[2]
    assert items[b"BODY[HEADER]"] == M.MULTIPART_HEADER
    assert items[b"BODY[TEXT]"] == M.MULTIPART_TEXT
    assert items[b"BODY[1]"] == M.TEXT_PART_BODY[:-2]
    assert items[b"BODY[1.MIME]"] == M.TEXT_PART_MIME
    assert items[b"BODY[2.MIME]"] == (
        b'Content-Type: application/octet-stream; name="blob.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="blob.bin"\r\n\r\n')
    assert items[b"BODY[]<0>"] == M.MULTIPART[:20]
    assert items[b"BODY[1]<6>"] == M.TEXT_PART_BODY[6:15]
    # A partial past the end is empty; one running over the end is cut.
    data = ok(c.fetch("1", "(BODY.PEEK[TEXT]<0.5> BODY.PEEK[TEXT]<30.100> BODY.PEEK[TEXT]<999.5>)"))
    items = parse_fetch_response(data, True, False)[1]
    assert items[b"BODY[TEXT]<0>"] == b"Shall"
    assert items[b"BODY[TEXT]<30>"] == b"ce\r\n"
    assert items[b"BODY[TEXT]<999>"] == b""

    data = ok(c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (Subject From)])"))
    assert data[0][1] == (
        b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.de>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file\r\n\r\n"
    )
    data = ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (From To Date Message-ID)])"))
    assert data[0][1] == b"Subject: Lunch on Friday\r\n\r\n"

    # BINARY decodes the base64 attachment (RFC 3516).
    data = ok(c.fetch("2", "(BINARY.PEEK[2] BINARY.SIZE[2])"))
    assert data[0][1] == M.ATTACHMENT
    assert data[1] == b" BINARY.SIZE[2] %d)" % len(M.ATTACHMENT)
    # Nothing above was a non-PEEK fetch: \Seen is still unset.
    assert ok(c.fetch("1:2", "(FLAGS)")) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Flagged \\Recent))"]


def test_fetch_rfc822_items_uid_and_seen(loaded: RecordingIMAP4) -> None:
    c = loaded
    data = ok(c.fetch("1", "(UID RFC822.SIZE RFC822.HEADER)"))
    assert data[0][0] == b"1 (UID 1 RFC822.SIZE %d RFC822.HEADER {%d}" % (
        len(M.SIMPLE), M.SIMPLE.index(b"\r\n\r\n") + 4)
    assert data[0][1] == M.SIMPLE[: M.SIMPLE.index(b"\r\n\r\n") + 4]
    data = ok(c.fetch("1", "(RFC822.TEXT)"))
    assert data[0][1] == b"Shall we meet at noon?\r\n-- Alice\r\n"
    # RFC822.TEXT sets \Seen (RFC 3501 6.4.5), reported with the FETCH.
    assert b"\\Seen" in b"".join(x if isinstance(x, bytes) else x[0] for x in data)
    data = ok(c.fetch("2", "(RFC822)"))
    assert data[0][1] == M.MULTIPART
    assert ok(c.fetch("2", "(FLAGS)")) == [b"2 (FLAGS (\\Flagged \\Seen \\Recent))"]
    ok(c.store("1:2", "-FLAGS.SILENT", "\\Seen"))
    data = ok(c.uid("FETCH", "2", "(BODY[1])"))
    assert data[0][1] == M.TEXT_PART_BODY[:-2]
    assert ok(c.uid("FETCH", "1:*", "(FLAGS)")) == [
        b"1 (UID 1 FLAGS (\\Recent))", b"2 (UID 2 FLAGS (\\Flagged \\Seen \\Recent))"]
    c.logout()


def test_search_keys(account: Account) -> None:
    c = connect(account)
    ok(c.append("INBOX", None, None, M.SIMPLE))                        # 1
    ok(c.append("INBOX", r"(\Seen)", None, M.MULTIPART))               # 2
    ok(c.append("INBOX", r"(\Flagged $Work)", None, M.plain("Report", "numbers inside\r\n")))  # 3
    ok(c.append("INBOX", r"(\Seen \Answered)", None, M.plain("Re: Lunch", "yes\r\n", "bob@example.net")))  # 4
    ok(c.select("INBOX"))

    def search(*criteria: str) -> list[int]:
        return [int(n) for n in ok(c.search(None, *criteria))[0].split()]

    assert search("ALL") == [1, 2, 3, 4]
    assert search("SUBJECT", "lunch") == [1, 4]
    assert search("FROM", "alice") == [1]
    assert search("UNSEEN") == [1, 3]
    assert search("SEEN", "ANSWERED") == [4]
    assert search("KEYWORD", "$Work") == [3]
    assert search("UNKEYWORD", "$Work") == [1, 2, 4]
    assert search("OR", "FLAGGED", "ANSWERED") == [3, 4]
    assert search("NOT", "OR", "FLAGGED", "ANSWERED") == [1, 2]
    assert search("OR", "(SUBJECT lunch NOT FROM bob)", "KEYWORD", "$Work") == [1, 3]
    assert search("BODY", "numbers") == [3]
    assert search("TEXT", "example.de") == [2]
    assert search("HEADER", "Message-ID", "multi-1") == [2]
    assert search("LARGER", "1000") == [2]
    assert search("SMALLER", "1000") == [1, 3, 4]
    assert search("2:3") == [2, 3]
    assert search("UID", "3:*") == [3, 4]
    assert search("SENTBEFORE", "03-Jan-2023") == [1]
    assert search("SENTON", "04-Jan-2023") == [3, 4]
    assert search("CC", "carol") == [2]
    assert search("TO", "bob@example.net") == [1, 2]
    assert search("NEW") == [1, 3]
    # Encoded-word subjects match in their decoded form (RFC 3501 6.4.4).
    c.literal = "Grüße".encode()  # type: ignore[assignment]
    assert ok(c.search("UTF-8", "SUBJECT")) == [b"2"]
    c.literal = "Köln".encode()  # type: ignore[assignment]
    assert ok(c.uid("SEARCH", "CHARSET", "UTF-8", "BODY")) == [b"2"]
    ok(c.store("1", "+FLAGS", "\\Deleted"))
    assert ok(c.uid("SEARCH", "DELETED")) == [b"1"]
    c.logout()


def test_search_unknown_charset_is_no_badcharset(account: Account) -> None:
    """An unsupported charset gets a tagged NO [BADCHARSET], not BAD
    (RFC 3501 6.4.4)."""
    c = connect(account)
    ok(c.select("INBOX"))
    for charset in ("X-UNKNOWN-CHARSET", "ROT13"):
        c.take()
        tag = c._command("SEARCH", "CHARSET", charset, "ALL")
        try:
            c._get_tagged_response(tag)
        except imaplib.IMAP4.error:
            pass
        assert c.take()[-1].startswith(tag + b" NO [BADCHARSET (US-ASCII UTF-8)]")
    c.logout()


def test_search_charset_iso_8859_1(account: Account) -> None:
    """SEARCH CHARSET takes any charset Python decodes (Dovecot takes any
    iconv knows): a Latin-1 literal finds the encoded-word subject and
    the UTF-8 body, the same messages as the UTF-8 search."""
    c = connect(account)
    ok(c.append("INBOX", None, None, M.plain("=?utf-8?q?caf=C3=A9?=", "nothing\r\n")))
    ok(c.append("INBOX", None, None, M.plain("other", "un caf\u00e9 noir\r\n")))
    ok(c.append("INBOX", None, None, M.plain("cafe", "no accent\r\n")))
    ok(c.select("INBOX"))
    for charset, codec in (("ISO-8859-1", "latin-1"), ("UTF-8", "utf-8")):
        c.literal = "caf\u00e9".encode(codec)
        assert ok(c.search(charset, "SUBJECT")) == [b"1"]
        c.literal = "CAF\u00c9".encode(codec)
        assert ok(c.search(charset, "BODY")) == [b"2"]
    c.logout()


def test_store_flags_and_keywords(loaded: RecordingIMAP4) -> None:
    c = loaded
    assert ok(c.store("1", "+FLAGS", r"(\Seen $Todo)")) == [b"1 (FLAGS (\\Seen \\Recent $Todo))"]
    assert ok(c.store("1", "-FLAGS", r"\Seen")) == [b"1 (FLAGS (\\Recent $Todo))"]
    assert ok(c.fetch("1", "(FLAGS)")) == [b"1 (FLAGS (\\Recent $Todo))"]
    assert ok(c.store("1:2", "FLAGS", r"(\Answered \Draft)")) == [
        b"1 (FLAGS (\\Answered \\Draft \\Recent))", b"2 (FLAGS (\\Answered \\Draft \\Recent))"]
    c.take()
    assert ok(c.store("2", "+FLAGS.SILENT", r"(\Flagged NonJunk)")) == [None]
    assert not [line for line in c.take() if b"FETCH" in line]
    assert ok(c.uid("STORE", "2", "-FLAGS", r"(\Draft)")) == [
        b"2 (UID 2 FLAGS (\\Answered \\Flagged \\Recent NonJunk))"]
    # Keywords are now in the mailbox's FLAGS on the next SELECT.
    c.take()
    ok(c.select("INBOX"))
    flags = [line for line in c.take() if line.startswith(b"* FLAGS")][0]
    assert b"NonJunk" in flags
    c.logout()


def test_copy_move_expunge_uid_expunge(loaded: RecordingIMAP4) -> None:
    c = loaded
    ok(c.create("Saved"))
    typ, data = c.copy("1:2", "Saved")
    assert typ == "OK"
    m = re.match(rb"\[COPYUID (\d+) 1:2 1:2\]", data[0])
    assert m, data
    typ, data = c.copy("1", "Missing")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]

    c.take()
    typ, data = c._simple_command("MOVE", "1", "Saved")
    assert typ == "OK"
    lines = c.take()
    assert any(re.match(rb"\* OK \[COPYUID \d+ 1 3\]", line) for line in lines), lines
    assert b"* 1 EXPUNGE" in lines
    assert ok(c.fetch("1:*", "(UID)")) == [b"1 (UID 2)"]

    ok(c.select("Saved"))
    got = parse_fetch_response(
        ok(c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")), True, True)
    assert {uid: v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"] for uid, v in got.items()} == {
        1: b"Message-ID: <simple-1@example.org>\r\n\r\n",
        2: b"Message-ID: <multi-1@example.de>\r\n\r\n",
        3: b"Message-ID: <simple-1@example.org>\r\n\r\n",
    }
    ok(c.store("1:3", "+FLAGS.SILENT", "\\Deleted"))
    c.take()
    # UID EXPUNGE removes only the given UIDs (RFC 4315 2.1).
    ok(c.uid("EXPUNGE", "2"))
    assert [line for line in c.take() if b"EXPUNGE" in line] == [b"* 2 EXPUNGE"]
    ok(c.store("1", "-FLAGS.SILENT", "\\Deleted"))
    c.take()
    ok(c.expunge())
    assert [line for line in c.take() if b"EXPUNGE" in line] == [b"* 2 EXPUNGE"]
    assert ok(c.uid("SEARCH", "ALL")) == [b"1"]
    # CLOSE expunges silently; UNSELECT does not expunge.
    ok(c.store("1", "+FLAGS.SILENT", "\\Deleted"))
    ok(c.unselect())
    assert ok(c.status("Saved", "(MESSAGES)")) == [b"Saved (MESSAGES 1)"]
    ok(c.select("Saved"))
    c.take()
    ok(c.close())
    assert not [line for line in c.take() if b"EXPUNGE" in line]
    assert ok(c.status("Saved", "(MESSAGES)")) == [b"Saved (MESSAGES 0)"]
    c.logout()


def test_idle_sees_append_from_other_connection(account: Account) -> None:
    """The EXISTS is pushed during IDLE (its latency: bench/bench_idle.py)."""
    watcher = connect(account)
    ok(watcher.select("INBOX"))
    watcher.send(b"I1 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")
    other = connect(account)
    ok(other.append("INBOX", None, None, M.SIMPLE))
    watcher.sock.settimeout(10.0)
    got = watcher.readline()
    assert got == b"* 1 EXISTS\r\n"
    rest = watcher.readline()
    assert rest == b"* 1 RECENT\r\n"
    watcher.sock.settimeout(5.0)
    watcher.send(b"DONE\r\n")
    assert watcher.readline().startswith(b"I1 OK")
    other.logout()
    watcher.logout()


def test_two_sessions_flags_and_expunge_rules(account: Account) -> None:
    a = connect(account)
    b = connect(account)
    for i in range(3):
        ok(a.append("INBOX", None, None, M.plain(f"msg {i}")))
    ok(a.select("INBOX"))
    ok(b.select("INBOX"))
    a.take()
    b.take()
    # \Recent belongs to exactly one session (RFC 3501 2.3.2).
    assert ok(a.search(None, "RECENT")) == [b"1 2 3"]
    assert ok(b.search(None, "RECENT")) == [b""]

    ok(b.store("2", "+FLAGS", "\\Flagged"))
    ok(a.noop())
    assert [line for line in a.take() if b"FETCH" in line] == [b"* 2 FETCH (FLAGS (\\Flagged \\Recent))"]

    ok(b.store("1", "+FLAGS.SILENT", "\\Deleted"))
    ok(b.expunge())
    # A: no EXPUNGE during FETCH, STORE or SEARCH (RFC 3501 7.4.1); the
    # sequence numbers stay as A knows them.
    assert ok(a.fetch("2:3", "(UID)")) == [b"2 (UID 2)", b"3 (UID 3)"]
    # The expunged message 1 may still be fetched or answered NO
    # [EXPUNGEISSUED] (RFC 2180 4.1.2/4.1.3) -- but never with an EXPUNGE.
    typ, answer = a.fetch("1", "(UID)")
    assert typ == "OK" or b"[EXPUNGEISSUED]" in answer[0], answer  # type: ignore[operator]
    ok(a.store("3", "+FLAGS", "\\Answered"))
    ok(a.search(None, "ALL"))
    assert not [line for line in a.take() if line.startswith(b"* ") and line.endswith(b"EXPUNGE")]
    ok(a.noop())
    lines = a.take()
    assert b"* 1 EXPUNGE" in lines
    assert ok(a.fetch("1:*", "(UID FLAGS)")) == [
        b"1 (UID 2 FLAGS (\\Flagged \\Recent))", b"2 (UID 3 FLAGS (\\Answered \\Recent))"]
    b.take()
    ok(b.noop())
    assert [line for line in b.take() if b"FETCH" in line] == [b"* 2 FETCH (FLAGS (\\Answered))"]
    # New mail appended by B shows up for A on NOOP.
    ok(b.append("INBOX", None, None, M.plain("late")))
    ok(a.noop())
    assert b"* 3 EXISTS" in a.take()
    a.logout()
    b.logout()


def test_base64_bodystructure_size_matches_section(loaded: RecordingIMAP4) -> None:
    data = ok(loaded.fetch("2", "(BODY.PEEK[2])"))
    assert base64.b64decode(data[0][1]) == M.ATTACHMENT
    assert len(data[0][1]) == M.B64_SIZE - 2
    loaded.logout()
