"""What ends a socket's wait (a timeout, a kill, a throw) carries no trace
of the attempt that found the socket not ready: the stdlib's blocking calls
raise ``socket.timeout`` with no ``__context__``, and a chained
``BlockingIOError`` ("During handling of the above exception, another
exception occurred") would only mislead, and keep its frames alive."""

from __future__ import annotations

import contextlib
import tempfile
import traceback
from collections.abc import Callable, Iterator

import pytest

import shoal
import shoal.socket as socket
from test_socket_edges import full_receiver

Call = Callable[[], object]


def _pair(stack: contextlib.ExitStack) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    stack.enter_context(a)
    stack.enter_context(b)
    return a, b


def _full(stack: contextlib.ExitStack) -> socket.socket:
    """A socket whose send buffer and peer's receive buffer are full, so
    that a send first finds it not ready."""
    a, _ = _pair(stack)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        for _ in range(10_000):
            a.send(b"x" * 4096)
    a.setblocking(True)
    return a


def _recv(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a, _ = _pair(stack)
    a._drained = False  # as after a read that filled its buffer: try first
    return a, lambda: a.recv(10)


def _recv_into(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a, _ = _pair(stack)
    a._drained = False
    return a, lambda: a.recv_into(bytearray(10))


def _recv_waitall(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a, _ = _pair(stack)
    return a, lambda: a.recv(10, socket.MSG_WAITALL)


def _sendto_full(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    """An unconnected Unix datagram socket, writable, to a receiver whose
    queue is full: the send pauses and tries again."""
    w, _, path = stack.enter_context(full_receiver())
    return w, lambda: w.sendto(b"y", path)


def _recvfrom(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a, _ = _pair(stack)
    return a, lambda: a.recvfrom(10)


def _accept(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    return listener, listener.accept


def _connect(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    """A connect to a listener whose backlog is full waits (Linux drops the
    handshake's first packet)."""
    listener = stack.enter_context(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    for _ in range(8):
        filler = stack.enter_context(socket.socket())
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
    s = stack.enter_context(socket.socket())
    return s, lambda: s.connect(listener.getsockname())


def _send(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a = _full(stack)
    return a, lambda: a.send(b"y")


def _sendall(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a = _full(stack)
    return a, lambda: a.sendall(b"y" * 100_000)


def _sendfile(stack: contextlib.ExitStack) -> tuple[socket.socket, Call]:
    a = _full(stack)
    f = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (it is)
    f.write(b"z" * 100_000)
    f.seek(0)
    return a, lambda: a.sendfile(f)


#: Each sets up a call that waits: the socket it waits on, and the call.
CALLS: dict[str, Callable[[contextlib.ExitStack], tuple[socket.socket, Call]]] = {
    "recv": _recv,
    "recv_into": _recv_into,
    "recv_waitall": _recv_waitall,
    "recvfrom": _recvfrom,
    "accept": _accept,
    "connect": _connect,
    "send": _send,
    "sendall": _sendall,
    "sendfile": _sendfile,
    "sendto_full": _sendto_full,
}


@contextlib.contextmanager
def _blocked(name: str) -> Iterator[tuple[socket.socket, Call]]:
    with contextlib.ExitStack() as stack:
        yield CALLS[name](stack)


def _assert_no_trace_of_the_attempt(exc: BaseException) -> None:
    printed = "".join(traceback.format_exception(exc))
    assert "BlockingIOError" not in printed
    assert "During handling" not in printed
    chain = exc
    while chain.__context__ is not None:  # shown or not, it keeps frames
        chain = chain.__context__
        assert not isinstance(chain, BlockingIOError)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_exception_thrown_into_a_waiting_call_has_no_context(name: str) -> None:
    def main() -> BaseException | None:
        with _blocked(name) as (_, call):
            t = shoal.spawn(call)
            shoal.sleep(0.01)
            assert t.alive, f"{name} did not wait"
            t.throw(ValueError("stop"))
            return t.exception

    exc = shoal.run(main)
    assert isinstance(exc, ValueError)
    _assert_no_trace_of_the_attempt(exc)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_timeout_scope_has_no_context(name: str) -> None:
    def main() -> None:
        with _blocked(name) as (_, call):
            with pytest.raises(TimeoutError) as info, shoal.timeout(0.01):
                call()
            _assert_no_trace_of_the_attempt(info.value)

    shoal.run(main)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_socket_timeout_has_no_context(name: str) -> None:
    def main() -> None:
        with _blocked(name) as (sock, call):
            sock.settimeout(0.01)
            with pytest.raises(TimeoutError) as info:
                call()
            _assert_no_trace_of_the_attempt(info.value)

    shoal.run(main)
