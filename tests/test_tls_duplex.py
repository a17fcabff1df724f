"""One reader and one writer on one TLS socket, whatever OpenSSL asks each
of them to wait for, on 127.0.0.1 (certificates made by trustme).

OpenSSL's write may have to read first (a handshake that has not happened
yet, with ``do_handshake_on_connect=False``; a TLS 1.2 renegotiation), and
its read may have to write (a TLS 1.3 answer to the peer). The direction it
asks for can then be the one the other tasklet already waits on: that
tasklet keeps it (the loop has one reader and one writer per descriptor),
and the call waits beside it instead of failing with ``BusyError``, which
only a second reader (writer) gets.
"""

from __future__ import annotations

import errno
import ssl
from typing import Any

import pytest

import shoal
import shoal.socket as socket

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]


def _outcome(reader: shoal.Tasklet, writer: shoal.Tasklet) -> bytes:
    """What ``reader`` read, once ``writer`` has written (each within 5 s);
    both killed on the way out, whatever happened."""
    try:
        writer.get(timeout=5)
        got: bytes = reader.get(timeout=5)
    finally:
        writer.kill()
        reader.kill()
    return got


def _tls_echo(server_ctx: ssl.SSLContext, delay: float = 0.0) -> shoal.Server:
    """A TLS echo server; it waits ``delay`` before its handshake."""

    def handler(conn: socket.socket, address: object) -> None:
        shoal.sleep(delay)
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            while data := tls.recv(65536):
                tls.sendall(data)

    return shoal.serve_tcp(handler)


def _silent() -> shoal.Server:
    """A plain TCP server that reads and never answers: a TLS client's
    handshake waits for it for good."""

    def handler(conn: socket.socket, address: object) -> None:
        while conn.recv(65536):
            pass

    return shoal.serve_tcp(handler)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = sock.recv(min(n - got, 65536))
        assert part, f"connection closed after {got} of {n} bytes"
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _no_handshake(client_ctx: ssl.SSLContext, address: Any, timeout: Any = 5) -> Any:
    """A client TLS socket whose handshake happens in its first read or
    write."""
    raw = socket.create_connection(address, timeout=timeout)
    return client_ctx.wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )


@pytest.mark.parametrize("first", ["reader", "writer"])
def test_a_reader_and_a_writer_both_work_when_the_handshake_is_in_their_calls(
    contexts: Contexts, first: str
) -> None:
    """The audit's case: with ``do_handshake_on_connect=False`` the reader's
    and the writer's calls both run the handshake, and both wait for it to
    read. The writer got ``BusyError`` ("already being read") from the
    reader's wait, or, started first, gave it to the reader."""
    server_ctx, client_ctx = contexts

    def main() -> bytes:
        with (
            _tls_echo(server_ctx) as server,
            _no_handshake(client_ctx, server.address) as tls,
        ):
            if first == "reader":
                reader = shoal.spawn(tls.recv, 100)
                writer = shoal.spawn(tls.sendall, b"hello")
            else:
                writer = shoal.spawn(tls.sendall, b"hello")
                reader = shoal.spawn(tls.recv, 100)
            return _outcome(reader, writer)

    assert shoal.run(main) == b"hello"


@pytest.mark.parametrize("first", ["reader", "writer"])
def test_a_reader_and_a_writer_on_both_sides_of_a_handshake_neither_did_first(
    contexts: Contexts, first: str
) -> None:
    """Both ends wrap with ``do_handshake_on_connect=False``, and on each a
    reader and a writer start at once: the server's calls wait for the
    ClientHello, the client's for the server's answer."""
    server_ctx, client_ctx = contexts

    def duplex(tls: Any, says: bytes, hears: bytes) -> bytes:
        if first == "reader":
            reader = shoal.spawn(_recv_exactly, tls, len(hears))
            writer = shoal.spawn(tls.sendall, says)
        else:
            writer = shoal.spawn(tls.sendall, says)
            reader = shoal.spawn(_recv_exactly, tls, len(hears))
        try:
            writer.get(timeout=5)
            got: bytes = reader.get(timeout=5)
        finally:
            writer.kill()
            reader.kill()
        return got

    def main() -> tuple[bytes, bytes]:
        with socket.create_server(("127.0.0.1", 0)) as listener:

            def serve() -> bytes:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                ) as tls:
                    return duplex(tls, b"from the server", b"from the client")

            server = shoal.spawn(serve)
            try:
                address = listener.getsockname()
                with _no_handshake(client_ctx, address) as tls:
                    client_heard = duplex(tls, b"from the client", b"from the server")
                server_heard: bytes = server.get(timeout=5)
            finally:
                server.kill()
            return client_heard, server_heard

    assert shoal.run(main) == (b"from the server", b"from the client")


def test_many_rounds_of_full_duplex_tls_traffic(contexts: Contexts) -> None:
    """20 connections, each without a handshake first, each with a writer
    sending 40 messages of assorted sizes (some fill the socket's buffers)
    while a reader takes the echo: every byte comes back, in order."""
    server_ctx, client_ctx = contexts
    messages = [bytes([i]) * (1 + (i * 7919) % 150_000) for i in range(40)]
    payload = b"".join(messages)

    def send_all(tls: Any) -> None:
        for message in messages:
            tls.sendall(message)

    def main() -> None:
        with _tls_echo(server_ctx) as server:
            for _ in range(20):
                with _no_handshake(client_ctx, server.address, timeout=10) as tls:
                    reader = shoal.spawn(_recv_exactly, tls, len(payload))
                    writer = shoal.spawn(send_all, tls)
                    try:
                        writer.get(timeout=10)
                        assert reader.get(timeout=10) == payload
                    finally:
                        writer.kill()
                        reader.kill()

    shoal.run(main)


class _ReadMustWrite:
    """An SSL object whose first read asks to write first, as OpenSSL's does
    when a read has to answer the peer (a TLS 1.3 key update) and the
    socket's buffer is full; then it is the real one. (Python's ``ssl``
    cannot make a peer ask for a key update.)"""

    def __init__(self, sslobj: Any) -> None:
        self.sslobj = sslobj
        self.asked = False

    def read(self, *args: Any) -> Any:
        if not self.asked:
            self.asked = True
            raise ssl.SSLWantWriteError(ssl.SSL_ERROR_WANT_WRITE, "want write")
        return self.sslobj.read(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sslobj, name)


class _WriteMustRead(_ReadMustWrite):
    """An SSL object whose first write asks to read first, as OpenSSL's
    does in a TLS 1.2 renegotiation; then it is the real one."""

    def read(self, *args: Any) -> Any:
        return self.sslobj.read(*args)

    def write(self, data: Any) -> Any:
        if not self.asked:
            self.asked = True
            raise ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "want read")
        return self.sslobj.write(data)


def test_a_tls_read_that_must_write_waits_beside_the_blocked_writer(
    contexts: Contexts,
) -> None:
    """The other way round: the writer waits for the full socket to be
    writable, and the reader's OpenSSL read asks to write first. It got
    ``BusyError`` ("already being written"); it waits with the writer, and
    reads once the peer has drained the socket and answered."""
    server_ctx, client_ctx = contexts
    payload = b"x" * 16_000_000  # more than the socket buffers hold
    go = shoal.Event()

    def handler(conn: socket.socket, address: object) -> None:
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            go.wait(timeout=5)
            _recv_exactly(tls, len(payload))
            tls.sendall(b"all here")

    def main() -> bytes:
        with shoal.serve_tcp(handler) as server:
            raw = socket.create_connection(server.address, timeout=5)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                writer = shoal.spawn(tls.sendall, payload)
                reader = None
                try:
                    shoal.sleep(0.05)  # the socket is full: the writer waits
                    assert writer.alive
                    tls._sslobj = _ReadMustWrite(tls._sslobj)
                    reader = shoal.spawn(tls.recv, 100)
                    shoal.sleep(0.05)
                    assert reader.alive, reader.exception
                    go.set()
                    writer.get(timeout=5)
                    got: bytes = reader.get(timeout=5)
                finally:
                    writer.kill()
                    if reader is not None:
                        reader.kill()
                return got

    assert shoal.run(main) == b"all here"


def _waiting_pair(tls: Any) -> tuple[shoal.Tasklet, shoal.Tasklet]:
    """A reader waiting in the handshake, which holds the socket's read
    side, and a writer whose call waits for the same: beside the reader."""
    reader = shoal.spawn(tls.recv, 100)
    shoal.sleep(0.02)
    writer = shoal.spawn(tls.sendall, b"hello")
    shoal.sleep(0.02)
    assert reader.alive, reader.exception
    assert writer.alive, writer.exception
    return reader, writer


def test_the_socket_timeout_ends_a_wait_beside_the_other_tasklet(
    contexts: Contexts,
) -> None:
    """The writer's wait beside the reader is bounded by the socket's
    timeout, and says so as any of its waits does; the reader (which
    started waiting without a timeout) goes on waiting."""
    _, client_ctx = contexts

    def main() -> tuple[float, str]:
        with (
            _silent() as server,
            _no_handshake(client_ctx, server.address, None) as tls,
        ):
            reader = shoal.spawn(tls.recv, 100)
            try:
                shoal.sleep(0.02)
                tls.settimeout(0.1)
                start = shoal.current_time()
                writer = shoal.spawn(tls.sendall, b"hello")
                writer.join(timeout=5)
                elapsed = shoal.current_time() - start
                assert isinstance(writer.exception, socket.timeout)
                assert isinstance(writer.exception, shoal.TimeoutError)
                assert reader.alive
                return elapsed, str(writer.exception)
            finally:
                reader.kill()

    elapsed, message = shoal.run(main)
    assert 0.09 <= elapsed < 2
    assert message.endswith("to be readable: timed out after 0.1 s")


def test_a_timeout_scope_ends_a_wait_beside_the_other_tasklet(
    contexts: Contexts,
) -> None:
    """``move_on_after`` interrupts the writer's wait beside the reader."""
    _, client_ctx = contexts

    def write_for_a_while(tls: Any) -> str:
        with shoal.move_on_after(0.1):
            tls.sendall(b"hello")
            return "sent"
        return "moved on"

    def main() -> str:
        with _silent() as server, _no_handshake(client_ctx, server.address) as tls:
            reader = shoal.spawn(tls.recv, 100)
            try:
                shoal.sleep(0.02)
                writer = shoal.spawn(write_for_a_while, tls)
                outcome: str = writer.get(timeout=5)
                assert reader.alive
                return outcome
            finally:
                reader.kill()

    assert shoal.run(main) == "moved on"


def test_a_kill_ends_a_wait_beside_the_other_tasklet_and_leaves_nothing_behind(
    contexts: Contexts,
) -> None:
    """A killed writer that waited beside the reader leaves: the next
    writer is not told that the socket is busy, and waits as it did."""
    _, client_ctx = contexts

    def main() -> None:
        with _silent() as server, _no_handshake(client_ctx, server.address) as tls:
            reader, writer = _waiting_pair(tls)
            try:
                writer.kill()
                assert isinstance(writer.exception, shoal.TaskletExit)
                assert reader.alive
                again = shoal.spawn(tls.sendall, b"again")
                shoal.sleep(0.02)
                assert again.alive, again.exception
                again.kill()
                assert reader.alive
            finally:
                reader.kill()

    shoal.run(main)


def test_closing_the_tls_socket_wakes_the_tasklet_waiting_beside_the_other(
    contexts: Contexts,
) -> None:
    """A third tasklet closes the socket: the reader and the writer waiting
    beside it both get ``ClosedFileError`` (EBADF), in the same words."""
    _, client_ctx = contexts

    def main() -> list[BaseException | None]:
        with _silent() as server:
            tls = _no_handshake(client_ctx, server.address)
            try:
                reader, writer = _waiting_pair(tls)
                closer = shoal.spawn(tls.close)
                closer.get(timeout=5)
                writer.join(timeout=5)
                reader.join(timeout=5)
            finally:
                tls.close()
            message = str(reader.exception)
            assert "SSLSocket" in message
            assert message.endswith(" was closed by another tasklet")
            assert str(writer.exception) == message
            return [reader.exception, writer.exception]

    for exc in shoal.run(main):
        assert isinstance(exc, shoal.ClosedFileError)
        assert exc.errno == errno.EBADF


def test_when_the_waiting_reader_gives_up_the_writer_takes_its_place(
    contexts: Contexts,
) -> None:
    """The reader waiting in the handshake is killed: the writer waiting
    beside it now waits for the socket itself, and its handshake and write
    complete once the server answers."""
    server_ctx, client_ctx = contexts

    def main() -> bytes:
        with (
            _tls_echo(server_ctx, delay=0.3) as server,
            _no_handshake(client_ctx, server.address) as tls,
        ):
            reader, writer = _waiting_pair(tls)
            try:
                reader.kill()
                writer.get(timeout=5)
            finally:
                writer.kill()
            return _recv_exactly(tls, 5)

    assert shoal.run(main) == b"hello"


def test_a_second_reader_or_writer_is_still_busy_while_one_waits_beside(
    contexts: Contexts,
) -> None:
    """The writer waits to read in the handshake (the socket's read side
    is its), the reader waits beside it: a second reader is told the first
    one reads, a second writer that the first one writes."""
    _, client_ctx = contexts

    def main() -> None:
        with _silent() as server, _no_handshake(client_ctx, server.address) as tls:
            writer = shoal.spawn(tls.sendall, b"hello")
            shoal.sleep(0.02)
            reader = shoal.spawn(tls.recv, 100)
            shoal.sleep(0.02)
            try:
                assert writer.alive, writer.exception
                assert reader.alive, reader.exception
                with pytest.raises(shoal.BusyError, match="already being read by") as r:
                    tls.recv(100)
                assert repr(reader) in str(r.value)
                with pytest.raises(
                    shoal.BusyError, match="already being written by"
                ) as w:
                    tls.sendall(b"second")
                assert repr(writer) in str(w.value)
            finally:
                writer.kill()
                reader.kill()

    shoal.run(main)


def test_the_wait_beside_ends_when_the_other_tasklets_wait_does(
    contexts: Contexts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer waiting beside the reader in the handshake is woken when
    the reader is, not by its pause (made far too long here): the
    handshake, the write and the read are done in well under it."""
    server_ctx, client_ctx = contexts
    monkeypatch.setattr("shoal._tls.BACKOFF", 30.0)

    def main() -> bytes:
        with (
            _tls_echo(server_ctx, delay=0.3) as server,
            _no_handshake(client_ctx, server.address) as tls,
        ):
            reader, writer = _waiting_pair(tls)
            return _outcome(reader, writer)

    assert shoal.run(main) == b"hello"


def test_a_wait_beside_something_that_is_not_a_tls_call_still_ends(
    contexts: Contexts,
) -> None:
    """What waits to read is a plain read of the socket (not a TLS call,
    which would wake the one beside it when it is done): the TLS write
    that must read first waits beside it, and tries again after its
    pause, ``BACKOFF``; the plain read goes on waiting."""
    server_ctx, client_ctx = contexts

    def main() -> float:
        with _tls_echo(server_ctx) as server:
            raw = socket.create_connection(server.address, timeout=5)
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"x")  # the session tickets come before the echo
                assert tls.recv(1) == b"x"
                plain = shoal.spawn(socket.socket.recv, tls, 1)
                try:
                    shoal.sleep(0.02)
                    tls._sslobj = _WriteMustRead(tls._sslobj)
                    start = shoal.current_time()
                    tls.sendall(b"hello")
                    elapsed = shoal.current_time() - start
                    assert plain.alive
                finally:
                    plain.kill()
                return elapsed

    assert shoal.run(main) < 2
