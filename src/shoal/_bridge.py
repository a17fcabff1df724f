"""Bridges to threads and to asyncio: ``wait_future``, ``to_thread``, ``await_``.

A tasklet waits for a future through the hub: a ``concurrent.futures.Future``
completed on any thread wakes it with ``loop.call_soon_threadsafe``; an
asyncio future on the hub's loop, with a done callback. Only the calling
tasklet waits; the others run meanwhile. A wait given up (kill, timeout)
ignores a late completion (``Hub.wake_if``); the future itself is left to
finish (a thread cannot be stopped) or, for an asyncio task started by
``await_``, cancelled and waited for. A ``to_thread`` call given up before
its thread took it never runs; one that started runs on, and the end of
``shoal.run`` waits for it, as ``asyncio.run`` does.
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

from ._errors import BlockingInHubError
from ._hub import HubWait, get_hub, hub_wait
from ._scheduler import get_scheduler
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
    future is left alone). Switches unless the future is already done.
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
            hub_wait(s, wait, timeout)
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
    hub_wait(s, wait, timeout)
    return future.result()


def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` in the hub loop's thread pool (its default
    executor), with this tasklet's context variables; only this tasklet
    waits. Returns its result or raises its exception (a ``StopIteration``
    too, which an asyncio future cannot carry). A tasklet that gives
    up (killed, timed out) stops waiting: a call still queued in the pool
    then never runs; one that started runs on to its end, and the end of
    ``shoal.run`` waits for it (as ``asyncio.run`` waits for the calls of
    ``asyncio.to_thread``). Code in the hub gets ``BlockingInHubError``
    before anything is handed to the pool. Switches.
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
        past it has started, and runs to its end."""
        if self.given_up:
            return None  # its future is cancelled: nobody reads this
        try:
            return self.context.run(self.fn, *self.args, **self.kwargs)
        except StopIteration as stop:
            raise _StoppedError(stop) from None

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
    runs. Switches.
    """
    if not (asyncio.isfuture(awaitable) or inspect.isawaitable(awaitable)):
        raise TypeError(
            "await_() needs an asyncio awaitable (a coroutine, task or future),"
            f" got {awaitable!r}"
        )
    if timeout is not None:
        try:
            _check_timeout(timeout)  # before anything starts
        except (TypeError, ValueError):
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # it was handed over: never "not awaited"
            raise
    hub = get_hub()
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
