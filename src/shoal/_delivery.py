"""Interruptions delivered to a tasklet that may still be live: what a
timeout scope or a task group that expires re-raises instead of its own
expiry (see ``shoal._timeouts``). A kill, a throw of what is no
``Exception``, a scope's expiry, a task group's failed child are each
numbered from their scheduler's ``deliveries`` and kept on the tasklet
(``Task._killed``, ``Task._interrupts``), so that they go with it.

Nothing here switches.
"""

from __future__ import annotations

from ._errors import Interruption
from ._task import NO_VALUE, NOWAKE, Task

__all__ = [
    "PENDING",
    "defers",
    "deliver",
    "forget",
    "interrupt",
    "live_since",
    "settle",
]


#: The number of a delivery that the tasklet has not raised yet (see
#: :func:`deliver`): after every mark, until :func:`settle` numbers it.
PENDING = 1 << 62


def deliver(t: Task, exc: BaseException, pending: bool = False) -> None:
    """Record that ``exc`` is being delivered to ``t`` (before it is thrown
    in), with the next number of ``t``'s scheduler's ``deliveries``, which
    a timeout scope or a task group reads as it is entered: what was
    delivered after that may be live when the scope expires (see
    ``shoal._timeouts``). ``exc`` is either a kill (``Tasklet.kill``, a
    throw of what is no ``Exception``, a ``KeyboardInterrupt`` handed to
    the main tasklet), live until ``t`` ends, of which only the last counts
    (``_killed``: if any is after a mark, it is), or a shoal
    ``Interruption`` (a scope's expiry, a task group's failed child), live
    while its ``aimed()`` (``_interrupts``: a number and an interruption
    each, dropped as their blocks end, see :func:`live_since`). Kept on
    ``t``, so that they go with it; whoever waits for ``t`` to end after
    killing it drops them then (:func:`forget`).

    ``pending``: ``t`` runs on before it raises ``exc`` (its operation had
    completed: ``Tasklet._throw_in`` defers the throw to its next channel
    action or switch), so a scope it enters meanwhile is one ``exc`` ends:
    the delivery counts as after every mark (``PENDING``) until the
    thrower, back, numbers it (:func:`settle`). Does not switch."""
    s = t._sched
    if pending:
        n = PENDING
    else:
        n = s.deliveries = s.deliveries + 1
    if not isinstance(exc, Interruption):
        t._killed = (n, exc)
        return
    record = getattr(t, "_interrupts", None)
    if record is None:
        t._interrupts = [n, exc]
    else:
        record.append(n)
        record.append(exc)


def settle(t: Task) -> None:
    """The thrower of a pending delivery to ``t`` is back (``t`` has raised
    it, or will not): number what is still ``PENDING`` (see
    :func:`deliver`). Does not switch."""
    s = t._sched
    killed: tuple[int, BaseException] | None = getattr(t, "_killed", None)
    if killed is not None and killed[0] == PENDING:
        n = s.deliveries = s.deliveries + 1
        t._killed = (n, killed[1])
    record = getattr(t, "_interrupts", None)
    if record is not None:
        for i in range(0, len(record), 2):
            if record[i] == PENDING:
                record[i] = s.deliveries = s.deliveries + 1


def defers(t: Task) -> bool:
    """Whether a throw into ``t``, a tasklet that has started and is not
    the current one, is deferred (``Tasklet._throw_in``: its last operation
    completed, and it returns from it first): the delivery is pending (see
    :func:`deliver`). Does not switch."""
    return t._blocked_on is None and t._temp is not NOWAKE and t._temp is not NO_VALUE


def forget(t: Task) -> None:
    """``t`` has ended: drop what was delivered to it (see :func:`deliver`).
    Does not switch."""
    t._killed = t._interrupts = None


def live_since(t: Task, mark: int) -> BaseException | None:
    """What was delivered to ``t`` after ``mark`` (a value of its
    scheduler's ``deliveries``) and is still live (see :func:`deliver`):
    the last kill, else the last interruption whose block still runs; None
    if nothing. Drops the interruptions whose blocks have ended. Does not
    switch."""
    found: BaseException | None = None
    record = getattr(t, "_interrupts", None)
    if record is not None:
        live = []
        for i in range(0, len(record), 2):
            exc = record[i + 1]
            if exc.aimed():
                live.append(record[i])
                live.append(exc)
                if record[i] > mark:
                    found = exc
        exc = record = None  # no cycle through this frame
        t._interrupts = live or None
    killed: tuple[int, BaseException] | None = getattr(t, "_killed", None)
    if killed is not None and killed[0] > mark:
        return killed[1]
    return found


def interrupt(t: Task, exc: Interruption, current: Task) -> None:
    """Deliver ``exc`` (a scope's expiry, a task group's failed child) to
    ``t`` and throw it in (``t._interrupt``); ``current`` is the tasklet
    running (the hub's stand-in, for a timer). Pending if ``t`` runs on
    first (see :func:`deliver`): numbered once the throw is back. Switches
    (to ``t`` and back)."""
    pending = t is not current and t._gr is not None and defers(t)
    deliver(t, exc, pending)
    try:
        t._interrupt(exc)  # type: ignore[attr-defined]  # a Tasklet
    finally:
        if pending:
            settle(t)
