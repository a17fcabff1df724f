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
from typing import Any, TypeVar

from . import _scheduler
from ._errors import BlockingInHubError, Interruption, TimeoutError
from ._hub import get_hub
from ._scheduler import Task, get_scheduler, getcurrent

__all__ = ["CancelScope", "check", "move_on_after", "timeout", "with_timeout"]

T = TypeVar("T")


#: What a scope takes: a tuple made once, not at every scope.
_NUMBERS = (int, float)


_INF = float("inf")


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
    hub cannot enter one (``BlockingInHubError``)."""

    __slots__ = (
        "_active",
        "_hub",
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
    deadline: float
    #: True when the scope's time ran out and it ended the block.
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
        hub.deadlines().add(self)
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
        # not keep the tasklet alive meanwhile.
        self._tasklet = None
        if self._active:
            self._active = False
            if self.deadline != _INF:
                hub = self._hub
                hub.deadlines().discard()
                hub.drop_waiter()
        if isinstance(exc, _Expired) and exc.scope is self:
            self.cancelled_caught = True
            if self._raise:
                raise TimeoutError(f"timed out after {self.seconds} s") from None
            return True
        return False

    def __repr__(self) -> str:
        state = (
            "active" if self._active else "expired" if self.cancelled_caught else "idle"
        )
        return f"<CancelScope {self.seconds} s {state}>"


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
