"""``--metrics``: Prometheus text scraped from a real server while real
clients work (issue 17, "Metrics and health")."""

from __future__ import annotations

import imaplib
import smtplib
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mailframe.ops.authwatch import sasl_username
from mailframe.ops.metrics import command_label
from tests.support.server import ServerProcess, free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_with_traffic(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess(tmp_path / "srv", "--metrics", f"tcp:{port}:interface=127.0.0.1",
                       "--workers", "2", smtp=True) as srv:
        before = scrape(port)
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.login("alice", "secret")
        m.append("INBOX", None, None, b"Subject: x\r\n\r\nhello\r\n")
        m.select("INBOX")
        m.fetch("1:*", "(FLAGS BODY.PEEK[])")
        m.uid("FETCH", "1:*", "(FLAGS)")
        during = scrape(port)  # the connection is still open and selected
        m.logout()
        bad = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        try:
            bad.login("alice", "wrong")
        except imaplib.IMAP4.error:
            pass
        bad.logout()
        assert srv.smtp_port is not None
        with smtplib.SMTP("127.0.0.1", srv.smtp_port) as s:
            s.sendmail("x@example.org", ["alice@localhost"], b"Subject: y\r\n\r\nhi\r\n")
        after = scrape(port)

    assert value(during, "mailframe_connections", protocol="imap", state="selected") == 1
    assert value(after, "mailframe_connections", protocol="imap", state="selected") == 0
    assert value(after, "mailframe_connections_opened_total", protocol="imap") - \
        value(before, "mailframe_connections_opened_total", protocol="imap") == 2
    for result, n in (("ok", 1), ("failed", 1)):
        assert value(after, "mailframe_logins_total", mechanism="LOGIN-COMMAND", result=result) - \
            value(before, "mailframe_logins_total", mechanism="LOGIN-COMMAND", result=result) == n
    assert value(during, "mailframe_imap_commands_total", command="FETCH", status="OK") == 1
    assert value(during, "mailframe_imap_commands_total", command="UID FETCH", status="OK") == 1
    assert value(during, "mailframe_imap_commands_total", command="APPEND", status="OK") == 1
    assert value(after, "mailframe_imap_commands_total", command="LOGIN", status="NO") == 1
    assert value(during, "mailframe_imap_command_seconds_count", command="FETCH") == 1
    assert value(during, "mailframe_imap_command_seconds_bucket", command="FETCH", le="+Inf") == 1
    assert value(after, "mailframe_bytes_received_total", protocol="imap") > \
        value(during, "mailframe_bytes_received_total", protocol="imap") > 0
    assert value(after, "mailframe_bytes_sent_total", protocol="imap") > \
        value(during, "mailframe_bytes_sent_total", protocol="imap") > 0
    assert value(after, "mailframe_deliveries_total", protocol="smtp", result="delivered") == 1
    assert value(after, "mailframe_delivery_seconds_count", protocol="smtp") == 1
    assert value(after, "mailframe_workers") == 2  # summed over both workers above
    assert value(after, "mailframe_workers_running") == 2


def test_metrics_endpoint_is_checked(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.support.server import PLUGIN_ROOT

    done = subprocess.run(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "mailframe", "--data-dir", str(tmp_path), "--metrics", "nonsense:1"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=PLUGIN_ROOT), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailframe: --metrics 'nonsense:1'")


def test_command_labels_are_bounded() -> None:
    assert command_label(b"a1 fetch 1:* FLAGS") == "FETCH"
    assert command_label(b"a1 UID store 1 +FLAGS (\\Seen)") == "UID STORE"
    assert command_label(b"a1 UID LOGIN x") == "OTHER"
    assert command_label(b"a1 XYZZY") == "OTHER"
    assert command_label(b"a1") == "OTHER"
    assert command_label(b"a1 NOOP") == "NOOP"


def test_sasl_username_keeps_only_the_name() -> None:
    assert sasl_username("PLAIN", b"\0alice\0pw", 0) == "alice"
    assert sasl_username("PLAIN", b"admin\0alice\0pw", 0) == "alice"
    assert sasl_username("PLAIN", b"garbage", 0) is None
    assert sasl_username("LOGIN", b"alice", 0) == "alice"
    assert sasl_username("LOGIN", b"pw", 1) is None
    assert sasl_username("CRAM-MD5", b"alice 0123456789abcdef0123456789abcdef", 0) == "alice"
    assert sasl_username("SCRAM-SHA-256", b"n,,n=al=2Cice,r=abc", 0) == "al,ice"
    assert sasl_username("SCRAM-SHA-256", b"c=biws,r=abc,p=proof", 1) is None
    assert sasl_username("PLAIN", b"\0al ice\n\0pw", 0) == "al?ice?"
