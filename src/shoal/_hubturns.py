"""The hub's side of the scheduler: its turns in the run queue, parking into
it, and stopping it. Part of the kernel (see ``shoal._scheduler``):
``Scheduler`` derives from ``HubTurns``.

The hub (``shoal._hub.Hub``) is an asyncio loop in a greenlet of its own.
While it runs, the scheduler's current task is its stand-in, ``Hub.task``.
Tasklets that hand work among themselves give it a turn (``queue_hub``) at
most every ``POLL_EVERY`` seconds; tasklets that park with nothing else
runnable switch into it (``to_hub``), and it runs them again from a loop
callback (``run_ready``).

The stand-in's ``_gr`` is never the hub greenlet but its door
(``Hub.door``): a greenlet that has ended, whose parent is the hub
greenlet. Switching to an ended greenlet switches to its parent, so
tasklets resume the hub through ``_gr`` as any tasklet; but while code runs
in the hub, ``current._gr is getcurrent()`` is false, and the fast paths
(``schedule()``, the channel hand-off) leave it to the general ones, which
refuse what would switch the hub away from inside a loop callback
(``refuse_hub_wait``, ``refuse_hub_switch``). So nothing may store the hub
greenlet in the stand-in's ``_gr``: the switch points leave it alone.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from greenlet import GreenletExit, getcurrent, greenlet

from . import _watch
from ._errors import BlockingInHubError, DeadlockError
from ._task import DEAD, HUB_TURN, NOWAKE, Task, drop, holds

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["IDLE_POLL_EVERY", "IDLE_YIELDS", "NO_HUB", "POLL_EVERY", "HubTurns"]

_NOWAKE = NOWAKE
#: ``Scheduler.hubtask`` while there is no hub: a placeholder that is no task.
NO_HUB: Any = object()
#: While tasklets keep running, the hub polls for I/O at least this often
#: (seconds), not at every round of the run queue.
POLL_EVERY = 50e-6
#: While nothing waits in the hub, ``sleep(0)`` lets the loop run at most
#: this often (seconds), looking at the clock every ``IDLE_YIELDS`` calls
#: (``_scheduler.poll_soon``): a poll of a loop with nothing to do costs
#: tens of microseconds.
IDLE_POLL_EVERY = 1e-3
IDLE_YIELDS = 64
_clock = time.perf_counter
#: True while anything watches switches (see ``shoal._watch``): ``run_ready``
#: then resumes tasklets through ``Scheduler.resume``, which tells the
#: watcher, rather than inline.
watched = False


def _rewatch() -> None:
    global watched
    watched = _watch.gate is not None


_watch.gate_listeners.append(_rewatch)


def _ended() -> None:
    """The body of a hub's door (``Hub.door``): it ends at once."""


class HubTurns:
    """The hub's part of a ``Scheduler``, which holds the state."""

    # The slots this part writes are declared here, the rest in Scheduler.
    __slots__ = ("current", "hub", "hubtask")

    #: The running tasklet (the hub's stand-in while the hub runs).
    current: Task
    #: The thread's hub (``shoal._hub.Hub``), made at the first wait on it.
    hub: Any
    #: The hub's stand-in task (``Hub.task``), current while the hub
    #: greenlet runs; ``NO_HUB`` when there is no hub.
    hubtask: Any
    runq: deque[Task]
    watchdogs: list[Task]
    root: greenlet
    resume: Callable[[Task | None, Task], Any]
    start: Callable[[], Any]
    park: Callable[[Task], Any]
    wakeup: Callable[[], Task]
    deadlock: Callable[[Task | None], DeadlockError]

    def set_hub(self, hub: Any) -> None:
        """Attach ``hub`` (or None) to this scheduler. Does not switch."""
        self.hub = hub
        self.hubtask = NO_HUB if hub is None else hub.task

    def refuse_hub_wait(self, doing: str) -> BlockingInHubError:
        """The error for code in the hub that would wait, ``doing`` what;
        the hub is put back as it was (see :meth:`hub_refused`). Does not
        switch."""
        self.hub_refused()
        return BlockingInHubError(
            f"code running in the hub (asyncio code on shoal's loop) would block:"
            f" {doing}; the hub must never wait: wait in a tasklet (shoal.spawn),"
            " or use the non-blocking (_nowait) form"
        )

    def refuse_hub_switch(self, doing: str) -> BlockingInHubError:
        """The error for code in the hub that would switch to tasklets,
        ``doing`` what, without waiting (a yield, a Stackless switch): the
        tasklets would run inside the loop callback, and resume it when
        they park into the hub, so the loop would not run meanwhile. The
        hub is put back as it was (see :meth:`hub_refused`). Does not
        switch."""
        self.hub_refused()
        return BlockingInHubError(
            "code running in the hub (asyncio code on shoal's loop, a loop"
            f" callback) would switch away: {doing}; the hub must never switch"
            " to tasklets from inside a loop callback: do it in a tasklet"
            " (shoal.spawn); in asyncio code, await asyncio.sleep(0) to yield"
        )

    def hub_refused(self) -> None:
        """Code in the hub is refused a wait or a switch: undo what the
        caller did to the hub's stand-in before it found out. It leaves the
        run queue, where a Stackless ``schedule()`` or ``run()`` put it (a
        tasklet reaching it would resume the hub at some later switch
        point), as does the turn a wait queued for it (the hub runs now; a
        flush queues it again); it keeps no wake value; and its ``_gr`` is
        the hub's door again (the inline parks of the channel hand-off store
        the hub greenlet there before they refuse). Does not switch."""
        hub = self.hub
        task = hub.task
        runq = self.runq
        kept = [t for t in runq if t is not task]  # by identity, not ==
        if len(kept) != len(runq):
            runq.clear()
            runq.extend(kept)
        hub.queued = False
        task._temp = _NOWAKE
        if hub.door is not None:
            task._gr = hub.door

    def to_hub(self, cur: Task) -> Any:
        """Park ``cur`` in the hub: nothing is runnable, but the hub will wake
        somebody (a timer, a file descriptor, a future). Returns ``cur``'s
        wake value when the hub runs it again."""
        cur._gr = getcurrent()
        return self._enter_hub()

    def _enter_hub(self) -> Any:
        task = self.hub.task
        if watched:
            _watch.switched(self.current, task)
        self.current = task
        return self._hub_greenlet().switch()

    def _hub_greenlet(self) -> greenlet:
        """The hub greenlet, made (not started) if there is none; the
        stand-in's ``_gr`` is its door (see the module's docstring). Does
        not switch, unless it makes the door: that runs once, at once."""
        hub = self.hub
        gr: greenlet | None = hub.gr
        if gr is None:
            gr = hub.gr = greenlet(hub.run_loop, self.root)
            door: greenlet | None = hub.door
            if door is None:
                door = hub.door = greenlet(_ended)
                door.switch()  # it ends at once, back here
            door.parent = gr
            hub.task._gr = door
        return gr

    def wait_in_hub(self, cur: Task, wait: Any) -> Any:
        """Park current tasklet ``cur`` until a loop callback wakes it through
        ``wait``, its waitable, on which the caller registered it (``cur``
        is counted in ``hub.waiting`` meanwhile); return the wake value. A
        bomb is returned too, for the caller to raise: raised here, it would
        add this frame to the traceback of every kill (oneof's losers). If
        parking fails, ``cur`` is taken off ``wait``.

        Every wait in the hub comes here (sleeps, socket reads, futures);
        ``park`` is inlined, a call and a frame on the parked tasklet's
        chain less (keep in step). Switches."""
        hub = self.hub
        hub.waiting += 1
        cur._blocked_on = wait
        runq = self.runq
        try:
            if runq and not hub.queued:
                # queue_hub(), inlined: others run first, then the hub
                hub.queued = True
                task = hub.task
                if hub.gr is None:
                    self._hub_greenlet()
                task._temp = HUB_TURN
                runq.append(task)
            if runq and cur is not self.hubtask and not watched:
                nxt = runq.popleft()
                cur._gr = getcurrent()
                self.current = nxt
                gr = nxt._gr
                if gr is None:
                    del nxt  # see Scheduler.start
                    value = self.start()
                else:
                    value = nxt._temp
                    nxt._temp = _NOWAKE
                    del nxt
                    value = gr.switch(value)
            else:
                value = self.park(cur)
        except BaseException:
            if cur._blocked_on is wait:
                wait._unpark(cur)
                cur._blocked_on = None
            raise
        return value

    def queue_hub(self) -> None:
        """Give the hub a turn in the run queue, after the tasklets runnable
        now, so that tasklets busy among themselves never starve timers and
        I/O: the hub's stand-in task is one more member of the round robin.
        Does not switch."""
        hub = self.hub
        if not hub.queued:
            hub.queued = True
            task = hub.task
            if hub.gr is None:
                self._hub_greenlet()
            task._temp = HUB_TURN
            self.runq.append(task)

    def run_ready(self) -> None:
        """In the hub greenlet (a loop callback): run the runnable tasklets.

        Returns to the loop when the hub's turn comes again: either nothing
        is runnable and a tasklet parked into the hub, or a tasklet reached
        the hub's place in the run queue and ``POLL_EVERY`` has passed since
        the loop last polled (then the loop polls once and runs the rest).
        With nothing runnable and nobody waiting in the hub, nothing can ever
        wake anyone: the deadlock goes to the wake-up tasklet.
        """
        hub = self.hub
        hub.flushing = False  # this is the flush (Hub.call_flush)
        runq = self.runq
        task = hub.task
        if runq:
            # The hub resumes here, every time: through its door, the
            # stand-in's _gr (see the module's docstring).
            start = hub.polled = _clock()
            while True:
                if hub.waiting and not hub.queued:
                    # queue_hub(), inlined (the hub greenlet exists: this
                    # is it): once per wake-up of a tasklet waiting on I/O.
                    hub.queued = True
                    task._temp = HUB_TURN
                    runq.append(task)
                nxt = runq.popleft()
                if nxt is task:
                    break
                if watched:
                    self.resume(task, nxt)
                else:  # resume(), inlined: once per tasklet woken by I/O
                    self.current = nxt
                    gr = nxt._gr
                    if gr is None:
                        del nxt  # see Scheduler.start
                        self.start()
                    else:
                        value = nxt._temp
                        nxt._temp = _NOWAKE
                        del nxt
                        gr.switch(value)
                # The hub's turn came round. Polling costs more than a
                # round of a few yielding tasklets: poll only every
                # POLL_EVERY seconds while tasklets keep running.
                hub.queued = False
                if not runq or _clock() - start >= POLL_EVERY:
                    break
        # The hub's turn: its place in the run queue is gone, if it had one.
        hub.queued = False
        task._temp = _NOWAKE
        self.current = task
        if not runq and self.watchdogs and not hub.closing:
            # Nothing runnable: a paused stackless.run() caller asked to be
            # woken now, as idle() wakes it (a tasklet that waits in the hub
            # counts as blocked). idle() never saw this: the hub's turn,
            # queued when a tasklet parked here, was the next runnable.
            w = self.watchdogs[-1]
            if w._blocked_on is None and w._gr is not DEAD:
                runq.append(w)
        if runq:  # back_in_hub(), its common case inlined: once per flush
            hub.ensure_flush()
        elif not hub.waiting and not hub.closing:
            self.back_in_hub()  # asyncio tasks may still wake one

    def back_in_hub(self) -> None:
        """In the hub greenlet, back from running tasklets (a flush, or a
        throw made from a loop callback, a timeout's): have the loop run
        what became runnable; with nothing runnable and nobody waiting in
        the hub, nothing can ever wake anyone: the deadlock goes to the
        wake-up tasklet. Switches only then."""
        hub = self.hub
        runq = self.runq
        if runq:
            hub.ensure_flush()
        elif not hub.closing and not hub.can_wake():
            self._hub_deadlock()
            if runq:  # back in the hub: run what became runnable
                hub.ensure_flush()

    def _hub_deadlock(self) -> None:
        """In the hub: nothing runnable and nobody waiting in the hub. The
        wake-up tasklet is paused (``stackless.run()``: it resumes) or
        blocked for good (it gets ``DeadlockError``)."""
        main = self.wakeup()
        task = self.hub.task  # resumed through its door, as ever
        self.current = main
        if watched:
            _watch.switched(task, main)
        if main._blocked_on is None:
            value = main._temp
            main._temp = _NOWAKE
            main._gr.switch(value)
            return
        exc = self.deadlock(None)
        main._blocked_on._unpark(main)
        main._blocked_on = None
        main._gr.throw(exc)

    def hub_failed(self, hub: Any, exc: BaseException) -> None:
        """In the hub greenlet, whose loop's ``run_forever`` raised (a
        ``KeyboardInterrupt`` from a signal, a ``SystemExit`` from a
        callback): the greenlet ends, and the caller re-raises the exception
        to its parent. That is the tasklet :meth:`wakeup` names (main), made
        current here and taken off what it waited on, or out of the run
        queue: its wait is over, as a kill's. While :meth:`stop_hub` stops
        the hub, it is the stopper. The next wait in the hub starts a new
        greenlet on the same loop. Does not switch: the greenlet's end does.
        """
        if isinstance(exc, GreenletExit):
            return  # the greenlet is collected (its thread ended): nobody waits
        gr = hub.gr
        hub.gr = hub.task._gr = None
        # A flush the loop was about to run, or a turn of the hub in the run
        # queue, would never come: the next wait starts afresh.
        hub.flushing = False
        hub.queued = False
        runq = self.runq
        task = hub.task
        if holds(runq, task):
            kept = [t for t in runq if t is not task]
            runq.clear()
            runq.extend(kept)
        if hub.closing:
            return
        main = self.wakeup()
        on = main._blocked_on
        if on is not None:
            on._unpark(main)
            main._blocked_on = None
        else:
            drop(runq, main)
        main._temp = _NOWAKE
        self.current = main
        if watched:
            _watch.switched(task, main)
        gr.parent = main._gr

    def stop_hub(self) -> None:
        """Stop and close the hub's loop; its greenlet ends. From a tasklet
        (the main one: at the end of ``shoal.run``, or at its start for a
        hub made outside it); switches. The loop's last round runs no
        tasklet: the run queue is set aside meanwhile."""
        hub = self.hub
        if hub is None:
            return
        self.set_hub(None)
        # Turns the hub still has in the run queue (queue_hub, or a throw
        # made from the hub) would resume a greenlet that is about to end.
        runq = self.runq
        task = hub.task
        kept = [t for t in runq if t is not task]
        runq.clear()
        hub.queued = False
        try:
            gr = hub.gr
            if gr is not None and not gr.dead:
                hub.closing = True
                hub.loop.stop()
                # When run_forever returns, the hub greenlet ends: come back.
                gr.parent = getcurrent()
                cur = self.current
                self.current = task
                self.set_hub(hub)  # for the last flush, if one is pending
                try:
                    gr.switch()
                finally:
                    self.set_hub(None)
                    self.current = cur
        finally:
            # Tasklets its last round woke (a loop callback) run later.
            woken = [t for t in runq if t is not task]
            runq.clear()
            runq.extend(kept)
            runq.extend(woken)
            hub.loop.close()
            del hub.call_flush  # its bound flush: no reference cycle left
