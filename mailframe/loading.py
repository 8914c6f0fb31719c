"""``module.path:factory`` — plugging in a store or a users checker of your
own without packaging it (``--store examples.dict_store:make_store``,
``--users mypkg.auth:checker``).

The module is imported with the current directory on ``sys.path`` (as
``python -m`` does), and ``factory()`` is called with no arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["looks_like_factory", "load_factory", "module_exists"]

_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def looks_like_factory(spec: str) -> bool:
    """True for ``module.path:attribute`` (identifiers only on both sides)."""
    return bool(_SPEC.match(spec.strip()))


def _cwd_on_path() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def module_exists(spec: str) -> bool:
    """Whether the module of ``module.path:attribute`` can be imported
    (so ``bogus:x`` stays an unknown store URL, not an import error)."""
    _cwd_on_path()
    try:
        return importlib.util.find_spec(spec.strip().partition(":")[0]) is not None
    except (ImportError, ValueError):
        return False


def load_factory(spec: str) -> Callable[[], Any]:
    """The callable named by ``module.path:attribute``; ImportError or
    AttributeError (with a one-line message) when it cannot be found."""
    module_name, _, attr = spec.strip().partition(":")
    _cwd_on_path()
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no {attr!r}") from None
    if not callable(target):
        raise TypeError(f"{spec!r} is not callable")
    return target  # type: ignore[no-any-return]
