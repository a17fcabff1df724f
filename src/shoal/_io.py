"""Waiting for a file descriptor to be ready: the hub's readers and writers.

``wait_readable``/``wait_writable`` park the current tasklet in the hub
(``loop.add_reader``/``add_writer``) until the descriptor is ready, with an
optional timeout. The loop keeps one reader and one writer per descriptor,
so callers that may share one (sockets) refuse a second waiter with
``BusyError`` before they get here.

Closing a descriptor that a tasklet waits on must first take it out of the
loop, and the waiter must hear of it: ``wait_fd`` takes a ``HubWait`` made
by the caller, which keeps it, and ``HubWait.abort`` ends such a wait with
an exception, in the waiter's thread (``HubWait.wake``), whose loop may be
asleep in its selector, when another thread closes (shuts down) what a
tasklet waits on.
``Readiness`` says what a socket's waiter awaits, and
``busy_error`` is the error for a second one. ``send_file`` is
``socket.sendfile``'s ``os.sendfile`` path with a socket's own waits.

``recv_all`` and ``recv_into_all`` are a socket's reads when ``reads_all``
says so: ``MSG_WAITALL`` on a stream socket without a timeout (the stdlib's
blocking socket waits in the kernel for every byte; shoal's descriptor is
non-blocking, so it reads piece by piece), or bytes left by such a read
that an exception ended. ``room`` says whether a ``recv_into`` may wait
before it reads.
"""

from __future__ import annotations

import _socket
import contextlib
import functools
import io
import operator
import os
import socket
import weakref
from collections.abc import Iterable
from typing import Any

from ._errors import BusyError
from ._hub import HubWait, get_hub, hub_wait
from ._scheduler import Task, get_scheduler

__all__ = [
    "LEFT",
    "Connecting",
    "Readiness",
    "Sending",
    "busy_error",
    "new_wait",
    "reads_all",
    "recv_all",
    "recv_into_all",
    "recvmsg_left",
    "room",
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
    if timeout is not None and timeout != timeout:
        # Refused before anything is registered: hub_wait would refuse it
        # after, leaving the descriptors on the loop, closed by the caller.
        raise ValueError(f"timeout must be a number of seconds, got {timeout}")
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


class Sending(Readiness):
    """What a send that found the socket writable, and yet would block,
    awaits between tries: an unconnected Unix datagram socket is writable
    while the receiver's queue is full."""

    __slots__ = ()

    def __init__(self, sock: Any) -> None:
        super().__init__(sock, True)

    def __str__(self) -> str:
        return f"{self.sock()!r} to send (the receiver's queue is full)"


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


#: A socket's ``_drained`` while bytes are left unread: no bufsize is it.
LEFT = object()
_recv: Any = socket.socket.recv
_recv_into: Any = socket.socket.recv_into
_recvmsg: Any = getattr(socket.socket, "recvmsg", None)
#: A socket's type as its C object keeps it, a plain int.
_type: Any = _socket.socket.__dict__["type"].__get__
_STREAM = int(socket.SOCK_STREAM)
_WAITALL = int(getattr(socket, "MSG_WAITALL", 0))
_PEEK = int(socket.MSG_PEEK)
_OOB = int(socket.MSG_OOB)
_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))


def room(buffer: Any, nbytes: Any) -> int:
    """How many bytes ``recv_into(buffer, nbytes)`` may read, if the C call
    takes it and it may read one or more: only then may a socket wait for
    data before it reads. 0 for anything else, which goes to the C call at
    once: it raises the stdlib's error, or reads nothing. Does not
    switch."""
    if type(nbytes) is not int or nbytes < 0:
        return 0
    if type(buffer) is bytearray:
        size = len(buffer)
    else:
        try:
            view = memoryview(buffer)
        except (TypeError, ValueError):  # not a buffer, or a released one
            return 0
        with view:
            if view.readonly or not view.c_contiguous:
                return 0
            size = view.nbytes
    if nbytes > size:
        return 0
    return nbytes or size


def reads_all(sock: Any, flags: Any) -> bool:
    """Whether a read of ``sock`` with ``flags`` (not 0) goes through
    :func:`recv_all`: bytes that an interrupted read took are left, or
    ``MSG_WAITALL`` asks a stream socket without a timeout for every byte
    (with ``MSG_PEEK``, ``MSG_OOB`` or ``MSG_DONTWAIT`` it reads what is
    there). Does not switch."""
    if sock._unread is not None:
        return True
    if sock._shoal_timeout is not None or not isinstance(flags, int):
        return False
    if not _WAITALL or int(flags) & (_WAITALL | _PEEK | _OOB | _DONTWAIT) != _WAITALL:
        return False
    return bool(_type(sock) == _STREAM)


def recv_all(sock: Any, bufsize: Any, flags: Any) -> bytes:
    """``sock.recv(bufsize, flags)`` when :func:`reads_all`: the bytes left
    unread first, then with ``MSG_WAITALL`` from the socket until there are
    ``bufsize`` or the stream ends (see :func:`_fill`). Switches if it
    waits."""
    flags = _probe(sock, _recv, bufsize, flags)
    if flags & _OOB:  # urgent data: not the bytes left in line
        data: bytes = sock._retry(False, flags, _recv, sock, bufsize, flags)
        return data
    return _take(sock, bufsize, flags)


def _take(sock: Any, size: int, flags: int) -> bytes:
    """:func:`_fill` of a new buffer of ``size`` bytes: what it got."""
    buf = bytearray(size)
    with memoryview(buf) as view:
        got = _fill(sock, view, flags)
    del buf[got:]
    return bytes(buf)


def recv_into_all(sock: Any, buffer: Any, nbytes: Any, flags: Any) -> int:
    """``sock.recv_into(buffer, nbytes, flags)`` when :func:`reads_all`, as
    :func:`recv_all`. Switches if it waits."""
    flags = _probe(sock, _recv_into, buffer, nbytes, flags)
    if flags & _OOB:
        n: int = sock._retry(False, flags, _recv_into, sock, buffer, nbytes, flags)
        return n
    with memoryview(buffer) as view, view.cast("B") as octets:
        if not nbytes:
            return _fill(sock, octets, flags)
        with octets[:nbytes] as part:
            return _fill(sock, part, flags)


def recvmsg_left(
    sock: Any, op: Any, data: Any, ancbufsize: Any = 0, flags: Any = 0
) -> Any:
    """``sock.recvmsg(data, ancbufsize, flags)`` or ``recvmsg_into`` (``op``)
    while bytes are left unread: some of them, alone, with no ancillary data
    (none came with them); ``MSG_WAITALL`` does not wait for more, as
    ``recvmsg`` never does. Switches only for ``MSG_OOB``, which reads the
    socket."""
    if op is not _recvmsg and not isinstance(data, (list, tuple)):
        with contextlib.suppress(TypeError):  # if not, the C call says so
            data = list(data)
    if operator.index(ancbufsize) < 0:
        raise ValueError(f"negative ancillary buffer size in {op.__name__}()")
    # Ancillary data peeked at could be descriptors, made again: ask none.
    flags = _probe(sock, op, data, 0, flags)
    if flags & _OOB:
        return sock._retry(False, flags, op, sock, data, ancbufsize, flags)
    flags &= ~_WAITALL
    if op is _recvmsg:
        return _take(sock, data, flags), [], 0, None
    sizes = []
    for buffer in data:
        with memoryview(buffer) as view:
            sizes.append(view.nbytes)
    got = _take(sock, sum(sizes), flags)
    start = 0
    for buffer, size in zip(data, sizes, strict=True):  # scattered, in order
        with memoryview(buffer) as view, view.cast("B") as octets:
            part = got[start : start + size]
            octets[: len(part)] = part
            start += size
    return len(got), [], 0, None


def _probe(sock: Any, op: Any, *args: Any) -> int:
    """The flags (the last of ``args``) as an int, once the C read ``op``
    has checked ``args`` as the stdlib's (and that the socket is open),
    peeking at what has come, which it leaves. Does not switch."""
    flags = operator.index(args[-1])
    with contextlib.suppress(BlockingIOError):  # nothing has come: all good
        op(sock, *args[:-1], flags | _PEEK)
    return flags


def _fill(sock: Any, view: memoryview, flags: int) -> int:
    """Fill ``view`` (of bytes) for a read of ``sock`` with ``flags``: the
    bytes left unread first (without ``MSG_PEEK``, taken), then, when
    :func:`reads_all` holds for ``MSG_WAITALL``, from the socket until it is
    full or the stream ends. How many bytes it holds.

    When an exception ends it (a kill, a timeout scope, a throw, a failed
    read), the bytes it took are not lost: they are left on the socket
    (``sock._unread``), and the next read returns them first, whatever its
    kind. While they are left the socket is not watched (``_unpoll``), so
    that a read that waits registers again, and ``_drained`` is ``LEFT``, so
    that a read without flags comes here. Switches if it waits."""
    size = len(view)
    got = 0
    left = sock._unread
    if left is not None:
        got = min(size, len(left))
        view[:got] = left[:got]
        if flags & _PEEK:
            return got
        sock._unread = left[got:] or None
        if sock._unread is not None or not reads_all(sock, flags):
            sock._drained = LEFT if sock._unread is not None else False
            return got
    try:
        while got < size:
            try:
                n: int | None = _recv_into(sock, view[got:], 0, flags)
            except BlockingIOError:
                n = None
            if n is None:  # wait out of the handler (see socket._after_wait)
                sock._wait_readable(None)
            elif n:
                got += n
            else:
                break  # the end of the stream
    except BaseException:
        if got:
            sock._unread = bytes(view[:got])
            sock._drained = LEFT
            sock._unpoll()
        raise
    sock._drained = got < size
    return got
