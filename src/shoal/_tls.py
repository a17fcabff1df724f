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
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from . import socket as _socket

__all__ = ["SSLSocket", "install"]

R = TypeVar("R")


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

    def _ssl_call(self, call: Callable[..., R], *args: Any) -> R:
        """``call(*args)``, waiting in the hub whenever OpenSSL wants to read
        or write the socket first, all within one timeout, as the stdlib's
        whole handshake (read, write) is. Switches."""
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
            deadline = self._wait_within(writing, deadline)

    # ssl.SSLSocket's recv, recv_into, sendall and the rest come through
    # read, write and send: each refuses to run while another tasklet waits
    # to read (write), as a plain shoal socket's do. Each takes the SSL
    # object once, as a thread blocked in the stdlib's call holds it: a
    # shutdown() by another tasklet drops self._sslobj, and the woken call
    # goes on with its own (the end, or what the peer sends next), where
    # looking it up again would say "closed or unwrapped".

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` decrypted bytes (into ``buffer``). Switches."""
        if self._reader is not None:
            self._check_busy(False)
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
            self._check_busy(True)
        sslobj: Any = self._sslobj
        if sslobj is None:
            return super().write(data)  # the stdlib's error
        n: int = self._ssl_call(sslobj.write, data)
        return n

    def send(self, data: Any, flags: int = 0) -> int:
        """As :meth:`write` once TLS is on; a plain send before. Switches."""
        if self._writer is not None:
            self._check_busy(True)
        sslobj: Any = self._sslobj
        if sslobj is None or flags:
            return self._ssl_call(super().send, data, flags)  # the stdlib's
        n: int = self._ssl_call(sslobj.write, data)
        return n

    def do_handshake(self, block: bool = False) -> None:
        """Perform the TLS handshake (``block``: even on a non-blocking
        socket, as the stdlib's connect does). Switches."""
        self._check_connected()  # type: ignore[attr-defined]
        timeout = self._shoal_timeout
        try:
            if timeout == 0.0 and block:
                self._shoal_timeout = None
            sslobj: Any = self._sslobj
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
