"""Structured concurrency: ``oneof``, ``allof`` and ``TaskGroup``.

Design
------
Each runs its branches (children) as tasklets that report their end on an
internal queue, and never returns before every branch has finished: the
branches still running are killed, and ``kill`` waits for their ``finally``
blocks. That cleanup sits in a ``finally``, so a caller that is killed or
times out takes its branches with it, and the constructs nest to any depth.
A branch that ends before it ever ran (killed, or an exception thrown into
it) never runs its body, whose ``finally`` reports the end: the tasklet's
end reports it instead (``ENDED_UNSTARTED``).
A branch's failure is delivered to the caller (re-raised, or in the
``ExceptionGroup``), so it is marked observed and not printed again; one
that ``oneof`` or ``allof`` does not deliver (a loser that failed in the
round the winner finished, a second failure) is printed, as an unobserved
tasklet's is.

``oneof`` is not ``select``: it runs whole branches and kills the losers, so
a losing branch that had already taken a message loses it. To take exactly
one message from several channels, use ``select``.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any

from ._delivery import deliver, interrupt, live_since, settle
from ._errors import BlockingInHubError, Interruption, TaskletExit
from ._hub import ready
from ._scheduler import DEAD, NOWAKE, Scheduler, Task, get_scheduler
from ._task import NO_VALUE, init_task
from ._tasklet import ENDED_UNSTARTED, Tasklet, new_tasklet, spawn
from ._timeouts import raise_again, with_timeout

if sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

__all__ = ["TaskGroup", "allof", "oneof"]


class _Ends:
    """Where branches report their end (their index), and their owner waits
    for the next report: a single-waiter queue, lighter than ``Queue``."""

    __slots__ = ("ended", "waiter")
    _raises_bombs = True  # see Tasklet.throw

    ended: deque[int]
    waiter: Task | None

    # No __init__ (one written in Python is called from C, in a new
    # interpreter frame, at every oneof): see _new_ends.

    def put(self, i: int) -> None:
        """Branch ``i`` has ended. Does not switch."""
        self.ended.append(i)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            ready(waiter, None)

    def get(self, s: Scheduler | None = None) -> int:
        """The index of the next branch to end, waiting for it; ``s`` is
        this thread's scheduler, if the caller has it. Switches."""
        if not self.ended:
            if s is None:
                s = get_scheduler()
            self.waiter = s.current
            s.block(s.current, self)
        return self.ended.popleft()

    def _unpark(self, t: Task) -> None:
        self.waiter = None

    def _describe(self, t: Task) -> str:
        return "waiting for a branch to end"


def _new_ends() -> _Ends:
    """A new, empty ``_Ends``. Does not switch."""
    ends = _Ends()
    ends.ended = deque()
    ends.waiter = None
    return ends


def _branch(fn: Callable[[], Any], ends: _Ends, i: int) -> Any:
    # Three arguments, which the worker passes as they are, and ``fn()``
    # called as it is: ``f(*args)`` is a call from C into a new interpreter
    # frame, which costs time and stays on the greenlet's C stack (copied at
    # each switch) while the branch is parked.
    try:
        return fn()
    finally:
        ends.put(i)


def _branch_unstarted(exc: BaseException, fn: object, ends: _Ends, i: int) -> None:
    ends.put(i)  # it ended before it ran: see ENDED_UNSTARTED


ENDED_UNSTARTED[_branch] = _branch_unstarted


def _start(
    s: Scheduler, fns: tuple[Callable[[], Any], ...], what: str
) -> tuple[list[Tasklet], _Ends]:
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"{what}() takes callables, got {fn!r}")
    ends = _new_ends()
    alive, runq = s.alive, s.runq
    branches = []
    for i, fn in enumerate(fns):  # spawn(), inlined
        t = new_tasklet()
        init_task(t, s, _branch, (fn, ends, i), None)
        alive[t] = None
        runq.append(t)
        branches.append(t)
    s.observed.update(branches)
    return branches, ends


def _end(
    branches: list[Tasklet],
    s: Scheduler,
    report: bool = True,
    delivered: Tasklet | None = None,
) -> None:
    """Kill the branches still alive, waiting for each to finish; ``s`` is
    this thread's scheduler. If the caller is interrupted meanwhile (killed
    again, a timeout around it expires), it goes on until every branch has
    ended, then raises that (the first; a later one, delivered too, is
    still live, and the scope whose expiry this raises finds it and raises
    it on: see ``shoal._timeouts``): no branch outlives the call, and the
    caller gets the interruption, not ``delivered``'s outcome. With
    ``report``, a branch's failure that the caller does not get (every
    branch's but ``delivered``'s: one that failed in the round the winner
    finished, or whose ``finally`` raised as it was killed; ``delivered``'s
    too once interrupted) is reported as an unobserved tasklet's failure
    is: nobody else will get it. The exception the caller is raising (a
    ``KeyboardInterrupt`` of a branch, which goes to the main tasklet at
    once) is not. Switches."""
    interrupted: BaseException | None = None
    for t in branches:
        if t._gr is DEAD:
            continue
        if t._sched is not s:
            t.kill()  # a TaskGroup child spawned in another thread: raises
            continue
        thrown = False
        while t._gr is not DEAD:
            try:
                if thrown:
                    t.join()
                else:
                    thrown = True
                    kill = TaskletExit()
                    pending = False
                    if t._gr is None:
                        pass  # it ends before it runs: nothing of it sees it
                    elif (
                        t._blocked_on is None
                        and t._temp is not NOWAKE
                        and t._temp is not NO_VALUE
                    ):
                        pending = True  # shoal._delivery.defers(t), inlined
                        deliver(t, kill, pending)
                    else:
                        # shoal._delivery.deliver() of a kill, inlined (see
                        # shoal._timeouts): keep in step.
                        n = s.deliveries = s.deliveries + 1
                        t._killed = (n, kill)
                    try:
                        t._throw_in(s, kill)  # t.kill(), less its checks
                    finally:
                        if pending:
                            settle(t)
                    del kill
            except BaseException as exc:
                if interrupted is None:
                    interrupted = exc
        t._killed = t._interrupts = None  # forget(), inlined
    s.observed.difference_update(branches)
    if report:
        # What the caller raises: the exception in flight through its
        # ``finally`` (this call's caller), or the interruption instead.
        raising = sys.exc_info()[1] if interrupted is None else interrupted
        if interrupted is not None:
            delivered = None
        for t in branches:
            failure = t._exception
            if (
                t is not delivered
                and failure is not None
                and failure is not raising
                and not isinstance(failure, TaskletExit)
            ):
                t._report(failure)
    if interrupted is not None:
        try:
            raise interrupted
        finally:
            interrupted = None  # no cycle through this frame


def oneof(*fns: Callable[[], Any], timeout: float | None = None) -> Any:
    """Run each callable in its own tasklet; return the result of the first
    to finish, or raise its exception. Before returning, the other branches
    are killed and their ``finally`` blocks have run. ``shoal.TimeoutError``
    if none finishes in ``timeout``. A branch killed from outside (by
    another tasklet, or itself) ends with its ``TaskletExit``, which is its
    outcome: if it ends first, ``oneof`` raises it, as the task
    ``asyncio.wait`` returns then raises its ``CancelledError`` (see
    ``allof``). Switches."""
    if not fns:
        raise ValueError("oneof() needs at least one callable")
    s = get_scheduler()
    branches, ends = _start(s, fns, "oneof")
    winner = None
    try:
        first = (
            ends.get(s)
            if timeout is None
            else with_timeout(timeout, ends.get, doing="oneof()")
        )
        winner = branches[first]
    finally:
        _end(branches, s, delivered=winner)
    return winner._outcome()


def allof(*fns: Callable[[], Any], timeout: float | None = None) -> tuple[Any, ...]:
    """Run each callable in its own tasklet; return their results in argument
    order. If one raises, the others are killed and that exception
    propagates; ``shoal.TimeoutError`` if they do not all finish in
    ``timeout``. A branch killed from outside (by another tasklet, or
    itself) has no result: its ``TaskletExit`` propagates as a failure
    does, as ``asyncio.gather`` raises the ``CancelledError`` of a child
    cancelled from outside (uncaught, it ends the caller as a kill would).
    A ``TaskGroup`` child killed so is no failure, as in asyncio's
    ``TaskGroup``. Switches."""
    s = get_scheduler()
    branches, ends = _start(s, fns, "allof")
    failed: list[Tasklet] = []
    try:
        with_timeout(timeout, _wait_all, branches, ends, failed, doing="allof()")
    finally:
        _end(branches, s, delivered=failed[0] if failed else None)
    return tuple(t._outcome() for t in branches)


def _wait_all(branches: list[Tasklet], ends: _Ends, failed: list[Tasklet]) -> None:
    """Wait for every branch; raise the first failure, its branch put in
    ``failed``. Switches."""
    for _ in branches:
        t = branches[ends.get()]
        exc = t.exception
        if exc is not None:
            failed.append(t)
            raise exc


def _is_kill(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a kill, or any other exception that is no
    ``Exception`` nor shoal's ``Interruption`` (``KeyboardInterrupt``):
    what goes on through a task group as itself. Does not switch."""
    return exc is not None and not isinstance(exc, (Exception, Interruption))


class _ChildFailed(Interruption):
    """A task group's child failed while the owner ran the group's block:
    thrown into the owner, it ends the block, and the group's exit
    collects the failure (private: only that group catches it)."""

    def __init__(self, group: TaskGroup) -> None:
        super().__init__(group)
        self.group = group

    def aimed(self) -> bool:
        return self.group._in_block


def _child(fn: Callable[[], Any], group: TaskGroup, i: int) -> Any:
    """The body of a task group's child: ``fn()``; its failure ends the
    owner's block (see ``TaskGroup``). Called as ``_branch`` is."""
    try:
        return fn()
    except TaskletExit:
        raise
    except BaseException as exc:
        group._child_failed(exc, i)
        raise
    finally:
        group._done.put(i)


def _child_unstarted(exc: BaseException, fn: object, group: TaskGroup, i: int) -> None:
    """A child ended before it ran (see ENDED_UNSTARTED): as ``_child``'s
    ``finally`` and ``except`` would have. Switches if it failed and
    interrupts its owner."""
    group._done.put(i)
    if not isinstance(exc, TaskletExit):
        group._child_failed(exc, i)


ENDED_UNSTARTED[_child] = _child_unstarted


class TaskGroup:
    """``with TaskGroup() as group: group.spawn(fn, *args)``: the block exits
    only when every child has finished (children may add children). The
    first child to fail closes the group (a spawn then is a RuntimeError),
    kills its siblings and ends the block at once (the owner leaves it at
    its switch point, its ``finally`` blocks run), and the failures are
    raised as an ``ExceptionGroup``. A child killed before it ever ran has
    finished, with no failure to report (a killed child's ``TaskletExit``
    is none); an exception thrown into it then is its failure. If the
    block itself raises (or its tasklet is killed, or a timeout scope
    around the group expires), the group is closed and the children are
    killed: an error of the block is raised in the group, first, with the
    children's; a kill goes on as itself, and failures of children nobody
    will get are printed. An expiry does too, unless a child failed, before
    it or as it was killed, or the block raised an error: then, as in
    asyncio and trio, it gives way to the group's failures, the block's
    error first. A child that fails while a kill delivered to the owner in
    the block is still live (a ``finally`` in the block waits while it
    unwinds the block, or the block caught it) ends that cleanup but does
    not replace the kill, which goes on as above (a timeout scope that
    expires then does the same: see ``shoal._timeouts``). Entering does not
    switch; leaving waits for the children (switches)."""

    __slots__ = (
        "_children",
        "_closed",
        "_done",
        "_early",
        "_in_block",
        "_interrupted",
        "_mark",
        "_owner",
    )

    def __init__(self) -> None:
        self._children: list[Tasklet] = []
        self._done = _new_ends()
        self._closed = False
        self._in_block = False
        self._interrupted = False
        #: Failures children reported as they raised them, with the child:
        #: a child that interrupts the block is killed there if the block's
        #: exit does not wait, and its exception becomes the kill's.
        self._early: list[tuple[Tasklet, BaseException]] = []
        self._owner: Task | None = None
        #: The scheduler's ``deliveries`` when the block was entered (see
        #: ``__exit__`` and ``shoal._timeouts``).
        self._mark = 0

    def spawn(self, fn: Callable[..., Any], /, *args: Any) -> Tasklet:
        """Start ``fn(*args)`` as a child of the group: from its block, or
        from a child while the group waits for them. RuntimeError before
        the group is entered (nothing would wait for the child), once it is
        closed (it has exited, or is killing its children), and from
        another thread than the one that entered it. Does not switch."""
        owner = self._owner
        if owner is None:
            raise RuntimeError(
                f"{self!r} has not been entered: spawn its children inside "
                "'with TaskGroup() as group:'"
            )
        if self._closed:
            raise RuntimeError(
                f"{self!r} is closed: it has exited or is killing its "
                "children, and takes no new children"
            )
        if owner._sched is not get_scheduler():
            raise RuntimeError(
                f"{self!r} was entered in another thread: spawn its children "
                "from that thread (tasklets never move between threads)"
            )
        if not callable(fn):
            raise TypeError(f"TaskGroup.spawn() needs a callable, got {fn!r}")
        job = partial(fn, *args) if args else fn
        t = spawn(_child, job, self, len(self._children))
        t._sched.observed.add(t)
        self._children.append(t)
        return t

    def __enter__(self) -> TaskGroup:
        if self._owner is not None:
            raise RuntimeError(f"{self!r} cannot be entered twice")
        s = get_scheduler()
        if s.current is s.hubtask:
            raise BlockingInHubError(
                f"code running in the hub (asyncio code on shoal's loop) cannot"
                f" enter {self!r}: its exit waits for the children, and the hub"
                " must never wait; in asyncio code use asyncio.TaskGroup, or"
                " run the block in a tasklet (shoal.spawn)"
            )
        self._owner = s.current
        self._in_block = True
        self._mark = s.deliveries
        return self

    def _child_failed(self, exc: BaseException, i: int) -> None:
        """Child ``i`` failed with ``exc``: if the owner still runs the
        block, end it (see ``_ChildFailed``); its exit kills the siblings.
        Switches."""
        self._early.append((self._children[i], exc))
        if self._in_block and not self._interrupted:
            self._interrupted = True
            owner = self._owner
            assert owner is not None
            # The owner is not the current tasklet unless it threw into
            # this child before it started.
            interrupt(owner, _ChildFailed(self), get_scheduler().current)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._in_block = False
        s = get_scheduler()
        owner = s.current
        # A kill goes on as itself (see below): one that ended the block, or
        # one delivered to the owner in the block and still live when an
        # interruption of shoal ended it instead (a child failed, a scope
        # expired, while the kill's cleanup waited or after the block
        # caught the kill), as a timeout scope lets it (shoal._timeouts).
        kill = exc if _is_kill(exc) else None
        if isinstance(exc, Interruption) or self._interrupted:
            # Drops this group's _ChildFailed, no longer live, if delivered.
            found = live_since(owner, self._mark)
            if isinstance(exc, Interruption) and _is_kill(found):
                kill = found
            found = None
        if isinstance(exc, _ChildFailed) and exc.group is self:
            exc = None  # a child failed: collected below, with the rest
        failures: list[BaseException] = []
        # What interrupted the exit (a kill, an expiry): see below.
        interruption: BaseException | None = None
        if exc is None and kill is None:
            try:
                self._wait(failures)
            except BaseException as caught:
                interruption = caught
        self._closed = True
        try:
            _end(self._children, s, report=False)
        except BaseException as later:
            # It came while the children were killed: it goes on rather
            # than what came before it, unless that is a kill and it is not.
            if interruption is None or _is_kill(later) or not _is_kill(interruption):
                interruption = later
        if _is_kill(interruption):
            kill = interruption
        elif kill is None and isinstance(interruption, Interruption):
            found = live_since(owner, self._mark)
            if _is_kill(found):
                kill = found
            found = None
        # The first failure (from _wait), the children's in their order,
        # and those reported as raised that a kill replaced; once each.
        failures += [t.exception for t in self._children if t.exception is not None]
        failures += [f for _, f in self._early]
        failures[:] = {
            id(f): f for f in failures if not isinstance(f, TaskletExit)
        }.values()
        if kill is not None:
            # A kill, KeyboardInterrupt: it goes on as itself, and the
            # failures, which nobody will get now, are printed (a child's
            # KeyboardInterrupt, raised here, excepted).
            self._report_lost(failures, kill)
            if kill is exc:
                return
            try:
                raise_again(kill)
            finally:
                kill = interruption = exc = None  # no cycle through this frame
        # An error of the block comes first; an expiry gives way to the
        # errors and the children's failures, before it or as they were
        # killed (as in asyncio and trio): the scope that expired sees the
        # group instead.
        failures[:0] = [e for e in (exc, interruption) if isinstance(e, Exception)]
        if not failures:
            if interruption is not None:
                try:
                    raise interruption
                finally:
                    interruption = None  # no cycle through this frame
            return
        errors = [f for f in failures if isinstance(f, Exception)]
        if len(errors) == len(failures):
            raise ExceptionGroup("TaskGroup children failed", errors)
        raise BaseExceptionGroup("TaskGroup children failed", failures)

    def _report_lost(
        self, failures: list[BaseException], raising: BaseException
    ) -> None:
        """Print the children's ``failures`` that nobody will get: the
        group's exit raises ``raising`` instead. Each once, by the child
        that raised it: its exception, or one it reported as it raised it
        and was killed (``_early``). Does not switch."""
        lost = {id(f) for f in failures if f is not raising}
        reporters = [(t, t.exception) for t in self._children]
        for t, f in reporters + self._early:
            if f is not None and id(f) in lost:
                lost.discard(id(f))
                t._report(f)

    def _wait(self, failures: list[BaseException]) -> None:
        """Wait until every child has ended; children may add children
        meanwhile. Each reports its end once, started or not (see
        ``ENDED_UNSTARTED``). The first to fail closes the group and kills
        the others; ``failures`` gets its failure (the exit collects the
        rest). Switches."""
        s = get_scheduler()
        children, done = self._children, self._done
        first: Tasklet | None = None
        finished = 0
        while finished < len(children):
            child = children[done.get(s)]
            finished += 1
            exc = child.exception
            if first is None and exc is not None and not isinstance(exc, TaskletExit):
                first = child
                failures.append(exc)
                self._closed = True
                _end(children, s, report=False)  # its siblings

    def __repr__(self) -> str:
        alive = sum(1 for t in self._children if t.alive)
        return f"<TaskGroup children={len(self._children)} alive={alive}>"
