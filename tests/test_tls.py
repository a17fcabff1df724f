"""TLS on shoal sockets with ``ssl.SSLContext.wrap_socket``, on 127.0.0.1,
with a certificate authority and certificate made by the test (trustme).

Client and server run in one thread: if a handshake, read or write blocked
the thread instead of switching, the other side could never answer, so the
exchanges below can only complete cooperatively.
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket as stdlib_socket
import ssl

import pytest

import shoal
import shoal.socket as socket

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]


def _tls_echo(server_ctx: ssl.SSLContext) -> shoal.Server:
    def handler(conn: socket.socket, address: object) -> None:
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            while data := tls.recv(65536):
                tls.sendall(data)

    return shoal.serve_tcp(handler)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = sock.recv(min(n - got, 65536))
        assert part, f"connection closed after {got} of {n} bytes"
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def test_wrap_socket_gives_a_cooperative_ssl_socket(contexts: Contexts) -> None:
    """Handshake, a large echo both ways, and the socket is both an
    ``ssl.SSLSocket`` and a shoal socket."""
    server_ctx, client_ctx = contexts
    payload = bytes(range(256)) * 16_384  # 4 MiB: many TLS records

    def main() -> None:
        with _tls_echo(server_ctx) as server:
            raw = socket.create_connection(server.address, timeout=10)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert isinstance(tls, ssl.SSLSocket)
                assert isinstance(tls, socket.socket)
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                assert tls.gettimeout() == 10
                sender = shoal.spawn(tls.sendall, payload)
                assert _recv_exactly(tls, len(payload)) == payload
                sender.get(timeout=10)

    shoal.run(main)


def test_many_tls_clients_at_once(contexts: Contexts) -> None:
    """20 concurrent TLS connections, each handshakes and echoes its own bytes."""
    server_ctx, client_ctx = contexts

    def client(address: tuple[str, int], i: int) -> bytes:
        raw = socket.create_connection(address, timeout=10)
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"client %d" % i)
            return _recv_exactly(tls, len(b"client %d" % i))

    def main() -> list[bytes]:
        with _tls_echo(server_ctx) as server:
            calls = [lambda i=i: client(server.address, i) for i in range(20)]
            return list(shoal.allof(*calls, timeout=30))

    assert shoal.run(main) == [b"client %d" % i for i in range(20)]


def test_connect_then_handshake_and_makefile(contexts: Contexts) -> None:
    """Wrapping an unconnected socket: connect() handshakes; makefile works."""
    server_ctx, client_ctx = contexts

    def main() -> None:
        with _tls_echo(server_ctx) as server:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.connect(server.address)
                with tls.makefile("rwb") as f:
                    f.write(b"line one\nline two\n")
                    f.flush()
                    assert f.readline() == b"line one\n"
                    assert f.readline() == b"line two\n"

    shoal.run(main)


def test_tls_listening_socket_accepts_tls_connections(contexts: Contexts) -> None:
    """A wrapped listening socket's accept() returns a cooperative TLS socket."""
    server_ctx, client_ctx = contexts

    def serve(listener: ssl.SSLSocket) -> bytes:
        conn, _ = listener.accept()
        with conn:
            assert isinstance(conn, socket.socket)
            data = _recv_exactly(conn, 5)
            conn.sendall(data.upper())
            return data

    def main() -> None:
        plain = socket.create_server(("127.0.0.1", 0))
        with server_ctx.wrap_socket(plain, server_side=True) as listener:
            server = shoal.spawn(serve, listener)
            raw = socket.create_connection(listener.getsockname(), timeout=10)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"hello")
                assert _recv_exactly(tls, 5) == b"HELLO"
            assert server.get(timeout=10) == b"hello"

    shoal.run(main)


def test_untrusted_certificate_fails_the_handshake_in_both_tasklets(
    contexts: Contexts,
) -> None:
    """A client that does not trust the server's CA gets the stdlib's
    verification error; the server's handshake fails too; nothing hangs."""
    server_ctx, _ = contexts
    stranger = ssl.create_default_context()  # trusts the system CAs only

    def serve(listener: socket.socket) -> BaseException | None:
        conn, _ = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError) as e:
            return e
        return None

    def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            server = shoal.spawn(serve, listener)
            raw = socket.create_connection(listener.getsockname(), timeout=10)
            with raw, pytest.raises(ssl.SSLCertVerificationError):
                stranger.wrap_socket(raw, server_hostname="localhost")
            assert isinstance(server.get(timeout=10), (ssl.SSLError, OSError))

    shoal.run(main)


def test_tls_timeout_and_non_blocking_mode(contexts: Contexts) -> None:
    """settimeout applies to TLS reads (shoal.TimeoutError, also
    socket.timeout); with timeout 0 a read raises ssl.SSLWantReadError as the
    stdlib's SSLSocket does."""
    server_ctx, client_ctx = contexts

    def main() -> None:
        with _tls_echo(server_ctx) as server:
            raw = socket.create_connection(server.address, timeout=10)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.settimeout(0.05)
                start = shoal.current_time()
                with pytest.raises(socket.timeout) as info:
                    tls.recv(10)
                assert isinstance(info.value, shoal.TimeoutError)
                assert 0.04 <= shoal.current_time() - start < 5
                tls.setblocking(False)
                with pytest.raises(ssl.SSLWantReadError):
                    tls.recv(10)

    shoal.run(main)


def test_a_tls_timeout_bounds_a_handshake_that_data_trickles_into(
    contexts: Contexts,
) -> None:
    """As the stdlib's: one deadline for the whole handshake. A peer that
    sends a byte now and then (each wakes the reader, none completes a TLS
    record) does not keep it alive past its timeout."""
    _, client_ctx = contexts

    def trickle(conn: socket.socket, address: object) -> None:
        conn.recv(65536)  # the ClientHello
        # A handshake record's header announcing 16 KiB, then its body,
        # one byte every 20 ms: 4 s in all.
        for byte in b"\x16\x03\x03\x40\x00" + bytes(195):
            conn.sendall(bytes([byte]))
            shoal.sleep(0.02)

    def main() -> float:
        with shoal.serve_tcp(trickle) as server:
            raw = socket.create_connection(server.address, timeout=10)
            raw.settimeout(0.3)
            start = shoal.current_time()
            with pytest.raises(socket.timeout), raw:
                client_ctx.wrap_socket(raw, server_hostname="localhost")
            return shoal.current_time() - start

    elapsed = shoal.run(main)
    assert elapsed < 2  # 0.3 s, with wide slack; a restarting one takes 4


def test_tls_reader_busy_and_woken_by_close(contexts: Contexts) -> None:
    """Two readers of one TLS socket: BusyError in the second; closing the
    socket wakes the first with ClosedFileError (EBADF)."""
    server_ctx, client_ctx = contexts

    def main() -> None:
        with _tls_echo(server_ctx) as server:
            raw = socket.create_connection(server.address, timeout=10)
            tls = client_ctx.wrap_socket(raw, server_hostname="localhost")
            first = shoal.spawn(tls.recv, 10)
            shoal.sleep(0.01)
            with pytest.raises(shoal.BusyError):
                tls.recv(10)
            tls.close()
            first.join(timeout=5)
            assert isinstance(first.exception, shoal.ClosedFileError)
            assert first.exception.errno == errno.EBADF

    shoal.run(main)


def test_unwrap_returns_to_plain_text(contexts: Contexts) -> None:
    """Both sides shut TLS down cooperatively, then talk in plain text."""
    server_ctx, client_ctx = contexts

    def serve(listener: socket.socket) -> bytes:
        conn, _ = listener.accept()
        tls = server_ctx.wrap_socket(conn, server_side=True)
        assert _recv_exactly(tls, 4) == b"tls!"
        plain = tls.unwrap()
        with plain:
            data = _recv_exactly(plain, 5)
            plain.sendall(b"plain back")
            return data

    def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            server = shoal.spawn(serve, listener)
            raw = socket.create_connection(listener.getsockname(), timeout=10)
            tls = client_ctx.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"tls!")
            plain = tls.unwrap()
            with plain:
                plain.sendall(b"plain")
                assert _recv_exactly(plain, 10) == b"plain back"
            assert server.get(timeout=10) == b"plain"

    shoal.run(main)


def test_stdlib_sockets_still_get_the_stdlib_ssl_socket(contexts: Contexts) -> None:
    """Importing shoal changes nothing for sockets that are not shoal's."""
    _, client_ctx = contexts
    raw = stdlib_socket.socket()
    with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert type(tls) is ssl.SSLSocket
    assert issubclass(ssl.SSLContext.sslsocket_class, ssl.SSLSocket)


def test_a_second_tls_reader_is_busy_even_when_its_read_would_not_block(
    contexts: Contexts,
) -> None:
    """One tasklet waits to read; a record arrives; before it runs, a second
    tasklet reads: it gets BusyError, and the first one gets the data."""
    server_ctx, client_ctx = contexts

    def main() -> None:
        a, b = socket.socketpair()
        tls_a = server_ctx.wrap_socket(
            a, server_side=True, do_handshake_on_connect=False
        )
        tls_b = client_ctx.wrap_socket(
            b, server_hostname="localhost", do_handshake_on_connect=False
        )
        with tls_a, tls_b:
            handshake = shoal.spawn(tls_a.do_handshake)
            tls_b.do_handshake()
            handshake.get(timeout=10)
            first = shoal.spawn(tls_a.recv, 100)
            shoal.sleep(0)  # it waits in the hub
            tls_b.sendall(b"record")  # in a's buffer now; the hub has not run
            with pytest.raises(shoal.BusyError, match="already being read by"):
                tls_a.recv(100)
            assert first.get(timeout=10) == b"record"

    shoal.run(main)


@pytest.mark.parametrize("how", ["SHUT_WR", "SHUT_RDWR"])
def test_a_tls_reader_waiting_when_another_tasklet_shuts_down_gets_what_the_stdlibs_does(
    contexts: Contexts, how: str
) -> None:
    """A relay's half-close: one tasklet waits in tls.recv(), the other
    calls tls.shutdown(). As a thread blocked in the stdlib's SSL_read, the
    reader goes on with its TLS connection: after SHUT_WR it gets what the
    peer sends next, after SHUT_RDWR the end. (It raised "Read on closed or
    unwrapped SSL socket": the stdlib's shutdown drops the SSL object, and
    the woken read looked it up again.)"""
    server_ctx, client_ctx = contexts

    def main() -> object:
        with socket.create_server(("127.0.0.1", 0)) as listener:

            def server() -> None:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    shoal.sleep(0.1)
                    with contextlib.suppress(OSError):  # after SHUT_RDWR
                        tls.sendall(b"late data")
                        shoal.sleep(0.1)

            peer = shoal.spawn(server)
            raw = socket.create_connection(listener.getsockname(), timeout=5)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                reader = shoal.spawn(tls.recv, 100)
                shoal.sleep(0.02)
                tls.shutdown(getattr(socket, how))
                got = reader.get()
            peer.get()
            return got

    assert shoal.run(main) == (b"late data" if how == "SHUT_WR" else b"")


@pytest.mark.parametrize("how", ["SHUT_WR", "SHUT_RDWR"])
def test_a_tls_writer_blocked_when_another_tasklet_shuts_down_gets_sslerror(
    contexts: Contexts, how: str
) -> None:
    """The writer's side of the relay's half-close: a tasklet blocked in
    tls.sendall (the peer does not read) when another shuts the socket down
    gets SSLEOFError, as a thread blocked in the stdlib's does (it got a
    plain BrokenPipeError from a plain-text send)."""
    server_ctx, client_ctx = contexts

    def main() -> BaseException | None:
        with socket.create_server(("127.0.0.1", 0)) as listener:

            def server() -> None:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True):
                    shoal.sleep(0.3)  # reads nothing meanwhile

            peer = shoal.spawn(server)
            raw = socket.create_connection(listener.getsockname(), timeout=5)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                writer = shoal.spawn(tls.sendall, b"x" * 20_000_000)
                shoal.sleep(0.05)
                assert writer.alive
                tls.shutdown(getattr(socket, how))
                writer.join()
            peer.join()
            return writer.exception

    assert isinstance(shoal.run(main), ssl.SSLEOFError)


def test_a_makefile_reads_on_after_its_tls_socket_is_closed(contexts: Contexts) -> None:
    """As http.client does with Connection: close: the socket is closed while
    its makefile() file is open, then the file reads the body. As with the
    stdlib, the TLS connection lives on until the file is closed, and the
    read waits for the data (it raised SSLWantReadError)."""
    server_ctx, client_ctx = contexts

    def main() -> bytes:
        with socket.create_server(("127.0.0.1", 0)) as listener:

            def server() -> None:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    shoal.sleep(0.1)
                    tls.sendall(b"hello")
                    shoal.sleep(0.1)

            peer = shoal.spawn(server)
            raw = socket.create_connection(listener.getsockname(), timeout=5)
            tls = client_ctx.wrap_socket(raw, server_hostname="localhost")
            with tls.makefile("rb") as f:
                tls.close()
                got = f.read(5)
            peer.get()
            return got

    assert shoal.run(main) == b"hello"


class _Stop(BaseException):
    """Thrown into a handler: a ``BaseException``, as a kill is."""


@pytest.mark.parametrize("end", ["close_kill", "scope", "throw"])
def test_a_handshake_interrupted_inside_wrap_socket_closes_the_connection(
    contexts: Contexts, end: str
) -> None:
    """The client never speaks TLS, so the server's handshake inside
    ``wrap_socket`` waits, and is interrupted there: by ``close(kill=True)``,
    a timeout scope, or a ``BaseException`` thrown in. ``wrap_socket`` has
    detached the plain socket, so only the TLS socket it was making can
    close the connection; it never reached the handler's ``with``, and it
    stayed open (the stdlib closes it only on OSError and ValueError). The
    client must see the end."""
    server_ctx, _ = contexts
    interrupted: list[str] = []
    handlers: list[shoal.Tasklet] = []

    def handler(conn: socket.socket, address: object) -> None:
        handlers.append(shoal.current())
        try:
            with (
                shoal.move_on_after(0.05 if end == "scope" else math.inf),
                server_ctx.wrap_socket(conn, server_side=True) as tls,
            ):
                tls.recv(10)
        finally:
            interrupted.append(end)

    def main() -> bytes:
        server = shoal.serve_tcp(handler)
        try:
            with socket.create_connection(server.address) as raw:
                raw.settimeout(5)
                shoal.sleep(0.01)  # the handler waits in the handshake
                if end == "close_kill":
                    server.close(kill=True)
                elif end == "throw":
                    (handler_tasklet,) = handlers
                    handler_tasklet.throw(_Stop())
                return raw.recv(10)
        finally:
            server.close(kill=True)

    assert shoal.run(main) == b""
    assert interrupted == [end]


@pytest.mark.parametrize("ends", ["returns", "raises", "killed", "rewrapped"])
def test_a_tls_socket_a_handler_leaves_open_is_closed_with_its_connection(
    contexts: Contexts, ends: str
) -> None:
    """A handler wraps its socket without closing the TLS socket, as in the
    issue's own pattern, and returns, raises, or is killed by
    ``close(kill=True)``: the server closes the connection, so the client
    sees its end. ``wrap_socket`` detaches the handler's socket, so closing
    that did nothing, and the TLS socket, registered with the loop by its
    read, stayed open until the run ended."""
    server_ctx, client_ctx = contexts

    def handler(conn: socket.socket, address: object) -> None:
        tls = server_ctx.wrap_socket(conn, server_side=True)
        if ends == "rewrapped":  # TLS off and on again: the second one holds it
            tls.sendall(tls.recv(10))
            tls = server_ctx.wrap_socket(tls.unwrap(), server_side=True)
        tls.sendall(tls.recv(10))
        if ends == "raises":
            raise ValueError("handler failed")
        if ends == "killed":
            tls.recv(10)  # waits until close(kill=True)

    def main() -> bytes:
        with shoal.serve_tcp(handler) as server, contextlib.ExitStack() as stack:
            raw = socket.create_connection(server.address)
            tls = stack.enter_context(
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            )
            tls.settimeout(5)
            if ends == "rewrapped":
                tls.sendall(b"first")
                assert tls.recv(10) == b"first"
                tls = stack.enter_context(
                    client_ctx.wrap_socket(tls.unwrap(), server_hostname="127.0.0.1")
                )
                tls.settimeout(5)
            tls.sendall(b"ping")
            assert tls.recv(10) == b"ping"
            if ends == "killed":
                server.close(kill=True)
            return tls.recv(10)

    assert shoal.run(main) == b""
