"""shoal.socket's edge cases against the stdlib's: bad arguments, MSG_WAITALL,
a second connect, a full Unix datagram receiver, sendall's odd data, and
serve_tcp on IPv6. On real sockets, on the loopback."""

from __future__ import annotations

import array
import contextlib
import errno
import os
import socket as stdlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

import shoal
import shoal.socket as socket

# -- bad arguments to a read, right after a short one ---------------------------

#: Each: a read with a bad argument; the stdlib raises at once.
_BAD_READS: dict[str, Callable[[stdlib.socket], object]] = {
    "recv(-1)": lambda s: s.recv(-1),
    "recv('x')": lambda s: s.recv("x"),  # type: ignore[arg-type]
    "recv(2.0)": lambda s: s.recv(2.0),  # type: ignore[arg-type]
    "recv(-1, MSG_WAITALL)": lambda s: s.recv(-1, stdlib.MSG_WAITALL),
    "recv(4, 'x')": lambda s: s.recv(4, "x"),  # type: ignore[arg-type]
    "recv_into(bytearray(2), 10)": lambda s: s.recv_into(bytearray(2), 10),
    "recv_into(bytes(4))": lambda s: s.recv_into(bytes(4)),
    "recv_into(bytearray(4), -1)": lambda s: s.recv_into(bytearray(4), -1),
    "recv_into(bytearray(4), 'x')": lambda s: s.recv_into(bytearray(4), "x"),  # type: ignore[arg-type]
    "recv_into(memoryview(b'abcd'))": lambda s: s.recv_into(memoryview(b"abcd")),
    "recv_into(non-contiguous)": lambda s: s.recv_into(memoryview(bytearray(8))[::2]),
    "recv_into('abcd')": lambda s: s.recv_into("abcd"),
    "recv_into(array('i', 2), 9)": lambda s: s.recv_into(array.array("i", [0, 0]), 9),
    "recv_into(bytearray(4), 0, MSG_WAITALL) of -1": lambda s: s.recv_into(
        bytearray(4), -1, stdlib.MSG_WAITALL
    ),
}


def _error_of(call: Callable[[], object]) -> tuple[type[BaseException], str]:
    try:
        call()
    except Exception as e:  # what it raises is the point
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize("name", sorted(_BAD_READS))
@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_bad_read_raises_the_stdlibs_error_at_once_after_a_short_read(
    name: str, timeout: float | None
) -> None:
    """After a short read the next one waits for data before it reads; a
    read with a bad argument must not: it raises the stdlib's error (type
    and message) at once, as the stdlib's does."""
    read = _BAD_READS[name]
    a, b = stdlib.socketpair()
    with a, b:
        a.settimeout(timeout)
        b.sendall(b"xy")
        a.recv(10)
        expected = _error_of(lambda: read(a))

    def main() -> tuple[type[BaseException], str]:
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(timeout)
            b.sendall(b"xy")
            assert a.recv(10) == b"xy"  # short: the next read would wait
            with shoal.move_on_after(2) as scope:
                got = _error_of(lambda: read(a))
            assert not scope.cancelled_caught, f"{name} waited"
            return got

    assert shoal.run(main) == expected


def test_a_read_after_a_short_one_still_waits_for_data() -> None:
    """The good reads after a short one still wait (the wait before the read
    is kept for them), and get the data when it comes."""

    def main() -> list[object]:
        a, b = socket.socketpair()
        with a, b:
            got: list[object] = []
            buffers = [
                bytearray(4),
                memoryview(bytearray(8))[2:6],
                array.array("b", [0] * 4),
            ]
            for buf in buffers:
                b.sendall(b"x")
                assert a.recv(10) == b"x"  # short

                def later() -> None:
                    shoal.sleep(0.02)
                    b.sendall(b"abcd")

                t = shoal.spawn(later)
                got.append(a.recv_into(buf))
                got.append(bytes(buf))
                t.join()
            b.sendall(b"x")
            assert a.recv(10) == b"x"
            t = shoal.spawn(lambda: (shoal.sleep(0.02), b.sendall(b"ef")))
            got.append(a.recv(True))  # not of type int: tries the C call first
            got.append(a.recv(10))
            t.join()
            return got

    assert shoal.run(main) == [4, b"abcd", 4, b"abcd", 4, b"abcd", b"e", b"f"]


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_read_of_a_closed_socket_after_a_short_read_is_ebadf(
    timeout: float | None,
) -> None:
    """As the stdlib's: OSError(EBADF), not the loop's ValueError for
    descriptor -1 (the read waited for data first)."""

    def main() -> list[object]:
        a, b = socket.socketpair()
        with b:
            a.settimeout(timeout)
            b.sendall(b"x")
            assert a.recv(10) == b"x"  # short: the next read would wait
            a.close()
            errors = []
            for read in (lambda: a.recv(10), lambda: a.recv_into(bytearray(4))):
                with pytest.raises(OSError, match="Bad file descriptor") as info:
                    read()
                errors.append(info.value.errno)
            return errors

    assert shoal.run(main) == [errno.EBADF, errno.EBADF]


# -- MSG_WAITALL ----------------------------------------------------------------

_WAITALL = stdlib.MSG_WAITALL


def _recv(s: socket.socket, n: int) -> bytes:
    return s.recv(n, _WAITALL)


def _recv_into(s: socket.socket, n: int) -> bytes:
    buf = bytearray(n + 3)
    got = s.recv_into(buf, n, _WAITALL)
    return bytes(buf[:got])


def _recvfrom(s: socket.socket, n: int) -> bytes:
    data, address = s.recvfrom(n, _WAITALL)
    assert address is None  # a stream socket's, as the stdlib's
    return data


def _recvfrom_into(s: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    got, address = s.recvfrom_into(buf, 0, _WAITALL)
    assert address is None
    return bytes(buf[:got])


_WAITALL_READS: dict[str, Callable[[socket.socket, int], bytes]] = {
    "recv": _recv,
    "recv_into": _recv_into,
    "recvfrom": _recvfrom,
    "recvfrom_into": _recvfrom_into,
}


@contextlib.contextmanager
def _stream_pair(kind: str) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair: a Unix socketpair, or TCP on 127.0.0.1. Switches."""
    with contextlib.ExitStack() as stack:
        if kind == "unix":
            a, b = socket.socketpair()
        else:
            listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            b = socket.create_connection(listener.getsockname())
            a = listener.accept()[0]
        stack.enter_context(a)
        stack.enter_context(b)
        yield a, b


def _feed(b: socket.socket, chunks: int) -> None:
    for _ in range(chunks):
        shoal.sleep(0.02)
        b.sendall(b"abcd")


@pytest.mark.parametrize("kind", ["unix", "tcp"])
@pytest.mark.parametrize("op", sorted(_WAITALL_READS))
def test_msg_waitall_without_a_timeout_waits_for_every_byte(op: str, kind: str) -> None:
    """As the stdlib's blocking socket: recv(n, MSG_WAITALL) returns n bytes,
    however many pieces they come in (it used to return the first piece)."""

    def main() -> bytes:
        with _stream_pair(kind) as (a, b):
            feeder = shoal.spawn(_feed, b, 4)
            got = _WAITALL_READS[op](a, 16)
            feeder.join()
            return got

    assert shoal.run(main) == b"abcd" * 4


@pytest.mark.parametrize("op", sorted(_WAITALL_READS))
def test_msg_waitall_returns_what_came_at_the_end_of_the_stream(op: str) -> None:
    def main() -> tuple[bytes, bytes]:
        a, b = socket.socketpair()
        with a, b:
            feeder = shoal.spawn(lambda: (_feed(b, 2), b.shutdown(socket.SHUT_WR)))
            got = _WAITALL_READS[op](a, 16)
            feeder.join()
            return got, a.recv(16, _WAITALL)

    assert shoal.run(main) == (b"abcd" * 2, b"")


def test_msg_waitall_with_a_timeout_returns_what_is_there_as_the_stdlibs() -> None:
    """With a timeout the stdlib's descriptor is non-blocking and MSG_WAITALL
    gives what has come; shoal's does the same."""

    def main() -> bytes:
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(5)
            feeder = shoal.spawn(_feed, b, 4)
            got = a.recv(16, _WAITALL)
            feeder.join()
            return got

    assert shoal.run(main) == b"abcd"


def test_msg_waitall_on_a_datagram_socket_reads_one_datagram() -> None:
    """MSG_WAITALL means nothing to a datagram socket: one datagram, as the
    stdlib's."""

    def main() -> list[bytes]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            b.send(b"ab")
            b.send(b"cd")
            return [a.recv(16, _WAITALL), a.recvfrom(16, _WAITALL)[0]]

    assert shoal.run(main) == [b"ab", b"cd"]


_INTERRUPTIONS = ["timeout scope", "kill", "throw"]


def _read_file(s: socket.socket) -> bytes:
    with s.makefile("rb") as f:
        return f.read(8)


def _interrupted(op: str, how: str, a: socket.socket, b: socket.socket) -> None:
    """Start a MSG_WAITALL read of 16 bytes, feed it 6, and interrupt it."""
    b.sendall(b"abcd")
    if how == "timeout scope":
        shoal.spawn(lambda: (shoal.sleep(0.02), b.sendall(b"ef")))
        with pytest.raises(TimeoutError), shoal.timeout(0.1):
            _WAITALL_READS[op](a, 16)
        return
    reader = shoal.spawn(_WAITALL_READS[op], a, 16)
    shoal.sleep(0.02)
    b.sendall(b"ef")
    shoal.sleep(0.02)
    assert reader.alive
    if how == "kill":
        reader.kill()
        assert isinstance(reader.exception, shoal.TaskletExit)
    else:
        reader.throw(ValueError("stop"))
        reader.join(timeout=5)
        assert isinstance(reader.exception, ValueError)


@pytest.mark.parametrize("how", _INTERRUPTIONS)
@pytest.mark.parametrize("op", sorted(_WAITALL_READS))
def test_an_interrupted_msg_waitall_read_leaves_its_bytes_to_the_next_read(
    op: str, how: str
) -> None:
    """A MSG_WAITALL read that a kill, a throw or a timeout scope ends loses
    nothing: the bytes it had taken are what the next read returns first."""

    def main() -> list[bytes]:
        a, b = socket.socketpair()
        with a, b:
            _interrupted(op, how, a, b)
            b.sendall(b"gh")
            shoal.sleep(0.02)
            return [a.recv(16), a.recv(16)]

    assert shoal.run(main) == [b"abcdef", b"gh"]


#: Reads of the bytes an interrupted read left, when b"abcdef" is left and
#: b"gh" is in the socket: what each returns, and what is left after it.
_AFTERWARDS: dict[str, tuple[Callable[[socket.socket], object], object, bytes]] = {
    "recv(4)": (lambda s: s.recv(4), b"abcd", b"efgh"),
    "recv(4, MSG_PEEK)": (lambda s: s.recv(4, socket.MSG_PEEK), b"abcd", b"abcdefgh"),
    "recv(16, MSG_DONTWAIT)": (
        lambda s: s.recv(16, socket.MSG_DONTWAIT),
        b"abcdef",
        b"gh",
    ),
    "recv(8, MSG_WAITALL)": (lambda s: s.recv(8, _WAITALL), b"abcdefgh", b""),
    "recv(0)": (lambda s: s.recv(0), b"", b"abcdefgh"),
    "recv_into(4)": (lambda s: _into(s.recv_into, 4), (4, b"abcd"), b"efgh"),
    "recv_into(8, MSG_WAITALL)": (
        lambda s: _into(lambda buf: s.recv_into(buf, 8, _WAITALL), 8),
        (8, b"abcdefgh"),
        b"",
    ),
    "recvfrom(16)": (lambda s: s.recvfrom(16), (b"abcdef", None), b"gh"),
    "recvfrom_into(16)": (
        lambda s: _into(s.recvfrom_into, 16),
        ((6, None), b"abcdef" + bytes(10)),
        b"gh",
    ),
    "recvmsg(16)": (lambda s: s.recvmsg(16), (b"abcdef", [], 0, None), b"gh"),
    "recvmsg_into": (
        lambda s: _into(lambda buf: s.recvmsg_into([buf[:2], buf[2:]]), 4),
        ((4, [], 0, None), b"abcd"),
        b"efgh",
    ),
    "makefile().read(8)": (_read_file, b"abcdefgh", b""),
}


def _into(read: Callable[[memoryview], object], n: int) -> tuple[object, bytes]:
    buf = bytearray(n)
    with memoryview(buf) as view:
        got = read(view)
    return got, bytes(buf)


@pytest.mark.parametrize("after", sorted(_AFTERWARDS))
def test_every_read_returns_the_bytes_an_interrupted_read_left_first(
    after: str,
) -> None:
    def main() -> tuple[object, bytes]:
        a, b = socket.socketpair()
        with a, b:
            _interrupted("recv", "timeout scope", a, b)
            b.sendall(b"gh")
            shoal.sleep(0.02)
            got = read(a)
            a.settimeout(0)
            rest = b""
            with contextlib.suppress(BlockingIOError):
                for _ in range(10):
                    rest += a.recv(16) or b"<end>"
            return got, rest

    read, expected, left = _AFTERWARDS[after]
    assert shoal.run(main) == (expected, left)


def test_closing_a_socket_drops_the_bytes_an_interrupted_read_left() -> None:
    def main() -> None:
        a, b = socket.socketpair()
        with b:
            _interrupted("recv", "timeout scope", a, b)
            a.close()
            with pytest.raises(OSError, match="Bad file descriptor") as info:
                a.recv(16)
            assert info.value.errno == errno.EBADF

    shoal.run(main)


# -- a second connect after one that timed out ---------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="Linux drops the SYN")
def test_a_connect_after_one_that_timed_out_is_ealready_at_once() -> None:
    """The first connect goes on after its timeout; a second raises
    BlockingIOError(EALREADY) at once and connect_ex returns EALREADY, as the
    stdlib's do (they waited out the whole timeout again)."""

    def main() -> list[object]:
        with contextlib.ExitStack() as stack:
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            for _ in range(8):  # fill the backlog: Linux then drops SYNs
                filler = stack.enter_context(socket.socket())
                filler.setblocking(False)
                filler.connect_ex(listener.getsockname())
            shoal.sleep(0.05)
            s = stack.enter_context(socket.socket())
            s.settimeout(0.2)
            with pytest.raises(TimeoutError):
                s.connect(listener.getsockname())
            started = time.monotonic()
            with pytest.raises(BlockingIOError) as info:
                s.connect(listener.getsockname())
            err = s.connect_ex(listener.getsockname())
            return [info.value.errno, err, time.monotonic() - started < 0.1]

    assert shoal.run(main) == [errno.EALREADY, errno.EALREADY, True]


# -- a Unix datagram receiver whose queue is full -------------------------------


@contextlib.contextmanager
def full_receiver() -> Iterator[tuple[socket.socket, socket.socket, str]]:
    """An unconnected Unix datagram sender, and a receiver at ``path`` whose
    queue is full (the sender reports writable all the same). Used by
    test_socket_waits too."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        path = os.path.join(tmp, "r")
        r = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        r.bind(path)
        w = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        w.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(100_000):
                w.sendto(b"x" * 1000, path)
        w.setblocking(True)
        yield w, r, path


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
@pytest.mark.parametrize("call", ["sendto", "sendmsg"])
def test_a_unix_datagram_send_to_a_full_receiver_waits_without_spinning(
    call: str,
) -> None:
    """The sender's descriptor reports writable while the receiver's queue is
    full: the send must wait for room without busying the CPU (it used to
    retry in a loop), and go through once the receiver reads."""

    def main() -> tuple[float, float, bytes]:
        with full_receiver() as (w, r, path):

            def drain() -> None:
                shoal.sleep(0.5)
                r.recv(2000)

            t = shoal.spawn(drain)
            cpu, wall = time.process_time(), time.monotonic()
            if call == "sendto":
                w.sendto(b"y" * 10, path)
            else:
                w.sendmsg([b"y" * 10], [], 0, path)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            t.join()
            last = b""
            for _ in range(100):
                last = r.recv(2000)
                if not last.startswith(b"x"):
                    break
            return cpu, wall, last

    cpu, wall, last = shoal.run(main)
    assert last == b"y" * 10
    assert 0.4 < wall < 5
    assert cpu < 0.2, f"{cpu:.2f} s of CPU in a {wall:.2f} s wait"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_a_unix_datagram_send_to_a_full_receiver_times_out_or_is_woken_by_close() -> (
    None
):
    def main() -> None:
        with full_receiver() as (w, _, path):
            w.settimeout(0.3)
            cpu, wall = time.process_time(), time.monotonic()
            with pytest.raises(socket.timeout):
                w.sendto(b"y", path)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            assert 0.25 < wall < 3
            assert cpu < 0.15, f"{cpu:.2f} s of CPU in a {wall:.2f} s wait"
            w.settimeout(None)
            waiter = shoal.spawn(w.sendto, b"y", path)
            shoal.sleep(0.05)
            assert "queue is full" in repr(waiter)
            w.close()
            waiter.join(timeout=5)
            assert isinstance(waiter.exception, shoal.ClosedFileError)

    shoal.run(main)


# -- sendall of odd data ---------------------------------------------------------

_ODD_DATA: dict[str, Callable[[], object]] = {
    "str": lambda: "abc",
    "int": lambda: 5,
    "None": lambda: None,
    "non-contiguous": lambda: memoryview(b"abcdef")[::2],
    "2-d": lambda: memoryview(bytearray(6)).cast("B", (2, 3)),
    "array('i')": lambda: array.array("i", [1, 2]),
    "bytearray": lambda: bytearray(b"ab"),
}


def _sendall_outcome(
    mod: object, data: Callable[[], object], flags: object, closed: bool
) -> object:
    a, b = mod.socketpair()  # type: ignore[attr-defined]
    with a, b:
        if closed:
            a.close()
        try:
            if flags is None:
                a.sendall(data())
            else:
                a.sendall(data(), flags)
        except Exception as e:  # what it raises is the point
            return type(e).__name__, str(e)
        b.settimeout(1)
        return "sent", b.recv(100)


_SENDALL_CASES = {
    **{name: (data, None, False) for name, data in _ODD_DATA.items()},
    **{
        f"empty {name}, closed": (data, None, True)
        for name, data in {
            "bytes": lambda: b"",
            "bytearray": lambda: bytearray(),
            "memoryview": lambda: memoryview(b""),
            "array": lambda: array.array("b"),
        }.items()
    },
    "bytearray, flags 'x'": (lambda: bytearray(b"ab"), "x", False),
    "empty bytearray, flags 'x'": (lambda: bytearray(), "x", False),
    "bytes, flags 'x'": (lambda: b"ab", "x", False),
}


@pytest.mark.parametrize("case", sorted(_SENDALL_CASES))
def test_sendall_of_odd_data_does_what_the_stdlibs_does(case: str) -> None:
    """The same exception (type and message) as the stdlib's sendall, or the
    same bytes sent; an empty buffer still makes the send that says the
    socket is closed."""
    data, flags, closed = _SENDALL_CASES[case]
    expected = _sendall_outcome(stdlib, data, flags, closed)
    assert shoal.run(lambda: _sendall_outcome(socket, data, flags, closed)) == expected


# -- serve_tcp on IPv6 -----------------------------------------------------------


def _ipv6_loopback() -> bool:
    if not stdlib.has_ipv6:
        return False
    try:
        with stdlib.socket(stdlib.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_serve_tcp_listens_on_an_ipv6_host() -> None:
    """serve_tcp(host="::1") listens on IPv6 (it failed: the listener was
    made for IPv4 whatever the host)."""

    def main() -> tuple[str, bytes]:
        def greet(conn: socket.socket, address: object) -> None:
            conn.sendall(b"hi")

        with (
            shoal.serve_tcp(greet, host="::1") as server,
            socket.create_connection(("::1", server.address[1]), timeout=5) as c,
        ):
            return server.address[0], c.recv(10)

    assert shoal.run(main) == ("::1", b"hi")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", ""])
def test_serve_tcp_on_an_ipv4_host_or_a_name_listens_on_ipv4(host: str) -> None:
    """An IPv4 number, "" (every interface) and localhost listen on IPv4, as
    they always did."""

    def main() -> bytes:
        def greet(conn: socket.socket, address: object) -> None:
            conn.sendall(b"hi")

        with shoal.serve_tcp(greet, host=host) as server:
            assert server._listener.family == socket.AF_INET
            port = server.address[1]
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                return c.recv(10)

    assert shoal.run(main) == b"hi"


# -- shutdown while a tasklet waits ----------------------------------------------


@pytest.mark.parametrize("kind", ["unix", "tcp"])
@pytest.mark.parametrize("how", ["SHUT_WR", "SHUT_RDWR"])
def test_shutdown_for_writing_wakes_a_blocked_writer_with_the_stdlibs_error(
    kind: str, how: str
) -> None:
    """A tasklet blocked in sendall (the peer does not read) gets
    BrokenPipeError once another shuts the socket down for writing, as a
    thread blocked in the stdlib's does; on a Unix socket the kernel never
    reports it writable after its own shutdown, so nothing woke it."""

    def main() -> BaseException | None:
        if kind == "unix":
            a, b = socket.socketpair()
        else:
            with socket.create_server(("127.0.0.1", 0)) as listener:
                a = socket.create_connection(listener.getsockname())
                b, _ = listener.accept()
        with a, b:
            writer = shoal.spawn(a.sendall, b"x" * 10_000_000)
            shoal.sleep(0.05)
            assert writer.alive  # blocked: b does not read
            a.shutdown(getattr(socket, how))
            with shoal.timeout(5):
                writer.join()
            return writer.exception

    assert isinstance(shoal.run(main), BrokenPipeError)


@pytest.mark.parametrize("how", ["SHUT_RD", "SHUT_RDWR"])
def test_shutdown_for_reading_wakes_a_blocked_reader_with_the_end(how: str) -> None:
    def main() -> object:
        a, b = socket.socketpair()
        with a, b:
            reader = shoal.spawn(a.recv, 10)
            shoal.sleep(0.01)
            a.shutdown(getattr(socket, how))
            with shoal.timeout(5):
                return reader.get()

    assert shoal.run(main) == b""


def test_a_timeout_after_a_later_wait_names_the_sockets_timeout() -> None:
    """A ``sendall`` waits, sends some more once the peer reads, waits
    again and runs out of time: the message says the socket's timeout, as
    a timeout at the first wait does (it said what was left at the second
    wait, ``timed out after 0.1873... s``)."""

    def main() -> str:
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(0.2)
            sender = shoal.spawn(a.sendall, b"x" * 50_000_000)
            shoal.sleep(0.05)
            assert sender.alive
            b.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                for _ in range(1000):  # room: sendall sends more, then waits
                    b.recv(65536)
            sender.join()
            assert isinstance(sender.exception, shoal.TimeoutError)
            return str(sender.exception)

    message = shoal.run(main)
    assert message.endswith("to be writable: timed out after 0.2 s"), message
