"""twistd's view of the options: parse, then open the store and users
while errors can still be a one-line message (DESIGN.md: "a wrong option or
an unreachable store is a one-line error and exit status 1")."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from twisted.python import usage

from mailframe.server.options import Options
from mailframe.server.service import prepare


class TwistdOptions(Options):
    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        #: the arguments as given, for --workers to start each worker with
        self.argv = list(sys.argv[1:] if options is None else options)
        try:
            super().parseOptions(options)  # type: ignore[no-untyped-call]
        except usage.UsageError as e:
            # twistd would print its whole usage text before the reason.
            sys.stderr.write(f"mailframe: {e}\n")
            raise SystemExit(1) from None

    def postOptions(self) -> None:
        super().postOptions()
        self.prepared = prepare(self)
