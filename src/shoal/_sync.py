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

Threads: the primitives belong to the tasklets of one thread, as channels
do, and are not thread-safe (nor are asyncio's). A call that would wake a
tasklet of another thread than the caller's (a ``set``, ``release``,
``put``, ``get`` or ``task_done`` that finds a waiter), or wait for a lock
held by one, raises ``RuntimeError`` naming the primitive and both threads,
before anything changes: the waiter still waits and can be woken from its
own thread. The test runs only before a wake (``_Waiters.pop``,
``_Waiters.check_all``): nobody waiting costs nothing. A call from another
thread that wakes nobody (``set`` with no waiter, ``put_nowait`` with no
getter) is not checked and changes the state as it would in the
primitive's thread; it is not a way to signal between threads (whether it
finds a waiter is a race). Between threads use ``shoal.to_thread``,
``shoal.wait_future`` or a ``queue.Queue``.
"""

from __future__ import annotations

import operator
import threading
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from . import _handoff
from ._errors import WouldBlock
from ._hub import ready
from ._scheduler import Task, get_scheduler, getcurrent
from ._task import drop, named
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


def _foreign(owner: object, t: Task, doing: str) -> RuntimeError:
    """The error for a call that would wake (or wait for) ``t``, a tasklet
    of another thread ``doing`` ``owner``."""
    return RuntimeError(
        f"{owner!r} belongs to tasklets of another thread ({t!r} {doing} it"
        f" in thread {t._sched.thread_id}, this is thread {threading.get_ident()}):"
        " shoal's Event, Lock, Semaphore and Queue cannot be shared between"
        " threads; to hand values between threads use shoal.to_thread,"
        " shoal.wait_future or a queue.Queue"
    )


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
        """Take the first waiter out (there is one; the caller wakes it with
        ``ready``). RuntimeError, changing nothing, if it is a tasklet of
        another thread than the caller's. Does not switch.

        The current tasklet of the waiter's scheduler running in
        ``getcurrent()`` proves the waiter this thread's (a greenlet belongs
        to one thread), as on a channel's send fast path; otherwise the
        thread's scheduler decides. ~600 instructions a wake (callgrind)."""
        t = self.q.popleft()
        s = t._sched
        if s.current._gr is not getcurrent() and s is not get_scheduler():
            self.q.appendleft(t)  # back in its place, before anyone sees
            raise _foreign(self.owner, t, "waits on")
        return t

    def check_all(self) -> None:
        """Raise RuntimeError, changing nothing, if any waiter (there is one)
        is a tasklet of another thread than the caller's, who is about to
        wake them all (with ``wake``). Does not switch."""
        q = self.q
        t = q[0]
        s = t._sched  # as in pop; then every other waiter must be of s
        if s.current._gr is not getcurrent() and s is not get_scheduler():
            raise _foreign(self.owner, t, "waits on")
        if len(q) > 1:
            for t in q:
                if t._sched is not s:
                    raise _foreign(self.owner, t, "waits on")

    def wake(self, value: Any = None) -> bool:
        """Wake the first waiter with ``value``; False if there is none.
        Unchecked: after ``check_all``."""
        if not self.q:
            return False
        ready(self.q.popleft(), value)
        return True

    def _unpark(self, t: Task) -> None:
        drop(self.q, t)  # by identity: a stackless subclass may define ==

    def _describe(self, t: Task) -> str:
        return f"{self.verb} {self.owner!r}"

    def _timeout_doing(self) -> str:
        """What a wait here does, for its timeout's message."""
        return f"{self.verb} {self.owner!r}"


class _Uncopyable:
    """A primitive cannot be copied or pickled: its waiters are live
    tasklets, and a copy would share its queues (setting a copied Event
    woke the original's waiters; releasing a copied Lock gave the original
    to a second holder), as ``threading``'s refuse."""

    __slots__ = ()

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"cannot copy or pickle {self!r}")


class _Held(_Uncopyable):
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


class Event(_Uncopyable):
    """A flag tasklets can wait for. Nothing here switches but ``wait``.

    Not thread-safe: use it from the tasklets of one thread. ``set`` from
    another thread raises ``RuntimeError``, changing nothing, if a tasklet
    waits; with no waiter it is not checked (see the module's docstring)."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters = _Waiters(self, "waiting for")

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter (in the order they came).
        ``RuntimeError``, the flag left unset, if a waiter is a tasklet of
        another thread than the caller's. Does not switch."""
        waiters = self._waiters
        if waiters.q:
            waiters.check_all()
        self._flag = True
        while waiters.wake():
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
    """A counter of free units; ``acquire`` waits for one, FIFO.

    Not thread-safe: use it from the tasklets of one thread. ``release``
    from another thread raises ``RuntimeError``, changing nothing, if a
    tasklet waits; with no waiter it is not checked (see the module's
    docstring)."""

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
        """Give a unit back: to the first waiter, if any; ``RuntimeError``,
        changing nothing, if that is a tasklet of another thread than the
        caller's. Does not switch."""
        waiters = self._waiters
        if waiters.q:
            ready(waiters.pop(), None)
        else:
            self._value += 1

    def __repr__(self) -> str:
        waiting = len(self._waiters.q)
        return f"<{type(self).__name__} value={self._value} waiting={waiting}>"


class Lock(_Held):
    """A mutual exclusion lock owned by one tasklet at a time, FIFO.

    Not thread-safe: use it from the tasklets of one thread. Waiting for a
    lock held by a tasklet of another thread, or releasing one, raises
    ``RuntimeError`` naming both threads, changing nothing. So every waiter
    is a tasklet of the holder's thread, and ``release`` hands the lock over
    within it."""

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
        ``RuntimeError``, without waiting, if a tasklet of another thread
        holds it. Switches if it waits."""
        if timeout is not None:
            _check(timeout)
        if _handoff.deferred:
            _deferred()
        s = get_scheduler()
        cur = s.current
        owner = self._owner
        if owner is None:
            self._owner = cur
        elif owner is cur:
            raise RuntimeError(f"{self!r} is already held by {cur!r} (not reentrant)")
        elif owner._sched is not s:  # only its thread could hand it to us
            raise _foreign(self, owner, "holds")
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
        """Release the lock: to the first waiter, if any. Only its holder may
        (``RuntimeError``, which names both threads when the holder is
        another thread's). Does not switch."""
        s = get_scheduler()
        cur = s.current
        owner = self._owner
        if owner is not cur:
            if owner is not None and owner._sched is not s:
                raise _foreign(self, owner, "holds")
            raise RuntimeError(f"{self!r} released by {cur!r}, which does not hold it")
        # Every waiter is of the holder's thread, this one (see acquire).
        waiters = self._waiters
        if waiters.q:
            nxt = waiters.q.popleft()
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


class Queue(_Uncopyable):
    """A FIFO queue between tasklets; ``maxsize=0`` means unbounded.

    Not thread-safe: use it from the tasklets of one thread. A ``put``,
    ``get`` or ``task_done`` from another thread that would wake a waiting
    tasklet raises ``RuntimeError``, changing nothing; one that wakes nobody
    is not checked (see the module's docstring)."""

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
        """Queue ``item`` or hand it to a waiting getter; False if full.
        RuntimeError, changing nothing, if that getter is another thread's."""
        if self._getters.q:  # empty, and somebody waits: hand it over
            getter = self._getters.pop()
            self._unfinished += 1
            ready(getter, item)
            return True
        if not self.full():
            self._unfinished += 1
            self._items.append(item)
            return True
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
        """Take the oldest item (there is one); a waiting putter's item takes
        its place. RuntimeError, changing nothing, if that putter is another
        thread's."""
        if self._putters.q:  # room comes free: the first waiting put happens
            putter = self._putters.pop()
            item = self._items.popleft()
            self._items.append(putter._temp)
            self._unfinished += 1
            ready(putter, None)
            return item
        return self._items.popleft()

    def task_done(self) -> None:
        """One item taken earlier is fully processed: at the last, wake every
        joiner (``RuntimeError``, changing nothing, if one is a tasklet of
        another thread than the caller's). Does not switch."""
        if self._unfinished <= 0:
            raise ValueError(
                f"task_done() called more times than items were put in {self!r}"
            )
        if self._unfinished == 1 and self._joiners.q:
            self._joiners.check_all()
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
