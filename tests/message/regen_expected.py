"""Write ``tests/data/messages/*.expected`` for messages that have none.

Run by hand after adding a message to the corpus, then read the new file
against RFC 3501 §7.4.2 before committing it: the expected files are
written once and checked forever by ``test_corpus.py``.  Existing files are
never overwritten (pass ``--force NAME`` to redo one on purpose).
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

from mailframe.message import parse

DATA = Path(__file__).parent.parent / "data" / "messages"


def render(raw: bytes) -> str:
    info = parse(raw)
    lines = []
    for key, wire in (
        ("ENVELOPE", info.envelope_wire),
        ("BODYSTRUCTURE", info.bodystructure_wire),
        ("BODY", info.body_wire),
    ):
        lines.append(key + " " + codecs.escape_encode(wire)[0].decode("ascii"))
    lines.append("SENTDATE " + (info.sent_date.isoformat() if info.sent_date else "NIL"))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    force = set(argv[argv.index("--force") + 1 :]) if "--force" in argv else set()
    for eml in sorted(DATA.glob("*.eml")):
        exp = eml.with_suffix(".expected")
        if exp.exists() and eml.stem not in force:
            continue
        exp.write_text(render(eml.read_bytes()))
        print("wrote", exp.name)


if __name__ == "__main__":
    main(sys.argv[1:])
