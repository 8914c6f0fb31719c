"""Run a bench script of this tree against the server code of another tree.

    python bench/with_tree.py TREE bench/compare.py -n 2000 --servers mailframe

``tests.support.server.PLUGIN_ROOT`` follows ``mailframe.__file__``, so
importing ``mailframe`` from TREE first makes every ``twistd mailframe``
child run TREE's code, while the bench harness (``bench/``, ``tests/``)
stays this tree's.  ``PYTHONPATH=TREE python bench/compare.py`` does not do
that: the script's own tree comes first on ``sys.path`` and the child
inherits it.
"""

from __future__ import annotations

import os
import runpy
import sys


def main() -> None:
    tree, script, *args = sys.argv[1:]
    tree = os.path.abspath(tree)
    sys.path.insert(0, tree)
    import mailframe

    if not mailframe.__file__ or not mailframe.__file__.startswith(tree):
        raise SystemExit(f"mailframe came from {mailframe.__file__}, not {tree}")
    sys.path.insert(0, os.getcwd())
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
