"""TLS on shoal sockets: ``ssl.SSLContext.wrap_socket`` switches, not blocks.

The stdlib's ``SSLSocket`` drives OpenSSL on its own descriptor from C, and
with a blocking descriptor OpenSSL blocks the thread. A shoal socket's
descriptor is always non-blocking, so OpenSSL reports "want read" or "want
write" instead; ``SSLSocket`` here catches those and waits for the socket in
the hub, exactly as a plain shoal socket waits for ``BlockingIOError``.

``SSLContext.wrap_socket`` makes ``SSLContext.sslsocket_class``, the hook the
stdlib documents for a custom ``SSLSocket`` subclass. :func:`install` sets it
on ``ssl.SSLContext`` to :class:`_Dispatch`, which wraps a shoal socket in
:class:`SSLSocket` and hands every other socket to the class that was there
before, so code that never uses shoal gets the stdlib's sockets unchanged. A
context subclass with its own ``sslsocket_class`` keeps it (and blocks).

One reader and one writer may use a TLS socket at once, as a plain one;
but OpenSSL's write may have to read first (a handshake that has not
happened yet, a TLS 1.2 renegotiation), and its read may have to write (an
answer to the peer in TLS 1.3). When the direction it asks for is the one
the other tasklet's call waits on, the loop's one reader (writer) of the
descriptor is that tasklet's: the call waits beside it (``_side_wait``),
and is woken to try again when that wait ends, for whatever reason. Only a
second reader (writer) gets ``BusyError``.
"""

from __future__ import annotations

import errno as _errno
import ssl
import time as _time
from collections.abc import Callable
from typing import Any, TypeVar

from . import socket as _socket
from ._errors import ClosedFileError
from ._errors import TimeoutError as _TimeoutError
from ._hub import HubWait, get_hub, hub_wait
from ._io import Readiness, busy_error
from ._scheduler import Task, get_scheduler
from ._sockwait import BACKOFF, closer

__all__ = ["SSLSocket", "install"]

R = TypeVar("R")
#: An entry of ``SSLSocket._tls_waits``.
_Waiting = tuple[Task, "bool | None", bool, "HubWait | None"]


# The stubs type accept() differently in the two bases; at runtime the MRO
# takes ssl.SSLSocket's, which calls shoal's through super().
class SSLSocket(ssl.SSLSocket, _socket.socket):  # type: ignore[misc]
    """A TLS socket over a shoal socket: the handshake, reads, writes and
    shutdown switch instead of blocking. Made by ``SSLContext.wrap_socket``.

    With a timeout of 0 (non-blocking) it raises ``ssl.SSLWantReadError`` and
    ``ssl.SSLWantWriteError`` as the stdlib's does.
    """

    @classmethod
    def _create(cls, sock: Any, *args: Any, **kwargs: Any) -> Any:
        """The stdlib's ``_create`` (what ``wrap_socket`` calls), except that
        an interrupted handshake closes the TLS socket. The stdlib's closes
        it on ``OSError`` and ``ValueError`` only; a kill or a timeout scope
        ending the handshake here left it open, with the connection, which
        ``sock``, detached, no longer holds: the caller never got it to
        close. And what is made is tracked for whoever closes what is made
        over ``sock`` (:func:`_track`). Switches."""
        shake = kwargs.get("do_handshake_on_connect", True)
        if args or not shake or sock.gettimeout() == 0.0:
            made = super()._create(sock, *args, **kwargs)  # type: ignore[misc]
            _track(sock, made)
            return made
        kwargs["do_handshake_on_connect"] = False
        self = super()._create(sock, **kwargs)  # type: ignore[misc]
        _track(sock, self)
        self.do_handshake_on_connect = True
        if self._connected:
            try:
                self.do_handshake()
            except BaseException:
                self.close()
                raise
        return self

    #: The waits of TLS calls on this socket other than the usual one, a
    #: read waiting for the socket to be readable (a write, writable) as
    #: its ``_reader`` (``_writer``), which is not noted: each is (tasklet,
    #: the role of its call, whether it waits to write, its wait beside
    #: another tasklet or None), the role False for a read, True for a
    #: write, None for a handshake or a shutdown. None until the first.
    _tls_waits: list[_Waiting] | None = None

    def _ssl_call(self, call: Callable[..., R], *args: Any) -> R:
        """``call(*args)``, waiting in the hub whenever OpenSSL wants to read
        or write the socket first, all within one timeout, as the stdlib's
        whole handshake (read, write) is. The role of the call (see
        ``_tls_waits``) comes from the name of ``call``, and only once it
        waits: a call that does not wait pays nothing for it. Switches."""
        deadline = None
        while True:
            try:
                return call(*args)
            except ssl.SSLWantReadError:
                if self._shoal_timeout == 0.0:
                    raise
                writing = False
            except ssl.SSLWantWriteError:
                if self._shoal_timeout == 0.0:
                    raise
                writing = True
            # The waits are out of the handlers: what ends one (a timeout, a
            # kill) would carry the SSL error as its __context__.
            role = _ROLES[call.__name__]
            if role is writing and not self._tls_waits:
                # The usual wait, and no other is noted; if another tasklet
                # waits that way, it is a second reader (writer), and
                # _wait_within raises BusyError.
                try:
                    deadline = self._wait_within(writing, deadline)
                finally:
                    if self._tls_waits:  # one came meanwhile
                        self._wake_beside(writing)
            else:
                deadline = self._other_wait(role, writing, deadline)

    def _other_wait(
        self, role: bool | None, writing: bool, deadline: float | None
    ) -> float | None:
        """A wait of a TLS call with ``role`` for the socket to be writable
        (``writing``) or readable, other than the usual one (see
        :meth:`_ssl_call`), within the call's ``deadline`` (see
        ``_wait_within``); returns the deadline.

        ``BusyError`` if another tasklet's call with the same role waits,
        for either direction: a second reader (writer). If another tasklet
        (the socket's ``_reader``, ``_writer``) waits for that direction
        already, wait beside it (:meth:`_side_wait`): it keeps the loop's
        one reader (writer) of the descriptor. Otherwise wait on the loop,
        noted in ``_tls_waits`` unless it is the usual wait. However that
        wait ends, those waiting beside it are woken to try again.
        Switches."""
        cur = get_scheduler().current
        waits = self._tls_waits
        if waits is None:
            waits = self._tls_waits = []
        held: bool | None = writing  # an unnoted holder's: the usual wait's
        if writing:
            pair = self._writer
            holder = None if pair is None else pair[0]
        else:
            holder = self._reader
        for task, other, _, wait in waits:
            if other is role and role is not None and task is not cur:
                raise busy_error(self, task, role)
            if task is holder and wait is None:
                held = other
        if holder is not None and holder is not cur:
            if held is role:
                raise busy_error(self, holder, writing)
            return self._side_wait(cur, role, writing, deadline)
        entry = None
        if role is not writing:
            entry = (cur, role, writing, None)
            waits.append(entry)
        try:
            return self._wait_within(writing, deadline)
        finally:
            if entry is not None:
                waits.remove(entry)
            self._wake_beside(writing)

    def _side_wait(
        self, cur: Task, role: bool | None, writing: bool, deadline: float | None
    ) -> float | None:
        """Wait beside the tasklet that waits for the socket to be writable
        (``writing``) or readable: not on the loop, which has one reader
        (writer) per descriptor, that tasklet's. Until that wait ends (then
        :meth:`_wake_beside`), or for ``BACKOFF`` at most, in case what
        waits is not a TLS call, which does not wake it; then the call tries
        again. Within the call's ``deadline``, as ``_wait_within``, with its
        ``shoal.TimeoutError``; a kill or a timeout scope ends it as any
        wait; closing the socket wakes it with ``ClosedFileError``, as it
        wakes the socket's waiters (:meth:`_let_go`). Returns the deadline.
        Switches."""
        pause = BACKOFF
        last = False  # whether the pause ends at the deadline
        timeout = self._shoal_timeout
        if timeout is not None:
            now = _time.monotonic()
            if deadline is None:
                deadline = now + timeout
            left = deadline - now
            if left <= 0:
                raise _TimeoutError(self._timed_out(writing))
            if left <= pause:
                pause, last = left, True
        s = get_scheduler()
        wait = HubWait(s.hub or get_hub(s), Readiness(self, writing))
        entry = (cur, role, writing, wait)
        waits = self._tls_waits
        assert waits is not None  # made by _other_wait
        waits.append(entry)
        try:
            hub_wait(s, wait, pause)
        except _TimeoutError as exc:
            if last:
                exc.args = (self._timed_out(writing),)
                raise
        finally:
            waits.remove(entry)
        return deadline

    def _wake_beside(self, writing: bool) -> None:
        """A wait for the socket to be writable (``writing``) or readable is
        over: wake those waiting beside it, to try again (in their own
        thread, see ``HubWait.wake``). Does not switch."""
        waits = self._tls_waits
        if waits:
            for task, _, want, wait in waits:
                if wait is not None and want is writing:
                    wait.wake(task, None)

    def _let_go(self, done: str) -> None:
        """Before the descriptor goes (closed or detached): as a plain
        socket's, and wake those waiting beside another tasklet
        (:meth:`_side_wait`) with the same ``ClosedFileError`` (by another
        tasklet or thread: ``closer``), each in its own thread (see
        ``HubWait.wake``). Does not switch."""
        super()._let_go(done)
        waits = self._tls_waits
        if waits:
            for task, _, _, wait in waits:
                if wait is not None:
                    err = ClosedFileError(
                        _errno.EBADF, f"{self!r} was {done} {closer(task)}"
                    )
                    wait.abort(task, err)

    # ssl.SSLSocket's recv, recv_into, sendall and the rest come through
    # read, write and send: each refuses to run while another tasklet waits
    # to read (write), as a plain shoal socket's do (_check_tls_busy). Each
    # takes the SSL object once, as a thread blocked in the stdlib's call
    # holds it: a shutdown() by another tasklet drops self._sslobj, and the
    # woken call goes on with its own (the end, or what the peer sends
    # next), where looking it up again would say "closed or unwrapped".

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` decrypted bytes (into ``buffer``). Switches."""
        if self._reader is not None:
            self._check_tls_busy(False)
        sslobj: Any = self._sslobj
        if sslobj is None:
            return super().read(len, buffer)  # the stdlib's error
        return self._ssl_call(self._read_with, sslobj, len, buffer)

    def _read_with(self, sslobj: Any, len: int, buffer: Any) -> Any:
        """``ssl.SSLSocket.read`` on ``sslobj``: a ragged end of the stream
        is the end, unless ``suppress_ragged_eofs`` is false. Does not
        switch."""
        try:
            return sslobj.read(len) if buffer is None else sslobj.read(len, buffer)
        except ssl.SSLError as exc:
            ragged: bool = self.suppress_ragged_eofs  # type: ignore[attr-defined]
            if exc.args[0] == ssl.SSL_ERROR_EOF and ragged:
                return b"" if buffer is None else 0
            raise

    def write(self, data: Any) -> int:
        """Encrypt and send ``data``; how many bytes went. Switches."""
        if self._writer is not None:
            self._check_tls_busy(True)
        sslobj: Any = self._sslobj
        if sslobj is None:
            return super().write(data)  # the stdlib's error
        n: int = self._ssl_call(sslobj.write, data)
        return n

    def send(self, data: Any, flags: int = 0) -> int:
        """As :meth:`write` once TLS is on; a plain send before. Switches."""
        if self._writer is not None:
            self._check_tls_busy(True)
        sslobj: Any = self._sslobj
        if sslobj is None or flags:
            return self._ssl_call(super().send, data, flags)  # the stdlib's
        n: int = self._ssl_call(sslobj.write, data)
        return n

    def _check_tls_busy(self, writing: bool) -> None:
        """``_check_busy`` for a TLS write (``writing``) or read, called
        when a tasklet waits to write (read) the socket: ``BusyError`` if
        another tasklet's TLS write (read) waits, for either direction, or
        if what waits is not noted in ``_tls_waits`` (a TLS write waiting
        to write, or something else). Not if it is the other TLS call
        waiting the other way (a read to write, a write to read) or a
        handshake: this call may go on, and waits beside it if it must.
        Does not switch."""
        cur = get_scheduler().current
        if writing:
            pair = self._writer
            holder = None if pair is None else pair[0]
        else:
            holder = self._reader
        if holder is None or holder is cur:
            return
        noted = False
        waits = self._tls_waits
        if waits:
            for task, role, _, wait in waits:
                if role is writing and task is not cur:
                    raise busy_error(self, task, writing)
                if task is holder and wait is None:
                    noted = True
        if not noted:
            raise busy_error(self, holder, writing)

    def do_handshake(self, block: bool = False) -> None:
        """Perform the TLS handshake (``block``: even on a non-blocking
        socket, as the stdlib's connect does). On a closed socket,
        ``OSError(EBADF)``, as the stdlib's ends; on one unwrapped, the
        ``ValueError`` of :meth:`unwrap`. Switches."""
        self._check_connected()  # type: ignore[attr-defined]
        sslobj: Any = self._sslobj
        if sslobj is None:
            if self.fileno() == -1:
                raise OSError(
                    _errno.EBADF,
                    f"do_handshake() on {self!r}: the socket is closed",
                )
            raise ValueError(
                f"No SSL wrapper around {self!r}: do_handshake() on a socket"
                " that was unwrapped"
            )
        timeout = self._shoal_timeout
        try:
            if timeout == 0.0 and block:
                self._shoal_timeout = None
            self._ssl_call(sslobj.do_handshake)
        finally:
            self._shoal_timeout = timeout

    def unwrap(self) -> Any:
        """Perform the TLS shutdown handshake; afterwards this socket is a
        plain one again, and is returned, as in the stdlib. Switches."""
        sslobj: Any = self._sslobj  # type: ignore[has-type]
        if not sslobj:
            raise ValueError(f"No SSL wrapper around {self}")
        plain = self._ssl_call(sslobj.shutdown)
        self._sslobj = None
        return plain


#: The role of a TLS call that waits (see ``SSLSocket._tls_waits``), by the
#: name of what ``SSLSocket._ssl_call`` calls: a read, a write, or neither.
_ROLES: dict[str, bool | None] = {
    "_read_with": False,
    "write": True,
    "send": True,
    "do_handshake": None,
    "shutdown": None,
}


def _track(sock: Any, made: Any) -> None:
    """``made`` wraps ``sock``, which ``wrap_socket`` detached: if someone
    closes what is made over ``sock`` (``serve_tcp``, at the end of a
    handler, has put a list in its ``_tls_made``), add it there, and hand
    the list on, for a TLS socket made over ``made`` after ``unwrap()``.
    Does not switch."""
    made_over = getattr(sock, "_tls_made", None)
    if made_over is not None:
        made_over.append(made)
        made._tls_made = made_over


class _Dispatch(ssl.SSLSocket):
    """The ``sslsocket_class`` installed on ``ssl.SSLContext``: never made
    itself, it only chooses the class that wraps a socket."""

    previous: Any = ssl.SSLSocket

    @classmethod
    def _create(cls, sock: Any, *args: Any, **kwargs: Any) -> Any:
        target: Any = SSLSocket if isinstance(sock, _socket.socket) else cls.previous
        return target._create(sock, *args, **kwargs)


def install() -> None:
    """Make ``ssl.SSLContext.wrap_socket`` cooperative for shoal sockets (and
    only for them). Safe to call twice. Does not switch."""
    current = ssl.SSLContext.sslsocket_class
    if current is not _Dispatch:
        _Dispatch.previous = current
        ssl.SSLContext.sslsocket_class = _Dispatch
