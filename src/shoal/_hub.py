"""The hub: each thread's asyncio event loop, running in its own greenlet.

Design
------
Tasklets hand work to each other directly; the hub runs only when no tasklet
is runnable. A tasklet that waits on a timer, a file descriptor or a future
registers a callback on the loop and counts itself in ``Hub.waiting``; when
it parks with nothing else runnable, the scheduler switches to the hub
greenlet, which is inside ``loop.run_forever()``. A loop callback makes the
tasklet runnable again (``wake``) and, once per loop iteration, ``flush``
runs every runnable tasklet until all of them wait again and the last one
parks back into the hub (``Scheduler.run_ready``). Because tasklets run
inside a loop callback, ``asyncio.get_running_loop()`` in a tasklet is the
hub's loop.

The loop is uvloop where it is installed, the stdlib loop elsewhere; the
``SHOAL_LOOP`` environment variable (``asyncio`` or ``uvloop``) or
``shoal.run(fn, loop=...)`` chooses. Each ``shoal.run`` makes a fresh hub
and closes it at the end.

The waiting count is what tells a deadlock from a wait: when nothing is
runnable and nobody waits in the hub, nothing can ever wake anyone.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from ._scheduler import Scheduler, Task, get_scheduler, schedule

__all__ = ["Hub", "current_time", "get_hub", "new_loop", "sleep"]

LOOPS = ("asyncio", "uvloop")


def new_loop(name: str | None = None) -> asyncio.AbstractEventLoop:
    """A new event loop: ``name`` is "uvloop", "asyncio", or None for the
    ``SHOAL_LOOP`` environment variable, else uvloop where installed."""
    chosen = name if name is not None else os.environ.get("SHOAL_LOOP") or None
    if chosen is not None and chosen not in LOOPS:
        source = "loop=" if name is not None else "SHOAL_LOOP="
        raise ValueError(f"{source}{chosen!r}: expected one of {', '.join(LOOPS)}")
    if chosen in (None, "uvloop"):
        try:
            import uvloop
        except ImportError:
            if chosen == "uvloop":
                raise ValueError(
                    "loop 'uvloop' was asked for, but uvloop is not installed"
                ) from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class Hub:
    """One thread's event loop and the tasklets waiting on it."""

    __slots__ = ("flushing", "gr", "loop", "sched", "task", "waiting")

    def __init__(self, sched: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
        self.sched = sched
        self.loop = loop
        #: The hub greenlet, made at the first switch to the hub.
        self.gr: Any = None
        #: Stands for the hub as ``current`` while the hub greenlet runs.
        self.task = Task(sched, None, None, None)
        self.task._name = "hub"
        #: Registrations that will wake a tasklet: timers, futures, fds.
        self.waiting = 0
        self.flushing = False

    def run_loop(self) -> None:
        """The body of the hub greenlet."""
        self.loop.run_forever()

    def wake(self, t: Task, value: Any) -> None:
        """A loop callback: ``t``'s wait is over; it returns ``value``."""
        self.waiting -= 1
        t._blocked_on = None
        t._temp = value
        self.sched.runq.append(t)
        if not self.flushing:
            self.flushing = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """A loop callback: run the runnable tasklets (switches)."""
        self.flushing = False
        self.sched.run_ready()

    def __repr__(self) -> str:
        return f"<Hub {type(self.loop).__module__} waiting={self.waiting}>"


def get_hub(s: Scheduler | None = None) -> Hub:
    """This thread's hub, made at the first call. Does not switch."""
    if s is None:
        s = get_scheduler()
    hub: Hub | None = s.hub
    if hub is None:
        hub = s.hub = Hub(s, new_loop())
    return hub


class _Timer:
    """A tasklet sleeping: the Waitable for :func:`sleep`."""

    __slots__ = ("deadline", "handle", "hub")

    def __init__(self, hub: Hub, deadline: float, handle: asyncio.TimerHandle) -> None:
        self.hub = hub
        self.deadline = deadline
        self.handle = handle

    def _unpark(self, t: Task) -> None:
        self.handle.cancel()
        self.hub.waiting -= 1

    def _describe(self, t: Task) -> str:
        left = self.deadline - time.monotonic()
        return f"sleeping ({max(left, 0.0):.3f} s left)"


def sleep(seconds: float) -> None:
    """Wait ``seconds``; other tasklets run meanwhile. ``sleep(0)`` yields
    like :func:`shoal.schedule`. Switches."""
    if not isinstance(seconds, (int, float)):
        raise TypeError(f"sleep() needs a number of seconds, got {seconds!r}")
    s = get_scheduler()
    if not seconds > 0:
        if seconds != seconds:  # NaN
            raise ValueError("sleep() needs a number of seconds, got nan")
        schedule()
        return
    cur = s.current
    hub = get_hub(s)
    handle = hub.loop.call_later(seconds, hub.wake, cur, None)
    hub.waiting += 1
    timer = _Timer(hub, time.monotonic() + seconds, handle)
    cur._blocked_on = timer
    try:
        s.park(cur)
    except BaseException:
        if cur._blocked_on is timer:
            timer._unpark(cur)
            cur._blocked_on = None
        raise


def current_time() -> float:
    """Seconds on a monotonic clock (``time.monotonic``). Does not switch."""
    return time.monotonic()
