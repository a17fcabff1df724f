"""The hand-off between tasklets at a channel: the hottest paths in shoal.

``Channel`` derives from ``HandOff`` and holds everything else. With the
scheduler (``_scheduler``, ``_hubturns``) this is the only module that
switches greenlets: ``send`` and ``receive`` inline ``Scheduler.park`` (in a
ping-pong the call alone costs about 8% of a message), so keep them in step
with it and with ``Channel._wait``. The channel callback lives here because
these paths check it on every action: while it or a schedule callback is
set, they leave every operation to the general paths; so they do while a
tasklet class with a truth value of its own exists (``own_truth``).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent

from . import _scheduler, _watch
from ._errors import Interruption, bomb
from ._scheduler import Scheduler, Task, Waiter, get_scheduler
from ._task import NOWAKE, remember

__all__ = [
    "NOQUEUE",
    "HandOff",
    "defer_throw",
    "get_channel_callback",
    "own_truth",
    "raise_deferred",
    "set_channel_callback",
    "take_deferred",
]

_NOWAKE = NOWAKE

ChannelCallback = Callable[[Any, Any, bool, bool], object]
_channel_callback: ChannelCallback | None = None
#: Non-None while a channel callback or a schedule callback is set: the fast
#: paths then leave every operation to the general ones, which call them,
#: and so need not test for a schedule callback at each switch. Also while
#: a deferred exception waits, or a tasklet class with a truth value of its
#: own exists (see ``own_truth``).
_watched: object | None = None


#: Exceptions a tasklet raises at its next channel action, before the
#: action: a throw (a kill) found the tasklet's last operation completed,
#: let it return from it, and awaits it at its next action (see
#: ``Tasklet.throw``). While any waits, the fast paths leave every action to
#: the general ones, which raise it (``raise_deferred``).
deferred: dict[Task, BaseException] = {}


#: The tasklet classes (subclasses of ``stackless.tasklet``) that define
#: ``__bool__`` or ``__len__``, by id, each as a weak reference whose
#: callback forgets it. The fast paths test a waiter queue for emptiness
#: by its truth value, and a queue may be a single waiting tasklet: one
#: that is false would be taken for nobody waiting. While such a class
#: exists, the fast paths are off, and the general paths, which keep every
#: waiter in a deque, take every action; so no such tasklet is ever a
#: single waiter, and the truth tests (on a deque, NOQUEUE or a tasklet of
#: a class without a truth value of its own) stay free for everyone else.
_truthy: dict[int, weakref.ref[type]] = {}


def own_truth(cls: type) -> None:
    """``cls``, a tasklet class, has a truth value of its own: take every
    channel action off the fast paths until it is collected. Does not
    switch."""
    remember(_truthy, cls, _rewatch)


def _rewatch() -> None:
    global _watched
    _watched = _channel_callback
    if _watched is None:
        _watched = _watch.gate
    if _watched is None and deferred:
        _watched = deferred
    if _watched is None and _truthy:
        _watched = _truthy


_watch.gate_listeners.append(_rewatch)
_rewatch()


def defer_throw(t: Task, exc: BaseException) -> None:
    """Have ``t`` raise ``exc`` at its next channel action. Does not switch."""
    deferred[t] = exc
    _rewatch()


def take_deferred(t: Task) -> bool:
    """Forget ``t``'s deferred exception; True if it had not raised it yet.
    Does not switch."""
    waiting = deferred.pop(t, None) is not None
    _rewatch()
    return waiting


def raise_deferred(cur: Task) -> None:
    """At a channel action of ``cur``, before it: raise the exception
    deferred for it, if any, unless it is an interruption whose block
    ``cur`` has left meanwhile (a timeout scope it exited). Does not
    switch."""
    exc = deferred.pop(cur, None)
    if exc is not None:
        _rewatch()
        if isinstance(exc, Interruption) and not exc.aimed():
            return
        raise exc


def set_channel_callback(callback: ChannelCallback | None) -> ChannelCallback | None:
    """Call ``callback(channel, tasklet, sending, willblock)`` before every
    channel action; return the old callback."""
    global _channel_callback
    if callback is not None and not callable(callback):
        raise TypeError(f"channel callback must be callable or None, got {callback!r}")
    old, _channel_callback = _channel_callback, callback
    _rewatch()
    return old


def get_channel_callback() -> ChannelCallback | None:
    """The current channel callback, or None."""
    return _channel_callback


#: The waiter queue of a channel with nobody waiting that way: empty,
#: immutable and shared. One waiter is held as itself, two or more in a
#: deque (each deque costs ~760 bytes; most channels never need one).
NOQUEUE: deque[Any] = ()  # type: ignore[assignment]


def _pop_own(q: deque[Any]) -> Any:
    """Take the first waiter out of waiter deque ``q`` and return it, if it
    is a tasklet waiting plainly whose scheduler is this thread's (tested as
    in ``HandOff.send``); else leave it and return None: the general path
    deals with a select's ``Waiter``, and refuses another thread's tasklet.
    Does not switch."""
    t = q[0]
    if type(t) is Waiter or t._sched.current._gr is not getcurrent():
        return None
    q.popleft()
    return t


def _pop_plain(q: deque[Any]) -> Any:
    """Take the first waiter out of waiter deque ``q`` and return it, if it
    is a tasklet waiting plainly; if it is a select's ``Waiter``, leave it
    and return None (the general path deals with selects). Does not switch."""
    t = q[0]
    if type(t) is Waiter:
        return None
    q.popleft()
    return t


class HandOff:
    """The hand-off between tasklets at a channel: its hottest paths.

    ``Channel`` derives from this and holds everything else. These two
    methods live here because they switch greenlets, which only this module
    does, and because they inline :meth:`Scheduler.park`: in a ping-pong the
    call alone costs about 8% of a message. They handle the default
    rendezvous channel (``_fast``: no buffer, preference -1, no
    ``schedule_all``, not closed) with plain waiters and no callbacks set;
    anything else goes to the channel's general ``_send``/``_receive``.
    """

    __slots__ = ("__weakref__", "_fast", "_receivers", "_senders", "_single")
    #: Every wait on a channel raises a bomb it is woken with (see
    #: Tasklet.throw).
    _raises_bombs = True

    _fast: bool
    #: NOQUEUE, a single waiter, or a deque of them (see shoal._channel).
    _receivers: Any
    _senders: Any
    #: True while neither queue has ever been a deque: each is NOQUEUE or a
    #: single plain tasklet, so the fast paths need not look at its type (13
    #: bytecodes a hand-off). False for good from the first deque on: a
    #: second waiter, a select's waiter, a general path's ``_queue``.
    _single: bool

    def _send(self, s: Scheduler, cur: Task, value: Any) -> None:
        raise NotImplementedError

    def _receive(self, s: Scheduler, cur: Task) -> Any:
        raise NotImplementedError

    def _cancel(self, cur: Task) -> None:
        raise NotImplementedError

    def _unpark(self, t: Task) -> None:
        raise NotImplementedError

    def _describe(self, t: Task) -> str:
        raise NotImplementedError

    def _send_within(self, value: Any, timeout: float) -> None:
        raise NotImplementedError

    def _receive_within(self, timeout: float) -> Any:
        raise NotImplementedError

    def _send_anyhow(self, value: Any) -> None:
        """Send on the general path, which deals with every case. Switches.

        ``send``'s take path calls this rather than inlining it, so that its
        jump over that path stays within 255 instructions; ``receive``'s is
        short enough to inline."""
        s = get_scheduler()
        self._send(s, s.current, value)

    def send(self, value: Any, timeout: float | None = None) -> None:
        """Send ``value``; wait for a receiver (or buffer room) if need be.
        With ``timeout``, raise ``shoal.TimeoutError`` if that takes longer;
        then nothing was sent.

        Switches: to the receiver at once under the default preference, and
        to other tasklets whenever it has to wait.
        """
        # Every path ends in a return, and the general paths come first: a
        # jump over more than 255 instructions costs one more dispatch.
        if not self._fast or _watched is not None or timeout is not None:
            if timeout is not None:
                self._send_within(value, timeout)
                return
            s = get_scheduler()
            self._send(s, s.current, value)
            return
        rq = self._receivers
        if rq:
            # A receiver waits. Its scheduler is this thread's if its
            # current tasklet's greenlet is getcurrent() (see
            # _scheduler.hint); if not, another thread calls (refused) or
            # code in a greenlet of this tasklet's own: the general path
            # tells them apart, before anything changes. The common case
            # last, where it needs no jump.
            if not self._single and type(rq) is deque:
                t = _pop_own(rq)
                if t is None:  # a select waits, or as above
                    self._send_anyhow(value)
                    return
                s = t._sched
                cur = s.current
            else:
                t = rq
                s = t._sched
                cur = s.current
                if cur._gr is not getcurrent():
                    self._send_anyhow(value)
                    return
                self._receivers = NOQUEUE
            # Run the receiver now with the value; this tasklet goes to the
            # end of the run queue, its send done (_temp set: a kill lets it
            # return first). cur._gr is where it resumes: tested above.
            t._blocked_on = None
            cur._temp = None
            s.runq.append(cur)
            s.current = t
            t._gr.switch(value)
            return
        s = _scheduler.hint
        cur = s.current
        if cur._gr is not getcurrent():  # see _scheduler.hint
            s = get_scheduler()
            cur = s.current
            cur._gr = getcurrent()  # where cur resumes when it parks below
        runq = s.runq
        if not runq:
            self._send(s, cur, value)
            return
        # Wait for a receiver: Channel._wait and Scheduler.park, inlined (a
        # call costs ~8% of a message); keep in step.
        if cur is s.hubtask:
            raise s.refuse_hub_wait(f"sending on {self!r}")
        sq = self._senders
        if sq is not NOQUEUE:  # the common case last: no jump over the rest
            if type(sq) is deque:
                sq.append(cur)
            else:
                self._senders = deque((sq, cur))
                self._single = False
        else:
            self._senders = cur
        cur._temp = value
        cur._blocked_on = self
        nxt = runq.popleft()
        s.current = nxt
        gr = nxt._gr
        try:
            if gr is None:
                del nxt  # see Scheduler.start
                result = s.start()
            else:
                result = nxt._temp
                nxt._temp = _NOWAKE
                del nxt
                result = gr.switch(result)
        except BaseException:
            self._cancel(cur)
            raise
        if result is not None and type(result) is bomb:
            result.raise_()  # a completed send wakes with None

    def receive(self, timeout: float | None = None) -> Any:
        """Receive a value; wait for a sender if need be. With ``timeout``,
        raise ``shoal.TimeoutError`` if that takes longer; then nothing was
        taken.

        Switches whenever it has to wait, and to the sender at once when the
        preference is 1.
        """
        # Laid out as send() is.
        if not self._fast or _watched is not None or timeout is not None:
            if timeout is not None:
                return self._receive_within(timeout)
            s = get_scheduler()
            return self._receive(s, s.current)
        sq = self._senders
        if sq:
            if not self._single:
                if type(sq) is deque:
                    t = _pop_plain(sq)
                    if t is None:  # a select waits: the general path
                        s = get_scheduler()
                        return self._receive(s, s.current)
                else:
                    t = sq
                    self._senders = NOQUEUE
            else:
                t = sq
                self._senders = NOQUEUE
            # A sender waits: take its value; it goes to the end of the run
            # queue of its scheduler, and this tasklet carries on. Unlike
            # send(), this path does not check that the sender's scheduler
            # is this thread's: a sound test needs getcurrent() (the
            # general paths check), which would cost a ping-pong message 7%
            # (see "Channels" in docs/design.md).
            value = t._temp
            t._temp = None
            t._blocked_on = None
            t._sched.runq.append(t)
            if type(value) is bomb:
                value.raise_()
            return value
        s = _scheduler.hint
        cur = s.current
        if cur._gr is not getcurrent():  # see _scheduler.hint
            s = get_scheduler()
            cur = s.current
            cur._gr = getcurrent()  # where cur resumes when it parks below
        runq = s.runq
        if not runq:
            return self._receive(s, cur)
        # Wait for a sender: as in send(), inlined.
        if cur is s.hubtask:
            raise s.refuse_hub_wait(f"receiving on {self!r}")
        rq = self._receivers
        if rq is not NOQUEUE:  # the common case last: no jump over the rest
            if type(rq) is deque:
                rq.append(cur)
            else:
                self._receivers = deque((rq, cur))
                self._single = False
        else:
            self._receivers = cur
        cur._blocked_on = self
        nxt = runq.popleft()
        s.current = nxt
        gr = nxt._gr
        try:
            if gr is None:
                del nxt  # see Scheduler.start
                value = s.start()
            else:
                value = nxt._temp
                nxt._temp = _NOWAKE
                del nxt
                value = gr.switch(value)
        except BaseException:
            self._cancel(cur)
            raise
        if type(value) is bomb:
            value.raise_()
        return value
