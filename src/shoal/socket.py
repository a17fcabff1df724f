"""A cooperative drop-in for the standard ``socket`` module.

Every public name of the stdlib module is here; ``socket``,
``create_connection``, ``create_server``, ``socketpair``, ``fromfd``,
``getaddrinfo`` and ``gethostbyname`` are cooperative: a call that would
block parks only the calling tasklet (the hub waits for the descriptor), and
name lookups run in a thread. Timeouts (``settimeout``) raise
``shoal.TimeoutError``, which is also ``socket.timeout``. Two tasklets
reading (or writing) one socket at once: the second gets
``shoal.BusyError``, even if its own call would not wait; closing a socket
that a tasklet waits on wakes it with ``shoal.ClosedFileError``, at once,
whichever thread closes it (the wake-up runs in the waiter's thread).
``ssl.SSLContext.wrap_socket`` on one of these sockets gives a cooperative
``SSLSocket`` (``import shoal`` installs that through the stdlib's
``SSLContext.sslsocket_class`` hook, for shoal sockets only; see
``shoal._tls``).

The stdlib's ``select.select`` and ``selectors`` on these sockets block the
whole thread, the hub and every tasklet included: wait in shoal instead (a
read with a timeout, or a tasklet per socket). ``fromfd(fd)`` and
``socket(fileno=fd)`` make the open file description non-blocking, which
``fd`` (and a stdlib socket on it) shares: a blocking call there then
raises ``BlockingIOError`` instead of waiting. Close sockets (``with``):
after a read that waited, the loop keeps the socket's reader registered
(re-registering at every read costs system calls), and so keeps the
socket alive; one dropped without ``close()`` stays open until its peer
sends or closes, or the run ends, where the stdlib's is closed when
collected. ``setblocking(False)`` (or ``settimeout(0)``) takes that
registration off, as asyncio's ``sock_*`` calls need: make a socket
non-blocking before handing it to them, and blocking again after. Code
that registers a blocking socket's descriptor on the loop itself
(``loop.add_reader``) takes the registration its next read relies on, and
that read is not woken; two shoal sockets on one descriptor
(``socket(fileno=...)``) read in turn, and one waiting while a tasklet
waits on the other gets ``shoal.BusyError``.
"""

from __future__ import annotations

import _socket
import errno as _errno
import operator as _operator
import os as _os
import socket as _stdlib
import struct as _struct
import sys as _sys
import time as _time
from types import ModuleType
from typing import Any, SupportsIndex

from . import _buffered, _lookup
from ._errors import TimeoutError as _TimeoutError
from ._hub import HubWait
from ._io import (
    reads_all,
    recv_all,
    recv_into_all,
    recvmsg_left,
    room,
    send_file,
)
from ._lookup import getaddrinfo as getaddrinfo
from ._lookup import getfqdn as getfqdn
from ._lookup import gethostbyaddr as gethostbyaddr
from ._lookup import gethostbyname as gethostbyname
from ._lookup import gethostbyname_ex as gethostbyname_ex
from ._lookup import getnameinfo as getnameinfo
from ._resolve import call_flags
from ._resolve import resolve as _resolve
from ._scheduler import Task
from ._sockwait import CONNECTING as _CONNECTING
from ._sockwait import DONTWAIT as _DONTWAIT
from ._sockwait import Waiting

if _sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import ExceptionGroup

_OURS = {
    *_lookup.__all__,
    "create_connection",
    "create_server",
    "fromfd",
    "socket",
    "socketpair",
}
# A drop-in: every other public name of the stdlib module, as it is there,
# whether or not its __all__ lists it (AddressInfo, MsgFlag, SocketIO, the
# errno constants it imports). Not the modules it imports for its own use
# (os, sys, io, errno, array, selectors): they are not its API, and
# `shoal.socket.os` would only invite code that relies on an accident.
globals().update(
    {
        name: value
        for name, value in vars(_stdlib).items()
        if not name.startswith("_")
        and name not in _OURS
        and not isinstance(value, ModuleType)
    }
)
__all__ = list(_stdlib.__all__)

_recv = _stdlib.socket.recv
_recv_into = _stdlib.socket.recv_into
_recvmsg = getattr(_stdlib.socket, "recvmsg", None)
_recvmsg_into = getattr(_stdlib.socket, "recvmsg_into", None)
_send = _stdlib.socket.send
_sendto = _stdlib.socket.sendto
#: A socket's family as its C object keeps it, a plain int: ``sock.family``
#: makes an ``AddressFamily`` (~500 ns, most of what sendto adds).
_family: Any = _socket.socket.__dict__["family"].__get__
_settimeout = _stdlib.socket.settimeout
#: setblocking()'s flag is a C long.
_LONG = 2 ** (8 * _struct.calcsize("l") - 1)


class socket(Waiting):  # noqa: N801 - the stdlib name
    """A socket whose blocking calls switch instead of blocking the thread.

    The descriptor itself is always non-blocking; ``settimeout`` and
    ``setblocking`` set this object's own timeout (None: wait as long as it
    takes; 0: never wait, raise ``BlockingIOError`` as the stdlib does).
    """

    __slots__ = ()

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self._shoal_timeout: float | None = _stdlib.getdefaulttimeout()
        # Who waits to read, and the HubWait it waits on (kept for the next
        # read); (tasklet, HubWait) of who waits to write.
        self._reader: Task | None = None
        self._rwait: HubWait | None = None
        self._writer: tuple[Task, HubWait] | None = None
        #: The loop the reader is registered on, kept between reads.
        self._polled: Any = None
        #: The last read was short: what had arrived is taken, so the next
        #: read waits for the loop to see more rather than try and fail
        #: (a system call and an exception) first. After a short recv, the
        #: bufsize it asked for (see _recv_drained); ``_io.LEFT`` while
        #: bytes are left unread (see ``_io._fill``).
        self._drained: object = False
        #: The bytes an interrupted MSG_WAITALL read took, for the next read.
        self._unread: bytes | None = None
        super().settimeout(0.0)

    # -- timeouts -----------------------------------------------------------------

    def settimeout(self, value: float | None) -> None:
        """Seconds a blocking call may wait (None: no limit; 0: never). As
        the stdlib's, it takes an int or a float, rounded up to nanoseconds,
        and refuses the rest (NaN: ``ValueError``; more than 2**63 ns:
        ``OverflowError``; a str: ``TypeError``); once the socket is closed,
        ``OSError(EBADF)``. A timeout of 0 takes the reader that an earlier
        read left registered off the loop (see :meth:`setblocking`). Does
        not switch."""
        if value is not None:
            # The stdlib's checks and rounding, on the C socket; a timeout
            # that is not None leaves the descriptor non-blocking.
            _settimeout(self, value)
            value = super().gettimeout()
        _settimeout(self, 0.0)  # the C calls never wait
        self._shoal_timeout = value
        if value == 0.0:
            self._no_wait()

    def gettimeout(self) -> float | None:
        """This socket's timeout (see :meth:`settimeout`)."""
        return self._shoal_timeout

    def setblocking(self, flag: SupportsIndex) -> None:
        """``setblocking(True)`` is ``settimeout(None)``, False is 0. As the
        stdlib's, the flag is an integer (``__index__``) that fits a C long.
        ``setblocking(False)`` takes the reader that an earlier read left
        registered off the loop: asyncio's ``sock_*`` calls, which want a
        non-blocking socket, register the descriptor themselves and take
        that off when done, and the next read that waits must register
        again. Does not switch."""
        number = _operator.index(flag)  # TypeError for a float or a str
        if not -_LONG <= number < _LONG:
            raise OverflowError("Python int too large to convert to C long")
        _settimeout(self, 0.0)  # OSError(EBADF) once closed, as the stdlib's
        self._shoal_timeout = None if number else 0.0
        if not number:
            self._no_wait()

    def _no_wait(self) -> None:
        """Made non-blocking: take the reader kept registered off the loop,
        unless a tasklet waits on it (its read goes on, as the stdlib's
        call blocked in another thread; the registration is kept after it,
        and asyncio's ``sock_*`` calls made meanwhile are not seen). Does
        not switch."""
        if self._polled is not None and self._reader is None:
            self._unpoll()

    def getblocking(self) -> bool:
        """Whether a blocking call may wait."""
        return self._shoal_timeout != 0.0

    # -- files and the end ------------------------------------------------------------

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """As the stdlib's; its buffered and text objects are shared as the
        socket is: a second tasklet reading (writing) one gets ``BusyError``,
        and closing one wakes a tasklet waiting in it with
        ``ClosedFileError``. Does not switch."""
        make = super().makefile
        return _buffered.socket_file(make, mode, buffering, encoding, errors, newline)

    def shutdown(self, how: int) -> None:
        """As the stdlib's; a tasklet waiting to write (for ``SHUT_WR`` and
        ``SHUT_RDWR``) or to read (``SHUT_RD``, ``SHUT_RDWR``) is woken to
        try again, and gets what the stdlib's blocked call gets:
        ``BrokenPipeError`` for a write, the end (``b""``) for a read. (The
        kernel does not report a Unix stream socket writable after its own
        ``SHUT_WR``.) A tasklet waiting in another thread is woken in its
        own thread (see ``HubWait.wake``). Does not switch."""
        super().shutdown(how)
        writer = self._writer
        if writer is not None and how != _stdlib.SHUT_RD:
            task, wait = writer
            wait.wake(task, None)
        reader, rwait = self._reader, self._rwait
        if reader is not None and rwait is not None and how != _stdlib.SHUT_WR:
            rwait.wake(reader, None)

    def detach(self) -> int:
        """As the stdlib's: the descriptor, no longer this socket's; a
        tasklet waiting on the socket gets ``ClosedFileError``, as from
        :meth:`close`. Does not switch."""
        self._let_go("detached")
        return super().detach()

    def _real_close(self, *args: Any) -> None:
        self._let_go("closed")
        super()._real_close(*args)  # type: ignore[misc]

    # -- the blocking calls, cooperative ---------------------------------------------

    def accept(self) -> tuple[socket, Any]:
        """Wait for a connection; ``(socket, address)``. Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        fd, address = self._retry(False, 0, self._accept)  # type: ignore[attr-defined]
        # As the stdlib's: the new socket has the default timeout (its
        # __init__ takes it), not the listener's.
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        return sock, address

    def connect(self, address: Any) -> None:
        """Connect, looking a host name up without blocking; as the
        stdlib's, ``shoal.TimeoutError`` (``socket.timeout``) when the
        timeout runs out. Switches."""
        if self._writer is not None:
            self._check_busy(True)
        address = _resolve(_family(self), address, getaddrinfo)
        try:
            super().connect(address)  # its errors say "connect(): ..."
            return
        except (BlockingIOError, InterruptedError) as e:
            if self._shoal_timeout == 0.0 or e.errno not in _CONNECTING:
                raise  # EALREADY: a connect that timed out goes on
            started = e.errno
        # Waits out of the handler (see _after_wait).
        err = self._connecting(address, started)
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address: Any) -> int:
        """:meth:`connect`, returning the error number of a connect that
        failed (``EWOULDBLOCK`` when the timeout ran out) instead of raising
        it, as the stdlib's; a malformed address and a failed lookup raise.
        Switches."""
        if self._writer is not None:
            self._check_busy(True)
        address = _resolve(_family(self), address, getaddrinfo)
        err: int = super().connect_ex(address)
        if err not in _CONNECTING or self._shoal_timeout == 0.0:
            return err
        try:
            return self._connecting(address, err)
        except _TimeoutError:
            return _errno.EWOULDBLOCK  # as CPython's
        except OSError as e:  # closed meanwhile (ClosedFileError)
            if e.errno is None:
                raise
            return e.errno

    # recv, recv_into, send and sendall are the hot paths: the C method
    # first, the waiting only when it would block. Each read (write) first
    # refuses to run while another tasklet waits to read (write): one
    # attribute test while nobody does.

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to ``bufsize`` bytes. With ``MSG_WAITALL`` and no
        timeout, ``bufsize`` bytes unless the stream ends first, as the
        stdlib's blocking socket; if an exception (a kill, a timeout scope)
        ends it, the bytes it took are what the next read returns first
        (see ``_io._fill``). Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        deadline = None
        if flags:
            if reads_all(self, flags):
                return recv_all(self, bufsize, flags)
        elif self._drained:
            if bufsize is not self._drained:
                return self._recv_drained(bufsize)
            timeout = self._shoal_timeout
            if timeout is None:
                self._wait_readable(None)
            elif timeout != 0.0:
                deadline = _time.monotonic() + timeout
                self._wait_readable(timeout)
        try:
            data: bytes | None = _recv(self, bufsize, flags)
        except BlockingIOError:
            data = None  # wait out of the handler (see _after_wait)
        if data is None:
            data = self._after_wait(False, flags, deadline, _recv, self, bufsize, flags)
        self._drained = bufsize if len(data) < bufsize else False
        return data

    def _recv_drained(self, bufsize: Any) -> bytes:
        """:meth:`recv` after a short read that asked for another
        ``bufsize``, or with bytes left unread. A read of the same
        ``bufsize`` (a loop's constant, the usual case) waits for data at
        once: the C call took it. Another waits first only if it is an int
        above 0: recv(0) never waits, and the C call refuses at once what
        it does not take (recv(-1), recv("x")), as the stdlib's. Switches
        if it waits."""
        if self._unread is not None:
            return recv_all(self, bufsize, 0)
        self._drained = bufsize if type(bufsize) is int and bufsize > 0 else False
        return socket.recv(self, bufsize)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into ``buffer``; ``MSG_WAITALL`` as in :meth:`recv`.
        Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        deadline = None
        size = 0
        if flags:
            if reads_all(self, flags):
                return recv_into_all(self, buffer, nbytes, flags)
        elif self._drained:
            if self._unread is not None:
                return recv_into_all(self, buffer, nbytes, 0)
            size = room(buffer, nbytes)  # 0: the C call reads nothing, or refuses
            if size:
                timeout = self._shoal_timeout
                if timeout is None:
                    self._wait_readable(None)
                elif timeout != 0.0:
                    deadline = _time.monotonic() + timeout
                    self._wait_readable(timeout)
        try:
            n: int | None = _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            n = None
        if n is None:
            n = self._after_wait(
                False, flags, deadline, _recv_into, self, buffer, nbytes, flags
            )
        self._drained = n < (size or nbytes or memoryview(buffer).nbytes)
        return n

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """Receive a datagram and its sender; ``MSG_WAITALL`` on a stream
        socket as in :meth:`recv`. Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        if self._unread is not None or (flags and reads_all(self, flags)):
            return recv_all(self, bufsize, flags), None  # a stream's: no sender
        got: tuple[bytes, Any] = self._retry(
            False, flags, super().recvfrom, bufsize, flags
        )
        return got

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> Any:
        """Receive a datagram into ``buffer``; ``MSG_WAITALL`` on a stream
        socket as in :meth:`recv`. Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        if self._unread is not None or (flags and reads_all(self, flags)):
            return recv_into_all(self, buffer, nbytes, flags), None
        return self._retry(False, flags, super().recvfrom_into, buffer, nbytes, flags)

    def recvmsg(self, *args: Any) -> Any:
        """Receive data and ancillary data (``bufsize[, ancbufsize[,
        flags]]``), as the stdlib's (``MSG_WAITALL`` does not wait for all
        the bytes). Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        if self._unread is not None and args:
            return recvmsg_left(self, _recvmsg, *args)
        return self._retry(False, call_flags(args, 2), super().recvmsg, *args)

    def recvmsg_into(self, *args: Any) -> Any:
        """:meth:`recvmsg` into buffers (``buffers[, ancbufsize[, flags]]``).
        Switches if it waits."""
        if self._reader is not None:
            self._check_busy(False)
        if self._unread is not None and args:
            return recvmsg_left(self, _recvmsg_into, *args)
        return self._retry(False, call_flags(args, 2), super().recvmsg_into, *args)

    def send(self, data: Any, flags: int = 0) -> int:
        """Send some of ``data``; how many bytes went. Switches if it waits."""
        if self._writer is not None:
            self._check_busy(True)
        try:
            n: int | None = _send(self, data, flags)
        except BlockingIOError:
            n = None
        if n is None:
            n = self._after_wait(True, flags, None, _send, self, data, flags)
        return n

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data``. Switches while it waits; the timeout bounds
        the whole call, as the stdlib's does (the data sent before a
        ``shoal.TimeoutError`` is gone)."""
        if self._writer is not None:
            self._check_busy(True)
        # The first send, whatever the data: the C call refuses what the
        # stdlib's sendall refuses, with its error, and an empty buffer on
        # a closed socket still fails (EBADF).
        sent = 0
        try:
            sent = _send(self, data, flags)
        except BlockingIOError:
            blocked = True
        else:
            if type(data) is bytes and sent == len(data):
                return  # the usual case: it all went at once
            blocked = False
        with memoryview(data) as view, view.cast("B") as octets:
            self._send_rest(octets, sent, flags, blocked)

    def _send_rest(
        self, octets: memoryview, sent: int, flags: int, blocked: bool
    ) -> None:
        """:meth:`sendall` from ``octets[sent:]`` on; ``blocked``: the last
        send would have blocked. The deadline is reckoned at the first wait,
        so a sendall that never waits never reads the clock. Switches."""
        total = len(octets)
        deadline = None
        while sent < total:
            if blocked:
                if self._shoal_timeout == 0.0 or flags & _DONTWAIT:
                    raise BlockingIOError(_errno.EAGAIN, _os.strerror(_errno.EAGAIN))
                deadline = self._wait_within(True, deadline)
            if self._writer is not None:
                self._check_busy(True)
            try:
                sent += _send(self, octets[sent:], flags)
                blocked = False
            except BlockingIOError:
                blocked = True

    def sendto(self, data: Any, *args: Any) -> int:
        """Send a datagram (``sendto(data[, flags], address)``), looking a
        host name up without blocking. Switches if it looks up or waits."""
        if self._writer is not None:
            self._check_busy(True)
        if len(args) == 1:
            args = (_resolve(_family(self), args[0], getaddrinfo),)
        elif len(args) == 2:
            args = (args[0], _resolve(_family(self), args[1], getaddrinfo))
        n: int = self._retry(True, call_flags(args, 0, 2), _sendto, self, data, *args)
        return n

    def sendmsg(self, *args: Any) -> int:
        """Send data and ancillary data (``buffers[, ancdata[, flags[,
        address]]]``), as the stdlib's, looking a host name up without
        blocking. Switches if it looks up or waits."""
        if self._writer is not None:
            self._check_busy(True)
        if len(args) == 4:
            args = (*args[:3], _resolve(_family(self), args[3], getaddrinfo))
        n: int = self._retry(True, call_flags(args, 2), super().sendmsg, *args)
        return n

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """As the stdlib's: a regular file goes by ``os.sendfile`` from
        ``offset``, whatever the file's position; anything else by
        :meth:`send`; the file is left after the last byte sent. Switches
        while it waits (the stdlib's would block the thread in a selector)."""
        if self._writer is not None:
            self._check_busy(True)
        return send_file(self, file, offset, count)


def _adopt(sock: _stdlib.socket) -> socket:
    ours = socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    return ours


def socketpair(
    family: int = _stdlib.AF_UNIX, type: int = _stdlib.SOCK_STREAM, proto: int = 0
) -> tuple[socket, socket]:
    """A connected pair of cooperative sockets. Does not switch."""
    a, b = _stdlib.socketpair(family, type, proto)
    return _adopt(a), _adopt(b)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:
    """A cooperative socket on a duplicate of ``fd``. Does not switch."""
    return socket(family, type, proto, fileno=_os.dup(fd))


def create_server(address: Any, **kwargs: Any) -> socket:
    """As ``socket.create_server`` (a listening TCP socket), cooperative.
    Does not switch (binding and listening never wait)."""
    return _adopt(_stdlib.create_server(address, **kwargs))


def create_connection(
    address: tuple[str, int],
    timeout: Any = _stdlib._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> socket:
    """As ``socket.create_connection``: try each address of ``host`` until
    one connects. When all fail, raise the last error, or with
    ``all_errors`` an ``ExceptionGroup`` of every one (Python 3.10 too).
    Switches."""
    host, port = address
    errors: list[OSError] = []
    for family, type_, proto, _, sockaddr in getaddrinfo(
        host, port, 0, _stdlib.SOCK_STREAM
    ):
        sock = None
        try:
            sock = socket(family, type_, proto)
            if timeout is not _stdlib._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            errors.clear()  # no cycle through a kept traceback
            return sock
        except OSError as e:
            if not all_errors:
                errors.clear()  # the stdlib raises only the last one
            errors.append(e)
            if sock is not None:
                sock.close()
        except BaseException:  # a kill, a scope's expiry: close it too
            if sock is not None:
                sock.close()
            raise
    if not errors:
        raise OSError("getaddrinfo returns an empty list")
    try:
        if not all_errors:
            raise errors[0]
        raise ExceptionGroup("create_connection failed", tuple(errors))
    finally:
        errors.clear()  # the frames' locals would hold the errors, a cycle
