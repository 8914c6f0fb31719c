"""JSON-lines logs through twistd's own ``--logger`` option.

::

    twistd -n --logger mailframe.ops.jsonlog.observer mailframe --user alice:secret

writes one JSON object per line to standard output (where systemd's
journal or a log shipper reads it), or to the file named by the
``MAILFRAME_JSON_LOG`` environment variable.  Each line has ``time`` (ISO
8601, UTC), ``level``, ``namespace``, ``message`` (the formatted text) and
every plain field of the event (``str``, ``int``, ``float``, ``bool``,
``None``): for mailframe's own lines (:mod:`mailframe.ops.events`) that is
``mf_event``, ``conn``, ``peer``, ``user``, ``mechanism`` and so on.  A
failure adds ``traceback``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import ILogObserver, formatEvent
from zope.interface import implementer

__all__ = ["observer", "JsonLinesObserver", "to_json"]

_PLAIN = (str, int, float, bool, type(None))


def to_json(event: dict[str, Any]) -> str:
    """One event as one JSON line (without the newline)."""
    record: dict[str, Any] = {}
    when = event.get("log_time")
    if isinstance(when, (int, float)):
        record["time"] = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    level = event.get("log_level")
    record["level"] = getattr(level, "name", "info")
    record["namespace"] = event.get("log_namespace", "")
    record["message"] = formatEvent(event)
    for key, value in event.items():
        if key.startswith(("log_", "_")) or key in record or key in ("format", "message"):
            continue
        if isinstance(value, _PLAIN):
            record[key] = value
    failure = event.get("log_failure")
    if failure is not None:
        try:
            record["traceback"] = failure.getTraceback()
        except Exception:
            record["traceback"] = repr(failure)
    return json.dumps(record, ensure_ascii=False, default=str)


@implementer(ILogObserver)
class JsonLinesObserver:
    """Write each event as a JSON line to ``stream``, flushed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, event: dict[str, Any]) -> None:
        self.stream.write(to_json(event) + "\n")
        self.stream.flush()


def observer() -> JsonLinesObserver:
    """The factory for twistd's ``--logger``: standard output, or the
    file ``$MAILFRAME_JSON_LOG`` (appended to)."""
    path = os.environ.get("MAILFRAME_JSON_LOG")
    if path:
        return JsonLinesObserver(open(path, "a", encoding="utf-8"))  # noqa: SIM115  # lives as long as the process
    return JsonLinesObserver(sys.stdout)
