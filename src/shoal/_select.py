"""``select``: wait until exactly one of several channel operations happens.

Design
------
``select`` first looks for the cases that can go at once and does one of
them, chosen uniformly at random so that none starves (the generator is the
scheduler's, seeded, so runs repeat). If none can, it registers a ``Waiter`` in every channel's deque and
parks. The first peer to reach one of them fires the select: the operation
happens in that peer's hand-off, the select's other waiters become stale in
place (counted by their channels, skipped when they reach the head), and the
selecting tasklet wakes with ``(case, value)``. Exactly one operation happens.

``oneof`` (issue 3) is not ``select``: it runs whole branches and kills the
losers; a branch that already took a message would lose it.
"""

from __future__ import annotations

from typing import Any

from . import _handoff
from ._channel import _STALE_SLACK, Case, _count
from ._errors import bomb
from ._scheduler import Task, Waiter, get_scheduler
from ._timeouts import with_timeout

__all__ = ["select"]

_MISSING: Any = object()


class _Select:
    """One blocked call of :func:`select`."""

    __slots__ = ("tasklet", "waiters")
    _raises_bombs = True  # see Tasklet.throw

    def __init__(self, tasklet: Task) -> None:
        self.tasklet: Task | None = tasklet
        self.waiters: list[Waiter] = []

    def fire(self, w: Waiter) -> Task:
        """``w``'s case is happening: mark the other waiters stale."""
        t = self.tasklet
        assert t is not None
        self.tasklet = None
        others = [o for o in self.waiters if o is not w]
        self.waiters = []  # they point here: no cycle once it is done
        # Count every stale waiter before compacting any channel: a select
        # may have several waiters on one channel.
        for other in others:
            if other.is_send:
                other.channel._stale_s += 1
            else:
                other.channel._stale_r += 1
            # Stale, it is only ever skipped: it must not keep a value it
            # would have sent alive in a channel that goes quiet.
            other.value = other.case = None
        for other in others:
            ch = other.channel
            stale = ch._stale_s + ch._stale_r
            if stale > _STALE_SLACK and 2 * stale > _count(ch._senders) + _count(
                ch._receivers
            ):
                ch._compact()
        t._blocked_on = None
        return t

    # The Waitable protocol: a kill or deadlock takes the waiters out at once.
    def _unpark(self, t: Task) -> None:
        self.tasklet = None
        for w in self.waiters:
            w.channel._forget(w, w.is_send)

    def _describe(self, t: Task) -> str:
        cases = ", ".join(repr(w.case) for w in self.waiters)
        return f"selecting on {cases}"


def select(
    *cases: Case, default: Any = _MISSING, timeout: float | None = None
) -> tuple[Case | None, Any]:
    """Do exactly one of ``cases`` and return ``(case, value)``.

    ``value`` is what a receive case received, or None for a send case. When
    several cases are ready, one is chosen at random, fairly. With
    ``default``, returns ``(None, default)`` at once if no case is ready.
    A send case on a closed channel, or a receive case on a closed and drained
    one, raises ``ChannelClosed`` and no case happens. With ``timeout``,
    raise ``shoal.TimeoutError`` if no case could happen in time; then none
    did. Switches when it waits, and when the case it does hands off at once.
    """
    if timeout is not None:
        return with_timeout(
            timeout, lambda: select(*cases, default=default), doing="select()"
        )
    for c in cases:
        if type(c) is not Case:
            raise TypeError(
                f"select() takes cases made by Channel.send_case() or "
                f"Channel.receive_case(), got {c!r}"
            )
    if not cases:
        if default is _MISSING:
            raise ValueError("select() needs at least one case, or a default")
        return None, default
    s = get_scheduler()
    cur = s.current
    if _handoff.deferred:  # a kill that came as its last operation completed
        _handoff.raise_deferred(cur)
    for c in cases:
        ch = c.channel
        if ch._closing and (c.is_send or not ch._can_receive()):
            verb = "send on" if c.is_send else "receive on"
            raise ch._closed_error(f"select: {verb} closed {ch!r}")
    ready = [c for c in cases if c.channel._ready(c.is_send)]
    if ready:
        # Uniformly among the ready cases, as Go does: a rotation from a
        # random start would favour a case that follows idle ones.
        c = ready[s.rng.randrange(len(ready))] if len(ready) > 1 else ready[0]
        ch = c.channel
        if c.is_send:
            ch._send_now(s, cur, c.value)
            return c, None
        value = ch._take(s, cur)
        if type(value) is bomb:
            value.raise_()
        return c, value
    if default is not _MISSING:
        return None, default
    return _wait(cur, cases)


def _wait(cur: Task, cases: tuple[Case, ...]) -> tuple[Case, Any]:
    sel = _Select(cur)
    for c in cases:
        ch = c.channel
        w = Waiter(sel, c, ch, c.is_send, c.value)
        ch._queue(c.is_send).append(w)
        sel.waiters.append(w)
    case, value = get_scheduler().block(cur, sel)
    if type(value) is bomb:
        value.raise_()
    return case, value
