"""Synchronisation between tasklets: ``Event``, ``Lock``, ``Semaphore``, ``Queue``.

Design
------
Every primitive keeps its waiting tasklets in ``_Waiters``, a FIFO deque that
is also what they are blocked on (the ``Waitable``: a kill or a timeout takes
a waiter out). Releasing a lock or a semaphore hands it to the first waiter
directly, so a newcomer cannot barge in and a woken waiter never retries;
``Queue.get`` takes the item of the first waiting putter into the queue, as a
buffered channel does. A blocked putter keeps its item in ``_temp``, like a
channel's sender. ``timeout=`` raises ``shoal.TimeoutError`` and the
operation has not happened; the ``*_nowait`` forms raise ``WouldBlock``.

A kill that found the tasklet's last operation completed is raised at its
next one, before it, as at a channel action (``_deferred``): the waits, the
acquires, ``get`` and ``put``; giving back (``release``, ``set``,
``task_done``) never raises it, so a ``with`` block always releases.
"""

from __future__ import annotations

import operator
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _handoff
from ._errors import WouldBlock
from ._hub import ready
from ._scheduler import Task, get_scheduler
from ._task import named
from ._timeouts import check as _check
from ._timeouts import with_timeout

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Event", "Lock", "Queue", "Semaphore"]


def _deferred() -> None:
    """Raise a kill deferred to this tasklet's next action (see
    ``_handoff.deferred``); callers test ``_handoff.deferred`` first, a
    dict that is empty but while a kill waits. Does not switch."""
    _handoff.raise_deferred(get_scheduler().current)


def _count(what: str, value: int) -> int:
    """``value`` as an int >= 0, or a TypeError/ValueError naming it."""
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")
    return n


class _Waiters:
    """Tasklets waiting on one primitive, first come first served."""

    __slots__ = ("owner", "q", "verb")
    _raises_bombs = True  # see Tasklet.throw

    def __init__(self, owner: object, verb: str) -> None:
        self.owner = owner
        self.verb = verb
        self.q: deque[Task] = deque()

    def wait(self, payload: Any = None) -> Any:
        """Park the current tasklet here until ``wake``; return the wake value.
        ``payload`` stays in its ``_temp`` meanwhile. Switches."""
        s = get_scheduler()
        cur = s.current
        cur._temp = payload
        self.q.append(cur)
        return s.block(cur, self)

    def pop(self) -> Task:
        """Take the first waiter out (the caller wakes it with ``ready``)."""
        return self.q.popleft()

    def wake(self, value: Any = None) -> bool:
        """Wake the first waiter with ``value``; False if there is none."""
        if not self.q:
            return False
        ready(self.q.popleft(), value)
        return True

    def _unpark(self, t: Task) -> None:
        self.q.remove(t)

    def _describe(self, t: Task) -> str:
        return f"{self.verb} {self.owner!r}"


class _Held:
    """``with x:`` acquires on entry and releases on exit (Lock, Semaphore)."""

    __slots__ = ()

    def acquire(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Event:
    """A flag tasklets can wait for. Nothing here switches but ``wait``."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters = _Waiters(self, "waiting for")

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter (in the order they came)."""
        self._flag = True
        while self._waiters.wake():
            pass

    def clear(self) -> None:
        """Reset the flag."""
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set; True (as ``threading.Event.wait``
        returns). With ``timeout``, ``shoal.TimeoutError`` if it was not set
        in time. Switches unless it is set already."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        if not self._flag:
            with_timeout(timeout, self._waiters.wait)
        return True

    def __repr__(self) -> str:
        return (
            f"<Event {'set' if self._flag else 'unset'} waiting={len(self._waiters.q)}>"
        )


class Semaphore(_Held):
    """A counter of free units; ``acquire`` waits for one, FIFO."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: int = 1) -> None:
        value = _count("Semaphore value", value)
        self._value = value
        self._waiters = _Waiters(self, "acquiring")

    @property
    def value(self) -> int:
        """How many units are free."""
        return self._value

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a unit, waiting for one if need be; True. With ``timeout``,
        ``shoal.TimeoutError`` if none came in time. Switches if it waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        if self._value > 0:
            self._value -= 1
        else:
            with_timeout(timeout, self._waiters.wait)
        return True

    def acquire_nowait(self) -> None:
        """Take a unit now or raise ``WouldBlock``. Does not switch."""
        if _handoff.deferred:
            _deferred()
        if self._value <= 0:
            raise WouldBlock(f"{self!r} has no free unit")
        self._value -= 1

    def release(self) -> None:
        """Give a unit back: to the first waiter, if any. Does not switch."""
        if not self._waiters.wake():
            self._value += 1

    def __repr__(self) -> str:
        waiting = len(self._waiters.q)
        return f"<{type(self).__name__} value={self._value} waiting={waiting}>"


class Lock(_Held):
    """A mutual exclusion lock owned by one tasklet at a time, FIFO."""

    __slots__ = ("_owner", "_waiters")

    def __init__(self) -> None:
        self._owner: Task | None = None
        self._waiters = _Waiters(self, "acquiring")

    def locked(self) -> bool:
        """Whether some tasklet holds the lock."""
        return self._owner is not None

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock, waiting if another tasklet holds it; True. With
        ``timeout``, ``shoal.TimeoutError`` if it did not come in time.
        Switches if it waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        cur = get_scheduler().current
        if self._owner is None:
            self._owner = cur
        elif self._owner is cur:
            raise RuntimeError(f"{self!r} is already held by {cur!r} (not reentrant)")
        else:
            with_timeout(timeout, self._waiters.wait)  # released to us
        return True

    def acquire_nowait(self) -> None:
        """Take the lock now or raise ``WouldBlock``. Does not switch."""
        if _handoff.deferred:
            _deferred()
        if self._owner is not None:
            raise WouldBlock(f"{self!r} is held")
        self._owner = get_scheduler().current

    def release(self) -> None:
        """Release the lock: to the first waiter, if any. Only its holder may.
        Does not switch."""
        cur = get_scheduler().current
        if self._owner is not cur:
            raise RuntimeError(f"{self!r} released by {cur!r}, which does not hold it")
        waiters = self._waiters
        if waiters.q:
            nxt = waiters.pop()
            self._owner = nxt
            ready(nxt, None)
        else:
            self._owner = None

    def __repr__(self) -> str:
        owner = self._owner
        if owner is None:
            return "<Lock free>"
        # The holder by name: its repr says what it waits for (see named).
        return f"<Lock held by {named(owner)}>"


class Queue:
    """A FIFO queue between tasklets; ``maxsize=0`` means unbounded."""

    __slots__ = ("_getters", "_items", "_joiners", "_putters", "_unfinished", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        maxsize = _count("Queue maxsize", maxsize)
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._getters = _Waiters(self, "getting from")
        self._putters = _Waiters(self, "putting into")
        self._joiners = _Waiters(self, "joining")
        self._unfinished = 0

    def qsize(self) -> int:
        """How many items are queued."""
        return len(self._items)

    def empty(self) -> bool:
        """Whether no item is queued."""
        return not self._items

    def full(self) -> bool:
        """Whether a put would have to wait."""
        return 0 < self.maxsize <= len(self._items)

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Queue ``item``, waiting for room if the queue is full. With
        ``timeout``, ``shoal.TimeoutError`` and the item was not queued.
        Switches if it waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        if not self._put_now(item):
            with_timeout(timeout, self._putters.wait, item)

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` now or raise ``WouldBlock``. Does not switch."""
        if _handoff.deferred:
            _deferred()
        if not self._put_now(item):
            raise WouldBlock(f"{self!r} is full")

    def _put_now(self, item: Any) -> bool:
        self._unfinished += 1
        if self._getters.q:  # empty, and somebody waits: hand it over
            ready(self._getters.pop(), item)
            return True
        if not self.full():
            self._items.append(item)
            return True
        self._unfinished -= 1
        return False

    def get(self, timeout: float | None = None) -> Any:
        """Take the oldest item, waiting for one if need be. With
        ``timeout``, ``shoal.TimeoutError`` and nothing was taken. Switches
        if it waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        if self._items:
            return self._take()
        return with_timeout(timeout, self._getters.wait)

    def get_nowait(self) -> Any:
        """Take the oldest item now or raise ``WouldBlock``. Does not switch."""
        if _handoff.deferred:
            _deferred()
        if not self._items:
            raise WouldBlock(f"{self!r} is empty")
        return self._take()

    def _take(self) -> Any:
        item = self._items.popleft()
        if self._putters.q:  # room came free: the first waiting put happens
            putter = self._putters.pop()
            self._items.append(putter._temp)
            self._unfinished += 1
            ready(putter, None)
        return item

    def task_done(self) -> None:
        """One item taken earlier is fully processed. Does not switch."""
        if self._unfinished <= 0:
            raise ValueError(
                f"task_done() called more times than items were put in {self!r}"
            )
        self._unfinished -= 1
        if not self._unfinished:
            while self._joiners.wake():
                pass

    def join(self, timeout: float | None = None) -> None:
        """Wait until every item put has been marked done. Switches if it
        waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        if self._unfinished:
            with_timeout(timeout, self._joiners.wait)

    def __repr__(self) -> str:
        size = f"/{self.maxsize}" if self.maxsize else ""
        return f"<Queue {len(self._items)}{size} unfinished={self._unfinished}>"
