"""Channels: Stackless rendezvous channels and Go-style buffered channels.

Design
------
A channel keeps two FIFO queues of waiters, ``_senders`` and ``_receivers``.
Each is ``NOQUEUE`` (nobody has waited that way), a single waiting tasklet,
or a deque: a deque costs ~760 bytes, and most channels never have two
waiters at once. Only the fast paths in ``HandOff`` handle the single form;
the general paths here go through ``_queue``, which makes it a deque. A
waiter is either a blocked tasklet (a plain send or receive) or a
``Waiter`` registered by :func:`shoal.select`, always in a deque. Until
either queue first becomes a deque, ``_single`` is true and the fast paths
take the single waiter without looking at its type. A single waiter is
never a tasklet with a truth value of its own (``_handoff.own_truth``), so
a queue's truth value says whether anybody waits. A plain waiter that
gives up (killed, deadlock) is removed at once; a select's other waiters are
left in place when one of its cases fires, counted in
``_stale_s``/``_stale_r``, and skipped when they reach the head. So the
balance is computed, not stored.

A blocked sender keeps its value in ``_temp``. Hand-off follows Stackless:
with the default preference -1 a send to a waiting receiver switches straight
to it and the sender goes to the end of the run queue; a receive from a
waiting sender takes the value and the sender goes to the end of the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Any, NoReturn

from . import _handoff
from ._errors import ChannelClosed, WouldBlock, bomb, is_exception_class
from ._handoff import NOQUEUE, HandOff
from ._hub import ready
from ._scheduler import NOWAKE, Scheduler, Task, Waiter, get_scheduler
from ._task import drop, holds
from ._timeouts import with_timeout

__all__ = ["Case", "Channel"]


#: Stale select waiters a channel tolerates before compacting its deques.
_STALE_SLACK = 32


def _count(q: Any) -> int:
    """How many entries a waiter queue holds: none, a single waiter, a deque."""
    if type(q) is deque:
        return len(q)
    return 0 if q is NOQUEUE else 1


class Case:
    """One channel operation offered to :func:`shoal.select`."""

    __slots__ = ("channel", "is_send", "value")

    def __init__(self, channel: Channel, is_send: bool, value: Any) -> None:
        given: object = channel  # made by hand, it may be anything
        if not isinstance(given, Channel) or type(is_send) is not bool:
            raise TypeError(
                "Case(channel, is_send, value) needs a Channel and a bool, got"
                f" {channel!r} and {is_send!r} (Channel.send_case() and"
                " Channel.receive_case() make cases)"
            )
        self.channel = channel
        self.is_send = is_send
        self.value = value

    def __repr__(self) -> str:
        if self.is_send:
            return f"<Case send {self.value!r} on {self.channel!r}>"
        return f"<Case receive from {self.channel!r}>"


_EMPTY: Any = object()


class Channel(HandOff):
    """A channel: ``capacity=0`` is a rendezvous channel, more is buffered."""

    __slots__ = (
        "_buffer",
        "_capacity",
        "_closing",
        "_preference",
        "_recv_switches",
        "_schedule_all",
        "_send_switches",
        "_stale_r",
        "_stale_s",
    )

    #: The error a send or receive raises on a closed channel.
    _closed_error: type[Exception] = ChannelClosed

    def __init__(self, capacity: int = 0) -> None:
        try:
            capacity = int(capacity.__index__())
        except AttributeError:
            raise TypeError(
                f"Channel capacity must be an int, got {capacity!r}"
            ) from None
        if capacity < 0:
            raise ValueError(f"Channel capacity must be >= 0, got {capacity}")
        self._capacity = capacity
        self._buffer: deque[Any] | None = deque() if capacity else None
        self._senders = NOQUEUE
        self._receivers = NOQUEUE
        self._single = True
        self._stale_s = 0
        self._stale_r = 0
        self._closing = False
        self._preference = -1
        self._schedule_all = False
        self._update_switches()

    # -- flags --------------------------------------------------------------

    @property
    def preference(self) -> int:
        """-1: a hand-off runs the receiver at once (default); 1: the sender;
        0: neither, the woken tasklet just becomes runnable."""
        return self._preference

    @preference.setter
    def preference(self, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError(f"preference must be an int, got {value!r}")
        self._preference = (value > 0) - (value < 0)
        self._update_switches()

    @property
    def schedule_all(self) -> bool:
        """When true, every hand-off yields to the next runnable tasklet."""
        return self._schedule_all

    @schedule_all.setter
    def schedule_all(self, value: bool) -> None:
        self._schedule_all = bool(value)
        self._update_switches()

    def _update_switches(self) -> None:
        plain = not self._schedule_all
        self._send_switches = plain and self._preference < 0
        self._recv_switches = plain and self._preference > 0
        self._fast = self._send_switches and self._buffer is None and not self._closing

    # -- state --------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """How many values the buffer holds (0: rendezvous)."""
        return self._capacity

    @property
    def balance(self) -> int:
        """Senders waiting (> 0) or receivers waiting (< 0)."""
        senders = _count(self._senders) - self._stale_s
        return senders - _count(self._receivers) + self._stale_r

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closing

    def __len__(self) -> int:
        """How many values are buffered."""
        return len(self._buffer) if self._buffer is not None else 0

    def __bool__(self) -> bool:
        """Always true, as a C Stackless channel is: a channel is not a
        container, and ``ch or Channel()`` must not replace an empty one."""
        return True

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        extra = f" buffered={len(self)}/{self._capacity}" if self._capacity else ""
        return (
            f"<{type(self).__name__} at {id(self):#x} balance={self.balance}{extra}"
            f" {state}>"
        )

    def statistics(self) -> dict[str, int | bool]:
        """Counts for monitoring."""
        return {
            "balance": self.balance,
            "buffered": len(self),
            "capacity": self._capacity,
            "closed": self._closing,
        }

    # -- send ---------------------------------------------------------------

    def _send(self, s: Scheduler, cur: Task, value: Any) -> None:
        """Every send that is not the inlined fast path (see ``HandOff``)."""
        if _handoff.deferred:
            _handoff.raise_deferred(cur)
        callback = _handoff._channel_callback
        if callback is not None:
            callback(self, cur, True, not self._can_send())
        if not self._send_now(s, cur, value):
            self._wait(s, cur, True, value)

    def _send_within(self, value: Any, timeout: float) -> None:
        with_timeout(timeout, self.send, value)

    def _receive_within(self, timeout: float) -> Any:
        return with_timeout(timeout, self.receive)

    def send_exception(self, exc_type: type[BaseException], *args: Any) -> None:
        """Send an exception: the receiver raises ``exc_type(*args)``.
        Anything but an exception class raises TypeError here, before
        anything is sent. Switches."""
        if not is_exception_class(exc_type):
            raise TypeError(
                f"send_exception() needs an exception class, got {exc_type!r}"
            )
        self.send(bomb(exc_type, exc_type(*args)))

    def send_nowait(self, value: Any) -> None:
        """Send ``value`` if no wait is needed, else raise ``WouldBlock``.

        May switch to the receiver, as :meth:`send` does.
        """
        s = get_scheduler()
        if _handoff.deferred:
            _handoff.raise_deferred(s.current)
        if not self._send_now(s, s.current, value):
            raise WouldBlock(f"send_nowait() on {self!r} would block")

    def _send_now(self, s: Scheduler, cur: Task, value: Any) -> bool:
        """Hand ``value`` to a waiting receiver or buffer it; False if neither
        can happen now. Raises on a closed channel."""
        if self._receivers and self._give(s, cur, value):
            return True
        if self._closing:
            raise self._closed_error(f"send on closed {self!r}")
        buf = self._buffer
        if buf is not None and len(buf) < self._capacity:
            buf.append(value)
            return True
        return False

    def _can_send(self) -> bool:
        buf = self._buffer
        return _count(self._receivers) > self._stale_r or (
            buf is not None and len(buf) < self._capacity
        )

    # -- receive ------------------------------------------------------------

    def _receive(self, s: Scheduler, cur: Task) -> Any:
        """Every receive that is not the inlined fast path (see ``HandOff``)."""
        if _handoff.deferred:
            _handoff.raise_deferred(cur)
        callback = _handoff._channel_callback
        if callback is not None:
            callback(self, cur, False, not self._can_receive())
        if self._senders or self._buffer:
            value = self._take(s, cur)
            if value is not _EMPTY:
                if type(value) is bomb:
                    value.raise_()
                return value
        if self._closing:
            raise self._end(f"receive on closed {self!r}")
        return self._wait(s, cur, False, NOWAKE)

    def receive_nowait(self) -> Any:
        """Receive a value if one is ready, else raise ``WouldBlock``.

        Raises ``ChannelClosed`` on a closed, drained channel. Does not wait;
        switches to the sender at once only when the preference is 1.
        """
        s = get_scheduler()
        if _handoff.deferred:
            _handoff.raise_deferred(s.current)
        value = self._take(s, s.current)
        if value is _EMPTY:
            if self._closing:
                raise self._end(f"receive on closed {self!r}")
            raise WouldBlock(f"receive_nowait() on {self!r} would block")
        if type(value) is bomb:
            value.raise_()
        return value

    def _queue(self, sending: bool) -> deque[Any]:
        """The senders' (or receivers') queue as a deque, made or grown from a
        single waiter here; the general paths work on deques only."""
        q = self._senders if sending else self._receivers
        if type(q) is deque:
            return q
        d: deque[Any] = deque() if q is NOQUEUE else deque((q,))
        self._single = False
        if sending:
            self._senders = d
        else:
            self._receivers = d
        return d

    def _waiters(self, sending: bool) -> list[Any]:
        """The waiters in one direction, oldest first (stale ones included)."""
        q = self._senders if sending else self._receivers
        if type(q) is deque:
            return list(q)
        return [] if q is NOQUEUE else [q]

    def _forget(self, w: Any, sending: bool) -> bool:
        """Remove waiter ``w`` from one direction; False if it is not there."""
        q = self._senders if sending else self._receivers
        if q is w:
            if sending:
                self._senders = NOQUEUE
            else:
                self._receivers = NOQUEUE
            return True
        if type(q) is deque and q:
            # Either end at once (a kill storm in either order, timeouts
            # that fire in the order they were set); elsewhere a scan, as
            # gevent's and asyncio's queues of waiters do.
            if q[-1] is w:
                q.pop()
                return True
            if q[0] is w:
                q.popleft()
                return True
            return drop(q, w)
        return False

    def _is_sending(self, t: Task) -> bool:
        """Whether ``t`` waits here to send (rather than to receive)."""
        q = self._senders
        return q is t or (type(q) is deque and holds(q, t))

    def _ready(self, is_send: bool) -> bool:
        """Whether a send (or receive) could happen now without waiting."""
        return self._can_send() if is_send else self._can_receive()

    def _can_receive(self) -> bool:
        return bool(self._buffer) or _count(self._senders) > self._stale_s

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        """Receive the next value; stop when the channel is closed. Switches."""
        try:
            return self.receive()
        except self._closed_error as e:
            if getattr(e, "_end_of", None) is not self:
                raise  # sent or thrown, not the channel's end
            raise StopIteration from None

    def _end(self, message: str) -> Exception:
        """The error for a receive that finds the channel closed and
        drained: marked, so that iteration ends on it and on nothing else
        (a ``ChannelClosed`` sent over the channel is a value)."""
        err = self._closed_error(message)
        err._end_of = self  # type: ignore[attr-defined]
        return err

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        """A channel cannot be copied or pickled: its waiters are live
        tasklets, and a copy would share its queues and buffer."""
        raise TypeError(f"cannot copy or pickle {self!r}")

    # -- close ----------------------------------------------------------------

    def close(self) -> None:
        """Close the channel: sends fail from now on; receivers get what is
        buffered, then ``ChannelClosed``. Tasklets blocked on the channel are
        woken with ``ChannelClosed``, in the order they came. Does not switch.
        """
        if self._closing:
            return
        s = get_scheduler()
        for sending in (False, True):
            for w in self._waiters(sending):
                t = w.select.tasklet if type(w) is Waiter else w
                if t is not None and t._sched is not s:
                    raise self._foreign(t)
        self._closing = True
        self._update_switches()
        for sending in (False, True):
            if not (self._senders if sending else self._receivers):
                continue
            waiters = self._queue(sending)
            while waiters:
                t = waiters.popleft()
                if type(t) is Waiter:
                    t, _ = self._claim(t, None)
                    if t is None:
                        continue
                closed = self._end(f"{self!r} was closed")
                ready(t, bomb(self._closed_error, closed))

    # -- cases for select -------------------------------------------------------

    def send_case(self, value: Any) -> Case:
        """A case for :func:`shoal.select` that sends ``value`` here."""
        return Case(self, True, value)

    def receive_case(self) -> Case:
        """A case for :func:`shoal.select` that receives from here."""
        return Case(self, False, None)

    # -- the hand-off -------------------------------------------------------------

    def _check_peer(self, s: Scheduler, sending: bool) -> None:
        """Raise RuntimeError if the first live waiter to send (or receive)
        is a tasklet of another thread than ``s``'s. Changes nothing. (The
        general paths test each waiter before they take it; the send fast
        path leaves to them every hand-off it cannot prove this thread's;
        the receive fast path does not check: see docs/design.md.)"""
        q = self._senders if sending else self._receivers
        if type(q) is not deque:
            q = () if q is NOQUEUE else (q,)
        for w in q:
            t = w.select.tasklet if type(w) is Waiter else w
            if t is not None:
                if t._sched is not s:
                    raise self._foreign(t)
                return

    def _foreign(self, t: Task) -> RuntimeError:
        """The error for a hand-off with ``t``, a tasklet of another thread."""
        return RuntimeError(
            f"{self!r} belongs to tasklets of another thread ({t!r} waits on "
            f"it in thread {t._sched.thread_id}, this is thread "
            f"{threading.get_ident()}): channels cannot be shared between "
            "threads; to hand values between threads use shoal.to_thread, "
            "shoal.wait_future or a queue.Queue"
        )

    def _give(self, s: Scheduler, cur: Task, value: Any) -> bool:
        """Hand ``value`` to the first live waiting receiver; True if there
        was one. Raises RuntimeError, changing nothing, if that receiver is
        another thread's."""
        rq = self._receivers
        if type(rq) is not deque:  # a single plain receiver (the caller saw one)
            if rq._sched is not s:
                raise self._foreign(rq)
            rq = self._queue(False)
        while rq:
            t = rq[0]
            wake = value
            if type(t) is Waiter:
                owner = t.select.tasklet
                if owner is not None and owner._sched is not s:
                    raise self._foreign(owner)
                rq.popleft()
                t, wake = self._claim(t, value)
                if t is None:
                    continue
            else:
                if t._sched is not s:
                    raise self._foreign(t)
                rq.popleft()
            self._wake(s, cur, t, wake, self._send_switches)
            return True
        return False

    def _take(self, s: Scheduler, cur: Task) -> Any:
        """Take a buffered value or one from the first live waiting sender;
        ``_EMPTY`` if there is none. Raises RuntimeError, changing nothing,
        if that sender (or the one a refill takes) is another thread's."""
        sq = self._senders
        if sq and type(sq) is not deque and sq._sched is not s:
            raise self._foreign(sq)  # a single plain sender
        buf = self._buffer
        if buf:
            if type(sq) is deque and sq:
                self._check_peer(s, True)  # before the refill takes one
            value = buf.popleft()
            if _count(self._senders) > self._stale_s:
                self._refill(buf)
            return value
        if not sq:
            return _EMPTY
        if type(sq) is not deque:
            sq = self._queue(True)
        while sq:
            t = sq[0]
            if type(t) is Waiter:
                owner = t.select.tasklet
                if owner is not None and owner._sched is not s:
                    raise self._foreign(owner)
                sq.popleft()
                value = t.value
                t, wake = self._claim(t, None)
                if t is None:
                    continue
            else:
                if t._sched is not s:
                    raise self._foreign(t)
                sq.popleft()
                value = t._temp
                wake = None
            self._wake(s, cur, t, wake, self._recv_switches)
            return value
        return _EMPTY

    def _wake(self, s: Scheduler, cur: Task, t: Task, wake: Any, now: bool) -> None:
        """``cur``'s operation with waiting ``t`` is done: wake ``t`` with
        ``wake``, and run it ``now`` or per ``schedule_all``.

        When ``cur`` yields here its ``_temp`` is set (to None): its operation
        completed, so a kill must let it return first (see ``Tasklet.throw``).
        Code in the hub never switches away from its loop callback: ``t``
        runs at the loop's next round.
        """
        if now and cur is not s.hubtask:
            t._blocked_on = None
            t._temp = NOWAKE  # the wake value goes through the switch
            cur._temp = None
            s.runq.append(cur)
            s.switch_to(cur, t, wake)
            return
        ready(t, wake)
        if self._schedule_all:
            cur._temp = None
            s.requeue(cur)

    def _refill(self, buf: deque[Any]) -> None:
        """A buffer slot came free: move the first waiting sender's value in."""
        sq = self._queue(True)
        while sq:
            t = sq.popleft()
            wake = None
            if type(t) is Waiter:
                value = t.value
                t, wake = self._claim(t, None)
                if t is None:
                    continue
            else:
                value = t._temp
            buf.append(value)
            ready(t, wake)
            return

    def _wait(self, s: Scheduler, cur: Task, sending: bool, value: Any) -> Any:
        """Wait in the senders' (or receivers') queue until a peer completes
        the operation; return the value ``cur`` is woken with, raising a bomb.
        The general path; ``HandOff`` inlines the same for the fast one."""
        waiters = self._queue(sending)
        cur._temp = value
        waiters.append(cur)
        cur._blocked_on = self
        try:
            result = s.park(cur)
        except BaseException:
            self._cancel(cur)
            raise
        if type(result) is bomb:
            result.raise_()
        return result

    def _cancel(self, cur: Task) -> None:
        """``cur`` stops waiting here without its operation happening."""
        if cur._blocked_on is self:
            self._unpark(cur)
            cur._blocked_on = None
        cur._temp = NOWAKE

    def _claim(self, w: Waiter, value: Any) -> tuple[Any, Any]:
        """A select's waiter reached the head: fire it, or skip it if stale.

        Returns the select's tasklet and its wake value, or ``(None, None)``.
        """
        sel = w.select
        if sel.tasklet is None:
            if w.is_send:
                self._stale_s -= 1
            else:
                self._stale_r -= 1
            return None, None
        return sel.fire(w), (w.case, value)

    def _compact(self) -> None:
        """Drop the stale select waiters once they outnumber the live ones."""
        for sending in (True, False):
            if not (self._senders if sending else self._receivers):
                continue
            waiters = self._queue(sending)
            live = [
                w
                for w in waiters
                if type(w) is not Waiter or w.select.tasklet is not None
            ]
            waiters.clear()
            waiters.extend(live)
        self._stale_s = self._stale_r = 0

    # The Waitable protocol.
    def _unpark(self, t: Task) -> None:
        if not self._forget(t, False):
            self._forget(t, True)

    def _describe(self, t: Task) -> str:
        verb = "sending on" if self._is_sending(t) else "receiving on"
        return f"{verb} {self!r}"
