"""Scoped timeouts: ``timeout``, ``move_on_after``, and ``timeout=`` on calls.

Design
------
A scope's deadline (on ``time.monotonic``) goes into its hub's
``Deadlines``, whose one loop timer fires at the earliest deadline (see
``shoal._deadlines``). When it fires, the tasklet is
suspended at a switch point (the hub runs only then): the timer throws a
private ``_Expired`` into it there, exactly as ``Tasklet.throw`` does (a
blocked tasklet leaves the channel it waits on, so the operation has not
happened; one whose operation already completed returns from it first).
``_Expired`` is a ``BaseException``, so ``except Exception`` cannot swallow
it on its way out; the scope it belongs to turns it into ``TimeoutError``
(``timeout``) or into a silent exit (``move_on_after``). A scope catches only
its own: with nested scopes the innermost expired one wins. A scope that
has exited is marked done, so it never fires later; nor does one that
expired as the operation in it completed, and that the tasklet left on its
way to its next switch point (``_Expired`` is an ``Interruption``).

A scope may expire while an interruption delivered to its tasklet after
the scope was entered is still live: a kill (``Tasklet.kill``, or a throw
of what is no ``Exception``: ``TaskletExit``, ``KeyboardInterrupt``,
``SystemExit``; the same from Stackless's ``kill``, ``throw`` and
``raise_exception``), live until the tasklet ends, or an outer scope's
expiry or a task group's ``_ChildFailed``, live while their blocks run
(``Interruption.aimed``). Typically a ``finally`` in the block waits while
that interruption unwinds it. The expiry still ends the wait, but the scope
does not catch it: ``__exit__`` raises that interruption again (the last
kill first), which goes on to whoever it was meant for, and
``cancelled_caught`` stays false. This is delivery accounting, asyncio's
(whose ``timeout`` counts the task's cancellations: ``uncancel``); trio's
cancellation, level-triggered, is raised again at the next checkpoint.
Each delivery is numbered from a per-thread counter (the scheduler's
``deliveries``, see ``shoal._delivery.deliver``), which ``__enter__``
reads: one delivered before the scope was entered is not the block's, so a
scope entered in a ``finally`` to bound a kill's cleanup ends its part
silently (or with ``TimeoutError``) as ever. It does not matter where the
exception is then, nor whether the block caught it: a kill swallowed in
the block (``except TaskletExit: pass``) comes back when the scope expires.
What was not delivered as an interruption is an error of the block, which
the expiry replaces, as an exception raised in a ``finally`` does, as trio
(``move_on_after`` silences it, ``fail_after`` raises ``TooSlowError``) and
asyncio's ``timeout`` (``TimeoutError``) do: an exception the block raised
itself, ``KeyboardInterrupt`` included, one a ``get()`` raised, and an
ordinary ``Exception`` thrown in (``Tasklet.throw(ValueError())``), however
it was then caught, translated, stored or raised again.

Code running in the hub (asyncio code on its loop) cannot enter a scope:
the expiry would interrupt the hub's stand-in, which is no tasklet, and
asyncio code has ``asyncio.timeout`` for that. ``__enter__`` refuses it
with ``BlockingInHubError`` (the ``timeout=`` of a call too: it makes a
scope), before anything is registered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn, TypeVar

from . import _scheduler
from ._delivery import defers, deliver, interrupt, live_since
from ._errors import BlockingInHubError, Interruption, TaskletExit, TimeoutError
from ._hub import get_hub
from ._scheduler import Scheduler, Task, get_scheduler, getcurrent

__all__ = [
    "CancelScope",
    "check",
    "delivering",
    "move_on_after",
    "raise_again",
    "timeout",
    "with_timeout",
]

T = TypeVar("T")


#: What a scope takes: a tuple made once, not at every scope.
_NUMBERS = (int, float)


_INF = float("inf")


def delivering(t: Task, s: Scheduler, exc: BaseException) -> bool:
    """A kill of ``t``, a tasklet of ``s`` (this thread's scheduler), or a
    throw of what is no ``Exception``, is about to be thrown in: record it
    (see ``shoal._delivery.deliver``), and return whether it is pending:
    then the thrower calls ``settle(t)`` once the throw has returned. A
    tasklet that has not started ends at once, before any code of its own
    runs; the ``SystemExit`` or ``KeyboardInterrupt`` that kills it goes to
    the main tasklet instead. Does not switch."""
    if t._gr is not None:
        pending = t is not s.current and defers(t)
        deliver(t, exc, pending)
        return pending
    if not isinstance(exc, TaskletExit) and (
        t._propagate or isinstance(exc, (SystemExit, KeyboardInterrupt))
    ):
        deliver(s.main, exc)
    return False


class _Expired(Interruption):
    """A scope's time ran out (private: only that scope catches it)."""

    def __init__(self, scope: CancelScope) -> None:
        super().__init__(scope)
        self.scope = scope

    def aimed(self) -> bool:
        return self.scope._open


class CancelScope:
    """A block of code with a deadline; made by :func:`timeout` or
    :func:`move_on_after`. Entering and leaving do not switch. Code in the
    hub cannot enter one (``BlockingInHubError``). If the time runs out
    while a kill (or a throw of what is no ``Exception``), an outer scope's
    expiry or a task group's failed child, delivered to the tasklet after
    the scope was entered, is still live (a ``finally`` in the block waits
    while it unwinds the block; or the block caught it), the scope ends
    the block and raises that interruption again: no ``TimeoutError``, no
    silent exit, and ``cancelled_caught`` stays false. An error of the
    block (an exception it raised, one thrown in) is replaced by the
    expiry, as in trio and asyncio."""

    __slots__ = (
        "_active",
        "_hub",
        "_mark",
        "_open",
        "_raise",
        "_tasklet",
        "cancelled_caught",
        "deadline",
        "seconds",
    )

    seconds: float
    _raise: bool
    _active: bool
    #: Between ``__enter__`` and ``__exit__``.
    _open: bool
    _hub: Any
    _tasklet: Task | None
    #: The scheduler's ``deliveries`` when the scope was entered (set only
    #: for a finite deadline): see the module's docstring.
    _mark: int
    deadline: float
    #: True when the scope's time ran out and it ended the block (not
    #: when it raised a live interruption again instead).
    cancelled_caught: bool

    def __init__(self, seconds: float, *, raise_: bool) -> None:
        _fill(self, seconds, raise_)

    def __enter__(self) -> CancelScope:
        if self._hub is not None:
            raise RuntimeError(f"{self!r} cannot be entered twice")
        # get_scheduler(), inlined (the call cost 2% of a scope); code in
        # the hub always misses the hint (see shoal._hubturns).
        s = _scheduler.hint
        cur = s.current
        if cur._gr is not getcurrent():
            s = get_scheduler()
            cur = s.current
            if cur is s.hubtask:
                raise _refused(self)
        hub = self._hub = s.hub or get_hub(s)
        self._tasklet = cur
        self._active = self._open = True
        self.deadline = time.monotonic() + self.seconds
        if self.deadline == _INF:
            # It never fires: no timer, and no waker for the deadlock check.
            return self
        self._mark = s.deliveries
        (hub.timers or hub.deadlines()).add(self)
        # The deadline will wake the tasklet: blocking now is no deadlock,
        # and the hub gets its turns even while tasklets only yield.
        hub.add_waiter()
        s.queue_hub()
        return self

    def _expire(self) -> None:
        """From the hub's timer: the time ran out (switches)."""
        t = self._tasklet
        if self._active and t is not None:
            self._active = False
            hub = self._hub
            hub.drop_waiter()
            interrupt(t, _Expired(self), hub.sched.current)
            # Back in the hub, outside a flush: run what became runnable,
            # or report the deadlock if nothing can run or wake any more.
            hub.sched.back_in_hub()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._open = False
        # The scope may stay in the hub's heap until its deadline: it must
        # not keep the tasklet alive meanwhile.
        self._tasklet = None
        if self._active:
            # It never expired: what leaves the block is none of its own.
            self._active = False
            if self.deadline != _INF:
                hub = self._hub
                hub.timers.discard()  # it was added
                hub.drop_waiter()
            return False
        return _expired_exit(self, exc)

    def __repr__(self) -> str:
        state = (
            "active" if self._active else "expired" if self.cancelled_caught else "idle"
        )
        return f"<CancelScope {self.seconds} s {state}>"


def _expired_exit(scope: CancelScope, exc: BaseException | None) -> bool:
    """``scope.__exit__`` once its time ran out (or for a scope never
    entered): ``exc``, its own expiry, becomes ``TimeoutError`` or a silent
    exit, unless an interruption delivered to the tasklet after the scope
    was entered is still live: raised again instead (see the module's
    docstring). Does not switch."""
    if scope._hub is None:
        return False  # never entered
    # Its expiry, delivered, is no longer live (it is closed): dropped here.
    found = live_since(get_scheduler().current, scope._mark)
    if not (isinstance(exc, _Expired) and exc.scope is scope):
        return False
    if found is not None:
        exc = None  # no cycle through this frame's traceback
        try:
            raise_again(found)
        finally:
            found = None
    scope.cancelled_caught = True
    if scope._raise:
        raise TimeoutError(f"timed out after {scope.seconds} s") from None
    return True


def raise_again(exc: BaseException) -> NoReturn:
    """Raise ``exc``, an interruption delivered earlier that goes on instead
    of the one handled here (an expiry), with the ``__context__`` it had:
    raised in an ``__exit__``, it would get the exception handled there, as
    if it had happened while that was handled. Does not switch."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context  # no cycle through this frame


def _refused(scope: CancelScope) -> BlockingInHubError:
    """The error for code in the hub entering ``scope``. Does not switch."""
    return BlockingInHubError(
        f"code running in the hub (asyncio code on shoal's loop) cannot enter"
        f" {scope!r} (a timeout scope, or the timeout= of a call): its expiry"
        " interrupts a tasklet, and the hub is none; in asyncio code use"
        " asyncio.timeout() or asyncio.wait_for(), or run the code in a"
        " tasklet (shoal.spawn)"
    )


def check(seconds: object) -> None:
    """Refuse what is no timeout: ``TypeError`` unless a number,
    ``ValueError`` for NaN; for the ``timeout=`` of a call that may not
    wait, as a timeout scope refuses it. Does not switch."""
    if not isinstance(seconds, _NUMBERS):
        raise TypeError(f"a timeout needs a number of seconds, got {seconds!r}")
    if seconds != seconds:
        raise ValueError("a timeout needs a number of seconds, got nan")


def _fill(scope: CancelScope, seconds: float, raise_: bool) -> None:
    """Set the slots of new ``scope``: ``CancelScope.__init__``."""
    check(seconds)
    scope.seconds = seconds
    scope._raise = raise_
    scope._active = scope._open = False
    scope._hub = None
    scope._tasklet = None
    scope.deadline = 0.0
    scope.cancelled_caught = False


# timeout(), move_on_after() and the timeout= of blocking calls make their
# scopes bare and fill them: CancelScope's __init__, being written in Python,
# is called from C, in a new interpreter frame, and with a keyword (~100 ns,
# 7% of a scope).
_new = object.__new__


def timeout(seconds: float) -> CancelScope:
    """``with timeout(seconds):`` raises ``shoal.TimeoutError`` out of the
    block if it has not finished in time. Scopes nest; the innermost expired
    one wins."""
    scope: CancelScope = _new(CancelScope)
    _fill(scope, seconds, True)
    return scope


def move_on_after(seconds: float) -> CancelScope:
    """``with move_on_after(seconds) as scope:`` leaves the block silently if
    it has not finished in time; then ``scope.cancelled_caught`` is true."""
    scope: CancelScope = _new(CancelScope)
    _fill(scope, seconds, False)
    return scope


def with_timeout(
    seconds: float | None, fn: Callable[..., T], *args: Any, doing: str | None = None
) -> T:
    """``fn(*args)``, within ``timeout(seconds)`` unless ``seconds`` is None:
    the ``timeout=`` keyword of blocking calls. The ``shoal.TimeoutError``
    names what timed out: ``doing``, else what ``fn`` is a method of (see
    :func:`_doing`), worded only when the time runs out. Switches as ``fn``
    does."""
    if seconds is None:
        return fn(*args)
    scope = timeout(seconds)
    try:
        with scope:
            return fn(*args)
    except TimeoutError as exc:
        if scope.cancelled_caught:  # this call's own, not an inner scope's
            exc.args = (f"{doing or _doing(fn)}: {exc.args[0]}",)
        raise
    raise AssertionError("unreachable: a timeout scope raises, never swallows")


def _doing(fn: Callable[..., Any]) -> str:
    """What a call of ``fn`` does, for its timeout's message: its object's
    ``_describe(None)`` (a waitable's, as in deadlock reports) if it has
    one that takes no tasklet, else "``name()`` on" the object. Does not
    switch."""
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "call")
    if owner is None:
        return f"{name}()"
    describe = getattr(owner, "_timeout_doing", None)
    if describe is not None:
        return str(describe())
    return f"{name}() on {owner!r}"
