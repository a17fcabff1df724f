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


def send_file(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """``sock.sendfile(file, offset, count)`` as the stdlib's does it, with
    ``sock``'s own waits: ``os.sendfile`` where it can, else the stdlib's
    ``send()`` path (``_sendfile_use_send``). Switches while it waits."""
    try:
        return _use_sendfile(sock, file, offset, count)
    except _Unusable:
        n: int = sock._sendfile_use_send(file, offset, count)
        return n


class _Unusable(Exception):  # noqa: N818 - a signal, not an error
    """``os.sendfile`` cannot send this file: the stdlib falls back."""


def _use_sendfile(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """CPython's ``socket._sendfile_use_sendfile``, step for step (what it
    sends, returns and leaves as the file's position, for every offset and
    count), with ``sock._wait_writable`` for its selector: ``os.sendfile``
    from ``offset`` on, whatever the file's position; then the file is put
    after the last byte sent, if any was. ``_Unusable`` where the stdlib
    falls back to ``send()`` (no ``os.sendfile``, not a regular file, or
    its first call fails). Switches while it waits."""
    sock._check_sendfile_params(file, offset, count)
    if not hasattr(os, "sendfile"):  # pragma: no cover - not on Linux
        raise _Unusable("os.sendfile() not available on this platform")
    try:
        fileno = file.fileno()
        fsize = os.fstat(fileno).st_size
    except (AttributeError, io.UnsupportedOperation, OSError) as err:
        raise _Unusable(err) from None
    if not fsize:
        return 0  # as the stdlib's: before the non-blocking check
    if sock.gettimeout() == 0:
        raise ValueError("non-blocking sockets are not supported")
    sockno = sock.fileno()
    blocksize = min(count or fsize, 2**30)  # bpo-38319
    total = 0
    try:
        while True:
            if count:
                blocksize = count - total
                if blocksize <= 0:
                    break
            try:
                sent = os.sendfile(sockno, fileno, offset, blocksize)
            except BlockingIOError:
                sock._wait_writable(sock.gettimeout())
                continue
            except OSError as err:
                if total == 0:
                    raise _Unusable(err) from None
                raise
            if sent == 0:
                break  # the end of the file
            offset += sent
            total += sent
        return total
    finally:
        if total > 0 and hasattr(file, "seek"):
            file.seek(offset)
