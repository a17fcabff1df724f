"""Bridges to threads and to asyncio: ``wait_future``, ``to_thread``, ``await_``.

A tasklet waits for a future through the hub: a ``concurrent.futures.Future``
completed on any thread wakes it with ``loop.call_soon_threadsafe``; an
asyncio future on the hub's loop, with a done callback. Only the calling
tasklet waits; the others run meanwhile. A wait given up (kill, timeout)
ignores a late completion (``Hub.wake_if``); the future itself is left to
finish (a thread cannot be stopped) or, for an asyncio task started by
``await_``, cancelled and waited for. A future done in the loop round
where the wait's own timeout runs out has happened: its outcome is given,
as by ``asyncio.wait_for``. A ``to_thread`` call given up before its
thread took it never runs; one that started runs on, and the end of
``shoal.run`` waits for it, as ``asyncio.run`` does; what the function
left in the pool's thread (the tasklets it spawned, a hub it made) is
ended when it returns, as at the end of ``shoal.run``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._errors import BlockingInHubError, TimeoutError
from ._hub import HubWait, close_call_hub, get_hub, hub_wait, hub_wait_timed
from ._scheduler import Scheduler, get_scheduler, local
from ._timeouts import check as _check_timeout

__all__ = ["await_", "to_thread", "wait_future"]

T = TypeVar("T")


def wait_future(
    future: concurrent.futures.Future[T] | asyncio.Future[T],
    timeout: float | None = None,
) -> T:
    """Wait until ``future`` is done and return its result or raise its
    exception. ``future`` is a ``concurrent.futures.Future`` (completed on
    any thread) or an asyncio future of this thread's hub loop. With
    ``timeout``, raise ``shoal.TimeoutError`` if it is not done in time (the
    future is left alone); one done as the time runs out (in the loop round
    where it does) gives its result, as from ``asyncio.wait_for``.
    Switches unless the future is already done.
    """
    if not isinstance(future, concurrent.futures.Future) and not asyncio.isfuture(
        future
    ):
        raise TypeError(
            "wait_future() needs a concurrent.futures.Future or an asyncio "
            f"future, got {future!r}"
        )
    if timeout is not None:
        _check_timeout(timeout)  # even when it need not wait
    if future.done():
        return future.result()
    s = get_scheduler()
    hub = get_hub(s)
    cur = s.current
    wait = HubWait(hub, future)
    if isinstance(future, concurrent.futures.Future):
        # Such a future keeps its callbacks as long as it lives (there is no
        # taking one back): the callback holds the waiter only until the
        # wait is over, through ``waiting``, emptied then.
        waiting: list[Any] = [cur, wait]

        def done(_: object) -> None:  # on whichever thread completes it
            try:
                task, its_wait = waiting
            except ValueError:
                return  # the wait is over
            # RuntimeError: the loop is closed, so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                hub.loop.call_soon_threadsafe(hub.wake_if, task, its_wait, None)

        future.add_done_callback(done)
        try:
            _wait_done(s, wait, future, timeout)
        finally:
            waiting.clear()
        return future.result()
    else:
        if future.get_loop() is not hub.loop:
            raise ValueError(
                f"wait_future() got {future!r}, which belongs to another event "
                "loop than this thread's hub"
            )

        def done_here(_: object) -> None:
            hub.wake_if(cur, wait, None)

        future.add_done_callback(done_here)
        wait.cancels.append(functools.partial(future.remove_done_callback, done_here))
    _wait_done(s, wait, future, timeout)
    return future.result()


def _wait_done(
    s: Scheduler,
    wait: HubWait,
    future: concurrent.futures.Future[Any] | asyncio.Future[Any],
    timeout: float | None,
) -> None:
    """Wait in the hub until a callback registered on ``wait`` says that
    ``future`` is done, or ``timeout`` runs out: then ``shoal.TimeoutError``,
    unless the future was done by then (completed in the loop round where
    the deadline fired, whose timer ran before the future's callback): the
    wait has happened, so the caller gets its outcome, as from
    ``asyncio.wait_for``. A cancelled future is no outcome. Switches."""
    if timeout is None:
        hub_wait(s, wait)
        return
    late = hub_wait_timed(s, wait, timeout)
    if late is not None and not (future.done() and not future.cancelled()):
        try:
            raise late
        finally:
            late = None  # no cycle through this frame


def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` in the hub loop's thread pool (its default
    executor), with this tasklet's context variables; only this tasklet
    waits. Returns its result or raises its exception (a ``StopIteration``
    too, which an asyncio future cannot carry). A tasklet that gives
    up (killed, timed out) stops waiting: a call still queued in the pool
    then never runs; one that started runs on to its end, and the end of
    ``shoal.run`` waits for it (as ``asyncio.run`` waits for the calls of
    ``asyncio.to_thread``). Tasklets that ``fn`` spawns in the pool's
    thread and leaves alive are killed when it returns, as at the end of
    ``shoal.run`` (those already there are left alone). Code in the hub
    gets ``BlockingInHubError`` before anything is handed to the pool.
    Switches.
    """
    s = get_scheduler()
    if s.current is s.hubtask:
        raise BlockingInHubError(
            f"code running in the hub (asyncio code on shoal's loop) would block:"
            f" to_thread({getattr(fn, '__qualname__', fn)!r}) waits for its"
            " thread; the hub must never wait: in asyncio code, await"
            " asyncio.to_thread() or loop.run_in_executor(), or call it from a"
            " tasklet (shoal.spawn)"
        )
    hub = s.hub or get_hub(s)
    call = _Call(contextvars.copy_context(), fn, args, kwargs)
    future = hub.loop.run_in_executor(None, call)
    try:
        value: T = wait_future(future)
    except _StoppedError as stopped:
        stop = stopped.stop
    except BaseException:
        # The pool drops the call if it is still queued when the loop
        # passes the cancel on (the next round); until then, the flag.
        call.given_up = True
        future.cancel()
        raise
    else:
        return value
    raise stop  # outside the except: no trace of the carrier


class _StoppedError(Exception):
    """Carries a ``StopIteration`` of a ``to_thread`` function through the
    asyncio future, which refuses one (in a loop callback, where it would
    be logged and the caller never woken)."""

    def __init__(self, stop: StopIteration) -> None:
        super().__init__(stop)
        self.stop = stop


class _Call:
    """A ``to_thread`` call, in the pool's queue until a thread takes it:
    it does not run if its caller gave up meanwhile."""

    __slots__ = ("args", "context", "fn", "given_up", "kwargs")

    def __init__(
        self,
        context: contextvars.Context,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.context = context
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.given_up = False

    def __call__(self) -> Any:
        """In a thread of the pool. The flag is read once: a call that got
        past it has started, and runs to its end. What the function left
        in the thread is ended when it returns (``close_call_hub``), as at
        the end of ``shoal.run``: the tasklets it spawned, which would
        otherwise never end, or run inside a later call on the thread, and
        a hub it made (waiting through shoal there, outside any run), whose
        loop would stay the thread's running loop. The tasklets that were
        there before the call are left alone, unless they wait in that hub."""
        if self.given_up:
            return None  # its future is cancelled: nobody reads this
        s = getattr(local, "sched", None)
        hub = there = None
        if s is not None:
            hub = s.hub
            if s.alive:
                there = set(s.alive)  # left by code given to the pool otherwise
        try:
            return self.context.run(self.fn, *self.args, **self.kwargs)
        except StopIteration as stop:
            raise _StoppedError(stop) from None
        finally:
            s = getattr(local, "sched", None)
            if (
                s is not None
                and (s.alive or s.hub is not hub)  # the call left something
                and s.current is s.main
                and not s.in_run
            ):
                close_call_hub(s, hub, there or ())

    def __repr__(self) -> str:
        state = " given up" if self.given_up else ""
        return f"<to_thread call of {self.fn!r}{state}>"


def await_(awaitable: Awaitable[T], timeout: float | None = None) -> T:
    """Run an asyncio awaitable (a coroutine, task or future) on this
    thread's hub loop and return its result; only this tasklet waits. A
    task or future of another loop is a ``ValueError`` naming it.

    If the tasklet is killed (or a timeout scope around it expires, or
    ``timeout`` runs out: ``shoal.TimeoutError``), an asyncio task started
    here is cancelled, and, as with ``asyncio.wait_for``, waited for: its
    cleanup has run when this raises. An exception its cleanup raises comes
    out instead; a value it returns anyway is returned if ``timeout`` ran
    out. A task that ignores its cancellation is waited for as long as it
    runs. As with ``asyncio.wait_for`` too, an awaitable done when
    ``timeout`` runs out (in the loop round where it does) has happened:
    its value is returned, or its exception raised; and with ``timeout``
    <= 0 a coroutine never runs: it is closed, and this raises
    ``shoal.TimeoutError`` at once. Code in the hub (asyncio code, which
    awaits instead) gets ``BlockingInHubError`` before anything starts,
    whatever the ``timeout`` (a coroutine is closed); a future already done
    gives its outcome there too. Switches, unless it raises at once or the
    future is already done.
    """
    if not (asyncio.isfuture(awaitable) or inspect.isawaitable(awaitable)):
        raise TypeError(
            "await_() needs an asyncio awaitable (a coroutine, task or future),"
            f" got {awaitable!r}"
        )
    s = get_scheduler()
    try:
        if timeout is not None:
            _check_timeout(timeout)  # before anything starts
        if s.current is s.hubtask and not (
            asyncio.isfuture(awaitable) and awaitable.done()
        ):
            # Whatever the timeout: it is not the hub's to wait.
            raise BlockingInHubError(
                "code running in the hub (asyncio code on shoal's loop) would"
                f" block: await_({awaitable!r}) waits for it; the hub must never"
                " wait: in asyncio code, await it (asyncio.wait_for() for a"
                " timeout), or call await_() from a tasklet (shoal.spawn)"
            )
        if timeout is not None and timeout <= 0 and not asyncio.isfuture(awaitable):
            # As asyncio.wait_for: cancelled before its first step, it never
            # runs (run, it may have done its work, and be called late).
            raise TimeoutError(
                f"{awaitable!r}: timed out after {timeout} s, before it started"
                " (with no time, as with asyncio.wait_for, it never runs)"
            )
        hub = s.hub or get_hub(s)
    except BaseException:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # it was handed over: never "not awaited"
        raise
    if asyncio.isfuture(awaitable):
        if awaitable.get_loop() is not hub.loop:
            # Checked before ensure_future, whose error names neither.
            raise ValueError(
                f"await_() got {awaitable!r}, which belongs to another event "
                "loop than this thread's hub"
            )
        started = False  # a task or future: not ours to cancel
    else:
        started = True  # ensure_future starts a task for it
    future = asyncio.ensure_future(awaitable, loop=hub.loop)
    try:
        return wait_future(future, timeout)
    except BaseException as exc:
        if not started or future.done():
            raise
        future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            wait_future(future)  # its own failure comes out here
        if isinstance(exc, TimeoutError) and not future.cancelled():
            return future.result()  # it finished anyway
        raise
