"""Even out IMAP connections across ``--workers`` (issue 16, "Every core").

Every worker accepts from the same listening socket, and the kernel wakes
them all when a connection arrives: whichever gets there first takes it,
and Twisted's port accepts as many as are waiting at once.  Eight clients
connecting one after another end up 6 and 2 as often as 4 and 4, and the
worker with six serves each of them at half the speed while the other
idles (a mailbox's commands run one at a time in their worker).

So the workers share a small table, one slot per worker in a file of the
supervisor's runtime directory (``mmap``-ed by all): each worker keeps the
number of IMAP connections it holds in its slot.  A worker woken for a new
connection while another worker holds fewer steps back for
:data:`DEFER` seconds (it stops reading the listening socket, then looks
again), so the less busy one takes it; if that one is too busy to accept
in time, the connection is taken all the same.  A worker accepts one
connection per wake-up, so the counts are current for the next.
A slot of a worker that is not running holds :data:`ABSENT`.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

__all__ = ["LoadTable", "balance_port", "ABSENT", "DEFER", "TABLE_NAME"]

#: A slot's value while its worker is not running.
ABSENT = 1 << 62
#: Seconds a busier worker leaves a new connection to a less busy one.
DEFER = 0.01
#: The table's file name in the supervisor's runtime directory.
TABLE_NAME = "connections"


class LoadTable:
    """``count`` 64-bit slots in the file at ``path``; ``index`` is this
    process's slot (None: the supervisor, which only marks slots)."""

    def __init__(self, path: str, count: int, index: int | None = None,
                 create: bool = False) -> None:
        self.count = count
        self.index = index
        if create:
            with open(path, "wb") as f:
                f.write(ABSENT.to_bytes(8, "little") * count)
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, count * 8)
        finally:
            os.close(fd)
        self._slots = memoryview(self._map).cast("q")
        self.mine = 0

    def __getitem__(self, index: int) -> int:
        return int(self._slots[index])

    def __setitem__(self, index: int, value: int) -> None:
        self._slots[index] = value

    def adjust(self, delta: int) -> None:
        """This worker now holds ``delta`` more (or fewer) connections."""
        assert self.index is not None
        self.mine = max(0, self.mine + delta)
        self._slots[self.index] = self.mine

    def busier(self) -> bool:
        """Whether a running worker holds fewer connections than this one."""
        mine = self.mine
        for i in range(self.count):
            if i != self.index and self._slots[i] < mine:
                return True
        return False


def balance_port(reactor: Any, port: Any, table: LoadTable, defer: float = DEFER) -> None:
    """Make ``port`` (a listening ``tcp.Port``) accept only when this
    worker is not busier than another, or once it has stepped back for
    ``defer`` seconds; one connection per wake-up."""
    original = port.doRead
    state = {"waited": False, "stepped_back": False}

    def resume() -> None:
        state["stepped_back"] = False
        state["waited"] = True
        if port.connected:  # not stopped meanwhile
            port.startReading()

    def doRead() -> Any:
        if not state["waited"] and table.busier():
            port.stopReading()
            if not state["stepped_back"]:
                state["stepped_back"] = True
                reactor.callLater(defer, resume)
            return None
        state["waited"] = False
        port.numberAccepts = 1
        return original()

    port.doRead = doRead
