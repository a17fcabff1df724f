"""TCP servers: ``serve_tcp`` runs one tasklet per connection.

The accepting tasklet takes a unit of a ``Semaphore`` before each ``accept``
when ``max_connections`` is set, so connections beyond the limit wait in the
listen backlog until one closes. A handler's exception is logged and closes
that connection only; a connection is closed when its handler returns.
``close()`` stops accepting; ``close(kill=True)`` also ends the connections'
tasklets, but the caller's own when a handler calls it, and not tasklets the
handlers spawned.
"""

from __future__ import annotations

import errno
import logging
import socket as _stdlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import socket as _socket
from ._errors import TaskletExit
from ._hub import get_hub, sleep
from ._resolve import numeric as _numeric
from ._sync import Semaphore
from ._tasklet import Tasklet, current, spawn

__all__ = ["Server", "serve_tcp"]

log = logging.getLogger("shoal.server")

Handler = Callable[[_socket.socket, Any], object]

#: accept() failures that pass: out of descriptors or memory (they come
#: back as connections close), a connection reset before it was accepted.
_TRANSIENT = frozenset(
    (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED)
)
#: How long the server waits before it accepts again after running out.
ACCEPT_PAUSE = 0.1


class Server:
    """A listening TCP server; made by :func:`serve_tcp`. Each connection
    lives as long as its handler's call: the server closes the socket when
    the handler returns, and ``close(kill=True)`` kills the handlers'
    tasklets only (see :meth:`close`)."""

    def __init__(
        self, handler: Handler, host: str, port: int, max_connections: int | None
    ) -> None:
        if not callable(handler):
            raise TypeError(f"serve_tcp() needs a callable handler, got {handler!r}")
        if max_connections is not None:
            if type(max_connections) is not int:
                raise TypeError(
                    "serve_tcp() needs max_connections to be an int or None,"
                    f" got {max_connections!r}"
                )
            if max_connections < 1:
                raise ValueError(
                    "serve_tcp() needs max_connections >= 1 (None: no limit),"
                    f" got {max_connections}"
                )
        # Its accept loop waits in this thread's hub: asyncio code outside a
        # run (which cannot have one) gets get_hub's RuntimeError before
        # anything is bound.
        get_hub()
        self._handler = handler
        self._limit = None if max_connections is None else Semaphore(max_connections)
        family, address = _where(host, port)
        self._listener = _socket.create_server(address, family=family)
        #: The address the server listens on: (host, port).
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        #: Each connection's tasklet, and its socket (closed by the tasklet,
        #: or by close(kill=True) if the tasklet never ran).
        self._connections: dict[Tasklet, _socket.socket] = {}
        self._closed = False
        self._acceptor = spawn(self._accept_loop)

    def _accept_loop(self) -> None:
        """Accept connections until closed. A transient failure (out of
        descriptors, a connection reset before it was accepted) is logged
        and accepting goes on, after a pause when out of resources; any
        other failure closes the server, and ``serve_forever`` raises it."""
        while True:
            if self._limit is not None:
                self._limit.acquire()
            try:
                conn, address = self._listener.accept()
            except OSError as exc:
                if self._limit is not None:
                    self._limit.release()
                if self._closed:
                    return
                if exc.errno not in _TRANSIENT:
                    self._closed = True
                    self._listener.close()
                    raise
                log.warning(
                    "accept on %s failed (%s); accepting again", self.address, exc
                )
                if exc.errno != errno.ECONNABORTED:
                    sleep(ACCEPT_PAUSE)
                continue
            self._connections[spawn(self._serve, conn, address)] = conn

    def _serve(self, conn: _socket.socket, address: Any) -> None:
        # The TLS sockets the handler makes over ``conn`` (``_tls._track``):
        # wrap_socket detaches ``conn``, and one left open holds the
        # connection.
        made_over: list[Any] = []
        conn._tls_made = made_over  # type: ignore[attr-defined]
        try:
            self._handler(conn, address)
        except Exception:
            log.exception("handler for %s failed; connection closed", address)
        finally:
            conn.close()
            for tls in made_over:
                tls.close()
            made_over.clear()
            self._connections.pop(current(), None)
            if self._limit is not None:
                self._limit.release()

    @property
    def connections(self) -> int:
        """How many connections are being served."""
        return len(self._connections)

    def close(self, kill: bool = False) -> None:
        """Stop accepting; with ``kill``, also end every connection's
        tasklet (each ends as killed, its ``finally`` blocks run) and close
        its socket, then return. Tasklets a handler spawned are not its
        connection's and go on running (using the closed socket, they get
        ``OSError(EBADF)``): a handler that spawns helpers ends them itself,
        say ``try: helper.join() finally: helper.kill()``.

        A handler that calls it (from its connection's own tasklet) ends
        every other connection and returns: it is not killed, so it can
        answer and return, and its connection closes when it does, as
        always. Switches."""
        if not self._closed:
            self._closed = True
            self._acceptor.kill()
            self._listener.close()
        if kill:
            me = current()
            for t, conn in list(self._connections.items()):
                if t is me:
                    continue
                t.kill()
                if self._connections.pop(t, None) is not None:
                    # It never ran: _serve's finally did not close or count.
                    conn.close()
                    if self._limit is not None:
                        self._limit.release()

    def serve_forever(self) -> None:
        """Wait until the server is closed; if accepting failed for good,
        raise that failure. Switches."""
        self._acceptor.join()
        exc = self._acceptor.exception
        if exc is not None and not isinstance(exc, TaskletExit):
            raise exc

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(kill=True)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        return f"<Server {self.address} {state} connections={self.connections}>"


def _where(host: Any, port: Any) -> tuple[int, tuple[Any, ...]]:
    """The family and address of a listener on ``host``:``port``: IPv6 for
    an IPv6 number (with its zone, maybe), IPv4 for "" and an IPv4 number
    (and what the bind refuses, which it refuses here); a name's IPv4
    address, else its first (an IPv6-only name). Switches if it looks a
    name up (in a thread)."""
    if not isinstance(host, str) or host == "" or _numeric(host):
        ipv6 = isinstance(host, str) and ":" in host
        return (_stdlib.AF_INET6 if ipv6 else _stdlib.AF_INET), (host, port)
    infos = _socket.getaddrinfo(
        host, port, 0, _stdlib.SOCK_STREAM, 0, _stdlib.AI_PASSIVE
    )
    if not infos:
        raise OSError(f"getaddrinfo returns an empty list for {host!r}")
    ipv4 = [info for info in infos if info[0] == _stdlib.AF_INET]
    family, _, _, _, address = (ipv4 or infos)[0]
    return int(family), address


def serve_tcp(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_connections: int | None = None,
) -> Server:
    """Listen on ``host``:``port`` (loopback and a free port by default) and
    call ``handler(sock, address)`` in a new tasklet for each connection.
    With ``max_connections`` (an int >= 1; None: no limit), connections
    beyond it wait in the listen backlog until one closes. The server
    closes ``sock`` when ``handler`` returns or raises: a tasklet the
    handler spawned that still uses it then gets ``OSError(EBADF)``, so a
    handler that hands the socket on waits for that tasklet (``join``)
    before it returns. ``host`` is an IPv4 or IPv6 number, "" (every
    IPv4 interface), or a name: the server listens on IPv4 if the name has
    an IPv4 address, else on its first IPv6 one. Switches only to look a
    name up; the server accepts when this tasklet waits."""
    return Server(handler, host, port, max_connections)
