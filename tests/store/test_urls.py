"""Store URLs: ``open_store`` through entry points and the built-in table."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

from twisted.trial.unittest import TestCase

from mailframe.errors import StoreUnavailable
from mailframe.store import BUILTIN_STORES, open_store, store_factory
from mailframe.store.memory import MemoryStore, from_url


class BuiltinURLs(TestCase):
    def test_memory_urls(self) -> None:
        for url in ("memory", "memory:", "MEMORY", " memory: "):
            self.assertIsInstance(open_store(url), MemoryStore)
        self.assertIsInstance(from_url("memory"), MemoryStore)
        self.assertIs(store_factory("memory"), from_url)

    def test_memory_refuses_arguments(self) -> None:
        with self.assertRaises(ValueError):
            from_url("memory:/tmp/x")
        with self.assertRaises(StoreUnavailable) as caught:
            open_store("memory:/tmp/x")
        message = str(caught.exception)
        assert "\n" not in message and "memory:/tmp/x" in message, message

    def test_unknown_scheme_is_one_line_naming_the_known_ones(self) -> None:
        for url in ("nosuch:/x", "", "   ", "postgresqlx://db"):
            with self.assertRaises(StoreUnavailable) as caught:
                open_store(url)
            message = str(caught.exception)
            assert message and "\n" not in message, message
        with self.assertRaises(StoreUnavailable) as caught:
            open_store("nosuch:/x")
        assert "'nosuch'" in str(caught.exception) and "memory" in str(caught.exception)

    def test_builtin_table_names_real_factories(self) -> None:
        self.assertEqual(BUILTIN_STORES["memory"], "mailframe.store.memory:from_url")
        self.assertEqual(BUILTIN_STORES["maildir"], "mailframe.store.maildir:from_url")


class EntryPointURLs(TestCase):
    """A third-party backend declared as a ``mailframe.stores`` entry point,
    installed the way pip installs one (a ``.dist-info`` on sys.path)."""

    def install(self, entry_points: str, module: str, source: str) -> None:
        root = Path(self.mktemp())
        dist = root / "thirdparty_store-1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: thirdparty-store\nVersion: 1.0\n"
        )
        (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        sys.path.insert(0, str(root))
        importlib.invalidate_caches()

        def uninstall() -> None:
            sys.path.remove(str(root))
            sys.modules.pop(module, None)
            importlib.invalidate_caches()

        self.addCleanup(uninstall)

    def test_third_party_scheme(self) -> None:
        self.install(
            """
            [mailframe.stores]
            tpstore = tp_store_mod:from_url
            tpbroken = tp_store_missing:from_url
            tpfails = tp_store_mod:failing
            """,
            "tp_store_mod",
            """
            def from_url(url):
                return ("opened", url)

            def failing(url):
                raise OSError("cannot reach\\nthe database")
            """,
        )
        self.assertEqual(open_store("tpstore://host/db"), ("opened", "tpstore://host/db"))
        with self.assertRaises(StoreUnavailable) as caught:
            open_store("tpbroken:x")
        assert "tpbroken" in str(caught.exception) and "\n" not in str(caught.exception)
        with self.assertRaises(StoreUnavailable) as caught:
            open_store("tpfails:x")
        self.assertEqual(
            str(caught.exception), "cannot open store 'tpfails:x': cannot reach the database"
        )
        with self.assertRaises(StoreUnavailable) as caught:
            open_store("nosuch:x")
        assert "tpstore" in str(caught.exception)  # known schemes include plug-ins
