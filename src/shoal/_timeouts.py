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

A scope may expire during a cleanup: a ``finally`` in its block waits while
an interruption unwinds the block, one delivered after the scope was
entered: a kill or a throw (an exception marked by :func:`thrown`, or any
that is no ``Exception``: ``TaskletExit``, ``KeyboardInterrupt``), another
scope's expiry or a task group's ``_ChildFailed`` whose block is still
running (``Interruption.aimed``). The expiry still ends the cleanup, but
the scope does not catch it: its ``__exit__`` raises the interruption
again, which goes on to whoever it was meant for (asyncio's ``timeout``
does the same, counting cancellations; trio's cancellation, level-triggered,
is raised again at the next checkpoint). The interruption is found on the
``__context__`` chain of the ``_Expired``, down to the exception that was
in flight when the scope was entered (kept then, ``_prior``): one delivered
earlier is not the block's, and a scope entered in a ``finally`` to bound
that cleanup ends its part silently (or with ``TimeoutError``) as ever. An
error the block raised itself (a ``ValueError``) is no interruption: the
expiry replaces it, as any exception raised in a ``finally`` does, and as
trio (``move_on_after`` silences it, ``fail_after`` raises ``TooSlowError``)
and asyncio's ``timeout`` (``TimeoutError``) do.

Code running in the hub (asyncio code on its loop) cannot enter a scope:
the expiry would interrupt the hub's stand-in, which is no tasklet, and
asyncio code has ``asyncio.timeout`` for that. ``__enter__`` refuses it
with ``BlockingInHubError`` (the ``timeout=`` of a call too: it makes a
scope), before anything is registered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn, TypeVar

from . import _scheduler
from ._errors import BlockingInHubError, Interruption, TimeoutError
from ._hub import get_hub
from ._scheduler import Task, get_scheduler, getcurrent

__all__ = [
    "CancelScope",
    "check",
    "handled",
    "in_flight",
    "move_on_after",
    "raise_again",
    "thrown",
    "timeout",
    "with_timeout",
]

T = TypeVar("T")


#: What a scope takes: a tuple made once, not at every scope.
_NUMBERS = (int, float)


_INF = float("inf")

#: The exception being handled (in flight through a ``finally``), or None.
if sys.version_info >= (3, 11):
    handled = sys.exception
else:  # pragma: no cover - exercised on 3.10 only

    def handled() -> BaseException | None:
        return sys.exc_info()[1]


#: The attribute that marks an exception thrown into a tasklet from outside.
_THROWN = "_shoal_thrown"


def thrown(exc: BaseException) -> BaseException:
    """Mark ``exc`` as thrown into a tasklet from outside (``Tasklet.throw``,
    ``Tasklet.kill``), and return it: a scope that expires while it is in
    flight through the scope's block does not replace it (see the module's
    docstring). Only an ``Exception`` needs it; any other is taken for an
    interruption anyway. Does not switch."""
    if isinstance(exc, Exception):
        # In its __dict__ (every exception has one): no __setattr__ of its
        # class, nor a __getattr__ when it is read, has a say.
        exc.__dict__[_THROWN] = True
    return exc


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
    while a kill, a throw or an outer scope's expiry unwinds the block (a
    ``finally`` in it waits), the scope ends that wait and lets the
    interruption go on: no ``TimeoutError``, no silent exit, and
    ``cancelled_caught`` stays false."""

    __slots__ = (
        "_active",
        "_hub",
        "_open",
        "_prior",
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
    #: The exception in flight when the scope was entered (set only for a
    #: finite deadline, cleared on exit): see the module's docstring.
    _prior: BaseException | None
    deadline: float
    #: True when the scope's time ran out and it ended the block (not
    #: when it let an interruption in flight go on instead).
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
        self._prior = handled()
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
            t._interrupt(_Expired(self))  # type: ignore[attr-defined]
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
        # not keep the tasklet alive meanwhile (nor what was in flight).
        self._tasklet = None
        if self._active:
            # It never expired: what leaves the block is none of its own.
            self._active = False
            if self.deadline != _INF:
                self._prior = None
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
    exit, unless an interruption was in flight when it expired, raised
    again instead. Does not switch."""
    prior = getattr(scope, "_prior", None)
    scope._prior = None
    if not (isinstance(exc, _Expired) and exc.scope is scope):
        return False
    flight = in_flight(exc, prior)
    if flight is not None:
        exc = prior = None  # no cycle through this frame's traceback
        raise_again(flight)
    scope.cancelled_caught = True
    if scope._raise:
        raise TimeoutError(f"timed out after {scope.seconds} s") from None
    return True


def in_flight(
    interruption: BaseException, prior: BaseException | None
) -> BaseException | None:
    """The interruption that ``interruption`` (a scope's expiry, a task
    group's ``_ChildFailed``) cut into, if any: the first on its
    ``__context__`` chain, down to ``prior`` (in flight when the block was
    entered, so not the block's), that is a shoal ``Interruption`` whose
    block still runs, an exception thrown in from outside (:func:`thrown`),
    or any exception that is no ``Exception`` (``TaskletExit``,
    ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``). Does not
    switch."""
    seen: set[int] = set()  # a chain made by hand may loop
    exc = interruption.__context__
    while exc is not None and exc is not prior and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Interruption):
            if exc.aimed():
                return exc
        elif not isinstance(exc, Exception) or _THROWN in exc.__dict__:
            return exc
        exc = exc.__context__
    return None


def raise_again(exc: BaseException) -> NoReturn:
    """Raise ``exc``, an interruption in flight that another one (an
    expiry) cut into, with the ``__context__`` it had: raised in an
    ``__exit__``, it would get the exception handled there, as if it had
    happened while that was handled. Does not switch."""
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
