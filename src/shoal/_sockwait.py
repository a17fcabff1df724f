"""The waiting of ``shoal.socket.socket``: its base class, ``Waiting``, with the
socket's waits for readiness (a reader registered on the loop and kept
between reads, a writer waiting once), its timeouts within a call, the
pauses of the calls the loop cannot wait for (a Unix-domain connect to a
full backlog, a Unix datagram to a full receiver), and the wake-up of
whoever waits when the descriptor goes. ``shoal.socket`` has the calls.

``Waiting`` is a ``socket.socket`` with the slots of that state, and the
base of ``shoal.socket.socket``, which sets them.
"""

from __future__ import annotations

import errno as _errno
import socket as _stdlib
import threading as _threading
import time as _time
import weakref
from typing import Any

from ._errors import BusyError, ClosedFileError, bomb
from ._errors import TimeoutError as _TimeoutError
from ._hub import HubWait, get_hub, hub_wait
from ._io import (
    Connecting,
    Readiness,
    Sending,
    busy_error,
    new_wait,
    wait_fd,
)
from ._scheduler import Task, get_scheduler

__all__ = ["BACKOFF", "CONNECTING", "DONTWAIT", "Waiting", "closer"]

_AF_UNIX = getattr(_stdlib, "AF_UNIX", None)
#: A flag asking a call not to wait (BlockingIOError instead); 0 where the
#: system has none. A plain int: ``flags & MsgFlag`` would run enum's
#: Python ``__and__`` at every wait (+25% instructions per echoed message).
DONTWAIT = int(getattr(_stdlib, "MSG_DONTWAIT", 0))
#: What a first connect() returns while the connection goes on (EINTR:
#: it goes on asynchronously), or, for a Unix-domain socket, when the
#: listener's backlog is full (EAGAIN). Not EALREADY: a connect already
#: going on (one that timed out) raises it at once, as the stdlib's.
CONNECTING = (_errno.EINPROGRESS, _errno.EWOULDBLOCK, _errno.EAGAIN, _errno.EINTR)
#: The longest pause between two tries of a call that the loop cannot wait
#: for (a Unix-domain connect to a full backlog, a Unix datagram to a full
#: receiver; the first pause is 1 ms, each next one twice as long): how
#: late, at most, it notices that it can go on.
BACKOFF = 0.05


#: Per loop (weakly), which shoal socket (weakly) registered each descriptor's
#: reader, kept between reads (``Waiting._polled``): the loop has one reader
#: per descriptor, and two socket objects can share one (``socket(fileno=
#: a.fileno())``). Read and written only where a registration is made or
#: taken off (``_poll``, ``_unpoll``), never by a read that finds its
#: socket registered.
_REGISTERED: weakref.WeakKeyDictionary[Any, weakref.WeakValueDictionary[int, Waiting]]
_REGISTERED = weakref.WeakKeyDictionary()


def _forget(sock: Waiting, loop: Any, fd: int) -> bool:
    """Take ``sock`` off the record of ``loop``'s registrations, if it holds
    ``fd``'s: whether it did (the registration on the loop is still the
    socket's to take off). Does not switch."""
    owners = _REGISTERED.get(loop)
    if owners is None or owners.get(fd) is not sock:
        return False
    del owners[fd]
    return True


def _unpoll_there(loop: Any, fd: int) -> None:
    """In ``loop``'s own thread: take the reader of ``fd`` off it, unless a
    socket registered the number there since (see ``Waiting._poll``). A loop
    callback. Does not switch."""
    owners = _REGISTERED.get(loop)
    if (owners is None or owners.get(fd) is None) and not loop.is_closed():
        loop.remove_reader(fd)


def closer(task: Task) -> str:
    """Who closed (or detached) what ``task`` waits on, for its
    ``ClosedFileError``: "by another tasklet" of the same thread, or "by
    another thread". Does not switch."""
    if task._sched.thread_id == _threading.get_ident():
        return "by another tasklet"
    return "by another thread"


class Waiting(_stdlib.socket):
    """The waiting part of ``shoal.socket.socket``, its base (see the
    module); ``shoal.socket.socket.__init__`` sets the slots."""

    __slots__ = (
        "_drained",
        "_polled",
        "_reader",
        "_rwait",
        "_shoal_timeout",
        "_tls_made",
        "_unread",
        "_writer",
    )

    _shoal_timeout: float | None
    _reader: Task | None
    _rwait: HubWait | None
    _writer: tuple[Task, HubWait] | None
    _polled: Any
    _drained: object
    _unread: bytes | None

    def _wait_within(self, writing: bool, deadline: float | None) -> float | None:
        """Wait until the socket is writable (or readable), once, within the
        call's ``deadline``: None at the call's first wait, which reckons it
        from the socket's timeout (and leaves it None without one), so that
        wake-ups that find nothing (another consumer took it) do not start
        the timeout again. Returns the deadline; ``shoal.TimeoutError`` once
        it has passed. Switches."""
        timeout = self._shoal_timeout
        if timeout is not None:
            now = _time.monotonic()
            if deadline is None:
                deadline = now + timeout
            else:
                # A later wait of the call: what is left of its timeout. A
                # timeout names the socket's, as the first wait's does.
                left = deadline - now
                if left <= 0:
                    raise _TimeoutError(self._timed_out(writing))
                try:
                    self._wait_readable(left) if not writing else self._wait_writable(
                        left
                    )
                except _TimeoutError as exc:
                    exc.args = (self._timed_out(writing),)
                    raise
                return deadline
        if writing:
            self._wait_writable(timeout)
        else:
            self._wait_readable(timeout)
        return deadline

    def _timed_out(self, writing: bool) -> str:
        """The message of a call that ran out of the socket's timeout."""
        return f"{Readiness(self, writing)}: timed out after {self._shoal_timeout} s"

    def _wait_writable(self, timeout: float | None) -> None:
        """Wait until the socket is writable; ``shoal.TimeoutError`` after
        ``timeout``. Switches."""
        if self._writer is not None:
            self._check_busy(True)
        cur = get_scheduler().current
        wait = new_wait(Readiness(self, True))
        self._writer = (cur, wait)
        try:
            wait_fd(wait, self.fileno(), timeout, writing=True)
        finally:
            self._writer = None

    def _wait_readable(self, timeout: float | None) -> None:
        """Wait until the socket is readable; ``shoal.TimeoutError`` after
        ``timeout``. The reader stays registered
        after a wake (see :meth:`_readable`): a connection waits to read
        again and again, and each registration costs system calls; so does
        its ``HubWait``, which is reused. Switches."""
        s = get_scheduler()
        cur = s.current
        other = self._reader
        if other is not None and other is not cur:
            raise busy_error(self, other, writing=False)
        hub = s.hub or get_hub(s)
        wait = self._rwait
        if wait is None or wait.hub is not hub:
            wait = self._rwait = HubWait(hub, Readiness(self, False))
        self._reader = cur
        try:
            loop = hub.loop
            if self._polled is not loop:
                self._poll(loop)
            if timeout is not None:
                hub_wait(s, wait, timeout)
                return
            value = s.wait_in_hub(cur, wait)  # not hub_wait(): a frame less
            if type(value) is bomb:
                value.raise_()
        finally:
            self._reader = None

    def _check_busy(self, writing: bool) -> None:
        """Raise ``BusyError`` if another tasklet waits to write (or read)
        this socket: even a call that would not wait must not take the data
        that tasklet waits for, or put bytes inside its message. Callers test
        ``_reader`` (``_writer``) first, an attribute load; this is the rare
        case. Does not switch."""
        if writing:
            pair = self._writer
            other = None if pair is None else pair[0]
        else:
            other = self._reader
        if other is not None and other is not get_scheduler().current:
            raise busy_error(self, other, writing)

    def _readable(self) -> None:
        """A loop callback: the descriptor is readable. Wakes the reader, or,
        when nobody waits, stops watching until somebody does."""
        reader = self._reader
        if reader is None:
            if self._unread is None:  # else the next read takes those first
                self._drained = False  # the next read finds it at once
            self._unpoll()
            return
        wait: Any = self._rwait  # set whenever _reader is
        hub, cancels = wait.hub, wait.cancels
        if reader._blocked_on is not wait:
            return  # the wait was given up (a kill, a timeout)
        # Hub.wake_if, HubWait._unpark and ready, inlined: this is the
        # callback of every read that waited. Code here runs in the hub.
        if cancels:  # a timeout to take back
            for cancel in cancels:
                cancel()
            cancels.clear()
        if hub.waiting > 1:
            hub.waiting -= 1
        else:
            hub.drop_waiter()  # the last wait: its rare case
        reader._blocked_on = None
        reader._temp = None
        reader._sched.runq.append(reader)
        if not hub.flushing:
            hub.flushing = True
            hub.loop.call_soon(hub.call_flush)

    def _poll(self, loop: Any) -> None:
        """Register the reader on ``loop``, to stay (see :meth:`_readable`),
        and record it as the registration of the descriptor on that loop.
        The loop has one reader per descriptor: another shoal socket on the
        same descriptor (``socket(fileno=...)``) that had registered it is
        told its registration is gone (its next wait registers again), or,
        if a tasklet waits on it, this wait is ``BusyError``, as a second
        reader of one socket is. The rare path of :meth:`_wait_readable`:
        its caller, which sets ``_reader``, clears it. Does not switch."""
        fd = self.fileno()
        old = self._polled
        # An earlier hub's loop: forget it there. If it still runs (another
        # thread's), it takes the reader off in its own thread (loops are
        # not thread-safe), unless a socket registered the number there since.
        if old is not None and _forget(self, old, fd) and not old.is_closed():
            old.call_soon_threadsafe(_unpoll_there, old, fd)
        owners = _REGISTERED.get(loop)
        if owners is None:
            owners = _REGISTERED[loop] = weakref.WeakValueDictionary()
        other = owners.get(fd)
        if other is not None and other is not self:
            if other._polled is loop:
                reader = other._reader
                if reader is not None:
                    raise BusyError(
                        f"{self!r} cannot wait to read: its descriptor {fd} is"
                        f" already being read by {reader!r} through {other!r}"
                        " (the loop has one reader per descriptor)"
                    )
                other._polled = None  # its registration is replaced here
            # Whatever that socket registered may be stale (another object
            # closed the descriptor, and this one reuses its number): the
            # loop only swaps the callback of a descriptor it knows, and
            # would never watch this one. Take it off, then register.
            del owners[fd]
            loop.remove_reader(fd)
        loop.add_reader(fd, self._readable)
        owners[fd] = self
        self._polled = loop

    def _unpoll(self) -> None:
        """Take the reader's registration off the loop (before the descriptor
        is closed or handed on, its number free for reuse, or made
        non-blocking for asyncio's ``sock_*`` calls, which register it
        themselves). Only if it is still this socket's: another shoal
        socket on the descriptor may have registered it since (see
        :meth:`_poll`). The loop of another thread (the socket waited there,
        and is closed here) takes it off in its own thread, as in ``_poll``.
        Does not switch."""
        loop, self._polled = self._polled, None
        if loop is not None:
            fd = self.fileno()
            if _forget(self, loop, fd) and not loop.is_closed():
                hub = get_scheduler().hub
                if hub is not None and hub.loop is loop:
                    loop.remove_reader(fd)
                else:
                    loop.call_soon_threadsafe(_unpoll_there, loop, fd)

    def _let_go(self, done: str) -> None:
        """Before the descriptor goes (closed or detached): take it off the
        hub, and wake whoever waits on it, as the stdlib's cannot. A waiter
        in another thread's loop is woken in that thread, which takes its
        registrations off there (``HubWait.wake``); its ``ClosedFileError``
        says whether another tasklet or another thread ``done`` it
        (``closer``). Does not switch."""
        reader, writer = getattr(self, "_reader", None), getattr(self, "_writer", None)
        self._reader = self._writer = self._unread = None
        self._drained = False  # a read goes to the C call: EBADF
        waiters: list[tuple[Task, Any]] = []
        if reader is not None:
            waiters.append((reader, self._rwait))
        if writer is not None:
            waiters.append(writer)
        for task, wait in waiters:
            err = ClosedFileError(_errno.EBADF, f"{self!r} was {done} {closer(task)}")
            wait.abort(task, err)
        if getattr(self, "_polled", None) is not None:
            self._unpoll()

    def _retry(self, writing: bool, flags: int, op: Any, *args: Any) -> Any:
        """``op(*args)``, waiting for the socket whenever it would block, all
        within one timeout (see :meth:`_wait_within`). A non-blocking socket,
        or ``MSG_DONTWAIT`` in ``flags``, raises ``BlockingIOError`` instead,
        as the stdlib's do. Switches if it waits."""
        try:
            return op(*args)
        except BlockingIOError:
            if self._shoal_timeout == 0.0 or flags & DONTWAIT:
                raise
        return self._after_wait(writing, flags, None, op, *args)

    def _after_wait(
        self, writing: bool, flags: int, deadline: float | None, op: Any, *args: Any
    ) -> Any:
        """:meth:`_retry` after ``op`` just failed: wait, then try again,
        until it is done (``deadline``: the call's, if it waited before; an
        argument, not a keyword: a call with both ``*args`` and a keyword
        builds a dict). Call it after, not in, the handler of the
        ``BlockingIOError``: whatever ends the wait (a timeout, a kill)
        would carry that error as its ``__context__``, printed in its
        traceback and keeping its frames. Switches."""
        if self._shoal_timeout == 0.0 or flags & DONTWAIT:
            raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
        pause = 0.0
        while True:
            if pause:
                deadline = self._pause_within(pause, deadline, Sending(self))
            else:
                deadline = self._wait_within(writing, deadline)
            try:
                return op(*args)
            except BlockingIOError:
                pass
            if writing:
                # Writable, and yet it would block: an unconnected Unix
                # datagram socket to a full receiver, which the loop cannot
                # wait for. Pause and try again, as _connect_again.
                pause = min(2 * pause or 0.001, BACKOFF)

    def _connecting(self, address: Any, err: int) -> int:
        """Wait for a connect whose first try returned ``err`` (one of
        ``_CONNECTING``); its error number, 0 once connected.
        ``shoal.TimeoutError`` when the timeout runs out. Switches."""
        if err == _errno.EAGAIN and self.family == _AF_UNIX:
            return self._connect_again(address)
        self._wait_writable(self._shoal_timeout)
        err = self.getsockopt(_stdlib.SOL_SOCKET, _stdlib.SO_ERROR)
        return 0 if err == _errno.EISCONN else err

    def _connect_again(self, address: Any) -> int:
        """A Unix-domain connect found the listener's backlog full (EAGAIN):
        nothing is in progress, and the socket is writable meanwhile, so
        there is nothing to wait for on the loop. Try again after a pause
        (growing to ``BACKOFF``) until it connects, as the stdlib's
        blocking connect waits in the kernel; its error number, 0 once
        connected; ``shoal.TimeoutError`` once the socket's timeout has
        passed. Switches."""
        deadline = None
        pause = 0.001
        while True:
            deadline = self._pause_within(pause, deadline, Connecting(self))
            err = super().connect_ex(address)
            if err in (0, _errno.EISCONN):
                return 0
            if err != _errno.EAGAIN:
                return err
            pause = min(pause * 2, BACKOFF)

    def _pause_within(
        self, pause: float, deadline: float | None, what: Readiness
    ) -> float | None:
        """:meth:`_wait_within`, pausing ``pause`` seconds (less if the
        deadline comes first) instead of waiting for the socket, as
        :meth:`_pause` with ``what`` to show. Switches."""
        timeout = self._shoal_timeout
        if timeout is not None:
            now = _time.monotonic()
            if deadline is None:
                deadline = now + timeout
            if deadline - now <= 0:
                raise _TimeoutError(f"{what}: timed out after {timeout} s")
            pause = min(pause, deadline - now)
        self._pause(pause, what)
        return deadline

    def _pause(self, seconds: float, what: Readiness) -> None:
        """``shoal.sleep(seconds)`` as this socket's writer, awaiting
        ``what``: a second writer gets ``BusyError``, and closing the socket
        wakes it with ``ClosedFileError``. Switches."""
        if self._writer is not None:
            self._check_busy(True)
        s = get_scheduler()
        cur = s.current
        # A wait that nothing but its timeout (or a close) ends.
        wait = HubWait(s.hub or get_hub(s), what)
        self._writer = (cur, wait)
        try:
            hub_wait(s, wait, seconds)
        except _TimeoutError:
            pass  # the pause is over
        finally:
            self._writer = None
