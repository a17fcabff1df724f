"""Waiting for a file descriptor to be ready: the hub's readers and writers.

``wait_readable``/``wait_writable`` park the current tasklet in the hub
(``loop.add_reader``/``add_writer``) until the descriptor is ready, with an
optional timeout. The loop keeps one reader and one writer per descriptor,
so callers that may share one (sockets) refuse a second waiter with
``BusyError`` before they get here.

Closing a descriptor that a tasklet waits on must first take it out of the
loop, and the waiter must hear of it: ``wait_fd`` takes a ``HubWait`` made
by the caller, which keeps it, and ``HubWait.abort`` ends such a wait with
an exception. ``Readiness`` says what a socket's waiter awaits, and
``busy_error`` is the error for a second one. ``send_file`` is
``socket.sendfile``'s ``os.sendfile`` path with a socket's own waits.
"""

from __future__ import annotations

import functools
import io
import os
import weakref
from collections.abc import Iterable
from typing import Any

from ._errors import BusyError
from ._hub import HubWait, get_hub, hub_wait
from ._scheduler import Task, get_scheduler

__all__ = [
    "Connecting",
    "Readiness",
    "busy_error",
    "new_wait",
    "send_file",
    "wait_any",
    "wait_fd",
    "wait_on",
    "wait_readable",
    "wait_writable",
]


def wait_readable(fd: int, timeout: float | None = None, what: str = "") -> None:
    """Wait until ``fd`` can be read without blocking; ``shoal.TimeoutError``
    after ``timeout``. Switches."""
    wait_fd(new_wait(what or f"fd {fd} to be readable"), fd, timeout, writing=False)


def wait_writable(fd: int, timeout: float | None = None, what: str = "") -> None:
    """Wait until ``fd`` can be written without blocking; ``shoal.TimeoutError``
    after ``timeout``. Switches."""
    wait_fd(new_wait(what or f"fd {fd} to be writable"), fd, timeout, writing=True)


def new_wait(what: object) -> HubWait:
    """A wait on this thread's hub for ``what`` (its str() is only formatted
    when shown). Does not switch."""
    return HubWait(get_hub(), what)


def wait_fd(wait: HubWait, fd: int, timeout: float | None, *, writing: bool) -> None:
    """Wait on ``wait`` (from :func:`new_wait`) until ``fd`` is readable, or
    writable; ``shoal.TimeoutError`` after ``timeout``. Switches."""
    fds = (fd,)
    wait_on(wait, () if writing else fds, fds if writing else (), timeout)


def wait_any(
    reads: Iterable[int], writes: Iterable[int], timeout: float | None, what: object
) -> int:
    """Wait until one of ``reads`` is readable or one of ``writes`` is
    writable; return that descriptor. ``shoal.TimeoutError`` after
    ``timeout``. Switches."""
    return wait_on(new_wait(what), reads, writes, timeout)


def wait_on(
    wait: HubWait, reads: Iterable[int], writes: Iterable[int], timeout: float | None
) -> int:
    """:func:`wait_any` on a ``HubWait`` the caller keeps (to abort it, see
    ``HubWait.abort``). Switches."""
    s = get_scheduler()
    loop, wake = wait.hub.loop, wait.hub.wake_if
    try:
        for fd in reads:
            loop.add_reader(fd, wake, s.current, wait, fd)
            wait.cancels.append(functools.partial(loop.remove_reader, fd))
        for fd in writes:
            loop.add_writer(fd, wake, s.current, wait, fd)
            wait.cancels.append(functools.partial(loop.remove_writer, fd))
    except BaseException:
        for cancel in wait.cancels:
            cancel()
        raise
    ready: int = hub_wait(s, wait, timeout)
    return ready


def busy_error(sock: Any, other: Task, writing: bool) -> BusyError:
    """The error for a second reader (writer) of ``sock``."""
    doing = "written" if writing else "read"
    return BusyError(f"{sock!r} is already being {doing} by {other!r}")


class Readiness:
    """What a socket's waiter awaits, formatted only when shown. It refers
    to the socket weakly: the socket keeps its reader's ``HubWait``, and a
    cycle would leave an unclosed socket to the cycle collector."""

    __slots__ = ("sock", "writing")

    def __init__(self, sock: Any, writing: bool) -> None:
        self.sock = weakref.ref(sock)
        self.writing = writing

    def __str__(self) -> str:
        what = "writable" if self.writing else "readable"
        return f"{self.sock()!r} to be {what}"


class Connecting(Readiness):
    """What a Unix-domain connect to a full backlog awaits between tries."""

    __slots__ = ()

    def __init__(self, sock: Any) -> None:
        super().__init__(sock, True)

    def __str__(self) -> str:
        return f"{self.sock()!r} to connect (the listener's backlog is full)"


#: The most one ``os.sendfile`` call is asked for (Linux sends at most
#: about 2 GiB a call, and some kernels fail above 2**31).
_SENDFILE_STEP = 2**30


def send_file(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """``sock.sendfile(file, offset, count)`` with the stdlib's results
    (what is sent, the count returned, the file's position afterwards) and
    ``sock``'s own waits: ``os.sendfile`` from ``offset`` on, whatever the
    file's position, which is then put after the last byte sent; the
    stdlib's ``send()`` path where ``os.sendfile`` cannot serve (no such
    call, not a file it reads, or its first call fails). Switches while it
    waits."""
    sock._check_sendfile_params(file, offset, count)
    try:
        source = file.fileno()
        size = os.fstat(source).st_size
    except (AttributeError, io.UnsupportedOperation, OSError):
        source = None
    if source is None or not hasattr(os, "sendfile"):
        return _by_send(sock, file, offset, count)
    if size == 0:
        return 0  # the stdlib's answer, even for a non-blocking socket
    if sock.gettimeout() == 0:
        raise ValueError("non-blocking sockets are not supported")
    target = sock.fileno()
    done = 0
    try:
        while count is None or done < count:
            step = min(_SENDFILE_STEP, size if count is None else count - done)
            # The waits are out of the handlers: what ends one would carry
            # the error as its __context__ (and keep its frames).
            n: int | None = None
            refused = False
            try:
                n = os.sendfile(target, source, offset + done, step)
            except BlockingIOError:
                pass
            except OSError:
                if done:
                    raise
                refused = True
            if refused:
                return _by_send(sock, file, offset, count)  # nothing sent yet
            if n is None:
                sock._wait_writable(sock.gettimeout())
                continue
            if n == 0:
                break  # the end of the file
            done += n
    finally:
        if done and hasattr(file, "seek"):
            file.seek(offset + done)
    return done


def _by_send(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """The stdlib's ``send()`` path of ``sendfile``, through ``sock``'s own
    cooperative ``send``. Switches while it waits."""
    n: int = sock._sendfile_use_send(file, offset, count)
    return n
