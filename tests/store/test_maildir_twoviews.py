"""Two stores on one Maildir (as two processes would be), driven at random.

Every step goes through one of the two stores, or is done behind both
backs by "another program" (a file dropped into new/, a flag rename as
mutt does it, an unlink).  After each step both stores must show the same
mailbox: same UIDs, flags, modseqs, UIDNEXT and HIGHESTMODSEQ, with the
state a plain model predicts, and modseqs that never go backwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

FLAGS = ["\\Seen", "\\Flagged", "\\Deleted", "$Junk", "Work"]

step = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 1), st.sets(st.sampled_from(FLAGS), max_size=2)),
    st.tuples(
        st.just("store"),
        st.integers(0, 1),
        st.sampled_from(["add", "remove", "set"]),
        st.sets(st.sampled_from(FLAGS), max_size=2),
        st.integers(0, 7),
    ),
    st.tuples(st.just("expunge"), st.integers(0, 1)),
    st.tuples(st.just("drop"), st.integers(0, 99)),
    st.tuples(st.just("mutt_seen"), st.integers(0, 7)),
    st.tuples(st.just("unlink"), st.integers(0, 7)),
)




def files(maildir: str) -> list[str]:
    return sorted(os.listdir(os.path.join(maildir, "cur")))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(step, min_size=1, max_size=25))
def test_two_stores_and_other_programs_agree(steps: list[tuple[Any, ...]]) -> None:
    root = tempfile.mkdtemp(prefix="mf-views-")
    try:
        boxes = [result(result(MaildirStore(root).account("u")).mailbox("INBOX")) for _ in range(2)]
        maildir = os.path.join(root, "u")
        model: dict[int, frozenset[str]] = {}
        last_modseq = 0
        dropped = 0
        for s in steps:
            kind = s[0]
            if kind == "append":
                uid = result(
                    boxes[s[1]].append(b"Subject: x\r\n\r\nbody\r\n", frozenset(s[2]), None)
                )
                assert uid > max(model, default=0)
                model[uid] = frozenset(s[2])
            elif kind == "store" and model:
                uid = sorted(model)[s[4] % len(model)]
                res = result(boxes[s[1]].store([uid], s[2], frozenset(s[3])))
                old = model[uid]
                new = {"add": old | s[3], "remove": old - s[3], "set": frozenset(s[3])}[s[2]]
                model[uid] = frozenset(new)
                assert [c.uid for c in res.changed] == ([uid] if new != old else [])
            elif kind == "expunge":
                gone = result(boxes[s[1]].expunge())
                assert gone == sorted(u for u, f in model.items() if "\\Deleted" in f)
                for uid in gone:
                    del model[uid]
            elif kind == "drop":
                dropped += 1
                name = f"1700000000.drop{dropped}_{s[1]}.host"
                with open(os.path.join(maildir, "tmp", name), "wb") as f:
                    f.write(b"Subject: dropped\n\nx\n")
                os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
                before = max(model, default=0)
                snap = result(boxes[0].snapshot())
                new_uids = [m.uid for m in snap.messages if m.uid not in model]
                assert len(new_uids) == 1 and new_uids[0] > before
                model[new_uids[0]] = frozenset()
            elif kind == "mutt_seen" and model:
                # rename one file to carry S, as a Maildir MUA does
                names = files(maildir)
                name = names[s[1] % len(names)]
                base, _, info = name.partition(":2,")
                if "S" not in info:
                    target = base + ":2," + "".join(sorted(info + "S"))
                    os.rename(
                        os.path.join(maildir, "cur", name), os.path.join(maildir, "cur", target)
                    )
                    snap = result(boxes[1].snapshot())
                    for m in snap.messages:
                        model[m.uid] = m.flags  # learn which UID it was
                    assert sum("\\Seen" in f for f in model.values()) == sum(
                        ":2," in n and "S" in n.partition(":2,")[2] for n in files(maildir)
                    )
            elif kind == "unlink" and model:
                names = files(maildir)
                os.unlink(os.path.join(maildir, "cur", names[s[1] % len(names)]))
                snap = result(boxes[0].snapshot())
                live = {m.uid for m in snap.messages}
                assert len(live) == len(model) - 1 and live < set(model)
                for uid in set(model) - live:
                    del model[uid]
            a, b = (result(box.snapshot()) for box in boxes)
            assert a == b
            assert {m.uid: m.flags for m in a.messages} == model
            assert a.highestmodseq >= last_modseq
            last_modseq = a.highestmodseq
            assert all(m.modseq <= a.highestmodseq for m in a.messages)
        reopened = result(result(MaildirStore(root).account("u")).mailbox("INBOX"))
        assert result(reopened.snapshot()) == result(boxes[0].snapshot())
    finally:
        shutil.rmtree(root, ignore_errors=True)
