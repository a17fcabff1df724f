"""A shoal socket's reader, kept registered with the loop between reads,
and whoever else registers (or unregisters) its descriptor: asyncio's
``sock_*`` calls, another shoal socket object on the same descriptor. Each
case must read what the stdlib's blocking socket reads (with threads), or
fail at once with a clear error; none may leave a reader that is never
woken. On both loops; every wait is bounded."""

from __future__ import annotations

import asyncio
import gc
import queue
import threading
import weakref
from typing import Any

import pytest

import shoal
import shoal.socket as socket
from shoal import _sockwait

LOOPS = ["asyncio", "uvloop"]


def _register(sock: socket.socket) -> None:
    """A read that waits, and times out: the socket's reader stays
    registered with the loop (no data fired it, on either loop)."""
    sock.settimeout(0.02)
    with pytest.raises(shoal.TimeoutError):
        sock.recv(10)


def _read_sent(sock: socket.socket, peer: socket.socket, payload: bytes) -> Any:
    """``sock.recv(10)`` in a tasklet that waits (nothing has come yet),
    then ``payload`` sent by ``peer``: what the read got, or "hang" if it
    was not woken within a second."""
    sock.settimeout(None)
    t = shoal.spawn(sock.recv, 10)
    shoal.sleep(0.02)  # it waits
    peer.send(payload)
    try:
        return t.get(timeout=1)
    except shoal.TimeoutError:
        t.kill()
        return "hang"


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["setblocking", "settimeout"])
@pytest.mark.parametrize("first", ["timed out", "read"])
def test_a_read_waits_after_asyncio_sock_recv_on_the_socket(
    loop: str, how: str, first: str
) -> None:
    """asyncio's ``sock_recv`` (which asks for a non-blocking socket)
    registers the descriptor for itself and takes that off when done; the
    shoal reader registered by an earlier read must not be believed still
    there: the next read that waits is woken."""

    def main() -> list[Any]:
        a, b = socket.socketpair()
        with a, b:
            if first == "timed out":
                _register(a)
            else:
                got = [_read_sent(a, b, b"1")]
                assert got == [b"1"]
            if how == "setblocking":
                a.setblocking(False)
            else:
                a.settimeout(0)

            async def arecv() -> bytes:
                return await asyncio.get_running_loop().sock_recv(a, 10)

            t = shoal.spawn(shoal.await_, arecv())
            shoal.sleep(0.02)  # it waits in the loop
            b.send(b"2")
            results = [t.get(timeout=1)]
            a.setblocking(True)
            results.append(_read_sent(a, b, b"3"))
            return results

    assert shoal.run(main, loop=loop) == [b"2", b"3"]


@pytest.mark.parametrize("loop", LOOPS)
def test_two_socket_objects_on_one_descriptor_read_in_turn(loop: str) -> None:
    """As the stdlib allows: ``socket(fileno=a.fileno())`` is a second
    object on ``a``'s descriptor. Each reads in turn, waiting; the loop has
    one reader per descriptor, and the later registration must not leave
    the earlier socket believing its own is still there."""

    def main() -> list[Any]:
        a, b = socket.socketpair()
        with a, b:
            other = socket.socket(fileno=a.fileno())
            try:
                _register(a)
                _register(other)
                got = [_read_sent(a, b, b"1"), _read_sent(other, b, b"2")]
                got.append(_read_sent(a, b, b"3"))
                return got
            finally:
                other.detach()

    assert shoal.run(main, loop=loop) == [b"1", b"2", b"3"]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["detach", "setblocking"])
def test_a_socket_letting_go_leaves_another_objects_registration(
    loop: str, how: str
) -> None:
    """``a`` registered, then ``other`` on the same descriptor registered
    over it: ``a.detach()`` (or ``a.setblocking(False)``) must not take
    ``other``'s registration off the loop, which its next read relies on."""

    def main() -> Any:
        a, b = socket.socketpair()
        with b:
            other = socket.socket(fileno=a.fileno())
            with other:
                _register(a)
                _register(other)
                if how == "detach":
                    a.detach()
                else:
                    a.setblocking(False)
                # other's reader is still registered: a wake-up, not a retry.
                got = _read_sent(other, b, b"3")
                if how != "detach":
                    a.detach()
                return got

    assert shoal.run(main, loop=loop) == b"3"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_second_object_waiting_on_a_descriptor_already_waited_on_is_busy(
    loop: str,
) -> None:
    """The loop has one reader per descriptor: a tasklet waiting to read
    ``a`` and another then waiting on a second object on the same
    descriptor would take the first's registration, which would never be
    woken. The second gets ``BusyError`` naming both, as a second reader of
    one socket does; the first still gets its data."""

    def main() -> tuple[str, bytes]:
        a, b = socket.socketpair()
        with a, b:
            other = socket.socket(fileno=a.fileno())
            try:
                first = shoal.spawn(a.recv, 10)
                shoal.sleep(0.02)  # it waits
                other.settimeout(1)
                with pytest.raises(shoal.BusyError) as info:
                    other.recv(10)
                b.send(b"1")
                return str(info.value), first.get(timeout=1)
            finally:
                other.detach()

    message, got = shoal.run(main, loop=loop)
    assert got == b"1"
    assert "descriptor" in message
    assert "fd=" in message  # both sockets' reprs
    assert "Tasklet" in message or "tasklet" in message


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["setblocking", "settimeout"])
def test_made_non_blocking_while_a_tasklet_waits_its_read_goes_on(
    loop: str, how: str
) -> None:
    """As the stdlib's call blocked in another thread: a read already
    waiting when the socket is made non-blocking still gets its data (its
    registration is not taken off under it); the socket's next read that
    waits, after ``setblocking(True)``, is woken too."""

    def main() -> list[Any]:
        a, b = socket.socketpair()
        with a, b:
            t = shoal.spawn(a.recv, 10)
            shoal.sleep(0.02)  # it waits
            if how == "setblocking":
                a.setblocking(False)
            else:
                a.settimeout(0.0)
            b.send(b"1")
            got = [t.get(timeout=1)]
            a.setblocking(True)
            got.append(_read_sent(a, b, b"2"))
            return got

    assert shoal.run(main, loop=loop) == [b"1", b"2"]


@pytest.mark.parametrize("loop", LOOPS)
def test_the_record_of_registrations_keeps_no_socket_alive(loop: str) -> None:
    """A socket whose registration another object on its descriptor took
    over, then detached and dropped, is collected: the record of who
    registered each descriptor refers to it weakly."""

    def main() -> bool:
        a, b = socket.socketpair()
        with b:
            other = socket.socket(fileno=a.fileno())
            with other:
                _register(a)
                _register(other)
                a.detach()
                gone = weakref.ref(a)
                del a
                for _ in range(3):
                    gc.collect()
                return gone() is None

    assert shoal.run(main, loop=loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_new_socket_on_the_number_of_a_shared_descriptor_closed_elsewhere_reads(
    loop: str,
) -> None:
    """``a`` registered its descriptor; ``c``, another object on it, closes
    it (``a`` is stale, as the stdlib's would be); a new socket gets the
    number: its read is woken, though the record still named ``a``."""

    def main() -> Any:
        a, b = socket.socketpair()
        c = socket.socket(fileno=a.fileno())
        try:
            assert _read_sent(a, b, b"x") == b"x"  # a registered
            c.close()  # the descriptor is gone, for a too
            d, e = socket.socketpair()
            with d, e:
                assert d.fileno() == a.fileno()  # the number, reused
                return _read_sent(d, e, b"hello")
        finally:
            a.detach()  # its descriptor was closed by c
            b.close()

    assert shoal.run(main, loop=loop) == b"hello"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_socket_read_in_one_thread_then_another_leaves_the_first_loop(
    loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that waited in thread 1 (its reader kept on thread 1's
    loop) and then reads in thread 2: thread 1's loop takes its reader off,
    and never calls it again (it spun, and woke thread 2's tasklet from
    thread 1)."""
    wrong: list[int] = []
    readable = _sockwait.Waiting._readable

    def spy(self: Any) -> None:
        wait = self._rwait
        if wait is not None and wait.hub.sched.thread_id != threading.get_ident():
            wrong.append(1)
        readable(self)

    monkeypatch.setattr(_sockwait.Waiting, "_readable", spy)
    handed: queue.Queue[socket.socket] = queue.Queue()
    got: list[bytes] = []

    def worker() -> None:
        def run() -> None:
            conn = handed.get(timeout=5)
            with conn:
                while len(b"".join(got)) < 40:
                    got.append(conn.recv(100))

        shoal.run(run, loop=loop)

    thread = threading.Thread(target=worker)
    thread.start()

    def main() -> None:
        a, b = socket.socketpair()
        with b:
            assert _read_sent(a, b, b"first") == b"first"  # registered here
            handed.put(a)
            shoal.sleep(0.05)
            for i in range(20):
                b.send(b"m%d" % (i % 10))  # 2 bytes each, 40 in all
                shoal.sleep(0.005)
            thread.join(timeout=5)

    shoal.run(main, loop=loop)
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(b"".join(got)) == 40
    assert wrong == []


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_in_another_thread_leaves_the_reader_to_its_loops_thread(
    loop: str,
) -> None:
    """A socket whose reader is kept on thread 1's running loop, closed in
    thread 2: the reader is taken off in thread 1 (loops are not
    thread-safe), not by thread 2 calling into thread 1's loop."""
    first = threading.get_ident()
    callers: list[bool] = []
    handed: queue.Queue[socket.socket] = queue.Queue()
    closed = threading.Event()

    def worker() -> None:
        def run() -> None:
            handed.get(timeout=5).close()
            closed.set()

        shoal.run(run, loop=loop)

    def main() -> None:
        a, b = socket.socketpair()
        with b:
            _register(a)  # its reader stays on this thread's loop
            watched = a._polled
            base = type(watched)

            class Spy(base):  # type: ignore[misc,valid-type]
                def remove_reader(self, fd: int) -> Any:
                    callers.append(threading.get_ident() == first)
                    return super().remove_reader(fd)

            watched.__class__ = Spy
            thread = threading.Thread(target=worker)
            thread.start()
            handed.put(a)
            for _ in range(200):  # the loop runs meanwhile, as a server's
                if closed.is_set() and callers:
                    break
                shoal.sleep(0.01)
            thread.join(timeout=5)
            watched.__class__ = base

    shoal.run(main, loop=loop)
    assert callers == [True]
