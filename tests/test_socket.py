"""shoal.socket and serve_tcp, on real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fractions
import logging
import select
import socket as stdlib
import sys
import tempfile
import time
from collections.abc import Callable

import pytest

import shoal
import shoal.socket as socket
from shoal._hub import get_hub as shoal_hub
from shoal._scheduler import get_scheduler

if sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import ExceptionGroup


def _echo(conn: socket.socket, address: object) -> None:
    while data := conn.recv(4096):
        conn.sendall(data)


def test_echo_server_with_many_concurrent_clients() -> None:
    """100 clients at once, each gets its own bytes back."""

    def client(port: int, i: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"hello {i}".encode() * 100)
            want = len(f"hello {i}") * 100
            got = b""
            while len(got) < want:
                got += s.recv(65536)
            return got

    def main() -> list[bytes]:
        with shoal.serve_tcp(_echo) as server:
            port = server.address[1]
            return list(shoal.allof(*[lambda i=i: client(port, i) for i in range(100)]))

    answers = shoal.run(main)
    assert answers == [f"hello {i}".encode() * 100 for i in range(100)]


def test_recv_timeout_is_a_socket_timeout() -> None:
    """settimeout: recv raises shoal.TimeoutError, which is socket.timeout."""

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(0.01)
            with pytest.raises(socket.timeout) as info:
                a.recv(10)
            assert isinstance(info.value, shoal.TimeoutError)

    shoal.run(main)


def test_a_read_timeout_formats_its_message_only_when_it_expires() -> None:
    """Reads under a timeout that do not time out never format what they
    wait for (a socket's repr is costly); one that does says what it
    waited for and how long."""
    reprs: list[int] = []

    class Counted(socket.socket):
        def __repr__(self) -> str:
            reprs.append(1)
            return "<the counted socket>"

    def main() -> None:
        a, b = socket.socketpair()
        with a, b, Counted(fileno=a.detach()) as c:
            c.settimeout(5)
            for i in range(3):
                reader = shoal.spawn(c.recv, 10)
                shoal.sleep(0.001)  # the reader waits under its timeout
                b.sendall(b"%d" % i)
                assert reader.get() == b"%d" % i
            assert reprs == []
            # Each read that got its data took its timeout back.
            deadlines = shoal_hub().deadlines()
            assert not [e for e in deadlines.heap if e[2]._active]
            c.settimeout(0.01)
            with pytest.raises(shoal.TimeoutError) as info:
                c.recv(10)
            assert str(info.value) == (
                "<the counted socket> to be readable: timed out after 0.01 s"
            )
            assert reprs == [1]

    shoal.run(main)


def test_two_readers_of_one_socket_is_busy() -> None:
    """The second tasklet reading the same socket gets BusyError."""

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            first = shoal.spawn(a.recv, 10)
            shoal.schedule()
            with pytest.raises(shoal.BusyError, match="already being read"):
                a.recv(10)
            b.sendall(b"for first")
            assert first.get(timeout=5) == b"for first"

    shoal.run(main)


def test_socketpair_and_makefile() -> None:
    """Unix sockets and the file interface work cooperatively."""

    def main() -> str:
        a, b = socket.socketpair()
        with a, b, a.makefile("w") as w, b.makefile("r") as r:
            shoal.spawn(lambda: (w.write("line one\n"), w.flush()))
            return r.readline()

    assert shoal.run(main) == "line one\n"


def test_udp_sendto_recvfrom() -> None:
    """Datagrams between two UDP sockets on loopback."""

    def main() -> tuple[bytes, bool]:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            tx.bind(("127.0.0.1", 0))
            shoal.spawn(tx.sendto, b"datagram", rx.getsockname())
            data, sender = rx.recvfrom(100)
            return data, sender == tx.getsockname()

    assert shoal.run(main) == (b"datagram", True)


def test_connect_refused_and_name_lookup() -> None:
    """A closed port refuses; 'localhost' is resolved without blocking."""

    def main() -> None:
        probe = socket.create_server(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        infos = socket.getaddrinfo("localhost", 80, socket.AF_INET)
        assert infos
        assert infos[0][4][0].startswith("127.")
        server = shoal.serve_tcp(_echo)
        with server, socket.create_connection(("localhost", server.address[1])) as s:
            s.sendall(b"by name")
            assert s.recv(100) == b"by name"

    shoal.run(main)


@pytest.mark.parametrize(
    ("name", "args", "stdlib_name"),
    [
        ("gethostbyname", ("localhost",), "gethostbyname"),
        ("gethostbyname_ex", ("localhost",), "gethostbyname_ex"),
        ("gethostbyaddr", ("127.0.0.1",), "gethostbyaddr"),
        ("getnameinfo", (("127.0.0.1", 80), 0), "getnameinfo"),
        ("getfqdn", ("localhost",), "gethostbyaddr"),
    ],
)
def test_name_lookups_run_in_a_thread(
    name: str,
    args: tuple[object, ...],
    stdlib_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each blocking lookup of the stdlib module runs in a worker thread, so
    the hub (and every other tasklet) goes on meanwhile; the answer is the
    stdlib's."""
    import socket as stdlib
    import threading

    real = getattr(stdlib, stdlib_name)
    threads: list[threading.Thread] = []

    def recording(*a: object) -> object:
        threads.append(threading.current_thread())
        return real(*a)

    monkeypatch.setattr(stdlib, stdlib_name, recording)
    expected = getattr(stdlib, name)(*args)
    threads.clear()

    def main() -> object:
        return getattr(socket, name)(*args)

    assert shoal.run(main) == expected
    assert threads
    assert all(t is not threading.main_thread() for t in threads)


def test_sendfile() -> None:
    """sendfile sends a file's bytes cooperatively."""

    def main() -> bytes:
        a, b = socket.socketpair()
        with a, b, tempfile.TemporaryFile() as f:
            f.write(b"file contents" * 1000)
            f.seek(0)
            sender = shoal.spawn(a.sendfile, f)
            got = b""
            while len(got) < 13000:
                got += b.recv(65536)
            assert sender.get(timeout=5) == 13000
            return got

    assert shoal.run(main) == b"file contents" * 1000


def _sendfile_outcome(
    pair: Callable[[], tuple[stdlib.socket, stdlib.socket]],
    path: str,
    position: int,
    kwargs: dict[str, object],
) -> tuple[object, ...]:
    """What ``sendfile(**kwargs)`` from ``path``, opened and moved to
    ``position``, did on ``pair()``: its result (or error), the bytes that
    came, and the file's position afterwards."""
    a, b = pair()
    with a, b, open(path, "rb") as f:
        f.seek(position)
        try:
            result: object = a.sendfile(f, **kwargs)  # type: ignore[arg-type]
        except Exception as e:  # compared with the stdlib's
            result = type(e)
        a.close()
        got = b""
        while chunk := b.recv(1 << 16):
            got += chunk
        return result, got, f.tell()


def test_sendfile_sends_what_the_stdlib_sends() -> None:
    """sendfile on a regular file does as the stdlib's (os.sendfile on
    Linux): it sends from ``offset`` whatever the file's position (it used
    to send from the position when ``offset`` was 0), up to ``count`` bytes
    or the end, returns how many went, and leaves the file after the last
    byte sent (where it was when nothing went)."""
    combos = [
        (position, {"offset": offset, "count": count})
        for position in (0, 3, 100)
        for offset in (0, 10, 99, 100, 250)
        for count in (None, 1, 5, 50, 1000)
    ]
    combos += [(3, {}), (3, {"offset": -1}), (3, {"count": 0}), (3, {"count": 2.0})]

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/f"
        with open(path, "wb") as f:
            f.write(bytes(range(100)))
        expected = [
            _sendfile_outcome(stdlib.socketpair, path, pos, kw) for pos, kw in combos
        ]

        def main() -> list[tuple[object, ...]]:
            return [
                _sendfile_outcome(socket.socketpair, path, pos, kw)
                for pos, kw in combos
            ]

        assert shoal.run(main) == expected


def test_sendfile_waits_for_room_cooperatively() -> None:
    """A file larger than the socket's buffers goes whole, from ``offset``
    (0 by default, wherever the file is), while another tasklet reads it."""
    content = bytes(range(251)) * 8_000  # 2 MB

    def main() -> None:
        a, b = socket.socketpair()
        with a, b, tempfile.TemporaryFile() as f:
            f.write(content)
            f.seek(5)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            b.settimeout(5)  # not for ever if a byte is missing
            for args, start in [((), 0), ((7,), 7)]:
                sender = shoal.spawn(a.sendfile, f, *args)
                got = b""
                while len(got) < len(content) - start:
                    got += b.recv(1 << 16)
                assert sender.get(timeout=10) == len(content) - start
                assert got == content[start:]
                assert f.tell() == len(content)

    shoal.run(main)


def test_non_blocking_mode_raises_like_the_stdlib() -> None:
    """setblocking(False): an operation that would wait raises BlockingIOError."""
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        assert not a.getblocking()
        with pytest.raises(BlockingIOError):
            a.recv(10)


def test_handler_failure_is_logged_and_closes_that_connection_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler's exception is logged; the server keeps serving."""

    def handler(conn: socket.socket, address: object) -> None:
        if conn.recv(10) == b"boom":
            raise ValueError("handler broke")
        conn.sendall(b"fine")

    def main() -> bytes:
        with shoal.serve_tcp(handler) as server:
            port = server.address[1]
            with socket.create_connection(("127.0.0.1", port)) as bad:
                bad.sendall(b"boom")
                assert bad.recv(10) == b""  # closed by the server
            with socket.create_connection(("127.0.0.1", port)) as good:
                good.sendall(b"hi")
                return good.recv(10)

    with caplog.at_level(logging.ERROR, logger="shoal.server"):
        assert shoal.run(main) == b"fine"
    assert "handler for" in caplog.text
    assert "handler broke" in caplog.text


def test_max_connections_makes_new_ones_wait_and_kill_ends_them() -> None:
    """With max_connections=2 a third connection is served only when one
    closes; close(kill=True) ends the connection tasklets."""
    served: list[int] = []
    handlers: list[shoal.Tasklet] = []

    def handler(conn: socket.socket, address: object) -> None:
        served.append(address[1])  # type: ignore[index]
        handlers.append(shoal.current())
        conn.recv(10)  # until the client closes

    def main() -> None:
        server = shoal.serve_tcp(handler, max_connections=2)
        port = server.address[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        shoal.sleep(0.02)
        assert len(served) == 2
        assert server.connections == 2
        clients[0].close()
        shoal.sleep(0.02)
        assert len(served) == 3
        assert [t.alive for t in handlers] == [False, True, True]
        server.close(kill=True)
        assert server.connections == 0
        # Killed, not merely forgotten: each ended with TaskletExit.
        for t in handlers[1:]:
            assert not t.alive
            assert isinstance(t.exception, shoal.TaskletExit)
        for c in clients:
            c.close()

    shoal.run(main)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        ("3", TypeError),
        (2.5, TypeError),
        (True, TypeError),
    ],
)
def test_a_bad_max_connections_is_refused_before_listening(
    bad: object, error: type[Exception]
) -> None:
    """max_connections is a positive int or None; anything else is refused
    with a message naming it, and no listening socket is left behind."""
    import gc
    import warnings

    def main() -> None:
        with pytest.raises(error, match="max_connections"):
            shoal.serve_tcp(_echo, max_connections=bad)  # type: ignore[arg-type]

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        shoal.run(main)
        gc.collect()  # an unclosed listener would warn here


def _a_reader_and_a_writer_waiting(a: socket.socket) -> tuple[shoal.Tasklet, ...]:
    """A tasklet waiting to read ``a``, and one waiting to write it (its
    send buffer full). Switches."""
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    reader = shoal.spawn(a.recv, 10)
    writer = shoal.spawn(a.sendall, b"x" * 10_000_000)
    shoal.sleep(0.01)
    assert "readable" in repr(reader)
    assert "writable" in repr(writer)
    return reader, writer


def test_closing_a_socket_wakes_its_reader_and_writer() -> None:
    """A tasklet blocked on a socket that another tasklet closes gets
    shoal.ClosedError, which is also OSError(EBADF) as in the stdlib."""

    def main() -> None:
        a, b = socket.socketpair()
        reader, writer = _a_reader_and_a_writer_waiting(a)
        a.close()
        for t in (reader, writer):
            t.join(timeout=5)
            assert isinstance(t.exception, shoal.ClosedError)
            assert isinstance(t.exception, OSError)
            assert t.exception.errno == errno.EBADF
            assert "closed by another tasklet" in str(t.exception)
        # The descriptor really went, and the hub forgot it: a new socket may
        # reuse the number and be waited on normally.
        c, d = socket.socketpair()
        with b, c, d:
            d.sendall(b"ok")
            assert c.recv(2) == b"ok"

    shoal.run(main)


def test_detaching_a_socket_wakes_its_reader_and_writer() -> None:
    """detach() while tasklets wait to read and write the socket wakes them
    with ClosedFileError, as close() does (the reader used to wait for
    ever); the descriptor stays open and works in a socket that adopts it."""

    def main() -> None:
        a, b = socket.socketpair()
        reader, writer = _a_reader_and_a_writer_waiting(a)
        fd = a.detach()
        for t in (reader, writer):
            t.join(timeout=5)
            assert isinstance(t.exception, shoal.ClosedFileError)
            assert t.exception.errno == errno.EBADF
            assert "detached by another tasklet" in str(t.exception)
        with b, socket.socket(fileno=fd) as c:
            reader = shoal.spawn(c.recv, 10)
            shoal.sleep(0)
            b.sendall(b"adopted")
            assert reader.get(timeout=5) == b"adopted"

    shoal.run(main)


def test_closing_a_socket_with_a_file_still_open_keeps_its_reader() -> None:
    """As in the stdlib, close() with a makefile() still open does not close
    the descriptor, so a reader of that file keeps waiting and gets its data."""

    def main() -> None:
        a, b = socket.socketpair()
        f = a.makefile("rb")
        reader = shoal.spawn(f.read, 2)
        shoal.sleep(0.01)
        a.close()
        b.sendall(b"hi")
        assert reader.get(timeout=5) == b"hi"
        f.close()
        b.close()

    shoal.run(main)


def test_reading_again_and_again_and_data_arriving_while_nobody_waits() -> None:
    """A reader's registration outlives each read: data that arrives while
    nobody reads is found by the next read; a detached descriptor goes on
    working in the socket that adopts it."""

    def main() -> None:
        a, b = socket.socketpair()
        with b:
            for i in range(50):
                reader = shoal.spawn(a.recv, 10)
                shoal.sleep(0)  # the reader waits
                b.sendall(b"%d" % i)
                assert reader.get(timeout=5) == b"%d" % i
            b.sendall(b"early")
            shoal.sleep(0.01)  # readable, and nobody waiting: nothing breaks
            assert a.recv(10) == b"early"
            c = socket.socket(fileno=a.detach())
            with c:
                reader = shoal.spawn(c.recv, 10)
                shoal.sleep(0)
                b.sendall(b"adopted")
                assert reader.get(timeout=5) == b"adopted"

    shoal.run(main)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_timeout_and_data_in_the_same_loop_round_lose_nothing(loop: str) -> None:
    """A read's timeout runs out while its data arrives, and the loop sees
    both in one round (this thread blocks meanwhile): the read either gets
    the data or times out, as the loop orders the two; then the data is
    still there for the next read, and the hub counts no wait left over."""
    outcomes: list[str] = []

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            for _ in range(5):
                a.settimeout(0.02)

                def read() -> bytes | None:
                    try:
                        return a.recv(10)
                    except socket.timeout:
                        return None

                reader = shoal.spawn(read)
                shoal.sleep(0)  # the reader waits, with its timeout
                b.sendall(b"data")
                time.sleep(0.05)  # blocks the thread: the hub sees both at once
                got = reader.get(timeout=5)
                outcomes.append("data" if got else "timeout")
                if got is None:
                    a.settimeout(5)
                    got = a.recv(10)
                assert got == b"data"
                assert shoal_hub().waiting == 0

    shoal.run(main, loop=loop)
    assert len(outcomes) == 5


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_readiness_seen_again_before_the_woken_reader_runs_wakes_it_once(
    loop: str,
) -> None:
    """The loop may report a socket readable again before the reader it woke
    has run (the data is not read yet, and readiness is level-triggered):
    the reader is woken once, reads once, and its next read waits as
    usual, counted once in the hub."""

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            reader = shoal.spawn(lambda: (a.recv(10), a.recv(10)))
            shoal.sleep(0.001)  # the reader waits
            b.sendall(b"x")
            runq = get_scheduler().runq
            seen: list[tuple[int, int]] = []

            def poll_thrice() -> None:
                # As the loop does when it polls again before the reader runs
                # (it may have polled once already: the order is the loop's).
                still_waiting = reader._blocked_on is not None
                before = shoal_hub().waiting
                for _ in range(3):
                    a._readable()
                counted_off = before - shoal_hub().waiting
                seen.append((list(runq).count(reader), counted_off - still_waiting))

            asyncio.get_running_loop().call_soon(poll_thrice)
            shoal.sleep(0.001)
            # The reader is queued once, and its wait counted off once in all.
            assert seen == [(1, 0)]
            b.sendall(b"y")
            assert reader.get(timeout=5) == (b"x", b"y")
            assert shoal_hub().waiting == 0

    shoal.run(main, loop=loop)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_sendall_of_more_than_the_buffer_arrives_whole_and_in_order(kind: type) -> None:
    """sendall of megabytes (many partial sends, waits between them) delivers
    every byte once, in order, whatever the buffer type."""
    payload = bytes(range(251)) * 40_000  # 10 MB, not a multiple of 256

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            sender = shoal.spawn(a.sendall, kind(payload))
            got = bytearray()
            while len(got) < len(payload):
                got += b.recv(1 << 16)
            sender.get(timeout=10)
            assert got == payload

    shoal.run(main)


def test_sockets_that_waited_leave_no_cyclic_garbage() -> None:
    """A socket keeps its reader's wait between reads; that must not make a
    reference cycle (an unclosed socket would then wait for the collector)."""
    import gc

    def main() -> None:
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                a, b = socket.socketpair()
                reader = shoal.spawn(a.recv, 10)
                shoal.sleep(0)
                b.sendall(b"x")
                assert reader.get(timeout=5) == b"x"
                a.close()
                b.close()
            assert gc.collect() == 0
        finally:
            gc.enable()

    shoal.run(main)


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected shoal sockets on 127.0.0.1 (TCP). Switches."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    server.settimeout(None)
    client.settimeout(None)
    return client, server


def _read_ops(sock: socket.socket) -> dict[str, Callable[[], object]]:
    """Each way to read ``sock``, as a call that would read 10 bytes."""
    return {
        "recv": lambda: sock.recv(10),
        "recv_into": lambda: sock.recv_into(bytearray(10)),
        "recvfrom": lambda: sock.recvfrom(10),
        "recvfrom_into": lambda: sock.recvfrom_into(bytearray(10)),
        "recvmsg": lambda: sock.recvmsg(10),
        "recvmsg_into": lambda: sock.recvmsg_into([bytearray(10)]),
        "makefile": lambda: _read_through_a_file(sock),
    }


def _read_through_a_file(sock: socket.socket) -> bytes | None:
    with sock.makefile("rb", buffering=0) as f:
        return f.read(10)


@pytest.mark.parametrize(
    "op",
    [
        "recv",
        "recv_into",
        "recvfrom",
        "recvfrom_into",
        "recvmsg",
        "recvmsg_into",
        "makefile",
    ],
)
def test_a_second_reader_is_busy_even_when_its_read_would_not_block(op: str) -> None:
    """While a tasklet waits to read a socket, another tasklet's read of it
    raises BusyError, naming the socket and the reader, even with data
    already there (it would otherwise take the data the first one waits
    for); the first one then gets it."""

    def main() -> None:
        a, b = _tcp_pair()
        with a, b:
            first = shoal.spawn(a.recv, 100)
            first.name = "the-first-reader"
            shoal.sleep(0.001)  # it waits, registered as the reader
            b.sendall(b"data")
            # The data is there; the hub has not woken the reader yet.
            assert select.select([a], [], [], 5)[0] == [a]
            with pytest.raises(shoal.BusyError) as info:
                _read_ops(a)[op]()
            assert repr(a) in str(info.value)
            assert "is already being read by <Tasklet 'the-first-reader'" in str(
                info.value
            )
            assert first.get(timeout=5) == b"data"

    shoal.run(main)


def test_a_second_acceptor_is_busy_even_when_its_accept_would_not_block() -> None:
    """While a tasklet waits in accept, another tasklet's accept of the
    same listener raises BusyError even with a connection waiting (it would
    take the one the first waits for); the first then gets it."""

    def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            first = shoal.spawn(listener.accept)
            shoal.sleep(0.001)  # it waits, registered as the reader
            # A blocking stdlib connect: the hub does not run meanwhile.
            import socket as stdlib

            client = stdlib.create_connection(listener.getsockname(), timeout=5)
            with client:
                assert select.select([listener], [], [], 5)[0] == [listener]
                with pytest.raises(shoal.BusyError, match="already being read by"):
                    listener.accept()
                conn, _ = first.get(timeout=5)
                conn.close()

    shoal.run(main)


def _write_ops(sock: socket.socket, file: object) -> dict[str, Callable[[], object]]:
    """Each way to write ``sock``, as a call that sends a few b"Y"."""
    return {
        "send": lambda: sock.send(b"Y" * 10),
        "sendall": lambda: sock.sendall(b"Y" * 10),
        "sendto": lambda: sock.sendto(b"Y" * 10, sock.getpeername()),
        "sendmsg": lambda: sock.sendmsg([b"Y" * 10]),
        "sendfile": lambda: sock.sendfile(file),
    }


@pytest.mark.parametrize("op", ["send", "sendall", "sendto", "sendmsg", "sendfile"])
def test_a_second_writer_is_busy_even_when_its_write_would_not_block(op: str) -> None:
    """While a tasklet's sendall waits for room, another tasklet's write
    raises BusyError even once there is room (its bytes would otherwise land
    inside the first one's message); the first message arrives whole."""
    payload = bytes(range(251)) * 2_000  # 502 KB, more than the buffers hold

    def main() -> None:
        a, b = _tcp_pair()
        with a, b, tempfile.TemporaryFile() as f:
            f.write(b"Y" * 10)
            f.seek(0)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            first = shoal.spawn(a.sendall, payload)
            first.name = "the-first-writer"
            shoal.sleep(0.01)  # it waits for room, registered as the writer
            assert "writable" in repr(first)
            got = bytearray()
            b.setblocking(False)
            # Make room without switching (the writer is not woken): read
            # what arrived until the kernel reports `a` writable.
            for _ in range(1000):
                with contextlib.suppress(BlockingIOError):
                    while chunk := b.recv(1 << 16):
                        got += chunk
                if select.select([], [a], [], 0)[1]:
                    break
                time.sleep(0.001)
            else:
                pytest.fail("no room for the second writer")
            with pytest.raises(shoal.BusyError) as info:
                _write_ops(a, f)[op]()
            assert repr(a) in str(info.value)
            assert "is already being written by <Tasklet 'the-first-writer'" in str(
                info.value
            )
            b.settimeout(5)
            while len(got) < len(payload):
                got += b.recv(1 << 16)
            first.get(timeout=5)
            assert got == payload

    shoal.run(main)


def test_the_module_has_every_public_name_of_the_stdlibs() -> None:
    """A drop-in: each public name of the stdlib module (but the modules it
    imports for itself) is here, shoal's own where it has one; ``__all__``
    is the stdlib's."""
    import socket as stdlib
    import types

    public = {
        name
        for name in dir(stdlib)
        if not name.startswith("_")
        and not isinstance(getattr(stdlib, name), types.ModuleType)
    }
    ours = {n for n in dir(socket) if not n.startswith("_")}
    assert public - ours == set()
    assert sorted(socket.__all__) == sorted(stdlib.__all__)
    cooperative = {
        "create_connection",
        "create_server",
        "fromfd",
        "getaddrinfo",
        "getfqdn",
        "gethostbyaddr",
        "gethostbyname",
        "gethostbyname_ex",
        "getnameinfo",
        "socket",
        "socketpair",
    }
    for name in public:
        same = getattr(socket, name) is getattr(stdlib, name)
        assert same is (name not in cooperative), name
    for name in ("AddressInfo", "MsgFlag", "SocketIO", "AddressFamily", "EAGAIN"):
        assert getattr(socket, name) is getattr(stdlib, name)


def _closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def test_create_connection_all_errors() -> None:
    """As the stdlib's: with all_errors=True every attempt's error comes in
    an ExceptionGroup; without it, the single error."""

    def main() -> None:
        port = _closed_port()
        with pytest.raises(ExceptionGroup) as info:
            socket.create_connection(("127.0.0.1", port), timeout=5, all_errors=True)
        assert str(info.value).startswith("create_connection failed")
        [refused] = info.value.exceptions
        assert isinstance(refused, ConnectionRefusedError)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), 5, None, all_errors=False)

    shoal.run(main)


def _full_tcp_listener() -> tuple[stdlib.socket, list[stdlib.socket]]:
    """A TCP listener on 127.0.0.1 with backlog 0, and clients that fill its
    queue so that a further connect hangs (its SYNs dropped). Does not
    switch."""
    listener = stdlib.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    clients = []
    for _ in range(4):
        c = stdlib.socket()
        c.setblocking(False)
        c.connect_ex(listener.getsockname())
        clients.append(c)
    return listener, clients


def test_create_connection_closes_its_socket_when_interrupted() -> None:
    """A kill or a timeout scope's expiry while create_connection waits to
    connect closes the socket it was trying, as an error does: nothing is
    left for the garbage collector (ResourceWarning)."""
    import gc
    import warnings

    def main() -> None:
        listener, clients = _full_tcp_listener()
        with listener, contextlib.ExitStack() as stack:
            for c in clients:
                stack.enter_context(c)
            address = listener.getsockname()
            with shoal.move_on_after(0.2) as scope:
                socket.create_connection(address)
            assert scope.cancelled_caught
            gc.collect()  # an unclosed socket would warn here
            connecting = shoal.spawn(socket.create_connection, address)
            shoal.sleep(0.05)
            connecting.kill()
            assert connecting.dead
            # The killed tasklet's exception keeps the frames, and with them
            # the socket, alive: it must be closed already, not collected.
            gc.collect()
            left = [
                s
                for s in gc.get_objects()
                if isinstance(s, socket.socket) and s.fileno() != -1
            ]
            assert left == []

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        shoal.run(main)
        gc.collect()


def test_close_kill_from_a_handler_ends_the_others_and_returns() -> None:
    """close(kill=True) called by a connection's own handler ends every
    other connection (one not even started yet included) and returns to
    the caller, whose connection ends when its handler returns."""
    events: list[str] = []

    def handler(conn: socket.socket, address: object) -> None:
        data = None
        try:
            data = conn.recv(10)
            if data == b"stop":
                server.close(kill=True)
                events.append(f"close returned, {server.connections} left")
                conn.sendall(b"bye")
        finally:
            events.append(f"handler ended after {data!r}")

    def main() -> None:
        nonlocal server
        server = shoal.serve_tcp(handler)
        address = server.address
        waiting = [socket.create_connection(address, timeout=5) for _ in range(2)]
        stopper = socket.create_connection(address, timeout=5)
        for _ in range(100):
            if server.connections == 3:
                break
            shoal.sleep(0.001)
        assert server.connections == 3
        # The stop and a fourth connection in one poll of the hub: the
        # fourth's tasklet is made but has not run when the handler closes.
        stopper.sendall(b"stop")
        late = socket.socket()
        late.setblocking(False)
        assert late.connect_ex(address) in (0, errno.EINPROGRESS)
        late.settimeout(5)
        assert stopper.recv(10) == b"bye"
        server.serve_forever()  # returns: the server is closed
        for c in [*waiting, late]:
            assert c.recv(10) == b""  # closed by the server
            c.close()
        assert stopper.recv(10) == b""
        stopper.close()
        assert server.connections == 0

    server: shoal.Server
    shoal.run(main)
    # The two waiting handlers, then the caller; the late connection's
    # handler never ran.
    assert events == [
        "handler ended after None",
        "handler ended after None",
        "close returned, 1 left",
        "handler ended after b'stop'",
    ]


def test_recvmsg_and_sendmsg_wait_like_recv_and_send() -> None:
    """recvmsg, recvmsg_into and sendmsg (and so the stdlib's recv_fds and
    send_fds) wait cooperatively on a blocking socket instead of raising
    BlockingIOError from the non-blocking descriptor."""

    def main() -> None:
        a, b = _tcp_pair()
        with a, b:
            reader = shoal.spawn(a.recvmsg, 10)
            shoal.sleep(0.001)  # it waits
            assert b.sendmsg([b"he", b"llo"]) == 5
            assert reader.get(timeout=5)[0] == b"hello"
            buffer = bytearray(10)
            reader = shoal.spawn(a.recvmsg_into, [buffer])
            shoal.sleep(0.001)
            b.sendall(b"into")
            assert reader.get(timeout=5)[0] == 4
            assert buffer[:4] == b"into"

    shoal.run(main)


def test_accept_gives_the_default_timeout_not_the_listeners() -> None:
    """As the stdlib's: the accepted socket has ``getdefaulttimeout()``
    (normally None, blocking), whatever the listener's timeout."""

    def accepted_timeout(listener_timeout: float | None) -> float | None:
        with (
            socket.create_server(("127.0.0.1", 0)) as listener,
            socket.create_connection(listener.getsockname(), timeout=5),
        ):
            listener.settimeout(listener_timeout)
            conn, _ = listener.accept()
            with conn:
                return conn.gettimeout()

    def main() -> None:
        assert accepted_timeout(5) is None
        assert accepted_timeout(0) is None
        assert accepted_timeout(None) is None
        socket.setdefaulttimeout(2.5)
        try:
            assert accepted_timeout(5) == 2.5
            assert accepted_timeout(None) == 2.5
        finally:
            socket.setdefaulttimeout(None)

    shoal.run(main)


def test_sendall_timeout_bounds_the_whole_call() -> None:
    """As the stdlib's since 3.5: ``settimeout(t)`` bounds the whole sendall,
    not each partial send. A reader that takes a little every 20 ms keeps
    every single wait short; sendall still raises shoal.TimeoutError (which
    is socket.timeout) once 0.3 s have passed. A reader that keeps up lets a
    sendall under a timeout finish."""

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(0.3)
            done = [False]

            def slow_reader() -> None:
                end = time.monotonic() + 10
                while not done[0] and time.monotonic() < end:
                    shoal.sleep(0.02)
                    b.recv(65536)

            reader = shoal.spawn(slow_reader)
            started = time.monotonic()
            with pytest.raises(socket.timeout) as info:
                a.sendall(b"x" * 8_000_000)  # ~2.5 s at this reader's pace
            elapsed = time.monotonic() - started
            done[0] = True
            reader.join(timeout=5)
            assert isinstance(info.value, shoal.TimeoutError)
            assert 0.25 < elapsed < 1.0, elapsed

        a, b = socket.socketpair()
        with a, b:
            a.settimeout(5)
            payload = bytes(range(256)) * 20_000
            sender = shoal.spawn(a.sendall, payload)
            got = bytearray()
            while len(got) < len(payload):
                got += b.recv(1 << 16)
            sender.get(timeout=10)
            assert got == payload

    shoal.run(main)


def _full_unix_listener(path: str) -> tuple[socket.socket, list[socket.socket]]:
    """A Unix listener on ``path`` whose backlog is full, and the clients
    (connected, not accepted) that filled it. Does not switch."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    clients: list[socket.socket] = []
    for _ in range(10):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            c.close()
            return listener, clients
        clients.append(c)
    raise AssertionError("the backlog never filled")


@pytest.mark.skipif(sys.platform != "linux", reason="Linux's EAGAIN from connect")
def test_unix_connect_to_a_full_backlog_waits_until_accepted() -> None:
    """A Unix-domain connect to a listener whose backlog is full (EAGAIN)
    waits, as the stdlib's blocking connect does, until the listener accepts
    and it really connects (it used to return at once, unconnected)."""

    def main() -> None:
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            path = f"{tmp}/s"
            listener, early = _full_unix_listener(path)
            for s in [listener, *early]:
                stack.enter_context(s)
            accepted: list[socket.socket] = []

            def acceptor() -> None:
                shoal.sleep(0.2)
                for _ in range(len(early) + 3):
                    conn = stack.enter_context(listener.accept()[0])
                    accepted.append(conn)

            serving = shoal.spawn(acceptor)
            started = time.monotonic()
            for timeout in (None, 5, None):
                c = stack.enter_context(socket.socket(socket.AF_UNIX))
                c.settimeout(timeout)
                c.connect(path)
                assert c.getpeername() == path
                c.sendall(b"x")
            assert 0.15 < time.monotonic() - started < 5
            serving.get(timeout=5)
            # The three connects that waited went through: their bytes came.
            assert [conn.recv(1) for conn in accepted[len(early) :]] == [b"x"] * 3

    shoal.run(main)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux's EAGAIN from connect")
def test_unix_connect_to_a_full_backlog_times_out_or_is_woken_by_close() -> None:
    """A connect waiting on a full backlog raises shoal.TimeoutError after
    the socket's timeout, BlockingIOError at once under timeout 0, and
    ClosedFileError when another tasklet closes the socket."""

    def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/s"
            listener, early = _full_unix_listener(path)
            with listener, contextlib.ExitStack() as stack:
                for s in early:
                    stack.enter_context(s)
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                with c:
                    c.settimeout(0.2)
                    started = time.monotonic()
                    with pytest.raises(socket.timeout) as info:
                        c.connect(path)
                    assert 0.15 < time.monotonic() - started < 2
                    assert isinstance(info.value, shoal.TimeoutError)
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                with c:
                    c.setblocking(False)
                    with pytest.raises(BlockingIOError):
                        c.connect(path)
                c = stack.enter_context(socket.socket(socket.AF_UNIX))
                waiter = shoal.spawn(c.connect, path)
                shoal.sleep(0.05)
                assert "to connect (the listener's backlog is full)" in repr(waiter)
                c.close()
                waiter.join(timeout=5)
                assert isinstance(waiter.exception, shoal.ClosedFileError)

    shoal.run(main)


def _failing_accepts(monkeypatch: pytest.MonkeyPatch, errors: list[int]) -> list[int]:
    """Make the next accepts of any shoal socket fail with these errno
    values, one each (a fault the kernel gives under load); returns the
    list, emptied as they are used."""
    real = socket.socket.accept

    def accept(self: socket.socket) -> tuple[socket.socket, object]:
        if errors:
            code = errors.pop(0)
            raise OSError(code, f"injected {errno.errorcode[code]}")
        return real(self)

    monkeypatch.setattr(socket.socket, "accept", accept)
    return errors


def test_a_server_accepts_again_after_running_out_of_descriptors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """EMFILE (and a connection reset before it was accepted) is logged,
    and the server goes on accepting: the next client is served."""
    left = _failing_accepts(monkeypatch, [errno.EMFILE, errno.ECONNABORTED])

    def main() -> bytes:
        with (
            shoal.serve_tcp(_echo) as server,
            socket.create_connection(server.address, timeout=5) as c,
        ):
            c.sendall(b"still served")
            return c.recv(100)

    with caplog.at_level(logging.WARNING, logger="shoal.server"):
        assert shoal.run(main) == b"still served"
    assert left == []
    assert "EMFILE" in caplog.text
    assert "ECONNABORTED" in caplog.text


def test_a_server_whose_accept_fails_for_good_says_so_in_serve_forever(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any other accept failure closes the server, and serve_forever raises
    it rather than returning as if close() had been called."""
    _failing_accepts(monkeypatch, [errno.EINVAL])

    def main() -> str:
        server = shoal.serve_tcp(_echo)
        with pytest.raises(OSError, match="injected EINVAL"):
            server.serve_forever()
        return repr(server)

    assert "closed" in shoal.run(main)
    assert "injected EINVAL" in capsys.readouterr().err  # the acceptor's report


def _stolen_reads(sock: socket.socket) -> Callable[[], None]:
    """A competing consumer of ``sock``'s descriptor (another socket object
    on a duplicate, as in a pre-forked server), watched by the hub's loop
    too: in each loop round where data arrives, its callback takes it before
    ``sock``'s woken reader runs, so each wake-up finds nothing. And a
    tasklet feeding datagrams to it. Returns a stopper."""
    import os
    import socket as stdlib

    other = stdlib.socket(fileno=os.dup(sock.fileno()))
    other.setblocking(False)
    loop = shoal_hub().loop

    def steal() -> None:
        with contextlib.suppress(BlockingIOError):
            other.recv(100)

    loop.add_reader(other.fileno(), steal)
    sender = stdlib.socket(stdlib.AF_INET, stdlib.SOCK_DGRAM)

    def feed() -> None:
        for _ in range(1000):
            sender.sendto(b"x", sock.getsockname())
            shoal.sleep(0.02)

    feeder = shoal.spawn(feed)

    def stop() -> None:
        feeder.kill()
        loop.remove_reader(other.fileno())
        other.close()
        sender.close()

    return stop


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_socket_timeout_bounds_the_call_across_wake_ups_that_find_nothing(
    loop: str,
) -> None:
    """As the stdlib's: the timeout is one deadline for the whole call, not
    a fresh one at each wake-up whose data another consumer took first."""

    def main() -> tuple[bool, float]:
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with a:
            a.bind(("127.0.0.1", 0))
            stop = _stolen_reads(a)
            a.settimeout(0.2)
            t0 = time.monotonic()
            timed_out = False
            with shoal.move_on_after(3):
                try:
                    a.recvfrom(100)
                except socket.timeout:
                    timed_out = True
            elapsed = time.monotonic() - t0
            stop()
            return timed_out, elapsed

    timed_out, elapsed = shoal.run(main, loop=loop)
    assert timed_out
    assert elapsed < 1.5  # 0.2 s, with wide slack; a restarting one runs to 3


_DONTWAIT_READS: dict[str, Callable[[socket.socket], object]] = {
    "recv": lambda s: s.recv(10, socket.MSG_DONTWAIT),
    "recv_into": lambda s: s.recv_into(bytearray(10), 10, socket.MSG_DONTWAIT),
    "recvfrom": lambda s: s.recvfrom(10, socket.MSG_DONTWAIT),
    "recvfrom_into": lambda s: s.recvfrom_into(bytearray(10), 10, socket.MSG_DONTWAIT),
    "recvmsg": lambda s: s.recvmsg(10, 0, socket.MSG_DONTWAIT),
}


@pytest.mark.skipif(not hasattr(socket, "MSG_DONTWAIT"), reason="no MSG_DONTWAIT")
@pytest.mark.parametrize("op", sorted(_DONTWAIT_READS))
def test_msg_dontwait_raises_instead_of_waiting_as_in_the_stdlib(op: str) -> None:
    """MSG_DONTWAIT on a blocking socket asks for BlockingIOError rather
    than a wait: the stdlib gives it at once, and so does shoal."""

    def main() -> str:
        a, b = socket.socketpair()
        with a, b:
            with shoal.move_on_after(2) as scope, contextlib.suppress(BlockingIOError):
                _DONTWAIT_READS[op](a)
                return "returned"
            return "waited" if scope.cancelled_caught else "BlockingIOError"

    assert shoal.run(main) == "BlockingIOError"


@pytest.mark.skipif(
    not hasattr(socket, "MSG_DONTWAIT") or not hasattr(socket, "AF_UNIX"),
    reason="no MSG_DONTWAIT or no Unix sockets",
)
@pytest.mark.parametrize("op", ["send", "sendall", "sendto", "sendmsg"])
def test_msg_dontwait_on_a_full_socket_raises_instead_of_waiting(op: str) -> None:
    """As above for writes to a socket whose buffer is full."""
    writes: dict[str, Callable[[socket.socket, bytes], object]] = {
        "send": lambda s, d: s.send(d, socket.MSG_DONTWAIT),
        "sendall": lambda s, d: s.sendall(d, socket.MSG_DONTWAIT),
        "sendto": lambda s, d: s.sendto(d, socket.MSG_DONTWAIT, s.getpeername()),
        "sendmsg": lambda s, d: s.sendmsg([d], [], socket.MSG_DONTWAIT),
    }

    def main(path: str) -> str:
        # Datagrams to a bound Unix socket: sendto can name its address.
        b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            b.bind(path)
            a.connect(path)
            a.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                for _ in range(100_000):  # fill the receiver's queue
                    a.send(b"x" * 1024)
            a.setblocking(True)
            with shoal.move_on_after(2) as scope, contextlib.suppress(BlockingIOError):
                writes[op](a, b"y" * 1024)
                return "returned"
            return "waited" if scope.cancelled_caught else "BlockingIOError"

    with tempfile.TemporaryDirectory() as d:
        assert shoal.run(main, f"{d}/sock") == "BlockingIOError"


@pytest.mark.parametrize("op", ["sendto", "sendmsg"])
def test_sendto_a_host_name_resolves_it_in_a_thread(
    op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sendto((name, port)) and sendmsg(..., (name, port)) look the name up
    without blocking the hub, as connect does (the C call looked it up
    itself, blocking the hub's thread); the datagram arrives."""
    import socket as stdlib
    import threading

    real = stdlib.getaddrinfo
    threads: list[threading.Thread] = []

    def recording(*a: object, **kw: object) -> object:
        threads.append(threading.current_thread())
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(stdlib, "getaddrinfo", recording)

    def main() -> bytes:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            address = ("localhost", rx.getsockname()[1])
            if op == "sendto":
                tx.sendto(b"by name", address)
            else:
                tx.sendmsg([b"by name"], [], 0, address)
            return rx.recv(100)

    assert shoal.run(main) == b"by name"
    assert threads
    assert all(t is not threading.main_thread() for t in threads)


@pytest.mark.parametrize("mode", ["rb", "r", "rwb"])
def test_a_second_reader_of_a_socket_file_is_busy_and_close_wakes_the_reader(
    mode: str,
) -> None:
    """A file from makefile() is shared as the socket is: a second tasklet
    reading it gets BusyError (not the buffer's RuntimeError); closing it
    wakes the reader with ClosedFileError; the socket goes on working."""

    def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            f = a.makefile(mode)
            reader = shoal.spawn(f.readline)
            shoal.sleep(0.01)
            with pytest.raises(shoal.BusyError, match="already being read"):
                f.read(1)
            f.close()
            with pytest.raises(shoal.ClosedFileError):
                reader.get(timeout=5)
            b.sendall(b"still works\n")
            assert a.recv(100) == b"still works\n"

    shoal.run(main)


def test_a_socket_file_for_reading_and_writing_has_one_reader_and_one_writer() -> None:
    """makefile("rwb"): a reader waiting in it does not keep a writer out."""

    def main() -> bytes:
        a, b = socket.socketpair()
        with a, b, a.makefile("rwb") as f, b.makefile("rwb") as g:
            reader = shoal.spawn(f.readline)
            shoal.sleep(0.01)
            f.write(b"ping\n")
            f.flush()
            assert g.readline() == b"ping\n"
            g.write(b"pong\n")
            g.flush()
            return reader.get(timeout=5)

    assert shoal.run(main) == b"pong\n"


def _outcome(call: Callable[..., object], *args: object) -> tuple[object, ...]:
    """What ``call(*args)`` did: ("ok", its value) or (its exception's type,
    message)."""
    try:
        return ("ok", call(*args))
    except Exception as e:
        return (type(e), str(e))


class _Index:
    """An integer that is not an int (``__index__``), as numpy's are."""

    def __index__(self) -> int:
        return 3

    def __repr__(self) -> str:
        return "_Index()"


@pytest.mark.parametrize(
    "value",
    [
        *(float("nan"), float("inf"), float("-inf"), 1e300, 9.3e9, 9223372037),
        *(2**70, -(2**70), "1", "x", b"1", [1], fractions.Fraction(1, 2)),
        *(-1, -1e-10, -0.0, None, 0, True, False, 1.5, 1e-12, 0.1 + 0.2),
        *(9.2e9, 9223372036, _Index()),
    ],
    ids=repr,
)
def test_settimeout_takes_and_refuses_what_the_stdlibs_does(value: object) -> None:
    """The stdlib's checks: NaN is ValueError (shoal took it, and a NaN
    deadline stopped every timer of the hub), infinity and anything past
    2**63 ns OverflowError, a str TypeError (shoal took "1"), with the same
    messages; and the same value back (rounded up to nanoseconds)."""
    with stdlib.socket() as theirs, socket.socket() as ours:
        for s in (theirs, ours):
            s.settimeout(7)
        want = _outcome(lambda: (theirs.settimeout(value), theirs.gettimeout()))  # type: ignore[arg-type]
        got = _outcome(lambda: (ours.settimeout(value), ours.gettimeout()))  # type: ignore[arg-type]
        assert got == want
        assert ours.gettimeout() == theirs.gettimeout()  # a refused one changes nothing


@pytest.mark.parametrize(
    "flag",
    [
        float("nan"),
        1e300,
        0.0,
        "x",
        b"",
        None,
        2**70,
        -(2**70),
        -1,
        2,
        0,
        True,
        False,
        _Index(),
    ],
    ids=repr,
)
def test_setblocking_takes_and_refuses_what_the_stdlibs_does(flag: object) -> None:
    """An integer (``__index__``) that fits a C long, as the stdlib's: shoal
    took any value, by its truth (setblocking("x") made a socket blocking)."""
    with stdlib.socket() as theirs, socket.socket() as ours:
        for s in (theirs, ours):
            s.settimeout(7)

        def call(s: stdlib.socket) -> object:
            s.setblocking(flag)  # type: ignore[arg-type]
            return s.gettimeout(), s.getblocking()

        assert _outcome(lambda: call(ours)) == _outcome(lambda: call(theirs))
        assert ours.gettimeout() == theirs.gettimeout()


def test_settimeout_and_setblocking_on_a_closed_socket_are_ebadf() -> None:
    """As the stdlib's, whose calls set the descriptor's mode."""
    for make in (stdlib.socket, socket.socket):
        s = make()
        s.close()
        for call, arg in [(s.settimeout, 1), (s.settimeout, None), (s.setblocking, 1)]:
            with pytest.raises(OSError, match="Bad file descriptor") as info:
                call(arg)
            assert info.value.errno == errno.EBADF


_ADDRESSES = [
    *("str", 5, None, ["127.0.0.1", 9], ("127.0.0.1",), ("127.0.0.1", 9, 0)),
    *(("127.0.0.1", 70000), ("127.0.0.1", -1), ("127.0.0.1", 9.5), ("127.0.0.1", "9")),
    *(("localhost", None), ("localhost", "9"), ("localhost", 9.5)),
    *(("localhost", 70000), ("localhost", 2**40), ("localhost", _Index())),
    *((None, 9), (1, 9), ("\x00", 9), ("local\x00host", 9), ("a\udc80", 9)),
    *(("no.such.host.invalid", "x"), ("no.such.host.invalid", 2**40)),
    *(("<broadcast>", 9), ("", 9), (b"127.0.0.1", 9), (bytearray(b"localhost"), 9)),
]


@pytest.mark.parametrize("address", _ADDRESSES, ids=repr)
def test_an_address_gets_the_stdlibs_answer(address: object) -> None:
    """connect, connect_ex and sendto (with and without flags) of a UDP
    socket: the stdlib's value, or its exception and message. shoal looked
    a str up as a host ("Servname not supported"), a port given as a str or
    None too (("localhost", None) connected to port 0), subscripted an int
    address, said "connect_ex():" in connect's errors, and connect_ex
    returned a lookup's error number instead of raising. A malformed
    address is refused before any lookup, as by the stdlib."""
    calls: dict[str, Callable[[stdlib.socket], object]] = {
        "connect": lambda s: s.connect(address),  # type: ignore[arg-type]
        "connect_ex": lambda s: s.connect_ex(address),  # type: ignore[arg-type]
        "sendto": lambda s: s.sendto(b"x", address),  # type: ignore[call-overload]
        "sendto flags": lambda s: s.sendto(b"x", 0, address),  # type: ignore[call-overload]
    }

    def main() -> None:
        for name, call in calls.items():
            with stdlib.socket(stdlib.AF_INET, stdlib.SOCK_DGRAM) as theirs:
                want = _outcome(call, theirs)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ours:
                got = _outcome(call, ours)
            assert (name, got) == (name, want)

    shoal.run(main)


def test_a_malformed_address_is_never_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stdlib refuses it before any lookup; shoal looked it up in a
    thread first."""
    looked_up: list[object] = []

    def recording(host: object, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        raise AssertionError("looked up")

    monkeypatch.setattr(stdlib, "getaddrinfo", recording)

    def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for address in [
                ("localhost", None),
                ("localhost", "9"),
                ("localhost", 2**40),
                ("localhost", 9, 0),
                "localhost",
            ]:
                with pytest.raises((TypeError, OverflowError)):
                    s.sendto(b"x", address)
                with pytest.raises((TypeError, OverflowError)):
                    s.connect_ex(address)

    shoal.run(main)
    assert looked_up == []


def test_connect_ex_raises_for_a_name_that_does_not_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the stdlib's: connect_ex returns the error number of a connect
    that failed, not of a lookup (shoal returned -2, EAI_NONAME)."""

    def unknown(*args: object, **kwargs: object) -> object:
        raise stdlib.gaierror(stdlib.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(stdlib, "getaddrinfo", unknown)

    def main() -> None:
        with socket.socket() as s:
            with pytest.raises(socket.gaierror) as info:
                s.connect_ex(("no.such.host.invalid", 80))
            assert info.value.errno == socket.EAI_NONAME

    shoal.run(main)


def test_connect_ex_returns_the_stdlibs_error_numbers() -> None:
    """A refused connect and a connect that times out (a listener whose
    backlog is full drops the SYN): ECONNREFUSED and EWOULDBLOCK, as the
    stdlib's connect_ex (shoal returned EIO for the timeout); connect of
    an already connected socket raises EISCONN, connect_ex returns it
    (shoal took it for success)."""

    def outcomes(make: Callable[[], stdlib.socket]) -> list[object]:
        got: list[object] = []
        with stdlib.socket() as listener, stdlib.socket() as closed:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
            with make() as s:
                s.settimeout(5)
                got.append(s.connect_ex(closed.getsockname()))
            with make() as s:
                s.settimeout(5)
                # A second connect of a connected socket may report the
                # first's success (gVisor does); a third is EISCONN.
                for _ in range(3):
                    got.append(s.connect_ex(listener.getsockname()))
                got.append(_outcome(s.connect, listener.getsockname()))
            fillers = [stdlib.socket() for _ in range(5)]
            try:
                for f in fillers:
                    f.setblocking(False)
                    f.connect_ex(listener.getsockname())
                with make() as s:
                    s.settimeout(0.1)
                    got.append(s.connect_ex(listener.getsockname()))
            finally:
                for f in fillers:
                    f.close()
        return got

    want = outcomes(stdlib.socket)
    assert want[:2] == [errno.ECONNREFUSED, 0]
    assert want[3] == errno.EISCONN
    assert want[5] == errno.EWOULDBLOCK
    assert shoal.run(outcomes, socket.socket) == want


@pytest.mark.skipif(not stdlib.has_ipv6, reason="no IPv6")
def test_an_ipv6_address_by_name_keeps_its_flowinfo_and_scope_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the host of (host, port, flowinfo, scope_id) is looked up; the
    rest goes to the C call as given (shoal dropped it, so a flowinfo out of
    range connected), as the stdlib's does for the same address by number."""
    real = stdlib.getaddrinfo

    def v6(host: object, *args: object, **kwargs: object) -> object:
        assert host in ("ip6-shoal-test", b"ip6-shoal-test")
        return real("::1", *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stdlib, "getaddrinfo", v6)

    def answers(mod: object, host: str) -> list[object]:
        got = []
        for address in [(host, 9, 2**21), (host, 9, 0, 0), (host, 9, 1, 2, 3)]:
            with mod.socket(stdlib.AF_INET6, stdlib.SOCK_DGRAM) as s:  # type: ignore[attr-defined]
                got.append(_outcome(s.connect, address))
                got.append(_outcome(s.sendto, b"x", address))
        return got

    try:
        want = answers(stdlib, "::1")
    except OSError:  # pragma: no cover - no IPv6 loopback here
        pytest.skip("no IPv6 loopback")
    assert shoal.run(answers, socket, "ip6-shoal-test") == want


_ZERO_READS: dict[str, tuple[Callable[[socket.socket], object], object]] = {
    "recv": (lambda s: s.recv(0), b""),
    "recv_into": (lambda s: s.recv_into(bytearray(0)), 0),
    "recv_into nbytes": (lambda s: s.recv_into(bytearray(0), 0), 0),
}


@pytest.mark.parametrize("op", sorted(_ZERO_READS))
def test_a_zero_byte_read_returns_at_once_as_the_stdlibs(op: str) -> None:
    """recv(0) and a recv_into of nothing return b'' and 0 at once, as the
    stdlib's do, even right after a short read (which makes the next read
    wait for data first)."""

    def main() -> object:
        a, b = socket.socketpair()
        with a, b:
            b.sendall(b"x")
            assert a.recv(10) == b"x"  # short: the next read would wait
            with shoal.move_on_after(2) as scope:
                got = read(a)
            assert not scope.cancelled_caught
            return got

    read, expected = _ZERO_READS[op]
    assert shoal.run(main) == expected
