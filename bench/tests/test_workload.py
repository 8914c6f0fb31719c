"""The benchmark's own pieces: the corpus is deterministic and its
counts are right, the client splits responses and literals correctly,
the phases pass against a real mailframe (memory store) and catch a
wrong answer, the table and profile summary print what they should."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.compare import ratio, table
from bench.profile_summary import report
from bench.workload.client import Client, ImapError
from bench.workload.corpus import BODY_TOKENS, SUBJECT_TOKENS, Corpus, message
from bench.workload.memory import process_tree, tree_memory_kb
from bench.workload.phases import PhaseResult, Workload, run_workload
from tests.support.server import ServerProcess


def test_corpus_is_deterministic_and_well_formed() -> None:
    assert message(7, 5).data == message(7, 5).data
    assert message(7, 5).data != message(8, 5).data
    corpus = Corpus(60)
    kinds = {m.kind for m in corpus.metas}
    assert kinds == {"text", "alternative", "attachment"}
    for i, meta in enumerate(corpus.metas):
        data = corpus.message(i)
        assert b"\n" not in data.replace(b"\r\n", b"")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["Message-ID"] == meta.message_id
        assert f"[{meta.subject_token}]" in parsed["Subject"]
        text = parsed.get_body(("plain",))
        assert text is not None and meta.body_token in text.get_content()
        if meta.kind == "attachment":
            part = next(parsed.iter_attachments())
            assert 20_000 <= len(part.get_content()) <= 200_000


def test_tokens_are_never_substrings_of_each_other() -> None:
    tokens = SUBJECT_TOKENS + BODY_TOKENS
    assert all(a == b or a not in b for a in tokens for b in tokens)


def test_corpus_counts_match_a_scan_of_the_bytes() -> None:
    corpus = Corpus(80)
    for token in SUBJECT_TOKENS:
        scanned = sum(1 for i in range(80) if f"[{token}]".encode() in corpus.message(i))
        assert corpus.count_subject(token) == scanned
    for token in BODY_TOKENS:
        scanned = sum(1 for i in range(80) if token.encode() in corpus.message(i))
        assert corpus.count_body(token) == scanned


class FakeServer:
    """A scripted IMAP peer on a real loopback socket."""

    def __init__(self, script: list[tuple[bytes, bytes]]) -> None:
        self.script = script
        self.received: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        for expect, answer in self.script:
            line = await reader.readuntil(b"\r\n")
            self.received.append(line)
            assert line.startswith(expect), line
            writer.write(answer)
            await writer.drain()
        writer.close()


def test_client_splits_literals_and_statuses() -> None:
    async def go() -> None:
        fake = FakeServer([
            (b"B1 FETCH", b"* 1 FETCH (UID 4 BODY[] {5}\r\nab\r\nc FLAGS (\\Seen))\r\n"
                          b"* 2 FETCH (UID 9 BODY[] {0}\r\n)\r\nB1 OK done\r\n"),
            (b"B2 SELECT", b"B2 NO [NONEXISTENT] no such mailbox\r\n"),
        ])
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = await Client.connect("127.0.0.1", port)
        result = await client.run(b"FETCH 1:2 (UID BODY[])")
        assert [r.literals for r in result.untagged] == [[b"ab\r\nc"], [b""]]
        assert result.untagged[0].line == b"* 1 FETCH (UID 4 BODY[] {5}\r\n FLAGS (\\Seen))"
        assert [r.line[:9] for r in result.named(b"FETCH")] == [b"* 1 FETCH", b"* 2 FETCH"]
        with pytest.raises(ImapError, match="NONEXISTENT"):
            await client.run(b"SELECT nope")
        client.close()
        server.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("bench") / "mf", "--max-connections-per-ip", "0",
                       "--max-connections-per-user", "0", store="memory") as proc:
        yield proc


def test_every_phase_passes_against_mailframe(memory_server: ServerProcess) -> None:
    assert memory_server.proc is not None
    workload = Workload("127.0.0.1", memory_server.imap_port, "alice", "secret", Corpus(40),
                        server_pid=memory_server.proc.pid, mixed_seconds=1.0, sessions=3,
                        connections=20, bodies=25, many_sessions=6, big_append=3 * 2**20)
    lines: list[str] = []
    results = asyncio.run(run_workload(workload, log=lines.append))
    names = [r.name for r in results]
    assert names == ["APPEND (durable, 1 conn)", "SELECT INBOX", "FETCH 1:* header sync",
                     "FETCH 1:* ENVELOPE BODYSTRUCTURE", "FETCH 1:25 BODY.PEEK[]",
                     "SEARCH header (SUBJECT, FROM)", "SEARCH BODY text",
                     "SEARCH flag (FLAGGED, UNSEEN)", "STORE 1:* +FLAGS / -FLAGS.SILENT",
                     "mixed, 3 sessions", "NOOP in mixed 3, worst", "NOOP in mixed 3, p99",
                     "mixed, 6 sessions", "NOOP in mixed 6, worst", "NOOP in mixed 6, p99",
                     "idle selected conn, RSS", "idle selected conn, PSS",
                     "APPEND 3 MB, 1 conn", "NOOP during APPEND 3 MB, worst",
                     "NOOP during APPEND 3 MB, p99"]
    assert [r.status for r in results] == ["ok"] * len(results), lines
    assert all(r.value is not None and r.value > 0 for r in results if not r.name.startswith("idle"))
    assert len(workload.uids) == 40


def test_a_wrong_answer_is_reported_as_wrong(memory_server: ServerProcess) -> None:
    """Against a mailbox that already holds the 40 messages above, a
    corpus with another seed gets WRONG sizes, bodies and counts."""
    workload = Workload("127.0.0.1", memory_server.imap_port, "bob", "hunter2", Corpus(10, seed=1))

    async def go() -> list[PhaseResult]:
        workload.client = await workload.session()
        for i in range(10):
            await workload.client.run_with_literal(b"APPEND INBOX", Corpus(10, seed=2).message(i))
        return await run_workload(workload, log=lambda _: None,
                                  phases=("select", "header_sync", "bodies_phase", "search_body"))

    results = asyncio.run(go())
    assert [r.status.split(":")[0] for r in results] == ["ok", "WRONG", "WRONG", "WRONG"]


def test_process_tree_memory_of_this_process() -> None:
    import os
    assert os.getpid() in process_tree(os.getpid())
    rss, pss = tree_memory_kb(os.getpid())
    assert rss > 1000 and pss > 0


def test_table_ratios_and_not_ok_rows() -> None:
    mf = [PhaseResult("FETCH", 200.0, "msg/s"), PhaseResult("mem", 20.0, "KB/conn",
                                                             higher_is_better=False)]
    dc = [PhaseResult("FETCH", 400.0, "msg/s"), PhaseResult("mem", 500.0, "KB/conn",
                                                             higher_is_better=False)]
    pm = [PhaseResult("FETCH", 10.0, "msg/s", status="WRONG: sizes"),
          PhaseResult("mem", 40.0, "KB/conn", higher_is_better=False)]
    assert ratio(mf[0], dc[0]) == "0.50×" and ratio(mf[1], dc[1]) == "25.00×"
    assert ratio(mf[0], pm[0]) == "-"
    text = table(100, {"mailframe": mf, "dovecot": dc, "pymap": pm, "other": None}, ["note"])
    assert "| FETCH | msg/s | 200 | 400 | WRONG (10.0) | n/a | 0.50× | - | - |" in text
    assert "- pymap: FETCH: WRONG: sizes" in text


def test_profile_summary_counts_inclusive_and_self(tmp_path: Path) -> None:
    raw = ("main (a/x.py:1);outer (a/y.py:3);leaf (a/z.py:9) 6\n"
           "main (a/x.py:1);outer (a/y.py:4) 4\n")
    text = report(raw, 10)
    assert text.startswith("10 samples")
    assert "   100.0%  outer (a/y.py)" in text
    assert "    60.0%  leaf (a/z.py)" in text.split("self")[1]


def test_uid_of_does_not_confuse_16_with_163() -> None:
    from bench.workload.phases import _uid_of, flag_set
    assert _uid_of(b"* 163 FETCH (UID 163 FLAGS (\\Flagged $mix5))") == 163
    assert _uid_of(b"* 16 FETCH (FLAGS ($Mix1) UID 16)") == 16
    assert flag_set(b"* 16 FETCH (FLAGS ($Mix1 \\Seen) UID 16)") == {b"$mix1", b"\\seen"}
