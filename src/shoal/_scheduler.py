"""The per-thread scheduler: the run queue, the current tasklet, and (with the
channel hand-off in ``_handoff``) the only code in shoal that switches
greenlets.

Design
------
Stackless keeps the runnable tasklets in a ring whose head is the current
tasklet. We keep the same order as ``[current] + runq``: ``runq`` is a deque of
the *other* runnable tasklets, so "insert at the end" is ``append`` and "run
next" is ``appendleft``.

A tasklet remembers the greenlet to resume (``_gr``), recorded each time it
switches away. Usually that is its worker greenlet, but code inside a tasklet
may block from a nested greenlet of its own; the tasklet then resumes there.

Tasklets' functions run in pooled worker greenlets (``shoal._workers``). New
ones are made by the starter greenlet, at a fixed depth (see
``Scheduler.start``). Switches are watched through ``shoal._watch``.

Wake values travel through ``switch``. A tasklet that is made runnable with a
value still to return (a channel operation completed for it) carries it in
``_temp``; ``NOWAKE`` there means "nothing pending". A tasklet resumed
without a value (after ``schedule``, a join) receives NOWAKE, or ``()`` when
``schedule()`` resumes it (a bare switch: no argument tuple), and ignores
it; code that must tell "no value" from a received ``()`` parks with
``NO_VALUE`` (see ``shoal._task``), which a new tasklet has too, so that
``schedule()`` finds out with one test that the next tasklet has started
and has no wake value. A kill aimed at a tasklet whose ``_temp`` holds a
value first lets it run to its next switch point (see ``Tasklet.throw``),
so an operation that completed is never reported as failed.

The channel hand-off fast paths (``shoal._handoff``) are the only other code
that switches greenlets: they inline ``Scheduler.park``.

Code running in the hub (a loop callback, asyncio code on the hub's loop)
never takes the fast paths that test the hint (``schedule()``, the
channel send): the hub's stand-in's ``_gr`` is never the running greenlet
(see ``shoal._hubturns``). The general paths refuse it what would switch
the hub away from inside a loop callback, a wait or a yield
(``BlockingInHubError``), with no cost on the fast ones. What stays
allowed switches to a tasklet and straight back: a throw or kill (the hub
resumes at the tasklet's next switch point, first in the run queue). A
channel hand-off to a waiting partner does not switch: the partner runs
at the loop's next round (the receive fast path, which tests nothing, not
before the hub next wakes a tasklet: see design.md).

Blocking objects (channels, selects, tasklets being joined) implement
``_unpark(t)`` to forget a waiter and ``_describe(t)`` to say what it waits
for, for ``repr`` and deadlock reports.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from . import _watch
from ._delivery import deliver
from ._errors import DeadlockError, TaskletExit, bomb
from ._hubturns import IDLE_POLL_EVERY, IDLE_YIELDS, POLL_EVERY, HubTurns
from ._task import DEAD, HUB_TURN, NOWAKE, Task, drop
from ._watch import ScheduleCallback
from ._watch import switched as _switched
from ._workers import starter as _starter

__all__ = [
    "DEAD",
    "NOWAKE",
    "NO_HINT",
    "Scheduler",
    "Task",
    "Waiter",
    "get_scheduler",
    "getcurrent",
    "local",
    "poll_soon",
    "schedule",
]

_NOWAKE = NOWAKE
_HUB_TURN = HUB_TURN

_clock = time.perf_counter
_REPORT_LINES = 1000

#: ``shoal._watch.gate``, kept here by ``_regate``: every switch point tests
#: it before it calls ``_switched``.
_schedule_callback: ScheduleCallback | None = None


def _regate() -> None:
    global _schedule_callback, hint
    _schedule_callback = _watch.gate
    if _schedule_callback is not None:
        # No hint while the gate is set: schedule() then always takes its
        # slow path, which calls the callback, and its fast path need not
        # test for one (see get_scheduler).
        hint = _NOBODY


class Waiter:
    """A select's registration in one channel's waiter deque."""

    __slots__ = ("case", "channel", "is_send", "select", "value")

    def __init__(
        self, select: Any, case: Any, channel: Any, is_send: bool, value: Any
    ) -> None:
        self.select = select
        self.case = case
        self.channel = channel
        self.is_send = is_send
        self.value = value


class Scheduler(HubTurns):
    """Runnable tasklets of one thread, and the switching between them (the
    hub's turns among them: see ``HubTurns``)."""

    __slots__ = (
        "alive",
        "deliveries",
        "in_run",
        "main",
        "observed",
        "pool",
        "propagating",
        "rng",
        "root",
        "runq",
        "starter",
        "switches",
        "thread_id",
        "watchdogs",
    )

    def __init__(self, main: Task) -> None:
        main._sched = self
        self.main = main
        self.current = main
        self.runq: deque[Task] = deque()
        #: Strong references to every unfinished spawned tasklet, oldest first.
        self.alive: dict[Task, None] = {}
        #: Tasklets whose failure is delivered to someone (oneof, allof,
        #: TaskGroup), so it is not also printed.
        self.observed: set[Task] = set()
        self.pool: deque[greenlet] = deque()
        self.propagating: BaseException | None = None
        #: Interruptions delivered to this thread's tasklets so far: the
        #: number of the last (see :func:`deliver`).
        self.deliveries = 0
        #: Tasklets paused until nothing else can run (``stackless.run()``
        #: pushes its caller), innermost last; see :meth:`wakeup`.
        self.watchdogs: list[Task] = []
        self.thread_id = threading.get_ident()
        #: Switches so far, counted only while a monitor watches this thread.
        self.switches = 0
        self.rng = random.Random(0)
        self.starter: greenlet | None = None
        #: Inside shoal.run(), which must not nest.
        self.in_run = False
        self.set_hub(None)  # made at the first wait on it (see HubTurns)
        root = getcurrent()
        # The main tasklet runs here: with its greenlet known, the hint
        # holds for it before it first switches (a loop of timeout scopes
        # in the main tasklet would read the threading.local at each one).
        main._gr = root
        # Every greenlet a tasklet runs in has an instance dict (greenlets
        # made with a function do), the thread's first greenlet too, so
        # that CPython specialises ``gr.switch`` (a greenlet without one
        # leaves that lookup generic: ~100 instructions a switch).
        vars(root)
        while root.parent is not None:
            root = root.parent
            vars(root)
        self.root = root

    # -- the switch points --------------------------------------------------

    def park(self, cur: Task) -> Any:
        """Switch away from ``cur``, which the caller registered as waiting.

        Returns the value ``cur`` is woken with. When nothing else can run,
        see :meth:`idle`: it may raise ``DeadlockError``, and the caller then
        unregisters ``cur``. So may ``BlockingInHubError``, when ``cur`` is
        the hub: a wait, or a Stackless switch (nothing to wait on), which
        may have queued it (see ``hub_refused``).
        """
        if cur is self.hubtask:
            on = cur._blocked_on
            if on is None:
                raise self.refuse_hub_switch(
                    "switching to another tasklet (Stackless's schedule(),"
                    " schedule_remove(), run() or switch())"
                )
            raise self.refuse_hub_wait(on._describe(cur))
        runq = self.runq
        if not runq:
            return self.idle(cur)
        nxt = runq.popleft()
        cur._gr = getcurrent()
        # This is resume(), inlined: it is the hottest path in shoal.
        self.current = nxt
        if _schedule_callback is not None:
            _switched(cur, nxt)
        gr = nxt._gr
        if gr is None:
            del nxt  # see start()
            return self.start()
        value = nxt._temp
        nxt._temp = _NOWAKE
        del nxt  # a parked tasklet keeps none it switched to
        return gr.switch(value)

    def block(self, cur: Task, waitable: Any) -> Any:
        """Park ``cur`` on ``waitable``, where the caller registered it: return
        the value it is woken with, raising a bomb. If parking fails or ``cur``
        is killed while it waits, ``waitable._unpark`` takes it back out
        first. Switches."""
        cur._blocked_on = waitable
        try:
            value = self.park(cur)
        except BaseException:
            if cur._blocked_on is waitable:
                waitable._unpark(cur)
                cur._blocked_on = None
            raise
        if type(value) is bomb:
            value.raise_()
        return value

    def requeue(self, cur: Task) -> Any:
        """Put ``cur`` at the end of the run queue and run the next tasklet
        (a ``schedule_all`` hand-off, whose tasklet it made runnable first).
        Code in the hub does not yield: it carries on, the tasklet runs at
        the loop's next round. Switches, but not from the hub."""
        if cur is self.hubtask:
            cur._temp = _NOWAKE  # its hand-off's "done", which nobody reads
            return None
        runq = self.runq
        runq.append(cur)
        cur._gr = getcurrent()
        return self.resume(cur, runq.popleft())

    def switch_to(self, cur: Task, t: Task, value: Any) -> Any:
        """Run started tasklet ``t`` now, handing it ``value``.

        The caller has already queued ``cur`` (or registered it as waiting).
        From the hub (a throw, a hand-off), the hub resumes when a tasklet
        reaches its place; its ``_gr`` stays its door (see ``_hubturns``).
        """
        if cur is not self.hubtask:
            cur._gr = getcurrent()
        self.current = t
        if _schedule_callback is not None:
            _switched(cur, t)
        gr = t._gr
        assert gr is not None
        del t
        return gr.switch(value)

    def throw_to(self, cur: Task, t: Task, exc: BaseException) -> Any:
        """Run started tasklet ``t`` now, raising ``exc`` at its switch point
        (from the hub too: see :meth:`switch_to`)."""
        if cur is not self.hubtask:
            cur._gr = getcurrent()
        self.current = t
        if _schedule_callback is not None:
            _switched(cur, t)
        gr = t._gr
        assert gr is not None
        del t
        return gr.throw(exc)

    def resume(self, prev: Task | None, nxt: Task) -> Any:
        """Make runnable ``nxt`` current: start it, or resume it with its value."""
        self.current = nxt
        if _schedule_callback is not None:
            _switched(prev, nxt)
        del prev
        gr = nxt._gr
        if gr is None:
            del nxt
            return self.start()
        value = nxt._temp
        nxt._temp = _NOWAKE
        del nxt
        return gr.switch(value)

    def start(self) -> Any:
        """Start the current tasklet, which has not started, in a pooled
        worker greenlet, or in a new one made by the starter greenlet.

        It is not an argument, and the callers drop their references to it
        before they call: the frames of a parked tasklet keep no other
        tasklet alive (nor, through it, its exception and the frames that
        holds), the one it switched to included.

        A new greenlet inherits the recursion depth of the code that first
        switches to it; started from inside another tasklet, one after the
        other, the depth would grow until ``RecursionError``. The starter
        greenlet always sits at the same shallow depth.
        """
        pool = self.pool
        if pool:
            gr = pool.pop()
            self.current._gr = gr
            return gr.switch()
        starter = self.starter
        if starter is None:
            starter = self.starter = greenlet(_starter, self.root)
        return starter.switch(self)

    def release_greenlets(self) -> None:
        """End the idle worker greenlets and the starter, from the main
        tasklet with no tasklet left (the end of a run in a thread that may
        end next). Each holds this scheduler on its stack, and
        itself in its frame: a greenlet still suspended when its thread
        ends is never freed, and the scheduler with it. Switches into each,
        which ends at once and comes back here: made its parent first, as
        an ended greenlet returns to its parent (the root, but the run may
        have been called from a greenlet of the main tasklet's own)."""
        here = getcurrent()
        pool, self.pool = self.pool, deque()
        starter, self.starter = self.starter, None
        if starter is not None:
            pool.append(starter)
        for gr in pool:
            gr.parent = here
            gr.throw(GreenletExit)

    def wake_joiners(self, t: Task) -> None:
        """``t`` has finished: make the tasklets joining it runnable. Each
        gets a wake value, as a channel's receiver does: its join has
        happened, so a timeout or kill that reaches it before it runs again
        must let the join return first (see ``Tasklet._throw_in``)."""
        joiners = t._joiners
        assert joiners is not None
        t._joiners = None
        runq = self.runq
        for j in joiners:
            j._blocked_on = None
            j._temp = None
            runq.append(j)

    def hub_failed(self, hub: Any, exc: BaseException) -> None:
        """``HubTurns.hub_failed``; and a ``KeyboardInterrupt`` or
        ``SystemExit`` so handed to main is a delivery (see
        ``shoal._delivery``): a timeout scope that expires while main's
        cleanup waits lets it go on, as ``wake_main`` has it. Does not
        switch."""
        super().hub_failed(hub, exc)
        if not isinstance(exc, (Exception, GreenletExit)) and not hub.closing:
            deliver(self.current, exc)

    def wake_main(self, me: greenlet, dead: Task | None) -> None:
        """Leave worker ``me``, whose tasklet ended with nothing else
        runnable or with an exception for the main tasklet, for the main
        tasklet: it gets that exception, or the news that everybody else is
        blocked for good. Returns when ``me`` is to run the current tasklet
        (see :meth:`start`). ``dead``, the tasklet that ended, is for the
        schedule callback only: without one the worker keeps no reference
        to it while it waits in the pool.

        "The main tasklet" is really :meth:`wakeup`; if it is paused rather
        than blocked (inside ``stackless.run()``), it simply resumes.
        """
        main = self.wakeup()
        exc = self.propagating
        if exc is not None:
            self.propagating = None
        elif main._blocked_on is not None:
            hub = self.hub
            if hub is not None and hub.can_wake():
                # Somebody waits in the hub: it takes over, and this
                # greenlet waits in the pool for a tasklet to run.
                self.pool.append(me)
                del dead
                self._enter_hub()
                return
            exc = self.deadlock(None)
        if main._blocked_on is not None:
            main._blocked_on._unpark(main)
            main._blocked_on = None
        else:
            drop(self.runq, main)
        self.pool.append(me)
        self.current = main
        if _schedule_callback is not None:
            _switched(dead, main)
        del dead
        value = main._temp
        main._temp = _NOWAKE
        gr = main._gr
        if exc is None:
            del main
            gr.switch(value)
        else:
            if not isinstance(exc, Exception):
                deliver(main, exc)  # a KeyboardInterrupt, a SystemExit
            del main
            gr.throw(exc)

    def wakeup(self) -> Task:
        """The tasklet that runs when nothing else can: the innermost of
        ``watchdogs``, else main. Does not switch."""
        watchdogs = self.watchdogs
        return watchdogs[-1] if watchdogs else self.main

    def idle(self, cur: Task) -> Any:
        """``cur`` parks, and nothing else is runnable (the slow path of park).

        If :meth:`wakeup` is paused (alive, and neither runnable nor waiting
        on anything, like the caller of ``stackless.run()``), switch to it: it
        asked to be woken now. If that is ``cur`` itself, return its ``_temp``
        at once. Otherwise raise ``DeadlockError``: nothing can ever wake
        ``cur``. Shoal's own API never leaves main paused, so there this is
        always the deadlock.

        As in Stackless, a bomb that ``cur`` holds (it blocks sending one) is
        handed to the woken tasklet too, which raises it.
        """
        w = self.wakeup()
        if w._blocked_on is not None or w._gr is DEAD:
            hub = self.hub
            if hub is not None and hub.can_wake():
                return self.to_hub(cur)
            err = self.deadlock(cur)
            cur._temp = _NOWAKE  # its wait's payload is not sent: see _throw_in
            raise err
        if w is cur:
            value = cur._temp
            cur._temp = _NOWAKE
            return value
        if type(cur._temp) is bomb:
            w._temp = cur._temp
        self.runq.append(w)
        hub = self.hub
        if hub is not None and hub.waiting and not hub.queued:
            # cur (or another) waits in the hub, which w, woken now, may
            # never give a turn (a `while ...: stackless.run()` loop that
            # finds nothing else runnable): the hub takes its place behind w.
            self.queue_hub()
        return self.park(cur)

    # -- failures ---------------------------------------------------------------

    def failed(self, t: Task, exc: BaseException) -> None:
        """Deal with ``exc`` escaping tasklet ``t``."""
        if t._propagate or isinstance(exc, (SystemExit, KeyboardInterrupt)):
            if not isinstance(exc, TaskletExit):
                self.propagating = exc
            return
        t._report(exc)

    def deadlock(self, cur: Task | None) -> DeadlockError:
        """The error for ``cur`` blocking (or the last tasklet ending) for good."""
        t = cur if cur is not None else self.wakeup()
        words = getattr(t._blocked_on, "_deadlock_message", None)
        if words is not None:
            return DeadlockError(words(t, cur is None))
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


def _no_scheduler() -> Scheduler:
    # hint when no live thread's scheduler is: its current tasklet's
    # greenlet is None, which getcurrent() never is.
    nobody = Scheduler.__new__(Scheduler)
    nobody.current = Task.__new__(Task)
    nobody.current._gr = None
    nobody.hub = None  # sleep(0) looks at the hint's hub first
    return nobody


#: ``hint`` when there is none (see below).
_NOBODY = NO_HINT = _no_scheduler()


#: The scheduler the last :func:`get_scheduler` call returned. Reading
#: ``local.sched`` costs ~400 instructions (a quarter of what a yield costs
#: over the floor's), so the hottest paths try ``hint`` first: it is this
#: thread's scheduler whenever its current tasklet's greenlet is
#: ``getcurrent()``, since a greenlet belongs to one thread. Otherwise (another
#: thread used shoal last, code runs in a greenlet of its own inside a
#: tasklet, or in the hub, whose stand-in's ``_gr`` is never the running
#: greenlet) they call ``get_scheduler()``, which resets it. When a thread ends,
#: its scheduler stops being the hint (see ``_Release``). While a schedule
#: callback is set there is no hint (``_NOBODY``), so that ``schedule()``
#: takes its slow path, which calls it.
hint: Scheduler = _NOBODY
_watch.gate_listeners.append(_regate)


class _Release:
    """Held in the thread-local beside the thread's scheduler: when the thread
    ends, the local lets go of it, and ``hint`` then lets go of the
    scheduler, which would otherwise stay alive with its pooled greenlets
    until another thread looked its own up."""

    __slots__ = ("sched",)

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched

    def __del__(self) -> None:
        global hint
        if hint is self.sched:
            hint = _NOBODY


#: Makes a thread's main tasklet; set by ``shoal._tasklet``, and replaced by
#: ``shoal.stackless`` when imported (its main is a ``stackless.tasklet``).
make_main: Callable[[], Task] = Task.__new__  # type: ignore[assignment]
#: The class of the task that stands for the hub (``Hub.task``); set to
#: ``Tasklet`` by ``shoal._tasklet``. It sits in the run queue and is the
#: current task like any tasklet, so it must have their class: CPython
#: 3.11+ specialises each attribute access for one class, and a second
#: class at the same site makes it generic (3.5% more instructions in a
#: yield with I/O pending).
task_class: Callable[[], Task] = Task


def get_scheduler() -> Scheduler:
    """This thread's scheduler, made at the first call in the thread."""
    global hint
    s = hint
    if s.current._gr is getcurrent():  # see hint
        return s
    try:
        sched: Scheduler = local.sched
    except AttributeError:
        sched = local.sched = Scheduler(make_main())
        local.release = _Release(sched)
    # No hint while a schedule callback is set (see _regate); one set by
    # another thread between the test and the store is caught by the second
    # test. A store into the module's dict costs ~100 instructions: only
    # when the hint changes.
    if hint is not sched and _schedule_callback is None:
        hint = sched
        if _gated():
            hint = _NOBODY
    return sched


def _gated() -> bool:
    """Whether a schedule callback is set (read again, after a store)."""
    return _schedule_callback is not None


def schedule() -> None:
    """Let every other runnable tasklet run once, then return. The hub
    takes a turn among them while a tasklet waits in it; asyncio work
    that none waits for runs only when the hub next polls, which a
    polling ``sleep(0)`` makes sure of (see ``poll_soon``). Code in the hub
    (asyncio code, a loop callback) gets ``BlockingInHubError``: it never
    takes the fast path (see ``shoal._hubturns``). Switches."""
    s = hint
    cur = s.current
    if cur._gr is not getcurrent():  # see hint; always, while a callback is set
        _schedule_slow()
        return
    # No test for an empty run queue: nxt is then cur, which switches to
    # itself (or returns in _schedule_rare); the test cost 2% of a yield.
    runq = s.runq
    runq.append(cur)
    nxt = runq.popleft()
    if nxt._temp is _NOWAKE:
        # Started, and no wake value: a bare switch, which makes no
        # argument tuple; the resumed code sees () (see NO_VALUE).
        s.current = nxt
        nxt._gr.switch()
    else:
        # Not started (NO_VALUE), a wake value, the hub's turn: the slow way.
        _schedule_rare(s, cur, nxt)


#: What code in the hub that yields is refused.
_YIELDING = "yielding with shoal.schedule() or shoal.sleep(0)"


def poll_soon(s: Scheduler) -> None:
    """``sleep(0)`` found the hub out of the run queue ``IDLE_YIELDS`` times
    in a row (or no hint: a schedule callback is set): give it a turn after
    the runnable tasklets (``queue_hub``), so that asyncio work that no
    tasklet waits in the hub for still runs. While nothing waits in it,
    at most every ``IDLE_POLL_EVERY`` seconds; otherwise the hub polls at
    most every ``POLL_EVERY``. ``s`` is the hint. Code in the hub gets
    ``BlockingInHubError``, as from the ``schedule()`` that would follow.
    Does not switch."""
    if s.current._gr is not getcurrent():  # not this thread's, or in the hub
        s = get_scheduler()
        if s.current is s.hubtask:
            raise s.refuse_hub_switch(_YIELDING)
    hub = s.hub
    if hub is None or hub.queued:
        return
    hub.idle_yields = IDLE_YIELDS
    if hub.waiting or _clock() - hub.polled >= IDLE_POLL_EVERY:
        s.queue_hub()


def _schedule_slow() -> None:
    """``schedule()`` when the hint is not this thread's scheduler, or while
    a schedule callback is set (the hint is unset then), or from the hub,
    which gets ``BlockingInHubError``. Switches."""
    s = get_scheduler()
    cur = s.current
    if cur is s.hubtask:
        raise s.refuse_hub_switch(_YIELDING)
    cur._gr = getcurrent()  # where cur resumes, if it switches away below
    runq = s.runq
    if runq:
        runq.append(cur)
        _schedule_rare(s, cur, runq.popleft())
    else:
        # A yield with nobody else to run keeps no one from running: a
        # monitor counts it as a switch (only monitors read the count).
        s.switches += 1


def _schedule_rare(s: Scheduler, cur: Task, nxt: Task) -> None:
    """``schedule()`` for a next tasklet that has not started, or has a wake
    value, or is the hub's turn, or for any while a schedule callback is
    set; and for ``cur`` itself, alone in the run queue and not yet parked
    since it started. Switches, but not then."""
    if nxt is cur:
        return
    if nxt._temp is _HUB_TURN:
        _hub_turn(s, cur, nxt)
    else:
        s.resume(cur, nxt)


def _hub_turn(s: Scheduler, cur: Task, hub: Task) -> None:
    """``schedule()`` took the hub's stand-in from the run queue: run the
    hub, unless it polled moments ago (a poll costs more than a round of a
    few yielding tasklets); then it keeps its place, and the next runs.
    Tested here rather than in ``schedule()``, where it would cost every
    yield five bytecodes. Switches."""
    runq = s.runq
    if _clock() - s.hub.polled < POLL_EVERY:
        runq.append(hub)
        s.resume(cur, runq.popleft())
    else:
        s.resume(cur, hub)
