"""What COMPRESS=DEFLATE (RFC 4978) saves: octets on the wire for a header
sync (the FETCH a mail client sends to list a mailbox) and a full-body
download, with and without COMPRESS, on mailframe and -- when installed --
Dovecot with its imap_zlib plugin, over the same seeded corpus.

    /work/venv/bin/python bench/bench_compress.py -n 500 [--servers mailframe,dovecot]

Prints a Markdown table: plain octets (what the client reads after
inflating), wire octets, ratio, and the wall time of each FETCH (wall
times are for orientation only: loopback, one run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import servers  # noqa: E402
from tests.support.corpus import HEADER_SYNC, messages  # noqa: E402
from tests.support.deflate_client import DeflateClient  # noqa: E402

FULL = b"UID FETCH 1:* (UID BODY.PEEK[])"


def _start(name: str, workdir: Path) -> servers.Server:
    if name == "mailframe":
        return servers.Mailframe(workdir)
    if name == "dovecot":
        conf = servers.DOVECOT_CONF
        servers.DOVECOT_CONF = conf + "protocol imap {{\n  mail_plugins = $mail_plugins imap_zlib\n}}\n"
        try:
            return servers.Dovecot(workdir)
        finally:
            servers.DOVECOT_CONF = conf
    raise SystemExit(f"unknown server {name}")


def _measure(port: int, compress: bool, command: bytes) -> tuple[int, int, float, int]:
    c = DeflateClient("127.0.0.1", port)
    try:
        assert c.login(servers.USER, servers.PASSWORD).ok
        if compress:
            assert c.compress().ok, "COMPRESS refused"
        assert c.command(b"EXAMINE INBOX").ok
        wire, plain = c.wire_in, c.plain_in
        start = time.perf_counter()
        resp = c.command(command)
        elapsed = time.perf_counter() - start
        assert resp.ok, resp.status
        return c.plain_in - plain, c.wire_in - wire, elapsed, len(resp.untagged)
    finally:
        c.close()


def _corpus(kind: str, n: int) -> list[bytes]:
    if kind == "lists":  # list mail: Received, List-Id, short text bodies
        return messages(n)
    from bench.workload.corpus import Corpus  # the compare.py mix, 10 % with attachments

    c = Corpus(n)
    return [c.message(i) for i in range(n)]


def run(names: list[str], n: int, kind: str) -> list[str]:
    corpus = _corpus(kind, n)
    rows = ["| server | FETCH | COMPRESS | messages | octets read | octets on the wire | wire/plain | time |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-compress-{name}-") as tmp:
            try:
                server = _start(name, Path(tmp))
            except servers.Unavailable as exc:
                rows.append(f"| {name} | n/a: {exc} | | | | | | |")
                continue
            try:
                loader = DeflateClient("127.0.0.1", server.port)
                assert loader.login(servers.USER, servers.PASSWORD).ok
                for m in corpus:
                    assert loader.append(b"INBOX", m).ok
                loader.close()
                for label, command in (("headers", HEADER_SYNC), ("full bodies", FULL)):
                    for compress in (False, True):
                        plain, wire, elapsed, count = _measure(server.port, compress, command)
                        rows.append(
                            f"| {name} | {label} | {'yes' if compress else 'no'} | {count} | {plain} "
                            f"| {wire} | {wire / plain:.3f} | {elapsed * 1000:.0f} ms |")
            finally:
                server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="messages in the mailbox")
    parser.add_argument("--servers", default="mailframe,dovecot")
    parser.add_argument("--corpus", choices=("lists", "workload"), default="workload",
                        help="lists: tests/support/corpus.py; workload: bench/workload/corpus.py")
    args = parser.parse_args()
    print("\n".join(run(args.servers.split(","), args.n, args.corpus)))


if __name__ == "__main__":
    main()
