"""The per-thread scheduler: the run queue, the current tasklet, and the only
code in shoal that switches greenlets.

Design
------
Stackless keeps the runnable tasklets in a ring whose head is the current
tasklet. We keep the same order as ``[current] + runq``: ``runq`` is a deque of
the *other* runnable tasklets, so "insert at the end" is ``append`` and "run
next" is ``appendleft``.

A tasklet remembers the greenlet to resume (``_gr``), recorded each time it
switches away. Usually that is its worker greenlet, but code inside a tasklet
may block from a nested greenlet of its own; the tasklet then resumes there.

Worker greenlets are pooled: when a tasklet's function ends, its greenlet
parks itself in ``pool`` and later runs another tasklet's function. If the next
runnable tasklet has not started yet, the dying worker runs it in place,
without any switch. Dropping a parked greenlet (when the pool is full) throws
``GreenletExit`` into it, which ends it cleanly.

Wake values travel through ``switch``. A tasklet that is made runnable with a
value still to return (a channel operation completed for it) carries it in
``_temp``; ``_NOWAKE`` there means "nothing pending", and is what a tasklet
resumed without a value (after ``schedule``, a join) receives and ignores. A kill aimed at such a
tasklet first lets it run to its next switch point (see ``Tasklet.throw``),
so an operation that completed is never reported as failed.

Blocking objects (channels, selects, tasklets being joined) implement
``_unpark(t)`` to forget a waiter and ``_describe(t)`` to say what it waits
for, for ``repr`` and deadlock reports.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from greenlet import getcurrent, greenlet

from ._errors import DeadlockError

__all__ = [
    "DEAD",
    "NOWAKE",
    "Scheduler",
    "Task",
    "get_schedule_callback",
    "get_scheduler",
    "local",
    "schedule",
    "set_schedule_callback",
]

NOWAKE: Any = object()
_NOWAKE = NOWAKE

POOL_SIZE = 256
_REPORT_LINES = 1000

ScheduleCallback = Callable[[Any, Any], object]
_schedule_callback: ScheduleCallback | None = None


def set_schedule_callback(callback: ScheduleCallback | None) -> ScheduleCallback | None:
    """Call ``callback(prev, next)`` at every switch; return the old callback."""
    global _schedule_callback
    if callback is not None and not callable(callback):
        raise TypeError(f"schedule callback must be callable or None, got {callback!r}")
    old, _schedule_callback = _schedule_callback, callback
    return old


def get_schedule_callback() -> ScheduleCallback | None:
    """The current schedule callback, or None."""
    return _schedule_callback


class Waitable(Protocol):
    """What a tasklet can be blocked on."""

    def _unpark(self, t: Task) -> None: ...

    def _describe(self, t: Task) -> str: ...


class _Dead:
    """The ``_gr`` of a finished tasklet."""

    def __repr__(self) -> str:
        return "DEAD"


DEAD: Any = _Dead()


class Task:
    """The scheduling state of one tasklet; ``Tasklet`` adds the public API.

    ``_gr`` is None before the first run, ``DEAD`` after the last, and the
    greenlet to resume in between. ``_value``, ``_exception`` and ``_name``
    are set only once known: every slot set here is paid for at each spawn.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_blocked_on",
        "_exception",
        "_fn",
        "_gr",
        "_joiners",
        "_kwargs",
        "_name",
        "_sched",
        "_temp",
        "_value",
    )

    _value: Any
    _exception: BaseException
    _name: str

    #: Stackless tasklets hand an escaping exception to the main tasklet.
    _propagate = False

    def __init__(
        self,
        sched: Scheduler,
        fn: Any,
        args: Any,
        kwargs: Any,
    ) -> None:
        self._sched = sched
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._gr: Any = None
        self._temp: Any = _NOWAKE
        self._blocked_on: Waitable | None = None
        self._joiners: list[Task] | None = None

    def _finish(self) -> None:
        """Mark this tasklet finished; wake the tasklets joining it."""
        self._gr = DEAD
        self._args = self._kwargs = None
        self._sched.alive.pop(self, None)
        if self._joiners:
            self._sched.wake_joiners(self)

    def _report(self, exc: BaseException) -> None:
        """Say that ``exc`` escaped this tasklet (overridden by Tasklet)."""

    # The Waitable protocol, for tasklets joining this one.
    def _unpark(self, t: Task) -> None:
        if self._joiners and t in self._joiners:
            self._joiners.remove(t)

    def _describe(self, t: Task) -> str:
        return f"joining {self!r}"


class Scheduler:
    """Runnable tasklets of one thread, and the switching between them."""

    __slots__ = (
        "alive",
        "current",
        "main",
        "pool",
        "propagating",
        "rng",
        "root",
        "runq",
        "thread_id",
    )

    def __init__(self, main: Task) -> None:
        main._sched = self
        self.main = main
        self.current = main
        self.runq: deque[Task] = deque()
        #: Strong references to every unfinished spawned tasklet, oldest first.
        self.alive: dict[Task, None] = {}
        self.pool: deque[greenlet] = deque()
        self.propagating: BaseException | None = None
        self.thread_id = threading.get_ident()
        self.rng = random.Random(0)
        root = getcurrent()
        while root.parent is not None:
            root = root.parent
        self.root = root

    # -- the switch points --------------------------------------------------

    def park(self, cur: Task) -> Any:
        """Switch away from ``cur``, which the caller registered as waiting.

        Returns the value ``cur`` is woken with. Raises ``DeadlockError`` when
        nothing else can run; the caller then unregisters ``cur``.
        """
        runq = self.runq
        if not runq:
            raise self.deadlock(cur)
        nxt = runq.popleft()
        cur._gr = getcurrent()
        # This is resume(), inlined: it is the hottest path in shoal.
        self.current = nxt
        if _schedule_callback is not None:
            _schedule_callback(cur, nxt)
        gr = nxt._gr
        if gr is None:
            return self.start(nxt)
        value = nxt._temp
        nxt._temp = _NOWAKE
        return gr.switch(value)

    def requeue(self, cur: Task) -> Any:
        """Put ``cur`` at the end of the run queue and run the next tasklet."""
        runq = self.runq
        runq.append(cur)
        cur._gr = getcurrent()
        return self.resume(cur, runq.popleft())

    def switch_to(self, cur: Task, t: Task, value: Any) -> Any:
        """Run started tasklet ``t`` now, handing it ``value``.

        The caller has already queued ``cur`` (or registered it as waiting).
        """
        cur._gr = getcurrent()
        self.current = t
        if _schedule_callback is not None:
            _schedule_callback(cur, t)
        gr = t._gr
        assert gr is not None
        return gr.switch(value)

    def throw_to(self, cur: Task, t: Task, exc: BaseException) -> Any:
        """Run started tasklet ``t`` now, raising ``exc`` at its switch point."""
        cur._gr = getcurrent()
        self.current = t
        if _schedule_callback is not None:
            _schedule_callback(cur, t)
        gr = t._gr
        assert gr is not None
        return gr.throw(exc)

    def resume(self, prev: Task | None, nxt: Task) -> Any:
        """Make runnable ``nxt`` current: start it, or resume it with its value."""
        self.current = nxt
        if _schedule_callback is not None:
            _schedule_callback(prev, nxt)
        gr = nxt._gr
        if gr is None:
            return self.start(nxt)
        value = nxt._temp
        nxt._temp = _NOWAKE
        return gr.switch(value)

    def start(self, t: Task) -> Any:
        """Start current tasklet ``t`` in a pooled or new worker greenlet."""
        pool = self.pool
        gr = pool.pop() if pool else greenlet(_worker, self.root)
        t._gr = gr
        return gr.switch(t)

    def wake_joiners(self, t: Task) -> None:
        """``t`` has finished: make the tasklets joining it runnable."""
        joiners = t._joiners
        assert joiners is not None
        t._joiners = None
        runq = self.runq
        for j in joiners:
            j._blocked_on = None
            runq.append(j)

    def wake_main(self, me: greenlet, dead: Task) -> Task:
        """Leave worker ``me``, whose tasklet ``dead`` ended with nothing else
        runnable or with an exception for the main tasklet, for the main
        tasklet: it gets that exception, or the news that everybody else is
        blocked for good. Returns the next tasklet ``me`` is to run.
        """
        main = self.main
        exc = self.propagating
        if exc is not None:
            self.propagating = None
        else:
            exc = self.deadlock(None)
        if main._blocked_on is not None:
            main._blocked_on._unpark(main)
            main._blocked_on = None
        elif main in self.runq:
            self.runq.remove(main)
        self.pool.append(me)
        self.current = main
        if _schedule_callback is not None:
            _schedule_callback(dead, main)
        new: Task = main._gr.throw(exc)
        return new

    # -- failures ---------------------------------------------------------------

    def failed(self, t: Task, exc: BaseException) -> None:
        """Deal with ``exc`` escaping tasklet ``t``."""
        if t._propagate or isinstance(exc, (SystemExit, KeyboardInterrupt)):
            if not isinstance(exc, _silent()):
                self.propagating = exc
            return
        t._report(exc)

    def deadlock(self, cur: Task | None) -> DeadlockError:
        """The error for ``cur`` blocking (or the last tasklet ending) for good."""
        blocked = [self.main] if self.main._blocked_on is not None else []
        blocked += [t for t in self.alive if t._blocked_on is not None]
        lines = [f"  {t!r}" for t in blocked[:_REPORT_LINES]]
        if len(blocked) > _REPORT_LINES:
            lines.append(f"  ... and {len(blocked) - _REPORT_LINES} more")
        if cur is not None and cur._blocked_on is not None:
            head = f"{cur!r} would wait forever"
        else:
            head = "every tasklet is blocked"
        return DeadlockError(
            f"deadlock: {head}, and no other tasklet can run; "
            f"{len(blocked)} blocked:\n" + "\n".join(lines)
        )


#: Each thread's scheduler lives in ``local.sched``, made at the thread's first
#: use by :func:`get_scheduler`. Hot paths read the attribute directly and
#: fall back to ``get_scheduler()`` on AttributeError (a free ``try`` on 3.11).
local = threading.local()

#: Makes a thread's main tasklet; set by ``shoal._tasklet``.
make_main: Callable[[], Task] = Task.__new__  # type: ignore[assignment]


def get_scheduler() -> Scheduler:
    """This thread's scheduler, made at the first call in the thread."""
    try:
        sched: Scheduler = local.sched
    except AttributeError:
        sched = local.sched = Scheduler(make_main())
    return sched


def schedule() -> None:
    """Let every other runnable tasklet run once, then return. Switches."""
    try:
        s = local.sched
    except AttributeError:
        s = get_scheduler()
    runq = s.runq
    if runq:
        cur = s.current
        runq.append(cur)
        cur._gr = getcurrent()
        nxt = runq.popleft()
        s.current = nxt
        if _schedule_callback is not None:
            _schedule_callback(cur, nxt)
        gr = nxt._gr
        if gr is None:
            s.start(nxt)
            return
        value = nxt._temp
        if value is not _NOWAKE:
            nxt._temp = _NOWAKE
        gr.switch(value)


def _silent() -> type[BaseException]:
    from ._errors import TaskletExit

    return TaskletExit


def _worker(t: Task) -> None:
    """The body of every worker greenlet: run tasklets' functions one after
    another, and in between switch to the next runnable tasklet.

    This is ``Task._finish`` and the switch away, inlined: spawning and
    ending short tasklets is a hot path.
    """
    s = t._sched
    me = getcurrent()
    alive = s.alive
    runq = s.runq
    pool = s.pool
    while True:
        fn, args, kwargs = t._fn, t._args, t._kwargs
        t._args = t._kwargs = None
        try:
            t._value = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            t._exception = exc
            s.failed(t, exc)
        fn = args = kwargs = None  # no references kept while parked
        t._gr = DEAD
        del alive[t]
        if t._joiners:
            s.wake_joiners(t)
        if not runq or s.propagating is not None:
            t = s.wake_main(me, t)
            continue
        nxt = runq.popleft()
        s.current = nxt
        if _schedule_callback is not None:
            _schedule_callback(t, nxt)
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
        t = nxt = None  # type: ignore[assignment]
        t = gr.switch(value)
