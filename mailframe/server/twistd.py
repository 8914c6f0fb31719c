"""twistd's view of the options: parse, then open the store and users
while errors can still be a one-line usage message."""

from __future__ import annotations

from mailframe.server.options import Options
from mailframe.server.service import prepare


class TwistdOptions(Options):
    def postOptions(self) -> None:
        super().postOptions()
        self.prepared = prepare(self)
