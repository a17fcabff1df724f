"""Tasklets: ``spawn``, ``current``, ``schedule``, ``run`` and the ``Tasklet`` API.

A tasklet is a microthread. It runs until it blocks or yields; nothing
preempts it. Every function here that may switch says so.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import traceback
import types
from collections.abc import Callable, Generator
from types import FunctionType
from typing import Any, NoReturn, TypeVar

from . import _scheduler
from ._delivery import forget, settle
from ._errors import Interruption, TaskletExit, bomb, is_exception_class
from ._handoff import defer_throw, take_deferred
from ._hub import Hub, HubWait, close_thread_hub, end_work, new_loop
from ._introspect import close_run_monitors, monitor_from_environment
from ._scheduler import DEAD, NOWAKE, Task, get_scheduler, local, schedule
from ._task import NO_VALUE, drop, init_task
from ._timeouts import check as check_timeout
from ._timeouts import delivering, with_timeout

__all__ = [
    "ENDED_UNSTARTED",
    "Tasklet",
    "current",
    "new_tasklet",
    "run",
    "schedule",
    "spawn",
]

T = TypeVar("T")

#: What to do when a tasklet that would have run one of these functions
#: ends before it ever ran (killed, or an exception thrown into it): the
#: function's own ``finally`` never runs then. Called as ``hook(exc,
#: *args)``, with the exception and the call's arguments. ``shoal._structure``
#: registers its branches' bodies here, which report their end.
ENDED_UNSTARTED: dict[Callable[..., Any], Callable[..., None]] = {}

#: Makes objects bare, without a Python __init__ (called from C, in a new
#: interpreter frame): the bomb of each kill.
_new = object.__new__
_ids = iter(range(1, 1 << 62))


class NoPublicConstructor(type):
    """The metaclass of :class:`Tasklet`: ``Tasklet()`` is refused (trio's
    ``NoPublicConstructor``). A bare tasklet would be half made: nothing
    runs it, and its attributes are not set. shoal makes its tasklets with
    :data:`new_tasklet`, which calls ``type.__call__`` itself (C all the
    way: ~10 instructions more than ``Tasklet()``, where
    ``object.__new__(Tasklet)`` costs ~300)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            f"{cls.__name__}() cannot be made directly: shoal.spawn(fn, *args) "
            "makes a tasklet and makes it runnable (Stackless code: "
            "stackless.tasklet(fn)(*args))"
        )


class PublicConstructor(NoPublicConstructor):
    """The metaclass of a subclass of :class:`Tasklet` that has a
    constructor of its own (``stackless.tasklet``): calling the class makes
    an instance again, in C (type's own ``__call__``)."""

    __call__ = type.__call__


class Tasklet(Task, metaclass=NoPublicConstructor):
    """A microthread, made by :func:`spawn` (``Tasklet()`` is a TypeError)."""

    __slots__ = ()
    #: A joiner woken with a bomb raises it (see throw).
    _raises_bombs = True

    #: The word ``repr`` starts with.
    _kind = "Tasklet"

    @property
    def name(self) -> str:
        """A name for messages: ``<function>-<n>`` unless set."""
        try:
            return self._name
        except AttributeError:
            fn = self._fn
            label = getattr(fn, "__qualname__", None) or type(self).__name__
            owner = getattr(fn, "__self__", None)
            if hasattr(fn, "__func__") and owner is not None:
                # A bound method: named after its object's class, not the
                # (maybe private) class that defines it.
                cls = owner if isinstance(owner, type) else type(owner)
                label = f"{cls.__qualname__}.{fn.__name__}"
            name = self._name = f"{label}-{next(_ids)}"
            return name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def alive(self) -> bool:
        """True until the tasklet has finished (or was killed before starting)."""
        return self._gr is not DEAD

    @property
    def dead(self) -> bool:
        """True once the tasklet has finished."""
        return self._gr is DEAD

    @property
    def value(self) -> Any:
        """What the function returned (None until it has, or if it raised)."""
        return getattr(self, "_value", None)

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the tasklet, or None."""
        return getattr(self, "_exception", None)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the tasklet has finished. Does not raise its exception
        (:meth:`get` does); with ``timeout``, raises ``shoal.TimeoutError``
        if it takes longer.

        One exception, as in gevent: a ``SystemExit`` or ``KeyboardInterrupt``
        escaping any tasklet is raised in the main tasklet at once, out of
        whatever it waits in, this ``join`` included, so that the program
        stops.

        Switches unless the tasklet is already dead.
        """
        if self._gr is DEAD:
            if timeout is not None:
                check_timeout(timeout)
            return
        if timeout is not None:
            with_timeout(timeout, self.join)
            return
        s = self._own_scheduler("join")
        cur = s.current
        if cur is self:
            raise RuntimeError(f"{self!r} cannot join itself")
        joiners = self._joiners
        if joiners is None:
            joiners = self._joiners = []
        joiners.append(cur)
        s.block(cur, self)

    def get(self, timeout: float | None = None) -> Any:
        """Wait until the tasklet has finished; return its value or raise
        its exception. For a killed tasklet that is its ``TaskletExit``, a
        ``BaseException``: uncaught, it ends the caller too, as the kill
        would have (gevent's ``get`` returns its ``GreenletExit`` instead);
        test ``exception`` first to tell. So does ``await tasklet`` from
        asyncio code. With ``timeout``, raise ``shoal.TimeoutError`` if it
        takes longer.

        Switches unless the tasklet is already dead.
        """
        self.join(timeout)
        return self._outcome()

    def _outcome(self) -> Any:
        """:meth:`get` for a tasklet that has ended (then both ``_value`` and
        ``_exception`` are set). Does not switch."""
        exc = self._exception
        if exc is not None:
            try:
                raise exc
            finally:
                exc = None  # this frame is in its traceback: no cycle
        return self._value

    def throw(self, exc: BaseException | type[BaseException]) -> None:
        """Raise ``exc`` inside the tasklet at its current switch point.

        A blocked tasklet is unblocked (removed from the channel it waits on);
        the tasklet runs at once and the caller runs right after it. A tasklet
        that never started never runs its function: it ends with ``exc``.
        Unlike :meth:`kill`, does not wait for the tasklet to finish.
        An exception that is no ``Exception`` (``TaskletExit``,
        ``KeyboardInterrupt``) interrupts it as a kill does; an ordinary
        one is an error like any other (a timeout scope that expires in the
        tasklet replaces it: see ``shoal._timeouts``).
        Switches unless the tasklet is dead or has not started.
        """
        exc = _exception(exc, "throw")
        if self._gr is DEAD:
            return
        s = self._own_scheduler("throw")
        if isinstance(exc, Exception):
            self._throw_from(s, exc)
            return
        pending = delivering(self, s, exc)
        try:
            self._throw_from(s, exc)
        finally:
            if pending:
                settle(self)
        if self._gr is DEAD:
            forget(self)

    def _throw_from(self, s: Any, exc: BaseException) -> None:
        """:meth:`_throw_in`; from code in the hub (an asyncio callback),
        what the tasklet made runnable meanwhile (its joiners, what its
        ``finally`` woke) then runs at the loop's next round, as after a
        flush. Switches unless the tasklet has not started."""
        self._throw_in(s, exc)
        if s.current is s.hubtask:
            s.back_in_hub()

    def _interrupt(self, exc: Interruption) -> None:
        """:meth:`throw` of ``exc``, thrown by a construct of shoal (a scope's
        expiry, a task group's failed child): shoal's semantics whatever the
        class, Stackless's ``tasklet.throw`` having its own. Switches unless
        the tasklet is dead or has not started."""
        if self._gr is DEAD:
            return
        self._throw_in(self._own_scheduler("interrupt"), exc)

    def _throw_in(self, s: Any, exc: BaseException) -> None:
        """:meth:`throw` of ``exc``, an instance, into this tasklet of ``s``,
        the calling thread's scheduler. Switches unless not started."""
        cur = s.current
        if cur is self:
            raise exc
        runq = s.runq
        if self._gr is None:
            drop(runq, self)
            fn, args = self._fn, self._args
            self._args = self._kwargs = None
            self._value = None
            self._exception = exc
            s.failed(self, exc)
            self._finish()
            if type(fn) is FunctionType:
                hook = ENDED_UNSTARTED.get(fn)
                if hook is not None:
                    hook(exc, *args)
            if s.propagating is exc:
                # SystemExit, KeyboardInterrupt: the main tasklet gets it at
                # once, as from a tasklet that ran (no worker ends this one
                # to hand it over): raised here in main, or thrown into it.
                s.propagating = None
                main = s.main
                if cur is main:
                    raise exc
                if main._blocked_on is None and main._temp is not NO_VALUE:
                    # Not after an operation it completed (a join this
                    # end woke): a deferred throw would wait on the thrower.
                    main._temp = NOWAKE
                main._throw_in(s, exc)
            return
        if (
            self._blocked_on is None
            and self._temp is not NOWAKE
            and self._temp is not NO_VALUE
        ):
            # Its last operation completed: let it see the result first, so
            # nothing is delivered and then reported as failed. It raises
            # ``exc`` at its next channel action, before the action (were it
            # thrown at its next switch point, a send that completes there
            # too, to a receiver that always waits, would let it run on for
            # ever); if it switches away elsewhere first, ``exc`` is thrown
            # there, below.
            drop(runq, self)
            runq.appendleft(cur)
            defer_throw(self, exc)
            try:
                s.switch_to(cur, self, self._take_temp())
            finally:
                waiting = take_deferred(self)
            if not waiting or self._gr is DEAD:
                return
        if isinstance(exc, Interruption) and not exc.aimed():
            return  # it left the block on its way here: too late
        blocked_on = self._blocked_on
        if blocked_on is not None:
            blocked_on._unpark(self)
            self._blocked_on = None
            # What it was sending (a wait's payload) stays unsent: left in
            # _temp, a later kill would take it for a completed operation.
            self._temp = NOWAKE
            if getattr(type(blocked_on), "_raises_bombs", False):
                # Its wait raises an exception it is woken with: cheaper than
                # greenlet.throw, which unwinds C++ frames (~10x a switch).
                runq.appendleft(cur)
                b = _new(bomb)  # bomb(type(exc), exc), without its __init__
                b.type, b.value, b.traceback = type(exc), exc, None
                s.switch_to(cur, self, b)
                return
        else:
            drop(runq, self)
            if self._temp is not NO_VALUE:
                self._temp = NOWAKE  # an operation's that completed meanwhile
        runq.appendleft(cur)
        s.throw_to(cur, self, exc)

    def kill(
        self, exception: BaseException | type[BaseException] = TaskletExit
    ) -> None:
        """Raise ``exception`` (default TaskletExit) inside the tasklet, then wait
        until it has finished. A tasklet blocked on a channel is removed from it
        first: what it was sending is neither delivered nor lost half-way.
        One whose operation has completed but which has not run since (a
        value handed to it, a join ended) first returns from it, so that no
        value is delivered and then reported as lost; ``exception`` is
        raised at its next channel action or switch, and if it finishes
        before either, it finishes normally (docs/design.md, "Kills").
        From code in the hub (an asyncio callback), which cannot wait, it
        does not wait: a tasklet whose cleanup waits finishes later.
        Whatever ``exception`` is, it is a kill: a timeout scope that
        expires in the tasklet does not replace it (see ``shoal._timeouts``).
        Switches unless the tasklet is dead or has not started.
        """
        exc = _exception(exception, "kill")
        if self._gr is DEAD:
            return
        s = self._own_scheduler("kill")
        pending = False
        if self._gr is None:
            delivering(self, s, exc)
        elif (
            self._blocked_on is None
            and self._temp is not NOWAKE
            and self._temp is not NO_VALUE
            and s.current is not self
        ):
            pending = delivering(self, s, exc)  # see shoal._delivery.defers
        else:
            # shoal._delivery.deliver() of a kill, inlined (the calls were
            # 4% of a kill): keep in step.
            n = s.deliveries = s.deliveries + 1
            self._killed = (n, exc)
        try:
            self._throw_from(s, exc)  # what it does
        finally:
            if pending:
                settle(self)
        if s.current is not s.hubtask:
            while self._gr is not DEAD:
                self.join()
        # Code in the hub cannot wait: the tasklet may end later.
        if self._gr is DEAD:
            self._killed = self._interrupts = None  # forget(), inlined

    def __await__(self) -> Generator[Any, None, Any]:
        """``await tasklet`` in asyncio code running on this thread's hub loop:
        wait until it has finished; its value, or its exception raised (a
        ``StopIteration`` as a ``RuntimeError`` it caused, as in a
        coroutine).

        As for an asyncio task awaiting another: if the awaiting code is
        cancelled (``task.cancel()``, ``asyncio.wait_for`` or
        ``asyncio.timeout`` running out, a ``TaskGroup`` failing), the
        tasklet is killed, and the awaiter's ``CancelledError`` comes once
        it has ended: its cleanup has run. An exception the cleanup raises
        comes instead, and a value it returns anyway (it caught the
        ``TaskletExit``) is returned, as from a task that swallows its
        cancellation. ``await asyncio.shield(tasklet)`` does not kill it.
        A tasklet of another thread, the hub's stand-in (``shoal.current()``
        in asyncio code), awaiting from any other loop than the hub's, and a
        tasklet waiting for the very asyncio task that would await it are each a
        ``RuntimeError`` naming the tasklet, before anything is done.
        """
        if self._gr is DEAD:
            return self.get()
        s = self._own_scheduler("await")
        hub: Hub | None = s.hub
        running = asyncio._get_running_loop()
        if hub is None or running is None or running is not hub.loop:
            raise RuntimeError(
                f"cannot await {self!r} here: asyncio code awaits a tasklet"
                " only on its thread's hub loop (inside shoal.run, or a wait"
                f" of shoal), not on {running!r}"
            )
        on = self._blocked_on
        if isinstance(on, HubWait):
            task = asyncio.current_task(hub.loop)
            if task is not None and on.what is task:
                raise RuntimeError(
                    f"cannot await {self!r} from {task!r}: the tasklet waits"
                    " for this asyncio task, so each would wait for the other"
                )
        future = _Awaited(running, self)
        spawn(future.relay)
        hub.ensure_flush()
        return (yield from future)

    def _own_scheduler(self, verb: str) -> Any:
        """This tasklet's scheduler, which must be the calling thread's; and
        this tasklet must not be the hub's stand-in."""
        s = self._sched
        if s is not get_scheduler():
            raise RuntimeError(
                f"cannot {verb} {self!r} from another thread: tasklets never "
                "move between threads"
            )
        if self is s.hubtask:
            raise RuntimeError(
                f"cannot {verb} {self!r}: it stands for the hub, which runs "
                "until shoal.run() returns"
            )
        return s

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        """A tasklet cannot be copied or pickled: a copy would be a tasklet
        that never runs, and a suspended stack is C state."""
        raise TypeError(f"cannot copy or pickle {self!r}")

    def _take_temp(self) -> Any:
        value = self._temp
        self._temp = NOWAKE
        return value

    def _report(self, exc: BaseException) -> None:
        if isinstance(exc, TaskletExit) or self in self._sched.observed:
            return
        try:
            print(f"{self!r} failed with {type(exc).__name__}", file=sys.stderr)
            traceback.print_exception(
                type(exc), exc, exc.__traceback__, file=sys.stderr
            )
        except Exception:
            # A stderr that fails must not stop the scheduler mid-switch;
            # the failure stays in ``exception``.
            pass

    def __repr__(self) -> str:
        return f"<{self._kind} {self.name!r} {self._state()}>"

    def _state(self) -> str:
        """In words, for ``repr``: dead, what it waits on, running, not
        started or runnable. Does not switch."""
        if self._gr is DEAD:
            return "dead"
        if self._blocked_on is not None:
            return self._blocked_on._describe(self)
        if self._sched.current is self:
            return "running"
        return "not started" if self._gr is None else "runnable"


class _Awaited(asyncio.Future[Any]):
    """What asyncio code awaiting a tasklet waits on (``Tasklet.__await__``):
    a future that a relay tasklet completes once the tasklet has ended.
    Cancelling it is what cancels the awaiter (``Task.cancel`` calls the
    ``cancel`` method of the future its task waits on): as that of a task,
    it kills the tasklet, and the future is done, cancelled, only once the
    tasklet has ended, so the awaiter's ``CancelledError`` comes after the
    cleanup; the cleanup's own exception, or a value the tasklet returns
    anyway, comes instead."""

    __slots__ = ("killed", "killing", "message", "tasklet")

    def __init__(self, loop: asyncio.AbstractEventLoop, tasklet: Tasklet) -> None:
        super().__init__(loop=loop)
        self.tasklet = tasklet
        #: A cancel asked for the kill; it was thrown in.
        self.killing = self.killed = False
        #: The cancel's message, for the CancelledError.
        self.message: Any = None

    def cancel(self, msg: Any | None = None) -> bool:
        """Have the tasklet killed, at the loop's next round (the caller may
        be a tasklet, which a kill would have wait, or asyncio code amid
        cancelling others), and return True: the future is cancelled once
        the tasklet has ended. A tasklet that has ended already is not
        killed: False, as from a task that is done, and the awaiting task
        is cancelled as it resumes. A second cancel does not kill it again
        (its cleanup runs on). Does not switch."""
        if self.done() or self.tasklet._gr is DEAD:
            return False
        if not self.killing:
            self.killing = True
            self.message = msg
            self.get_loop().call_soon(self._kill)
        return True

    def _kill(self) -> None:
        """A loop callback: the kill that a cancel asked for; in the hub,
        ``kill`` does not wait. Switches unless the tasklet has ended or has
        not started."""
        t = self.tasklet
        if t._gr is not DEAD:
            self.killed = True
            t.kill()

    def relay(self) -> None:
        """The relay tasklet's body: wait until the tasklet has ended, then
        complete the future with its outcome; cancel it if a cancel's kill
        ended it (or it ended before the kill came: as a task cancelled as
        it finishes). A relay that is itself killed fails the future with
        that, rather than leave the awaiter hanging. Switches."""
        t = self.tasklet
        try:
            t.join()
        except BaseException as failure:  # the relay was killed: say so
            if not self.done():
                self.set_exception(failure)
            return
        if self.done():
            return
        exc = t.exception
        if self.killing and (
            isinstance(exc, TaskletExit) or (exc is None and not self.killed)
        ):
            super().cancel(self.message)
        elif exc is None:
            self.set_result(t.value)
        elif isinstance(exc, StopIteration):
            # A future refuses it: a RuntimeError caused by it, as a
            # coroutine raising it gives (and the finished case in
            # Tasklet.__await__).
            error = RuntimeError(f"{t!r} raised StopIteration")
            error.__cause__ = exc
            self.set_exception(error)
        else:
            self.set_exception(exc)


#: Makes a bare Tasklet, whose slots the caller sets (:func:`init_task`):
#: ``Tasklet()`` without the metaclass's refusal.
new_tasklet: Callable[[], Tasklet] = type.__call__.__get__(Tasklet)


def _exception(exc: object, verb: str) -> BaseException:
    """``exc`` as an exception to throw: an instance as it is, an exception
    class called with no arguments; anything else is refused before it is
    called, naming ``verb``, the method. Does not switch."""
    if isinstance(exc, BaseException):
        return exc
    if is_exception_class(exc):
        return exc()
    raise TypeError(f"{verb}() needs an exception class or instance, got {exc!r}")


def _make_main() -> Task:
    # A plain Tasklet, not a subclass: every tasklet having one type keeps the
    # attribute accesses in the hot paths specialised (CPython 3.11+ caches
    # them per type; a second type at the same site makes them generic).
    main = new_tasklet()
    init_task(main, None, None, (), None)  # type: ignore[arg-type]
    main._name = "main"
    return main


_scheduler.make_main = _make_main
_scheduler.task_class = new_tasklet


def spawn(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Tasklet:
    """Create a tasklet running ``fn(*args, **kwargs)`` and make it runnable.

    It runs when the current tasklet blocks or yields (spawned by code in
    the hub, such as an asyncio task, at the loop's next round). An
    exception escaping ``fn`` ends the tasklet: it is kept in its
    ``exception`` (:meth:`Tasklet.get` raises it) and printed to stderr,
    except that a ``SystemExit`` or ``KeyboardInterrupt`` is raised in the
    main tasklet at once, out of whatever it waits in (``join`` included),
    as gevent does. Does not switch.
    """
    if not callable(fn):
        raise TypeError(f"spawn() needs a callable, got {fn!r}")
    try:
        s = local.sched
    except AttributeError:
        s = get_scheduler()
    t = new_tasklet()  # init_task(), inlined: a call costs ~3% of a spawn
    t._sched = s
    t._fn = fn
    t._args = args
    t._kwargs = kwargs
    t._gr = None
    t._temp = NO_VALUE
    t._blocked_on = None
    t._joiners = None
    s.alive[t] = None
    s.runq.append(t)
    if s.current is s.hubtask:  # asyncio code spawns: the loop runs it soon
        s.hub.ensure_flush()
    return t


def current() -> Tasklet:
    """The running tasklet (the thread's main tasklet outside any other)."""
    return get_scheduler().current  # type: ignore[return-value]


def run(
    fn: Callable[..., T], /, *args: Any, loop: str | None = None, **kwargs: Any
) -> T:
    """Run ``fn(*args, **kwargs)`` as the main job; return its result or raise.

    Each run gets a fresh hub whose event loop ``loop`` names ("uvloop" or
    "asyncio"; default: the ``SHOAL_LOOP`` environment variable, else uvloop
    where installed), closed at the end; a hub that a wait outside any run
    made is closed first, and the tasklets waiting in it are killed.
    Called from asyncio code (another loop running in the thread), it is a
    ``RuntimeError`` before anything is done, as ``asyncio.run`` gives.
    ``SHOAL_MONITOR=<milliseconds>``
    has :func:`shoal.monitor` watch the run. Tasklets still alive when ``fn``
    returns are killed, their ``finally`` blocks run, before ``run`` returns.
    ``loop`` is run's own keyword, as ``asyncio.run`` keeps ``debug``: ``fn``
    cannot receive a keyword argument named ``loop`` from here (pass it in
    with ``functools.partial(fn, loop=...)``). Switches.
    """
    if not callable(fn):
        raise TypeError(f"shoal.run() needs a callable, got {fn!r}")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"shoal.run() needs a plain function, got {fn!r}, an async"
            " function (whose coroutine would never run): use asyncio.run()"
            " for it, or call shoal.await_(coroutine) from fn"
        )
    s = get_scheduler()
    if s.current is not s.main:
        raise RuntimeError(
            f"shoal.run() must be called from the main tasklet, not {s.current!r}"
        )
    if s.in_run:
        raise RuntimeError("shoal.run() cannot be called while it is already running")
    running = asyncio._get_running_loop()
    if running is not None and (s.hub is None or running is not s.hub.loop):
        # (The loop of a hub made outside a run is running: it is closed.)
        raise RuntimeError(
            "shoal.run() cannot be called from a running event loop (asyncio"
            f" code: {running!r} runs in this thread, and a thread runs one"
            " loop at a time); from asyncio code, run it in another thread:"
            " await asyncio.to_thread(shoal.run, fn); asyncio code inside"
            " shoal.run starts tasklets with shoal.spawn(fn) and waits for"
            " them with `await tasklet`"
        )
    close_thread_hub(s)
    hub = Hub(s, new_loop(loop))
    try:
        watcher = monitor_from_environment()
    except BaseException:
        hub.loop.close()
        raise
    s.set_hub(hub)
    s.in_run = True
    started = False
    try:
        hub.start()  # asyncio code in fn finds the loop running
        started = True
        result = fn(*args, **kwargs)
        if isinstance(result, types.CoroutineType):
            result.close()
            raise TypeError(
                f"shoal.run({fn!r}) returned a coroutine, which never ran: an"
                " async function's call; use asyncio.run() for it, or call"
                " shoal.await_(coroutine) from fn"
            )
        return result
    finally:
        try:
            # A loop that failed to start ran nothing: nothing to end (the
            # asyncio shutdown would be a task that never runs).
            if started:
                end_work(s)
        finally:
            s.in_run = False
            # The main tasklet never ends: what was delivered to it in the
            # run (a kill, a KeyboardInterrupt, with its traceback) goes now.
            forget(s.main)
            s.stop_hub()
            if threading.current_thread() is not threading.main_thread():
                s.release_greenlets()  # the thread may end next: see there
            close_run_monitors(s)
            if watcher is not None:
                watcher.close()
