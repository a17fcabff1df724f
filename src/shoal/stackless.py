"""The C-Stackless API over shoal's scheduler: ``from shoal import stackless``.

Design
------
Stackless keeps the runnable tasklets in a ring whose head is the current
tasklet; shoal's scheduler keeps the same ring as ``[current] + runq``. Every
operation here rearranges ``runq`` and then suspends through the scheduler's
``park``: "insert at the end" is ``append``, and "move the head to ``t``"
(``run``, ``kill``) appends the caller and rotates ``runq`` until ``t`` is
first. Ring membership is a scan of ``runq``, so ``insert``, ``remove``,
``scheduled``, ``next`` and ``prev`` cost O(runnables) where C pays O(1).

``tempval`` is the scheduler's wake value ``_temp`` (``NOWAKE`` and
``NO_VALUE`` read as None); a bomb there explodes when the tasklet resumes.
``run()``, ``switch()`` and ``throw()`` park their caller with ``NO_VALUE``
when it has no tempval, so that ``shoal.schedule()``, which resumes a
tasklet that has no wake value with a bare switch, cannot make them return
``()``. A tasklet that is not
alive (unbound, bound without arguments, or ended) has ``_gr`` set to DEAD.
``stackless.run()`` pushes its caller on ``Scheduler.watchdogs`` and parks it
without registering it anywhere: paused, it is what the scheduler wakes when
nothing else can run, and where an exception escaping a tasklet goes.
Woken otherwise (``t.run()``, a kill), it pops the callers nested above it
too, and makes them runnable, as C does.
The schedule callback is called through ``_HubHidden``, which hides shoal's
hub from it, as ``getruncount()``, ``next`` and ``prev`` do.

Importing this module makes every thread's main tasklet a ``tasklet``.
docs/stackless.md states the C semantics; what greenlet cannot do raises
``NotImplementedError``.
"""

from __future__ import annotations

import threading as _threading
from typing import Any

from . import _scheduler, _watch
from ._errors import DeadlockError as _DeadlockError
from ._errors import TaskletExit, bomb
from ._scheduler import DEAD as _DEAD
from ._scheduler import NOWAKE as _NOWAKE
from ._scheduler import Scheduler as _Scheduler
from ._scheduler import Task as _Task
from ._scheduler import get_scheduler as _get_scheduler
from ._scheduler import local as _local
from ._stackless_channel import LAST as _LAST
from ._stackless_channel import (
    channel,
    get_channel_callback,
    set_channel_callback,
)
from ._stackless_tasklet import claim as _claim
from ._stackless_tasklet import make_main as _make_main
from ._stackless_tasklet import sched as _sched
from ._stackless_tasklet import tasklet
from ._task import holds as _holds
from ._watch import ScheduleCallback as _ScheduleCallback

__all__ = [
    "TaskletExit",
    "atomic",
    "bomb",
    "channel",
    "enable_softswitch",
    "get_channel_callback",
    "get_schedule_callback",
    "getcurrent",
    "getmain",
    "getruncount",
    "run",
    "schedule",
    "schedule_remove",
    "set_channel_callback",
    "set_schedule_callback",
    "tasklet",
]

_CURRENT: Any = object()  # schedule()'s default retval: the current tasklet


_scheduler.make_main = _make_main
if (
    getattr(_local, "sched", None) is not None
    and _local.sched.current is _local.sched.main
):
    _sched()


def getcurrent() -> tasklet:
    """The running tasklet (a ``shoal.Tasklet`` inside ``shoal.spawn``'s)."""
    return _sched().current  # type: ignore[return-value]


def getmain() -> tasklet:
    """This thread's main tasklet."""
    return _sched().main  # type: ignore[return-value]


def getruncount() -> int:
    """How many tasklets are in the runnables ring, the current one included
    (not the hub's turn, queued there while it waits for I/O or time)."""
    s = _get_scheduler()
    runq = s.runq
    return len(runq) + 1 - (1 if _holds(runq, s.hubtask) else 0)


def __getattr__(name: str) -> Any:
    """``current``, ``main`` and ``runcount``, computed at each access."""
    if name == "current":
        return getcurrent()
    if name == "main":
        return getmain()
    if name == "runcount":
        return getruncount()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schedule(retval: Any = _CURRENT) -> Any:
    """Let the others run: the caller goes to the end of the ring. Returns
    ``retval`` (default: the current tasklet), or what its tempval was set to
    meanwhile. Switches unless nothing else is runnable."""
    try:
        s = _local.sched
    except AttributeError:
        s = _get_scheduler()
    cur = s.current
    if retval is _CURRENT:
        retval = cur
    if not s.runq:
        s.switches += 1  # a monitor counts a lone yield as a switch
        return _claim(retval)
    cur._temp = retval
    s.runq.append(cur)
    return _claim(s.park(cur))


def schedule_remove(retval: Any = _CURRENT) -> Any:
    """Like :func:`schedule`, but the caller leaves the ring (it is paused
    until inserted again, or, for main, until nothing else can run).
    Switches unless nothing else is runnable."""
    s = _get_scheduler()
    cur = s.current
    cur._temp = cur if retval is _CURRENT else retval
    alone = not s.runq
    try:
        value = s.park(cur)
    except _DeadlockError as exc:
        if not alone:  # not ours: an error that escaped another tasklet
            raise
        cur._temp = _NOWAKE
        raise _DeadlockError(_LAST) from exc
    return _claim(value)


def run(
    timeout: int = 0,
    threadblock: bool = False,
    soft: bool = False,
    ignore_nesting: bool = False,
    totaltimeout: bool = False,
) -> None:
    """Run the other tasklets: the caller leaves the ring and is woken once
    every other tasklet has ended, blocked or removed itself. An exception
    escaping a tasklet comes out of here at once; the rest stay runnable.
    Woken sooner (``t.run()``, ``t.kill()``, ``t.throw()``), the caller
    leaves the watchdog stack with the ``run()`` callers nested inside its
    run, which go to the end of the ring. Switches unless nothing else is
    runnable."""
    if timeout or soft or ignore_nesting or totaltimeout:
        raise NotImplementedError(
            "greenlet cannot preempt a tasklet: run(timeout=...) needs a hook "
            "in the interpreter loop"
        )
    if threadblock:
        raise NotImplementedError(
            "greenlet-based shoal cannot block the thread for other threads' "
            "tasklets: run(threadblock=True)"
        )
    s = _sched()
    if not s.runq:
        return
    cur = s.current
    watchdogs = s.watchdogs
    watchdogs.append(cur)
    try:
        value = s.park(cur)
    finally:
        # Woken as the innermost caller, or the switch failed: the top.
        if watchdogs and watchdogs[-1] is cur:
            watchdogs.pop()
        else:
            _leave_watchdogs(s, cur)
    _claim(value)


def _leave_watchdogs(s: _Scheduler, cur: _Task) -> None:
    """``cur``, back in ``run()`` but not the innermost caller, leaves the
    watchdog stack, and so do the callers above it, nested inside its run
    (C's ``PyStackless_RunWatchdogEx``: "if there are deeper tasklets on the
    stack, we pop them here and make them runnable"): innermost first, each
    that is alive and not scheduled goes to the end of the ring, to return
    from its ``run()`` in its turn. They would otherwise stay paused, and
    the innermost would be woken in place of ``cur`` when nothing else can
    run. Whether ``cur`` was woken or had an exception thrown in. If an
    outer caller already popped ``cur``, nothing to do. Does not switch."""
    watchdogs = s.watchdogs
    for i in range(len(watchdogs) - 1, -1, -1):
        if watchdogs[i] is cur:
            break
    else:
        return
    inner = watchdogs[i + 1 :]
    del watchdogs[i:]
    runq = s.runq
    for t in reversed(inner):
        if t._gr is not _DEAD and t._blocked_on is None and not _holds(runq, t):
            runq.append(t)


class _HubHidden:
    """The user's schedule callback, as shoal's switch watcher calls it
    (``shoal._watch``): Stackless has no hub, so a switch into the hub's
    stand-in task is not told, and one out of it is told as a switch from
    the tasklet that ran before the hub (A -> hub -> B as ``(A, B)``), or not
    at all if that is the tasklet resumed (A -> hub -> A); nor is a switch
    to oneself (a ``schedule()`` that found only the hub's turn and left it
    its place). The tasklet that ran last is kept per thread. Costs nothing
    while no callback is set: the kernel's switch points test a global.
    Does not switch."""

    __slots__ = ("callback", "ran")

    def __init__(self, callback: _ScheduleCallback) -> None:
        self.callback = callback
        #: ``ran.last``: the thread's tasklet that ran last, hub aside.
        self.ran = _threading.local()
        s = _get_scheduler()
        if s.current is not s.hubtask:
            self.ran.last = s.current

    def __call__(self, prev: Any, nxt: Any) -> None:
        hub = nxt._sched.hubtask
        ran = self.ran
        if nxt is hub:
            ran.last = prev
            return
        if prev is hub:
            # Whoever ran before the hub; None if this thread's switches
            # were not watched then (the callback was set from another
            # thread while the hub ran).
            prev = getattr(ran, "last", None)
        ran.last = nxt
        if prev is nxt:
            return
        # getcurrent() is prev meanwhile, as in C 3.x: the switch has not
        # happened yet (the kernel already names next current).
        s = nxt._sched
        current = s.current
        if prev is not None:
            s.current = prev
        try:
            self.callback(prev, nxt)
        except BaseException as exc:  # any: see shoal._watch.switched
            _watch.unraisable(exc, self.callback)
        finally:
            s.current = current


def set_schedule_callback(
    callback: _ScheduleCallback | None,
) -> _ScheduleCallback | None:
    """Call ``callback(prev, next)`` at every switch between tasklets, just
    before it; return the previous callback. Switches into and out of
    shoal's hub are not told: A -> hub -> B is told as ``(A, B)``, and
    A -> hub -> A not at all. Does not switch."""
    if callback is not None and not callable(callback):
        raise TypeError(f"schedule callback must be callable or None, got {callback!r}")
    old = _watch.set_schedule_callback(
        None if callback is None else _HubHidden(callback)
    )
    return old.callback if isinstance(old, _HubHidden) else old


def get_schedule_callback() -> _ScheduleCallback | None:
    """The current schedule callback, or None. Does not switch."""
    cb = _watch.get_schedule_callback()
    return cb.callback if isinstance(cb, _HubHidden) else cb


class atomic:  # noqa: N801 - the Stackless name
    """``with atomic():`` sets the current tasklet's atomic flag and restores
    it on exit. shoal never preempts, so it is bookkeeping. Does not switch."""

    __slots__ = ("_old", "_tasklet")

    def __enter__(self) -> None:
        self._tasklet = getcurrent()
        self._old = self._tasklet.set_atomic(True)

    def __exit__(self, *exc_info: object) -> None:
        self._tasklet.set_atomic(self._old)


def enable_softswitch(flag: bool | None) -> bool:
    """Soft switching does not exist on greenlet: always off (None asks).
    Does not switch."""
    if flag is not None and not isinstance(flag, int):
        raise TypeError(
            f"enable_softswitch needs exactly one bool or integer, got {flag!r}"
        )
    if flag:
        raise NotImplementedError("greenlet cannot soft-switch: it copies C stacks")
    return False
