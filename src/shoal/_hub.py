"""The hub: each thread's asyncio event loop, running in its own greenlet.

Design
------
Tasklets hand work to each other directly; the hub runs only when no tasklet
is runnable. A tasklet that waits on a timer, a file descriptor or a future
registers a callback on the loop (``HubWait``, ``hub_wait``) and counts itself
in ``Hub.waiting``; when
it parks with nothing else runnable, the scheduler switches to the hub
greenlet, which is inside ``loop.run_forever()``. A loop callback makes the
tasklet runnable again (``wake``) and, once per loop iteration, a flush
(``Hub.call_flush``: ``Scheduler.run_ready``) runs every runnable tasklet
until all of them wait again and the last one parks back into the hub.
Because tasklets run
inside a loop callback, ``asyncio.get_running_loop()`` in a tasklet is the
hub's loop.

The loop is uvloop where it is installed, the stdlib loop elsewhere; the
``SHOAL_LOOP`` environment variable (``asyncio`` or ``uvloop``) or
``shoal.run(fn, loop=...)`` chooses. Each ``shoal.run`` makes a fresh hub
and closes it at the end; it first closes one that a wait outside any run
made (``close_thread_hub``). A ``to_thread`` call ends what its function
left in the pool's thread when it returns, the tasklets it spawned and a
hub it made by waiting through shoal there (``close_call_hub``). In asyncio
code outside any run (another loop running in the thread), a wait that
would make a hub is a ``RuntimeError`` instead (``get_hub``).

The waiting count is what tells a deadlock from a wait: when nothing is
runnable and nobody waits in the hub, nothing can ever wake anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Collection
from types import FrameType
from typing import Any

from . import _scheduler
from ._deadlines import Deadlines
from ._errors import TimeoutError, bomb
from ._scheduler import (
    NO_HINT,
    Scheduler,
    Task,
    get_scheduler,
    poll_soon,
    schedule,
)
from ._task import drop, init_task

_get_ident = threading.get_ident

__all__ = [
    "Hub",
    "HubTimer",
    "HubWait",
    "close_call_hub",
    "close_thread_hub",
    "current_time",
    "end_work",
    "finish_asyncio",
    "get_hub",
    "hub_wait",
    "hub_wait_timed",
    "new_loop",
    "ready",
    "sleep",
]

LOOPS = ("asyncio", "uvloop")


def new_loop(name: str | None = None) -> asyncio.AbstractEventLoop:
    """A new event loop: ``name`` is "uvloop", "asyncio", or None for the
    ``SHOAL_LOOP`` environment variable, else uvloop where installed."""
    chosen = name if name is not None else os.environ.get("SHOAL_LOOP") or None
    if chosen is not None and not isinstance(chosen, str):
        raise TypeError(f"loop={chosen!r}: expected a str, one of {', '.join(LOOPS)}")
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

    __slots__ = (
        "_watched",
        "call_flush",
        "closing",
        "door",
        "flushing",
        "gr",
        "idle_yields",
        "loop",
        "polled",
        "queued",
        "sched",
        "task",
        "timers",
        "waiting",
    )

    def __init__(self, sched: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
        self.sched = sched
        self.loop = loop
        #: The hub greenlet, made at the first switch to the hub.
        self.gr: Any = None
        #: The stand-in's ``_gr``: an ended greenlet whose parent is ``gr``,
        #: so that a switch to it resumes the hub, and code in the hub never
        #: takes the fast paths (see ``shoal._hubturns``). Made with ``gr``.
        self.door: Any = None
        #: Stands for the hub as ``current`` while the hub greenlet runs.
        self.task = _scheduler.task_class()
        init_task(self.task, sched, None, None, None)
        self.task._name = "hub"
        #: Registrations that will wake a tasklet: timers, futures, fds.
        self.waiting = 0
        self.flushing = False
        #: The loop callback that runs the runnable tasklets (and clears
        #: ``flushing``): the scheduler's ``run_ready``, bound once (binding
        #: it at each ``call_soon`` makes a method object, ~35 ns).
        self.call_flush = sched.run_ready
        #: The stand-in task is in the run queue (see Scheduler.queue_hub).
        self.queued = False
        #: Being stopped by Scheduler.stop_hub: no deadlock reports.
        self.closing = False
        #: Asyncio tasks that can_wake() counted, watched until done.
        self._watched: set[asyncio.Task[Any]] = set()
        #: When the loop last polled and ran the tasklets (``run_ready``).
        self.polled = 0.0
        #: ``sleep(0)`` calls to go, while the hub is out of the run queue,
        #: before one gives it a turn (see ``_scheduler.poll_soon``).
        self.idle_yields = 0
        #: Every sleep's, timeout's and scope's deadline (``deadlines()``).
        self.timers: Deadlines | None = None

    def deadlines(self) -> Deadlines:
        """This hub's deadlines, made at the first use. Does not switch."""
        timers = self.timers
        if timers is None:
            timers = self.timers = Deadlines(self.loop)
        return timers

    def add_waiter(self) -> None:
        """Somebody waits on the hub (a timer, a future, a deadline)."""
        self.waiting += 1

    def can_wake(self) -> bool:
        """Whether anything on the loop may still wake a tasklet: a wait in
        the hub, or an asyncio task pending on the loop (asyncio code may
        set an ``Event`` or spawn a tasklet when it resumes). Each such task
        has the hub check again when it is done, so that a deadlock left
        behind is still reported. Callbacks scheduled with ``call_later``
        cannot be seen: the loops do not tell. Does not switch."""
        if self.waiting:
            return True
        pending = False
        for task in asyncio.all_tasks(self.loop):
            if not task.done():
                pending = True
                if task not in self._watched:
                    self._watched.add(task)
                    task.add_done_callback(self._task_done)
        return pending

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A loop callback: an asyncio task that kept tasklets from being
        deadlocked is done; the next flush checks again. Does not switch."""
        self._watched.discard(task)
        self.ensure_flush()

    def drop_waiter(self) -> None:
        """One wait on the hub is over (it fired or was given up)."""
        self.waiting -= 1
        if not self.waiting and self.queued:
            # Nobody waits in the hub any more: it needs no turn, and a
            # tasklet that blocks next with nothing runnable deadlocks.
            self.queued = False
            drop(self.sched.runq, self.task)

    def run_loop(self, *_: object) -> None:
        """The body of the hub greenlet (started from the run queue, maybe).
        An exception escaping the loop (``KeyboardInterrupt`` from a signal,
        ``SystemExit`` from a callback) ends the greenlet and goes to the
        main tasklet (``Scheduler.hub_failed``)."""
        self.queued = False
        self.ensure_flush()
        try:
            self.loop.run_forever()
        except BaseException as exc:
            self.sched.hub_failed(self, exc)
            raise

    def wake_if(self, t: Task, waitable: Any, value: Any) -> None:
        """A loop callback: if ``t`` still waits on ``waitable``, its wait is
        over. A wait given up (kill, timeout) ignores a late wake: some
        callbacks (a concurrent future's) cannot be taken back."""
        if t._blocked_on is waitable and waitable is not None:
            waitable._unpark(t)
            ready(t, value)  # in the hub: it also has the loop run t soon

    def start(self) -> None:
        """Let the loop start running, so that ``asyncio.get_running_loop()``
        is this loop for every tasklet from now on (a run's start, before
        its main job; a hub made at a wait starts there). Switches."""
        s = self.sched
        wait = HubWait(self, "the hub's loop to start")
        self.loop.call_soon(self.wake_if, s.current, wait, None)
        # Tasklets spawned before it stay where they were: they run when
        # the caller first blocks or yields, not in this round. (The run
        # queue is set aside in place: hot paths hold the deque itself.)
        runq = s.runq
        aside = list(runq)
        runq.clear()
        try:
            hub_wait(s, wait)
        finally:
            runq.extendleft(reversed(aside))

    def ensure_flush(self) -> None:
        """Make the loop run the runnable tasklets soon: for code in the hub
        (a loop callback, an asyncio task) that made a tasklet runnable."""
        if not self.flushing:
            self.flushing = True
            self.loop.call_soon(self.call_flush)

    def __repr__(self) -> str:
        return f"<Hub {type(self.loop).__module__} waiting={self.waiting}>"


def ready(t: Task, value: Any) -> None:
    """Make blocked tasklet ``t`` runnable; its wait returns ``value``. From
    a tasklet or from code in the hub (a loop callback), which then has the
    loop run it soon. Does not switch."""
    s = t._sched
    t._blocked_on = None
    t._temp = value
    s.runq.append(t)
    hub = s.hub
    if hub is not None and s.current is hub.task:
        hub.ensure_flush()


def get_hub(s: Scheduler | None = None) -> Hub:
    """This thread's hub, made at the first call. Asyncio code outside any
    run (another loop running in the thread, which runs one loop at a
    time) gets a ``RuntimeError`` naming the shoal call that would wait, as
    ``shoal.run`` gives there, and no hub is made: its loop could never
    start. Does not switch."""
    if s is None:
        s = get_scheduler()
    hub: Hub | None = s.hub
    if hub is None:
        running = asyncio._get_running_loop()
        if running is not None:
            raise RuntimeError(
                f"{_shoal_call()} cannot run in asyncio code outside"
                f" shoal.run(): {running!r} is this thread's running event"
                " loop, a thread runs one loop at a time, and shoal's waits"
                " need shoal's own; from asyncio code, run shoal code in"
                " another thread: await asyncio.to_thread(shoal.run, fn);"
                " asyncio code inside shoal.run starts tasklets with"
                " shoal.spawn(fn) and waits for them with `await tasklet`"
            )
        hub = Hub(s, new_loop())
        s.set_hub(hub)
    return hub


def _shoal_call() -> str:
    """The call of shoal that user code made, which reached here: the
    outermost frame of shoal's code under the nearest frame outside it
    (the nearest frame of shoal's own if there is none, as in a tasklet
    running a function of shoal's). For error messages only. Does not
    switch."""
    call = caller = sys._getframe(2)  # get_hub's caller
    frame: FrameType | None = caller
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "shoal" and not module.startswith("shoal."):
            break
        call = frame
        frame = frame.f_back
    else:
        call = caller  # shoal's code all the way up
    code = call.f_code
    name = code.co_name
    found = call.f_locals
    wrapped = found.get("plain")  # a wrapper's (_buffered._guarded)
    if callable(wrapped):
        name = getattr(wrapped, "__name__", name)
    owner = found.get("self")
    if owner is not None:  # a method: named by the object's class
        return f"{type(owner).__name__}.{name}()"
    module = call.f_globals.get("__name__", "shoal")
    if any(part.startswith("_") for part in module.split(".")):
        module = "shoal"  # a private module: the name shoal exports it by
    return f"{module}.{getattr(code, 'co_qualname', name)}()"


def close_thread_hub(s: Scheduler) -> None:
    """Close the hub of ``s`` made at a wait outside ``shoal.run``, before a
    run makes its own: that hub's loop is still running, suspended in its
    greenlet, and a thread runs one loop at a time. Tasklets waiting in it
    are killed first, oldest first, as ``run`` kills its leftovers: their
    waits are registered on that loop, which will not run again. A timeout
    scope entered outside the run and still active (its deadline is on that
    hub) is a ``RuntimeError``, and the hub stays. Switches."""
    hub = s.hub
    if hub is None:
        return
    while True:
        waiting = [t for t in s.alive if isinstance(t._blocked_on, HubWait)]
        if not waiting:
            break
        for t in waiting:
            t.kill()  # type: ignore[attr-defined]  # a Tasklet
    if hub.waiting:
        raise RuntimeError(
            "shoal.run() cannot start inside a timeout scope entered outside"
            " it: the scope's deadline is on the thread's hub, and each run"
            " replaces that hub with a fresh one; enter the scope inside the run"
        )
    s.stop_hub()


class HubWait:
    """A tasklet waiting in the hub (the ``Waitable``): what for, and how to
    take back each registration that could wake it (timer, future callback)."""

    __slots__ = ("cancels", "deadline", "hub", "what")
    #: hub_wait raises a bomb it is woken with (see Tasklet.throw).
    _raises_bombs = True

    def __init__(self, hub: Hub, what: object, deadline: float | None = None) -> None:
        # ``what`` is anything whose str() says what is awaited; it is only
        # formatted when shown (a repr, a deadlock report, a timeout).
        self.hub = hub
        self.what = what
        self.deadline = deadline
        self.cancels: list[Callable[[], object]] = []

    def _unpark(self, t: Task) -> None:
        cancels = self.cancels
        if cancels:
            for cancel in cancels:
                cancel()
            cancels.clear()  # a socket's reader waits on it again
        self.hub.drop_waiter()

    def abort(self, t: Task, exc: BaseException) -> None:
        """If ``t`` still waits here, take its registrations off the loop
        (before a descriptor it waits on is closed) and make it raise
        ``exc``: see :meth:`wake`. Does not switch."""
        self.wake(t, bomb(type(exc), exc))

    def wake(self, t: Task, value: Any) -> None:
        """End ``t``'s wait here with ``value`` (a bomb: raised), if it still
        waits here (``Hub.wake_if``), in the hub's own thread: at once in
        that thread; from another thread (which closes or shuts down what
        ``t`` waits on) through the loop's ``call_soon_threadsafe``, which
        also wakes it from its selector. No thread touches another's run
        queue or loop registrations: the loop's thread takes them off, after
        the caller has closed the descriptor. A closed loop has nobody
        waiting any more. Does not switch."""
        hub = self.hub
        if hub.sched.thread_id == _get_ident():
            hub.wake_if(t, self, value)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed
            hub.loop.call_soon_threadsafe(hub.wake_if, t, self, value)

    def _describe(self, t: Task) -> str:
        if self.deadline is None:
            return f"waiting for {self.what}"
        left = max(self.deadline - time.monotonic(), 0.0)
        return f"waiting for {self.what} ({left:.3f} s left)"


class HubTimer:
    """The ``timeout`` of a wait in the hub (a ``Deadline``): when it runs
    out first, it wakes the tasklet with a ``TimeoutError`` bomb, whose
    message is made only then (what a wait awaits can be costly to format:
    a socket's repr, at every read)."""

    __slots__ = ("_active", "deadline", "hub", "seconds", "task", "wait")

    #: None once cancelled: the entry stays in the heap until it is due (or
    #: dropped in bulk), and must not keep the tasklet alive meanwhile.
    task: Task | None
    wait: HubWait | None

    def __init__(self, hub: Hub, task: Task, wait: HubWait, seconds: float) -> None:
        self.hub = hub
        self.task = task
        self.wait = wait
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._active = True
        (hub.timers or hub.deadlines()).add(self)

    def _expire(self) -> None:
        self._active = False
        wait, task = self.wait, self.task
        assert wait is not None  # due: not cancelled
        assert task is not None
        exc = TimeoutError(f"{wait.what}: timed out after {self.seconds} s")
        self.hub.wake_if(task, wait, bomb(TimeoutError, exc))

    def cancel(self) -> None:
        """The wait ended otherwise. Does not switch."""
        if self._active:
            self._active = False
            self.task = self.wait = None
            self.hub.timers.discard()  # type: ignore[union-attr]  # it was added

    @property
    def fired(self) -> bool:
        """Whether it ran out while its wait was still on, and so ended the
        wait with its ``TimeoutError``: a wait ended otherwise first cancels
        it (``cancel`` lets go of the tasklet; ``_expire`` keeps it). Does
        not switch."""
        return not self._active and self.task is not None


def close_call_hub(
    s: Scheduler, hub_before: Hub | None = None, there: Collection[Task] = ()
) -> None:
    """End what a ``to_thread`` call left in its pool thread, as the call
    returns, the way the end of ``shoal.run`` ends its own work. The
    tasklets that the call spawned and that are still alive are killed,
    oldest first, each waited for (and then what their cleanup spawned),
    whether or not the call made a hub: left there, they ran inside a later,
    unrelated call on that thread, or never ended. Then a hub that the call
    made (the function or a cleanup waited through shoal there, outside any
    run; not ``hub_before``, the thread's hub before the call) is ended: the
    tasklets waiting in it are killed, those that were there before the
    call too (their waits are on its loop), the asyncio work left on the
    loop is ended (``finish_asyncio``), then what its cleanup spawned is
    killed; the loop is closed, and, with no tasklet left, the thread's
    idle greenlets are ended (the pool may end the thread next). Left
    running, suspended in the hub greenlet, the loop stayed the thread's
    running loop for good, and ``asyncio.run`` failed in every later call on
    that thread. Tasklets that were there before the call (``there``: code
    given to the pool some other way left them) and do not wait in that hub
    are left alone. A timeout scope that the function entered and left
    active keeps the hub (its deadline is on it), as ``close_thread_hub``
    does. From the thread's main tasklet. Switches."""
    try:
        _kill_alive(s, there)
    finally:
        hub = s.hub
        if hub is not None and hub is not hub_before:
            try:
                end_work(s, there)
            finally:
                if not hub.waiting:
                    s.stop_hub()
                    if not s.alive:
                        s.release_greenlets()


def end_work(s: Scheduler, there: Collection[Task] = ()) -> None:
    """At the end of ``shoal.run`` (or of a ``to_thread`` call's hub): kill
    the tasklets of ``s`` still alive, end the asyncio work left on the
    loop (:func:`finish_asyncio`), then kill what its cleanup spawned.
    Tasklets in ``there`` are killed only if they wait in the hub.
    Switches."""
    hub = s.hub
    try:
        _kill_alive(s, there, hub)
    finally:
        finish_asyncio(s)
        _kill_alive(s, there, hub)  # what the asyncio work's cleanup spawned


def _kill_alive(
    s: Scheduler, there: Collection[Task] = (), hub: Hub | None = None
) -> None:
    """Kill every tasklet of ``s`` still alive, oldest first, each waited
    for; but a tasklet in ``there`` only if it waits in ``hub``. An
    exception raised meanwhile in the caller (a Stackless tasklet hands its
    failure to main) does not stop it: the first is raised once every
    tasklet has ended. Switches."""
    first: BaseException | None = None
    while s.alive:
        doomed = list(s.alive)
        if there:
            doomed = [t for t in doomed if t not in there or _waits_in(t, hub)]
            if not doomed:
                break
        for t in doomed:
            try:
                t.kill()  # type: ignore[attr-defined]  # a Tasklet
            except BaseException as exc:
                if first is None:
                    first = exc
    if first is not None:
        try:
            raise first
        finally:
            first = None  # no cycle through this frame


def _waits_in(t: Task, hub: Hub | None) -> bool:
    """Whether tasklet ``t`` waits in ``hub``. Does not switch."""
    on = t._blocked_on
    return hub is not None and isinstance(on, HubWait) and on.hub is hub


def finish_asyncio(s: Scheduler) -> None:
    """At the end of ``shoal.run``, as at the end of ``asyncio.run``: cancel
    the asyncio tasks still pending on the hub's loop and wait until they
    have ended (their ``finally`` blocks run, in the loop), hand those that
    failed otherwise to the loop's exception handler, shut the loop's
    async generators down, then its default executor (``to_thread``'s
    pool): wait, without a limit as ``asyncio.run`` does, for the calls
    that are running, and for its threads to end. From the main tasklet.
    Switches."""
    hub = s.hub
    if hub is None or hub.loop.is_closed():
        return
    loop = hub.loop
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        _wait_done(s, hub, asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shoal.run() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
    _wait_done(s, hub, loop.create_task(_shut_down(loop)))


async def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """The loop's async generators, then its default executor: the pool's
    threads would outlive the run (closing the loop does not wait for
    them), running calls still queued that nobody waits for. One task, so
    that a run pays one round of the loop for both."""
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def _wait_done(s: Scheduler, hub: Hub, future: asyncio.Future[Any]) -> None:
    """Wait in the hub until asyncio ``future`` is done. Switches."""
    if future.done():
        return
    cur = s.current
    wait = HubWait(hub, "asyncio tasks ending with shoal.run")
    future.add_done_callback(lambda _: hub.wake_if(cur, wait, None))
    hub_wait(s, wait)


def hub_wait(s: Scheduler, wait: HubWait, timeout: float | None = None) -> Any:
    """Park the current tasklet in the hub until a callback registered on
    ``wait`` wakes it (``hub.wake_if``); return the wake value, raising a
    bomb. With ``timeout``, raise ``shoal.TimeoutError`` when it runs out
    first. Switches."""
    cur = s.current
    hub = wait.hub
    if timeout is not None:
        if timeout != timeout:  # a NaN deadline would stop every hub timer
            raise ValueError(f"timeout must be a number of seconds, got {timeout}")
        wait.cancels.append(HubTimer(hub, cur, wait, timeout).cancel)
    value = s.wait_in_hub(cur, wait)
    if type(value) is bomb:
        value.raise_()
    return value


def hub_wait_timed(s: Scheduler, wait: HubWait, timeout: float) -> TimeoutError | None:
    """:func:`hub_wait` with a ``timeout`` whose running out the caller
    judges: None once a callback woke it; the ``TimeoutError`` of this
    wait's own timer if it ran out first (``HubTimer.fired``), returned, not
    raised. One thrown in otherwise (a timeout scope's) goes on. Switches."""
    timer = HubTimer(wait.hub, s.current, wait, timeout)
    wait.cancels.append(timer.cancel)
    try:
        hub_wait(s, wait)
    except TimeoutError as exc:
        if not timer.fired:
            raise
        return exc
    return None


#: What sleep() takes: a tuple made once, not at every call (sleep(0) is a
#: hot path).
_NUMBERS = (int, float)


def sleep(seconds: float) -> None:
    """Wait ``seconds``; other tasklets run meanwhile. ``sleep(0)`` yields
    like :func:`shoal.schedule`, and every so often also lets the hub's
    loop run, as gevent's ``sleep(0)`` runs its loop: asyncio work that no
    tasklet waits in the hub for (a callback, a task) runs while tasklets
    poll with it, where ``schedule()`` gives the hub turns only while a
    tasklet waits in it (see ``_scheduler.poll_soon``). Switches."""
    if not isinstance(seconds, _NUMBERS):
        raise TypeError(f"sleep() needs a number of seconds, got {seconds!r}")
    if not seconds > 0:
        if seconds != seconds:  # NaN
            raise ValueError("sleep() needs a number of seconds, got nan")
        s = _scheduler.hint  # checked in poll_soon
        hub = s.hub
        if hub is not None and not hub.queued:
            hub.idle_yields -= 1  # poll_soon's countdown, inlined
            if hub.idle_yields <= 0:
                poll_soon(s)
        elif s is NO_HINT:
            poll_soon(s)
        schedule()
        return
    s = get_scheduler()
    if seconds == _INF:
        # No timer would ever fire: nothing in the hub counts on it, and
        # with nothing else to wake the tasklet, it is a deadlock.
        s.block(s.current, _FOREVER)
        return
    hub = s.hub or get_hub(s)
    cur = s.current
    wait = _Sleep()  # _Sleep.__init__, inlined: see there
    wait.hub = hub
    wait.what = "sleep"
    wait.deadline = time.monotonic() + seconds
    wait.cancels = _NO_CANCELS  # its own _unpark needs none
    wait.task = cur
    wait._active = True
    (hub.timers or hub.deadlines()).add(wait)
    value = s.wait_in_hub(cur, wait)  # not hub_wait(): a frame less
    if type(value) is bomb:
        value.raise_()


_NO_CANCELS: Any = ()
_INF = float("inf")


class _Forever:
    """What ``sleep(math.inf)`` waits on: only a kill, a throw or a timeout
    scope ends it."""

    __slots__ = ()

    def _unpark(self, t: Task) -> None:
        pass

    def _describe(self, t: Task) -> str:
        return "sleeping for ever"


_FOREVER = _Forever()


class _Sleep(HubWait):
    """A sleeping tasklet: its wait is its own deadline entry (no separate
    timer object), cancelled when the wait ends otherwise (a kill)."""

    __slots__ = ("_active", "task")

    #: The sleeper; None once the wait was cancelled: the entry stays in
    #: the heap until it is due (or dropped in bulk), and must not keep
    #: the tasklet alive meanwhile.
    task: Task | None
    _active: bool

    # sleep() makes a bare one and sets its slots: an __init__ written in
    # Python is called from C, in a new interpreter frame (~40 ns a sleep).
    # object's runs in C; HubWait's would want arguments.
    __init__ = object.__init__

    def _expire(self) -> None:
        self._active = False
        self.hub.wake_if(self.task, self, None)  # type: ignore[arg-type]  # due

    def _unpark(self, t: Task) -> None:
        hub = self.hub
        if self._active:
            self._active = False
            self.task = None
            hub.timers.discard()  # type: ignore[union-attr]  # it was added
        hub.drop_waiter()


def current_time() -> float:
    """Seconds on a monotonic clock (``time.monotonic``). Does not switch."""
    return time.monotonic()
