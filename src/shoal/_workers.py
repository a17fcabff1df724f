"""The worker greenlets that run tasklets' functions. Part of the kernel
(see ``shoal._scheduler``): ``Scheduler.start`` hands a tasklet that has
not started to a pooled worker, or to the starter greenlet, which makes a
new one.

Worker greenlets are pooled: when a tasklet's function ends, its greenlet
parks itself in the scheduler's ``pool`` and later runs another tasklet's
function. If the next runnable tasklet has not started yet, the dying worker
runs it in place, without any switch. Dropping a parked greenlet (when the
pool is full) throws ``GreenletExit`` into it, which ends it cleanly.
"""

from __future__ import annotations

from types import CoroutineType
from typing import Any

from greenlet import getcurrent, greenlet

from . import _watch
from ._errors import TaskletExit
from ._task import DEAD, NOWAKE
from ._watch import switched as _switched

__all__ = ["POOL_SIZE", "starter"]

_NOWAKE = NOWAKE
_Coroutine = CoroutineType
#: At most this many idle worker greenlets wait in a scheduler's pool.
POOL_SIZE = 256
#: ``shoal._watch.gate``, kept here by ``_regate``: read at every switch.
_schedule_callback: Any = None


def _regate() -> None:
    global _schedule_callback
    _schedule_callback = _watch.gate


_watch.gate_listeners.append(_regate)


def starter(s: Any) -> None:
    """The body of the starter greenlet of scheduler ``s``: whenever it is
    switched to, make a worker greenlet and start the current tasklet in
    it (see ``Scheduler.start``)."""
    root = s.root
    while True:
        gr = greenlet(_worker, root)
        s.current._gr = gr
        s = gr.switch(s)


def _worker(s: Any) -> None:
    """The body of every worker greenlet: run tasklets' functions one after
    another, and in between switch to the next runnable tasklet.

    This is ``Task._finish`` and the switch away, inlined: spawning and
    ending short tasklets is a hot path.
    """
    me = getcurrent()
    alive = s.alive
    runq = s.runq
    pool = s.pool
    t = s.current
    while True:
        fn, args, kwargs = t._fn, t._args, t._kwargs
        t._args = t._kwargs = None
        try:
            # Calls with a fixed number of arguments are inlined by CPython
            # 3.11+; fn(*args) is not, and leaves one more C frame on this
            # greenlet's stack, which every switch away copies (~370 bytes
            # a parked tasklet).
            if kwargs:
                t._value = fn(*args, **kwargs)
            elif not args:
                t._value = fn()
            elif len(args) == 1:
                t._value = fn(args[0])
            elif len(args) == 2:
                t._value = fn(args[0], args[1])
            elif len(args) == 3:
                t._value = fn(args[0], args[1], args[2])
            else:
                t._value = fn(*args)
        except BaseException as exc:
            t._value = None
            t._exception = exc
            if type(exc) is TaskletExit:
                # A kill needs no traceback, and its frames (whose locals
                # hold the tasklet) would make a cycle with the tasklet:
                # cyclic garbage at every kill, for the collector. And
                # failed() has nothing to do for a plain TaskletExit.
                exc.__traceback__ = None
            else:
                s.failed(t, exc)
        else:
            if t._value is not None and type(t._value) is _Coroutine:
                _refuse_coroutine(s, t)
            else:
                # Both slots set once it has ended: reading an unset slot
                # raises (and formats) an AttributeError, ~30x this store.
                t._exception = None
        fn = args = kwargs = None  # no references kept while parked
        t._gr = DEAD
        del alive[t]
        if t._joiners:
            s.wake_joiners(t)
        if not runq or s.propagating is not None:
            dead = t if _schedule_callback is not None else None
            t = nxt = None  # none kept while parked (nxt: one run in place)
            s.wake_main(me, dead)
            dead = None
            t = s.current
            continue
        nxt = runq.popleft()
        s.current = nxt
        if _schedule_callback is not None:
            _switched(t, nxt)
        gr = nxt._gr
        if gr is None:
            # Not started yet: run it right here, with no switch at all.
            nxt._gr = me
            t = nxt
            continue
        if len(pool) >= POOL_SIZE:
            pool.popleft()  # dropping an idle greenlet ends it (GreenletExit)
        pool.append(me)
        value = nxt._temp
        nxt._temp = _NOWAKE
        t = nxt = None
        gr.switch(value)
        t = s.current  # Scheduler.start() switched here to run it


def _refuse_coroutine(s: Any, t: Any) -> None:
    """``t``'s function returned a coroutine: it was an ``async def``
    function (or called one, in ``oneof``, ``allof``, a task group), and
    that coroutine never ran. Close it, and fail ``t`` with a
    ``TypeError`` naming the async function (printed, as any failure),
    rather than end it as if its work were done. Does not switch."""
    coro, t._value = t._value, None
    coro.close()
    try:
        raise TypeError(
            f"{t!r} returned a coroutine of {coro.__qualname__}, an async"
            " function, which never ran: run it as asyncio code, or call"
            " shoal.await_(coroutine) from a tasklet"
        )
    except TypeError as exc:
        t._exception = exc
        s.failed(t, exc)
