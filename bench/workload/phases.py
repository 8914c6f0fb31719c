"""The benchmark phases (issue 7), each timed and each checking its
answers against the corpus so that a fast wrong answer shows as WRONG.

Every phase returns a :class:`PhaseResult`; :func:`run_workload` runs them
in order against one server given host, port, user and password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .client import Client, ImapError, Response, Result, quote
from .corpus import (
    BASE_DATE,
    BODY_TOKENS,
    KIND_ALTERNATIVE,
    KIND_ATTACHMENT,
    SUBJECT_TOKENS,
    Corpus,
)
from .latency import Latencies, Probe
from .memory import raise_nofile, tree_memory_kb

FETCH_SEQ = re.compile(rb"^\* (\d+) FETCH ", re.I)
SIZE = re.compile(rb"RFC822\.SIZE (\d+)", re.I)
UID = re.compile(rb"\bUID (\d+)", re.I)
FLAGS = re.compile(rb"FLAGS \(([^)]*)\)", re.I)
INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"', re.I)
SEARCH = re.compile(rb"^\* SEARCH ?(.*)$", re.I)
EXISTS = re.compile(rb"^\* (\d+) EXISTS", re.I | re.M)

HEADER_SYNC = (b"FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
               b"BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])")


@dataclass
class PhaseResult:
    """One phase's figure.  ``higher_is_better`` is False for costs (ms,
    KB); ``status`` is ``ok``, ``WRONG: why`` or ``ERROR: why``."""

    name: str
    value: float | None
    unit: str
    status: str = "ok"
    higher_is_better: bool = True
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Wrong(Exception):
    """A phase's answer did not match the corpus."""


def internal_date(index: int) -> datetime:
    return BASE_DATE + timedelta(minutes=7 * index)


def imap_date(index: int) -> bytes:
    """RFC 3501 date-time for APPEND."""
    return internal_date(index).strftime('"%d-%b-%Y %H:%M:%S %z"').encode()


def parse_imap_date(text: bytes) -> datetime:
    return datetime.strptime(text.decode().strip(), "%d-%b-%Y %H:%M:%S %z")


def fetches(result: Result) -> dict[int, list[Response]]:
    """Untagged FETCH responses by sequence number (several per number
    are possible when the server adds unsolicited flag updates)."""
    out: dict[int, list[Response]] = {}
    for response in result.untagged:
        match = FETCH_SEQ.match(response.line)
        if match:
            out.setdefault(int(match.group(1)), []).append(response)
    return out


def search_numbers(result: Result) -> list[int]:
    numbers: list[int] = []
    for response in result.untagged:
        match = SEARCH.match(response.line)
        if match:
            numbers.extend(int(n) for n in match.group(1).split())
    return numbers


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def big_message(size: int) -> bytes:
    """A well-formed message of exactly ``size`` octets (at least 1 KB):
    a text part and a base64 attachment of lines of 76 characters."""
    head = (b"From: Big Sender <big@example.org>\r\nTo: alice@example.net\r\n"
            b"Subject: one large attachment\r\nMessage-ID: <big@mailframe.test>\r\n"
            b"Date: Mon, 01 Jan 2024 08:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="=_big"\r\n\r\n'
            b"--=_big\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            b"--=_big\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    tail = b"--=_big--\r\n"
    line = base64.b64encode(bytes(range(57))) + b"\r\n"  # 78 octets
    room = size - len(head) - len(tail)
    body = line * max(0, room // len(line) - 1)
    body += b"A" * (room - len(body) - 2) + b"\r\n"  # a last line of 76 to 153 octets
    return head + body + tail


def _uid_of(line: bytes) -> int | None:
    match = UID.search(line)
    return int(match.group(1)) if match else None


def flag_set(line: bytes) -> set[bytes]:
    match = FLAGS.search(line)
    return set(match.group(1).lower().split()) if match else set()


class Workload:
    """Phases against one server; shared state (the UID of each sequence
    number) flows from the header sync to later phases."""

    def __init__(self, host: str, port: int, user: str, password: str, corpus: Corpus,
                 *, server_pid: int | None = None, mixed_seconds: float = 10.0,
                 sessions: int = 8, connections: int = 1000, bodies: int = 500,
                 many_sessions: int = 64, big_append: int = 50 * 2**20) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.corpus = corpus
        self.server_pid = server_pid
        self.mixed_seconds = mixed_seconds
        self.sessions = sessions
        self.many_sessions = many_sessions
        #: keywords $mix<base + k>: each mixed phase its own, so one phase's
        #: flags never look like another's unchanged ones
        self.keyword_base = 0
        self.connections = connections
        self.bodies = bodies
        #: octets of the one large message of the ``big_append`` phase
        self.big_append_size = big_append
        #: blake2b digests of the corpus messages (filled by ``append``):
        #: the mixed load checks bodies against them instead of
        #: regenerating each message (~0.5 ms of client CPU apiece)
        self.digests: list[bytes] = []
        self._small: dict[int, bytes] = {}
        self.uids: list[int] = []
        self.client: Client | None = None

    def title(self, phase: str) -> str:
        """The table row of ``phase`` (a method name in :data:`PHASES`)."""
        return {
            "append": "APPEND (durable, 1 conn)",
            "select": "SELECT INBOX",
            "header_sync": "FETCH 1:* header sync",
            "envelope": "FETCH 1:* ENVELOPE BODYSTRUCTURE",
            "bodies_phase": f"FETCH 1:{min(self.bodies, self.corpus.n)} BODY.PEEK[]",
            "search_header": "SEARCH header (SUBJECT, FROM)",
            "search_body": "SEARCH BODY text",
            "search_flag": "SEARCH flag (FLAGGED, UNSEEN)",
            "store": "STORE 1:* +FLAGS / -FLAGS.SILENT",
            "mixed": f"mixed, {self.sessions} sessions",
            "mixed_many": f"mixed, {self.many_sessions} sessions",
            "big_append": f"APPEND {self.big_append_size / 2**20:g} MB, 1 conn",
            "idle_memory": "idle selected conn, RSS",
        }.get(phase, phase)

    async def session(self) -> Client:
        client = await Client.connect(self.host, self.port)
        await client.login(self.user, self.password)
        return client

    # -- phases ---------------------------------------------------------

    async def append(self) -> PhaseResult:
        """Durable APPEND (RFC 3501 §6.3.11) of the whole corpus, one at a
        time: each waits for its tagged OK before the next is sent."""
        client = self.client = await self.session()
        sizes = self.corpus._sizes = []
        total = 0
        start = time.perf_counter()
        for i, meta in enumerate(self.corpus.metas):
            data = self.corpus.message(i)
            self.digests.append(_digest(data))
            sizes.append(len(data))
            total += len(data)
            flags = b"(\\Flagged)" if meta.flagged else b"()"
            await client.run_with_literal(b"APPEND INBOX " + flags + b" " + imap_date(i), data)
        elapsed = time.perf_counter() - start
        n = self.corpus.n
        return PhaseResult(self.title("append"), n / elapsed, "msg/s", seconds=elapsed,
                           notes=[f"{total / elapsed / 1e6:.1f} MB/s"])

    async def select(self) -> PhaseResult:
        assert self.client is not None
        start = time.perf_counter()
        result = await self.client.run(b"SELECT INBOX")
        elapsed = time.perf_counter() - start
        exists = [int(m.group(1)) for r in result.untagged for m in [EXISTS.match(r.line)] if m]
        out = PhaseResult(self.title("select"), elapsed * 1000, "ms", higher_is_better=False,
                          seconds=elapsed)
        if exists[-1:] != [self.corpus.n]:
            out.status = f"WRONG: EXISTS {exists} for {self.corpus.n} messages"
        return out

    async def header_sync(self) -> PhaseResult:
        assert self.client is not None
        start = time.perf_counter()
        result = await self.client.run(HEADER_SYNC)
        elapsed = time.perf_counter() - start
        out = PhaseResult(self.title("header_sync"), self.corpus.n / elapsed, "msg/s",
                          seconds=elapsed)
        by_seq = fetches(result)
        sizes = self.corpus.sizes()
        uids = []
        for seq in sorted(by_seq):
            uid = UID.search(b" ".join(r.line for r in by_seq[seq]))
            uids.append(int(uid.group(1)) if uid else 0)
        self.uids = uids
        try:
            if sorted(by_seq) != list(range(1, self.corpus.n + 1)):
                raise Wrong(f"{len(by_seq)} FETCH responses for {self.corpus.n} messages")
            for seq in range(1, self.corpus.n + 1):
                i = seq - 1
                meta = self.corpus.metas[i]
                responses = by_seq[seq]
                line = b" ".join(r.line for r in responses)
                literals = [lit for r in responses for lit in r.literals]
                size = SIZE.search(line)
                uid = UID.search(line)
                date = INTERNALDATE.search(line)
                if not (size and uid and date):
                    raise Wrong(f"message {seq}: missing UID/RFC822.SIZE/INTERNALDATE: {line[:200]!r}")
                if int(size.group(1)) != sizes[i]:
                    raise Wrong(f"message {seq}: RFC822.SIZE {size.group(1)!r}, expected {sizes[i]}")
                if parse_imap_date(date.group(1)) != internal_date(i):
                    raise Wrong(f"message {seq}: INTERNALDATE {date.group(1)!r}")
                if (b"\\flagged" in flag_set(line)) != meta.flagged:
                    raise Wrong(f"message {seq}: FLAGS {flag_set(line)} flagged={meta.flagged}")
                header = b"".join(literals) or line
                if (b"Message-ID: " + meta.message_id.encode() not in header
                        or b"Subject: [" + meta.subject_token.encode() + b"]" not in header
                        or b"MIME-Version" in header):
                    raise Wrong(f"message {seq}: header fields {header[:300]!r}")
            if uids != sorted(set(uids)):
                raise Wrong("UIDs not strictly ascending")
        except Wrong as exc:
            out.status = f"WRONG: {exc}"
        return out

    async def envelope(self) -> PhaseResult:
        assert self.client is not None
        start = time.perf_counter()
        result = await self.client.run(b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
        elapsed = time.perf_counter() - start
        out = PhaseResult(self.title("envelope"), self.corpus.n / elapsed, "msg/s",
                          seconds=elapsed)
        by_seq = fetches(result)
        try:
            if sorted(by_seq) != list(range(1, self.corpus.n + 1)):
                raise Wrong(f"{len(by_seq)} FETCH responses for {self.corpus.n} messages")
            for seq, responses in by_seq.items():
                meta = self.corpus.metas[seq - 1]
                text = b" ".join(r.line + b"".join(r.literals) for r in responses)
                upper = text.upper()
                subtype = {KIND_ALTERNATIVE: b'"ALTERNATIVE"',
                           KIND_ATTACHMENT: b'"MIXED"'}.get(meta.kind, b'"TEXT" "PLAIN"')
                if (b"ENVELOPE (" not in upper or b"BODYSTRUCTURE (" not in upper
                        or meta.message_id.encode() not in text
                        or meta.subject_token.encode() not in text
                        or f'"{meta.sender}" "example.org"'.encode() not in text
                        or subtype not in upper):
                    raise Wrong(f"message {seq}: {text[:400]!r}")
        except Wrong as exc:
            out.status = f"WRONG: {exc}"
        return out

    async def bodies_phase(self) -> PhaseResult:
        assert self.client is not None
        count = min(self.bodies, self.corpus.n)
        start = time.perf_counter()
        result = await self.client.run(b"FETCH 1:%d BODY.PEEK[]" % count)
        elapsed = time.perf_counter() - start
        total = sum(self.corpus.sizes()[:count])
        out = PhaseResult(self.title("bodies_phase"), count / elapsed, "msg/s",
                          seconds=elapsed, notes=[f"{total / elapsed / 1e6:.1f} MB/s"])
        by_seq = fetches(result)
        try:
            if sorted(by_seq) != list(range(1, count + 1)):
                raise Wrong(f"{len(by_seq)} FETCH responses for {count} messages")
            for seq, responses in by_seq.items():
                literals = [lit for r in responses for lit in r.literals]
                expected = self.corpus.message(seq - 1)
                if literals != [expected]:
                    got = literals[0][:80] if literals else b"(no literal)"
                    raise Wrong(f"message {seq}: body differs ({len(b''.join(literals))} bytes, "
                                f"expected {len(expected)}): {got!r}")
        except Wrong as exc:
            out.status = f"WRONG: {exc}"
        return out

    async def _search(self, name: str, queries: list[tuple[bytes, list[int]]]) -> PhaseResult:
        """Run each query, compare its sequence numbers with the corpus."""
        assert self.client is not None
        elapsed = 0.0
        status = "ok"
        for command, expected in queries:
            start = time.perf_counter()
            result = await self.client.run(command)
            elapsed += time.perf_counter() - start
            got = sorted(search_numbers(result))
            if got != expected and status == "ok":
                status = (f"WRONG: {command.decode()} gave {len(got)} results, "
                          f"expected {len(expected)}")
        n = self.corpus.n * len(queries)
        return PhaseResult(name, n / elapsed, "msg/s", status=status, seconds=elapsed,
                           notes=[f"{len(queries)} searches, {elapsed / len(queries) * 1000:.0f} ms each"])

    def _seqs(self, predicate: Callable[[int], bool]) -> list[int]:
        return [i + 1 for i in range(self.corpus.n) if predicate(i)]

    async def search_header(self) -> PhaseResult:
        metas = self.corpus.metas
        sub = SUBJECT_TOKENS[0]
        return await self._search(self.title("search_header"), [
            (b"SEARCH SUBJECT " + quote(sub),
             self._seqs(lambda i: metas[i].subject_token == sub)),
            (b"SEARCH FROM " + quote("ben@example"),
             self._seqs(lambda i: metas[i].sender == "ben")),
        ])

    async def search_body(self) -> PhaseResult:
        metas = self.corpus.metas
        token = BODY_TOKENS[1]
        return await self._search(self.title("search_body"), [
            (b"SEARCH BODY " + quote(token), self._seqs(lambda i: metas[i].body_token == token)),
        ])

    async def search_flag(self) -> PhaseResult:
        metas = self.corpus.metas
        return await self._search(self.title("search_flag"), [
            (b"SEARCH FLAGGED", self._seqs(lambda i: metas[i].flagged)),
            (b"SEARCH UNSEEN", self._seqs(lambda i: True)),
        ])

    async def store(self) -> PhaseResult:
        """``STORE 1:* +FLAGS (\\Seen)`` (every message answers with its
        FLAGS, RFC 3501 §6.4.6) then ``-FLAGS.SILENT``; both checked."""
        assert self.client is not None
        n = self.corpus.n
        start = time.perf_counter()
        added = await self.client.run(b"STORE 1:* +FLAGS (\\Seen)")
        mid = time.perf_counter()
        seen = search_numbers(await self.client.run(b"SEARCH SEEN"))
        mid2 = time.perf_counter()
        await self.client.run(b"STORE 1:* -FLAGS.SILENT (\\Seen)")
        end = time.perf_counter()
        elapsed = (mid - start) + (end - mid2)
        out = PhaseResult(self.title("store"), 2 * n / elapsed, "msg/s",
                          seconds=elapsed)
        by_seq = fetches(added)
        bad = [s for s in range(1, n + 1)
               if not any(b"\\seen" in flag_set(r.line) for r in by_seq.get(s, []))]
        unseen = search_numbers(await self.client.run(b"SEARCH UNSEEN"))
        if bad:
            out.status = f"WRONG: {len(bad)} messages without FETCH (FLAGS (\\Seen)), first {bad[0]}"
        elif sorted(seen) != list(range(1, n + 1)):
            out.status = f"WRONG: SEARCH SEEN gave {len(seen)} after +FLAGS, expected {n}"
        elif len(unseen) != n:
            out.status = f"WRONG: SEARCH UNSEEN gave {len(unseen)} after -FLAGS, expected {n}"
        return out

    async def mixed(self) -> list[PhaseResult]:
        """``sessions`` concurrent sessions doing a mix of single-message
        body fetches, range flag fetches, per-session keyword stores,
        subject searches, STATUS, NOOP and APPEND to another mailbox, for
        ``mixed_seconds``; every answer checked.  Meanwhile a probe
        process (:mod:`.latency`) sends NOOP every 20 ms on a session of
        its own: the rows after the rate are its worst and 99th-percentile
        latency (how long the load makes another client wait)."""
        assert self.client is not None
        try:
            await self.client.run(b"CREATE BenchMixed")
        except ImapError:
            pass
        clients = [await self.session() for _ in range(self.sessions)]
        for c in clients:
            await c.run(b"SELECT INBOX")
        counts = [0] * self.sessions
        errors: list[str] = []
        async with Probe(self.host, self.port, self.user, self.password) as probe:
            deadline = time.perf_counter() + self.mixed_seconds
            start = time.perf_counter()
            window = time.monotonic()
            await asyncio.gather(*(self._mixed_session(k, c, deadline, counts, errors)
                                   for k, c in enumerate(clients)))
            elapsed = time.perf_counter() - start
            window_end = time.monotonic()
        for c in clients:
            await c.logout()
        ops = sum(counts)
        out = PhaseResult(self.title("mixed"), ops / elapsed, "ops/s",
                          seconds=elapsed, notes=[f"{ops} operations"])
        if errors:
            out.status = ("WRONG: " if errors[0].startswith("wrong") else "ERROR: ") + errors[0]
        return [out, *self._latency_rows(f"in mixed {self.sessions}", probe.window(window, window_end),
                                         elapsed)]

    def _latency_rows(self, where: str, lat: Latencies, seconds: float) -> list[PhaseResult]:
        status = "ok" if lat.samples else "ERROR: no NOOP answered in the window"
        note = [lat.summary()]
        return [PhaseResult(f"NOOP {where}, worst", lat.worst * 1000, "ms", status=status,
                            higher_is_better=False, seconds=seconds, notes=note),
                PhaseResult(f"NOOP {where}, p99", lat.quantile(0.99) * 1000, "ms", status=status,
                            higher_is_better=False, seconds=seconds)]

    async def mixed_many(self) -> list[PhaseResult]:
        """The mixed load from ``many_sessions`` sessions at once (issue
        16's 64-session phase)."""
        few = self.sessions
        self.sessions, self.keyword_base = self.many_sessions, 1000
        try:
            out = await self.mixed()
        finally:
            self.sessions, self.keyword_base = few, 0
        out[0].name = self.title("mixed_many")
        return out

    async def big_append(self) -> list[PhaseResult]:
        """One session APPENDs one large message (50 MB by default, a
        synchronizing literal, RFC 3501 §7.5) while a probe process NOOPs
        every 10 ms on four sessions of its own (under several workers,
        some share the appender's process).  Rows: the APPEND's MB/s,
        then the worst and 99th-percentile NOOP latency while it ran.
        Checked: the message's RFC822.SIZE afterwards."""
        data = big_message(self.big_append_size)
        sender = await self.session()
        try:
            await sender.run(b"CREATE BenchBig")
        except ImapError:
            pass
        async with Probe(self.host, self.port, self.user, self.password,
                         sessions=4, interval=0.01) as probe:
            await asyncio.sleep(0.2)
            window = time.monotonic()
            start = time.perf_counter()
            await sender.run_with_literal(b"APPEND BenchBig ()", data)
            elapsed = time.perf_counter() - start
            window_end = time.monotonic()
            await asyncio.sleep(0.1)
        out = PhaseResult(self.title("big_append"), len(data) / elapsed / 1e6, "MB/s",
                          seconds=elapsed)
        result = await sender.run(b"SELECT BenchBig")
        exists = [int(m.group(1)) for r in result.untagged for m in [EXISTS.match(r.line)] if m]
        if exists:
            sizes = await sender.run(b"FETCH %d RFC822.SIZE" % exists[-1])
            got = [int(m.group(1)) for r in sizes.untagged for m in [SIZE.search(r.line)] if m]
            if got != [len(data)]:
                out.status = f"WRONG: RFC822.SIZE {got}, appended {len(data)}"
        else:
            out.status = "WRONG: BenchBig has no EXISTS after the APPEND"
        await sender.logout()
        return [out, *self._latency_rows(f"during APPEND {len(data) / 2**20:g} MB",
                                         probe.window(window, window_end), elapsed)]

    def _body_ok(self, i: int, body: bytes) -> bool:
        if i < len(self.digests):
            return len(body) == self.corpus.sizes()[i] and _digest(body) == self.digests[i]
        return body == self.corpus.message(i)

    def _small_message(self, i: int) -> bytes:
        data = self._small.get(i)
        if data is None:
            data = self._small[i] = self.corpus.message(i)
        return data

    async def _mixed_session(self, k: int, client: Client, deadline: float,
                             counts: list[int], errors: list[str]) -> None:
        rnd = random.Random(1000 + k)
        n = self.corpus.n
        sizes = self.corpus.sizes()
        keyword = b"$mix%d" % (k + self.keyword_base)
        metas = self.corpus.metas
        has_keyword: set[int] = set()
        while time.perf_counter() < deadline and not errors:
            roll = rnd.random()
            try:
                if roll < 0.35:
                    i = rnd.randrange(n)
                    result = await client.run(b"UID FETCH %d BODY.PEEK[]" % self.uids[i])
                    lits = [lit for r in result.untagged if FETCH_SEQ.match(r.line)
                            for lit in r.literals]
                    if len(lits) != 1 or not self._body_ok(i, lits[0]):
                        raise Wrong(f"UID FETCH {self.uids[i]} BODY.PEEK[]: body differs")
                elif roll < 0.55:
                    a = rnd.randrange(n) + 1
                    b = min(n, a + 49)
                    result = await client.run(b"FETCH %d:%d (UID RFC822.SIZE FLAGS)" % (a, b))
                    got = {int(m.group(1)): int(s.group(1)) for r in result.untagged
                           for m in [FETCH_SEQ.match(r.line)] for s in [SIZE.search(r.line)] if m and s}
                    if got != {s: sizes[s - 1] for s in range(a, b + 1)}:
                        raise Wrong(f"FETCH {a}:{b} RFC822.SIZE wrong")
                elif roll < 0.70:
                    i = rnd.randrange(n)
                    sign = b"+" if rnd.random() < 0.5 else b"-"
                    result = await client.run(b"UID STORE %d %sFLAGS (%s)" % (self.uids[i], sign, keyword))
                    mine = [r.line for r in result.untagged
                            if FETCH_SEQ.match(r.line) and _uid_of(r.line) == self.uids[i]]
                    wanted = sign == b"+"
                    # RFC 3501 §6.4.6 lets a server skip the FETCH when
                    # nothing changed (Dovecot does): then the flag must
                    # already have been as asked.
                    unchanged = (i in has_keyword) == wanted
                    if (mine and (keyword.lower() in flag_set(mine[-1])) != wanted) or (
                            not mine and not unchanged):
                        raise Wrong(f"UID STORE {self.uids[i]} {sign.decode()}FLAGS: {mine!r}")
                    if wanted:
                        has_keyword.add(i)
                    else:
                        has_keyword.discard(i)
                elif roll < 0.75:
                    token = rnd.choice(SUBJECT_TOKENS)
                    found = search_numbers(await client.run(b"SEARCH SUBJECT " + quote(token)))
                    if len(found) != sum(1 for m in metas if m.subject_token == token):
                        raise Wrong(f"SEARCH SUBJECT {token}: {len(found)}")
                elif roll < 0.85:
                    result = await client.run(b"STATUS BenchMixed (MESSAGES)")
                    if not result.named(b"STATUS"):
                        raise Wrong("STATUS without untagged STATUS")
                elif roll < 0.93:
                    await client.run(b"NOOP")
                else:
                    data = self._small_message(rnd.randrange(min(n, 200)))
                    await client.run_with_literal(b"APPEND BenchMixed ()", data)
                counts[k] += 1
            except Wrong as exc:
                errors.append(f"wrong: {exc}")
            except ImapError as exc:
                errors.append(f"{exc}")

    async def idle_memory(self) -> list[PhaseResult]:
        """Resident memory per idle selected connection: the server's
        process tree before and after ``connections`` sessions have
        logged in and selected INBOX (RSS as the brief asks, and PSS,
        which is fair to servers with a process per connection)."""
        if self.server_pid is None:
            return [PhaseResult(self.title("idle_memory"), None, "KB/conn",
                                status="ERROR: no server pid given", higher_is_better=False)]
        raise_nofile(self.connections * 2 + 256)
        await asyncio.sleep(0.5)
        before = tree_memory_kb(self.server_pid)
        clients: list[Client] = []
        sem = asyncio.Semaphore(32)
        status = "ok"

        async def open_one() -> None:
            async with sem:
                client = await self.session()
                result = await client.run(b"SELECT INBOX")
                if not any(EXISTS.match(r.line) for r in result.untagged):
                    raise Wrong("SELECT without EXISTS")
                clients.append(client)

        start = time.perf_counter()
        try:
            await asyncio.gather(*(open_one() for _ in range(self.connections)))
        except (ImapError, OSError, Wrong) as exc:
            status = f"ERROR: after {len(clients)} connections: {exc}"
        elapsed = time.perf_counter() - start
        await asyncio.sleep(1.0)
        after = tree_memory_kb(self.server_pid)
        for client in clients:
            client.close()
        count = max(1, len(clients))
        note = f"{len(clients)} connections opened in {elapsed:.1f} s"
        return [
            PhaseResult(self.title("idle_memory"), (after[0] - before[0]) / count, "KB/conn",
                        status=status, higher_is_better=False, seconds=elapsed, notes=[note]),
            PhaseResult("idle selected conn, PSS", (after[1] - before[1]) / count, "KB/conn",
                        status=status, higher_is_better=False, seconds=elapsed),
        ]


# idle_memory before big_append: the 50 MB literal's buffers, freed while
# the connections are opened, made the "after" tree smaller than "before".
PHASES = ("append", "select", "header_sync", "envelope", "bodies_phase", "search_header",
          "search_body", "search_flag", "store", "mixed", "mixed_many", "idle_memory",
          "big_append")


#: The phases every other one builds on: the corpus appended, INBOX
#: selected, the UIDs learnt from the header sync.
SETUP = ("append", "select", "header_sync")


def with_setup(asked: tuple[str, ...]) -> tuple[str, ...]:
    """The phases of ``asked`` in :data:`PHASES` order, with the
    :data:`SETUP` phases added when it asks for any other one: without
    them ``mixed`` had no UIDs and ended the whole run with an IndexError,
    and the search phases timed the mailbox's first open instead of a
    SEARCH.  In order, because a phase sees what the ones before it left
    (a SEARCH after the mixed phases ran over 26 000 flag changes and
    timed something else than a SEARCH after the header sync)."""
    wanted = set(asked)
    if wanted - set(SETUP):
        wanted |= set(SETUP)
    return tuple(name for name in PHASES if name in wanted)


async def run_workload(workload: Workload, log: Callable[[str], None] = print,
                       phases: tuple[str, ...] = PHASES, phase_timeout: float = 600.0,
                       hook: Callable[[str, str], None] | None = None) -> list[PhaseResult]:
    """Run the phases in order; a phase that errors or takes longer than
    ``phase_timeout`` is recorded (ERROR / TIMEOUT) and the run goes on
    with a fresh selected connection, unless the phase was one the later
    ones depend on.  ``hook(phase, "start" | "end")`` brackets each phase
    (the comparison uses it to profile one phase at a time)."""
    results: list[PhaseResult] = []
    for name in phases:
        method: Callable[[], Awaitable[PhaseResult | list[PhaseResult]]] = getattr(workload, name)
        if hook:
            hook(name, "start")
        cpu = time.process_time()  # the bench client's own CPU: is it eating a core?
        wall = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(method(), phase_timeout)
        except (TimeoutError, ImapError, OSError, Wrong) as exc:
            if isinstance(exc, asyncio.TimeoutError):
                status = f"TIMEOUT: over {phase_timeout:.0f} s"
            else:
                status = f"ERROR: {exc}"[:300]
            outcome = PhaseResult(workload.title(name), None, "", status=status)
            if name in ("append", "select", "header_sync"):
                results.append(outcome)
                log(f"  {name}: {outcome.status}; stopping")
                break
            try:
                if workload.client is not None:
                    workload.client.close()
                workload.client = await workload.session()
                await workload.client.run(b"SELECT INBOX")
            except (ImapError, OSError) as again:
                results.append(outcome)
                log(f"  {name}: {outcome.status}; cannot reconnect ({again}); stopping")
                break
        finally:
            if hook:
                hook(name, "end")
        client_cpu = (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9)
        for result in outcome if isinstance(outcome, list) else [outcome]:
            results.append(result)
            value = "-" if result.value is None else f"{result.value:,.1f} {result.unit}"
            extra = "".join(f"; {note}" for note in [*result.notes, f"client CPU {client_cpu:.0%}"])
            log(f"  {result.name}: {value} ({result.seconds:.2f} s){extra} [{result.status}]")
    if workload.client is not None:
        await workload.client.logout()
    return results
