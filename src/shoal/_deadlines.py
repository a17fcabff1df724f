"""One loop timer for all of a hub's deadlines: sleeps, timeouts, scopes.

Arming and cancelling an event-loop timer costs more (about a microsecond on
uvloop) than the rest of a ``sleep`` or a timeout scope, and most timeouts
are cancelled long before they are due. So every deadline goes into one
heap per hub, and a single loop timer is armed for the earliest. Cancelling
only marks the entry; the timer, when it fires, expires the entries that are
due and still active, drops the cancelled ones it meets and re-arms for the
next. Cancelled entries are also dropped in bulk once they are most of the
heap, so it stays proportional to the live deadlines.

Deadlines are on ``time.monotonic`` (``shoal.current_time``), not on the
loop's clock, which uvloop caches between iterations. An entry is due up to
a millisecond early, the grain of uvloop's timers: a timer that fires a hair
before its deadline must not spin the loop until the clock catches up.

An expiry that raises loses no other entry due in the same firing: an
``Exception`` goes to the loop's exception handler and the rest expire; a
``BaseException`` (``SystemExit``, ``KeyboardInterrupt``), which ends the
loop's run, is raised once the rest are back in the heap, the timer armed
for them.
"""

from __future__ import annotations

import heapq
import math
import time
from typing import Any, Protocol

__all__ = ["Deadline", "Deadlines"]

_GRAIN = 0.001  # seconds: an entry this close to its deadline is due


class Deadline(Protocol):
    """An entry: when it is due, whether it still counts, what to do then."""

    deadline: float
    _active: bool

    def _expire(self) -> None: ...


class Deadlines:
    """One hub's deadlines: a heap, and one loop timer for the earliest."""

    __slots__ = ("at", "done", "handle", "heap", "loop", "seq")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.heap: list[tuple[float, int, Deadline]] = []
        self.seq = 0
        #: Cancelled entries still in the heap.
        self.done = 0
        self.handle: Any = None
        #: The deadline the timer is armed for (inf: not armed).
        self.at = math.inf

    def add(self, entry: Deadline) -> None:
        """Expire ``entry`` at its deadline unless it is cancelled first.
        Does not switch."""
        self.seq += 1
        heapq.heappush(self.heap, (entry.deadline, self.seq, entry))
        if entry.deadline < self.at:
            self._arm(entry.deadline)

    def discard(self) -> None:
        """An entry was cancelled (its ``_active`` is now false). Does not
        switch."""
        self.done += 1
        if self.done > 64 and self.done * 2 > len(self.heap):
            self.heap = [e for e in self.heap if e[2]._active]
            heapq.heapify(self.heap)
            self.done = 0

    def _arm(self, at: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.at = at
        delay = max(at - time.monotonic(), 0.0)
        self.handle = self.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        """A loop callback, in the hub: expire the entries that are due, then
        re-arm for the next deadline. An expiry that fails does not stop the
        others (see the module's docstring). Switches (an expiry may)."""
        self.handle = None
        self.at = math.inf
        heap = self.heap
        now = time.monotonic() + _GRAIN
        due: list[Deadline] = []
        while heap and (heap[0][0] <= now or not heap[0][2]._active):
            entry = heapq.heappop(heap)[2]
            if entry._active:
                due.append(entry)
            else:
                self.done = max(self.done - 1, 0)
        if heap:
            self._arm(heap[0][0])
        for i, entry in enumerate(due):
            # An earlier expiry may have cancelled this one (its tasklet
            # left the scope around it, or killed another): skip it.
            if entry._active:
                try:
                    entry._expire()
                except Exception as exc:
                    self.loop.call_exception_handler(
                        {"message": f"{entry!r} failed to expire", "exception": exc}
                    )
                except BaseException:
                    for rest in due[i + 1 :]:
                        if rest._active:
                            self.add(rest)
                    raise
