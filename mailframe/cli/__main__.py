"""``python -m mailframe.cli ARGS`` = ``mailframe ARGS``."""

import sys

from mailframe.cli import main

sys.exit(main())
