"""A leaf longer than MAX_DOCUMENT is folded only as far as the column
keeps (a 50 MB leaf's ``casefold`` held the GIL ~200 ms): the stored
documents are the same as folding the whole leaf and cutting, and the
message is CUT, so every text key confirms it with the matcher."""

from __future__ import annotations

import pytest

from mailframe.message import parse
from mailframe.message._decode import fold_case
from mailframe.store.sql import textindex
from mailframe.store.sql.textindex import CUT, documents


@pytest.mark.parametrize("subtype", ["plain", "html"])
def test_long_leaf_documents_equal_fold_then_cut(
    monkeypatch: pytest.MonkeyPatch, subtype: str
) -> None:
    monkeypatch.setattr(textindex, "MAX_DOCUMENT", 50)
    text = "Straße ÆØÅ <b>MIXED</b> Case " * 10  # ß folds to "ss": folding lengthens
    raw = (
        f"Subject: long\r\nContent-Type: text/{subtype}; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()
    docs = documents(parse(raw), raw)
    whole = fold_case(text + "\r\n")
    assert docs.body == whole[:50]
    assert docs.state & CUT
