"""Scoped timeouts: ``timeout``, ``move_on_after``, and ``timeout=`` on calls.

Design
------
A scope's deadline goes into its hub's ``_Deadlines``, whose one loop timer
fires at the earliest deadline (see there). When it fires, the tasklet is
suspended at a switch point (the hub runs only then): the timer throws a
private ``_Expired`` into it there, exactly as ``Tasklet.throw`` does (a
blocked tasklet leaves the channel it waits on, so the operation has not
happened; one whose operation already completed returns from it first).
``_Expired`` is a ``BaseException``, so ``except Exception`` cannot swallow
it on its way out; the scope it belongs to turns it into ``TimeoutError``
(``timeout``) or into a silent exit (``move_on_after``). A scope catches only
its own: with nested scopes the innermost expired one wins. A scope that
has exited is marked done, so it never fires later.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from ._errors import TimeoutError
from ._hub import get_hub
from ._scheduler import Task, get_scheduler

__all__ = ["CancelScope", "move_on_after", "timeout", "with_timeout"]

T = TypeVar("T")


class _Expired(BaseException):
    """A scope's time ran out (private: only that scope catches it)."""

    def __init__(self, scope: CancelScope) -> None:
        super().__init__(scope)
        self.scope = scope


class _Deadlines:
    """One hub's scope deadlines: a heap, and one loop timer for the earliest.

    Arming and cancelling a loop timer costs more than the rest of a scope,
    and most scopes end long before their deadline. So a scope only pushes
    its deadline here, and leaving it marks it done; the single timer fires
    at the earliest deadline, expires the scopes still active, drops the
    done ones and re-arms for the next. Done entries are dropped in bulk
    once they are most of the heap, so it stays proportional to the live
    scopes.
    """

    __slots__ = ("at", "done", "handle", "heap", "hub", "seq")

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.heap: list[tuple[float, int, CancelScope]] = []
        self.seq = 0
        self.done = 0
        self.handle: Any = None
        self.at = math.inf  # when the timer fires, if armed

    def add(self, scope: CancelScope) -> None:
        """Watch ``scope``'s deadline. Does not switch."""
        self.seq += 1
        heapq.heappush(self.heap, (scope.deadline, self.seq, scope))
        if scope.deadline < self.at:
            self._arm(scope.deadline)

    def discard(self) -> None:
        """A scope left before its deadline. Does not switch."""
        self.done += 1
        if self.done > 64 and self.done * 2 > len(self.heap):
            self.heap = [e for e in self.heap if e[2]._active]
            heapq.heapify(self.heap)
            self.done = 0

    def _arm(self, at: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.at = at
        self.handle = self.hub.loop.call_at(at, self._fire)

    def _fire(self) -> None:
        """A loop callback, in the hub: expire the scopes whose time is up,
        then re-arm for the next deadline. Switches (into expired tasklets)."""
        self.handle = None
        self.at = math.inf
        heap = self.heap
        # uvloop's clock and timers have a 1 ms grain: a timer may fire a
        # little before its deadline reads as passed.
        now = self.hub.loop.time() + 0.001
        due: list[CancelScope] = []
        while heap and (heap[0][0] <= now or not heap[0][2]._active):
            scope = heapq.heappop(heap)[2]
            if scope._active:
                due.append(scope)
            else:
                self.done = max(self.done - 1, 0)
        if heap:
            self._arm(heap[0][0])
        for scope in due:
            scope._expire()


class CancelScope:
    """A block of code with a deadline; made by :func:`timeout` or
    :func:`move_on_after`. Entering and leaving do not switch."""

    __slots__ = (
        "_active",
        "_hub",
        "_raise",
        "_tasklet",
        "cancelled_caught",
        "deadline",
        "seconds",
    )

    def __init__(self, seconds: float, *, raise_: bool) -> None:
        if not isinstance(seconds, (int, float)):
            raise TypeError(f"a timeout needs a number of seconds, got {seconds!r}")
        if seconds != seconds:
            raise ValueError("a timeout needs a number of seconds, got nan")
        self.seconds = seconds
        self._raise = raise_
        self._active = False
        self._hub: Any = None
        self._tasklet: Task | None = None
        self.deadline = 0.0
        #: True when the scope's time ran out and it ended the block.
        self.cancelled_caught = False

    def __enter__(self) -> CancelScope:
        if self._tasklet is not None:
            raise RuntimeError(f"{self!r} cannot be entered twice")
        s = get_scheduler()
        hub = self._hub = s.hub or get_hub(s)
        self._tasklet = s.current
        self._active = True
        self.deadline = hub.loop.time() + self.seconds
        deadlines = hub.timers
        if deadlines is None:
            deadlines = hub.timers = _Deadlines(hub)
        deadlines.add(self)
        # The deadline will wake the tasklet: blocking now is no deadlock,
        # and the hub gets its turns even while tasklets only yield.
        hub.add_waiter()
        s.queue_hub()
        return self

    def _expire(self) -> None:
        """From the hub's timer: the time ran out (switches)."""
        t = self._tasklet
        if self._active and t is not None:
            self._active = False
            hub = self._hub
            hub.drop_waiter()
            t.throw(_Expired(self))  # type: ignore[attr-defined]
            # Back in the hub, outside a flush: run what became runnable.
            if hub.sched.runq:
                hub.ensure_flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._active:
            self._active = False
            hub = self._hub
            hub.timers.discard()
            hub.drop_waiter()
        if isinstance(exc, _Expired) and exc.scope is self:
            self.cancelled_caught = True
            if self._raise:
                raise TimeoutError(f"timed out after {self.seconds} s") from None
            return True
        return False

    def __repr__(self) -> str:
        state = (
            "active" if self._active else "expired" if self.cancelled_caught else "idle"
        )
        return f"<CancelScope {self.seconds} s {state}>"


def timeout(seconds: float) -> CancelScope:
    """``with timeout(seconds):`` raises ``shoal.TimeoutError`` out of the
    block if it has not finished in time. Scopes nest; the innermost expired
    one wins."""
    return CancelScope(seconds, raise_=True)


def move_on_after(seconds: float) -> CancelScope:
    """``with move_on_after(seconds) as scope:`` leaves the block silently if
    it has not finished in time; then ``scope.cancelled_caught`` is true."""
    return CancelScope(seconds, raise_=False)


def with_timeout(seconds: float | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, within ``timeout(seconds)`` unless ``seconds`` is None:
    the ``timeout=`` keyword of blocking calls. Switches as ``fn`` does."""
    if seconds is None:
        return fn(*args)
    with CancelScope(seconds, raise_=True):
        return fn(*args)
    raise AssertionError("unreachable: a timeout scope raises, never swallows")
