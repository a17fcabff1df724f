"""The Stackless channel for ``shoal.stackless``, and its channel callback.

``channel`` is a ``shoal.Channel`` with Stackless's close semantics (closing
wakes nobody; an action that would block on a closing channel raises
ValueError) and extras (``queue``, ``send_throw``, ``send_sequence``).
Stackless's channel callback and ``block_trap`` share one shoal channel
callback, installed only while one of them is in use, because any channel
callback takes every channel action off the fast path.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from . import _handoff
from ._channel import Channel
from ._errors import ChannelClosed, bomb, is_exception_class
from ._select import _Select
from ._task import Task

__all__ = [
    "LAST",
    "ChannelCallback",
    "chain_of",
    "channel",
    "get_channel_callback",
    "install_channel_callback",
    "is_trapped",
    "linked",
    "make_bomb",
    "set_channel_callback",
    "trapped",
    "waiting",
]

#: The Stackless message for the last runnable tasklet trying to block.
LAST = "Deadlock: the last runnable tasklet cannot be blocked."


def make_bomb(exc: Any, val: Any = None, tb: Any = None) -> bomb:
    """A bomb with the semantics of ``raise`` (``throw``, ``send_throw``)."""
    if isinstance(exc, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        return bomb(type(exc), exc, tb)
    if not (isinstance(exc, type) and issubclass(exc, BaseException)):
        raise TypeError(f"exceptions must derive from BaseException, not {exc!r}")
    if not isinstance(val, exc):
        val = (
            exc() if val is None else exc(*val) if isinstance(val, tuple) else exc(val)
        )
    return bomb(exc, val, tb)


def waiting(ch: Channel, senders: bool) -> list[Task]:
    """The tasklets waiting to send (or receive) on ``ch``, first served first."""
    chain = []
    for w in ch._waiters(senders):
        t = w if isinstance(w, Task) else w.select.tasklet
        if t is not None:
            chain.append(t)
    return chain


def linked(ch: Channel, senders: bool) -> list[Task]:
    """The chain that ``next`` and ``prev`` walk in ``ch``'s queue of waiting
    senders (or receivers), first served first: its waiters, except that a
    tasklet in ``select`` is linked only into the queue of its first case
    (docs/stackless.md, section 2). Does not switch."""
    chain = []
    for w in ch._waiters(senders):
        if isinstance(w, Task):
            chain.append(w)
        else:
            sel = w.select
            t = sel.tasklet
            if t is not None and sel.waiters[0] is w:
                chain.append(t)
    return chain


def chain_of(t: Task) -> list[Task] | None:
    """The chain of waiters that blocked tasklet ``t`` is linked into (see
    :func:`linked`), or None if it waits on no channel. Does not switch."""
    on = t._blocked_on
    if isinstance(on, Channel):
        return linked(on, on._is_sending(t))
    if isinstance(on, _Select) and on.tasklet is t and on.waiters:
        home = on.waiters[0]
        return linked(home.channel, home.is_send)
    return None


class _ClosedChannelError(ChannelClosed, ValueError):
    """A Stackless channel action that would block on a closing channel."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Send/receive operation on a closed channel ({detail})")


class channel(Channel):  # noqa: N801 - the Stackless name
    """A Stackless channel: rendezvous, preference -1 (the receiver runs at
    once), and ``close()`` wakes nobody."""

    __slots__ = ()

    _closed_error = _ClosedChannelError

    def __new__(cls, *args: Any, **kwargs: Any) -> channel:
        # As C's tp_new, which sets everything up and ignores its
        # arguments: a subclass whose __init__ does not call this class's
        # (stacklesslib's qchannel) gets a whole channel.
        self = super().__new__(cls)
        Channel.__init__(self, 0)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Everything is done in ``__new__``, as in C Stackless; arguments
        are ignored, as there."""

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        """C Stackless pickles a channel with its waiters; shoal's are live
        greenlets (docs/stackless.md, section 11)."""
        raise NotImplementedError(f"greenlet cannot pickle or copy {self!r}")

    @property
    def queue(self) -> Any:
        """The first waiting tasklet, or None."""
        chain = waiting(self, self.balance > 0)
        return chain[0] if chain else None

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called (and not reopened)."""
        return self._closing

    @property
    def closed(self) -> bool:
        """Closing, and nobody is waiting any more."""
        return self._closing and self.balance == 0

    def close(self) -> None:
        """From now on an action that would block raises ValueError; waiting
        tasklets stay blocked and can still be served. Does not switch."""
        self._closing = True
        self._update_switches()

    def open(self) -> None:
        """Undo :meth:`close`. Does not switch."""
        self._closing = False
        self._update_switches()

    @property
    def preference(self) -> int:
        """-1: prefer the receiver (default); 1: prefer the sender; 0: neither.
        Setting it clamps an integer to -1, 0 or 1."""
        return self._preference

    @preference.setter
    def preference(self, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError("preference must be set to an integer")  # C's message
        self._preference = (value > 0) - (value < 0)
        self._update_switches()

    @property  # type: ignore[override]  # an int, as in C
    def schedule_all(self) -> int:
        """1: every hand-off yields to the next runnable tasklet; else 0."""
        return int(self._schedule_all)

    @schedule_all.setter
    def schedule_all(self, value: int) -> None:
        if not isinstance(value, int):
            # C's message, "preference" and all (channelobject.c)
            raise TypeError("preference must be set to a bool or integer")
        self._schedule_all = bool(value)
        self._update_switches()

    def send_exception(self, exc_type: Any, *args: Any) -> None:
        """Send an exception: the receiver raises ``exc_type(*args)``. Anything
        but an exception class raises TypeError here, before anything is
        sent. Switches like :meth:`send`."""
        if not is_exception_class(exc_type):
            raise TypeError(
                "channel.send_exception needs an exception class as first"
                f" parameter, got {exc_type!r}"
            )
        super().send_exception(exc_type, *args)

    def send_throw(self, exc: Any, val: Any = None, tb: Any = None) -> None:
        """Send an exception with the semantics of ``raise``: the receiver
        raises it. Switches like :meth:`send`."""
        self.send(make_bomb(exc, val, tb))

    def send_sequence(self, values: Iterable[Any]) -> int:
        """Send each value in turn; return how many were sent. Switches."""
        n = 0
        for value in values:
            self.send(value)
            n += 1
        return n

    def __next__(self) -> Any:
        """Receive, or stop once the channel is closing and no sender waits.
        Switches like :meth:`receive`."""
        if self._closing and self.balance <= 0:
            raise StopIteration
        return self.receive()

    def _deadlock_message(self, t: Task, stranded: bool) -> str:
        if not stranded:
            return LAST
        if self._is_sending(t):
            return "the main tasklet is sending without a receiver available."
        return "the main tasklet is receiving without a sender available."


ChannelCallback = Callable[[Any, Any, int, int], object]
_channel_callback: ChannelCallback | None = None
#: Tasklets with ``block_trap`` set, by id: a ``WeakSet`` would compare them
#: with ``==``, which a subclass may define (see ``is_trapped``). Checking it
#: needs shoal's channel callback, which takes every channel action off its
#: fast path: install it only while some tasklet (or the user) needs it.
trapped: weakref.WeakValueDictionary[int, Task] = weakref.WeakValueDictionary()


def is_trapped(t: Task) -> bool:
    """Whether ``t`` has ``block_trap`` set. Does not switch."""
    return trapped.get(id(t)) is t


def set_channel_callback(callback: ChannelCallback | None) -> ChannelCallback | None:
    """Call ``callback(channel, tasklet, sending, willblock)`` (ints 1 or 0)
    before every channel action; return the previous one. Does not switch."""
    global _channel_callback
    if callback is not None and not callable(callback):
        raise TypeError(f"channel callback must be callable or None, got {callback!r}")
    old, _channel_callback = _channel_callback, callback
    install_channel_callback()
    return old


def get_channel_callback() -> ChannelCallback | None:
    """The current channel callback, or None."""
    return _channel_callback


def install_channel_callback() -> None:
    wanted = _channel_callback is not None or len(trapped) > 0
    _handoff.set_channel_callback(_on_channel_action if wanted else None)


def _on_channel_action(ch: Any, t: Any, sending: bool, willblock: bool) -> None:
    """shoal's channel callback: the user's callback, then ``block_trap``."""
    callback = _channel_callback
    if callback is not None:
        callback(ch, t, int(sending), int(willblock))
    if willblock and is_trapped(t):
        raise RuntimeError("this tasklet does not like to be blocked.")
