"""No import cycles among mailframe's modules (issue 10: the session ⇄
handlers circle, smtp's session ⇄ message, message/ → imap.serialize).

The graph comes from the source (every ``import`` and ``from ... import``,
also inside functions; those under ``if TYPE_CHECKING:`` are only for the
type checker and left out), and a cycle is a strongly connected component
of more than one module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mailframe

PACKAGE = Path(mailframe.__file__).resolve().parent


def _module_names() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                hidden.update(id(n) for n in ast.walk(child))
    return hidden


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The mailframe module that ``name`` (a module or module.attr) is in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _edges(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                # "from pkg import submodule" imports the submodule;
                # "from module import name" imports the module.
                targets.add(full if full in known else base)
    return {owner for t in targets if (owner := _owner(t, known)) and owner != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_detector_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_mailframe_modules() -> None:
    known = _module_names()
    graph = {m: _edges(m, p, known) & set(known) for m, p in known.items()}
    assert len(graph) > 100
    assert _cycles(graph) == []


def test_message_model_does_not_import_the_imap_layer() -> None:
    """message/ sits below imap/: it pre-encodes with mailframe.wire."""
    known = _module_names()
    for name, path in known.items():
        if name.startswith("mailframe.message"):
            up = {t for t in _edges(name, path, known) if t.startswith("mailframe.imap")}
            assert not up, (name, up)
