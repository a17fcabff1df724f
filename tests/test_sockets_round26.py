"""Audit round 26: sockets and subprocesses.

- A tasklet waiting on a socket (plain or TLS) that another thread closes
  or shuts down is woken at once, in its own thread (the wake-up runs in
  the waiter's loop, which sleeps in its selector meanwhile): with
  ``ClosedFileError`` on close, with what the stdlib's blocked call gets
  on shutdown. On both loops; from a plain thread and from another
  thread's ``shoal.run``. So is one reading a child's pipe.
- ``do_handshake`` on a closed (or unwrapped) TLS socket is a clear error.
- ``shoal.subprocess``'s calls that wait for the child, from code in the
  hub, are refused before the child is started.

Network on 127.0.0.1 (socket pairs) only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import errno
import io
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import shoal
import shoal.socket as socket
import shoal.subprocess as subprocess
from shoal import _buffered
from shoal._hub import Hub, get_hub

LOOPS = ["asyncio", "uvloop"]
Contexts = tuple[ssl.SSLContext, ssl.SSLContext]
BIG = b"x" * 10_000_000  # more than a socket pair's buffers hold


def _tls_pair(contexts: Contexts) -> tuple[Any, Any]:
    """A connected pair of TLS sockets over a shoal socket pair, the
    handshake done. Switches."""
    server_ctx, client_ctx = contexts
    a, b = socket.socketpair()
    server = shoal.spawn(server_ctx.wrap_socket, b, server_side=True)
    client = client_ctx.wrap_socket(a, server_hostname="localhost")
    return client, server.get(timeout=5)


def _waiting(sock: Any, role: str) -> bool:
    """Whether a tasklet waits to write (``role`` "write") or read ``sock``."""
    return (sock._writer if role == "write" else sock._reader) is not None


def _end_a_wait_from_another_thread(
    loop: str,
    role: str,
    how: str,
    closer: str,
    make: Callable[[], tuple[Any, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, Any, list[bool]]:
    """A tasklet of a second thread's run waits to write (``role``) or read
    its socket; this thread closes it or shuts it down (``how``), plainly
    or inside ``shoal.run`` (``closer``). What the wait ended with (its
    exception's type, or "returned") and its value; "hung" if it did not
    end within 2 s. And, for each ``Hub.wake_if`` called meanwhile, whether
    it ran in its hub's own thread."""
    threads: list[bool] = []
    wake_if = Hub.wake_if

    def spy(self: Hub, t: Any, waitable: Any, value: Any) -> None:
        threads.append(self.sched.thread_id == threading.get_ident())
        wake_if(self, t, waitable, value)

    monkeypatch.setattr(Hub, "wake_if", spy)
    handed: queue.Queue[tuple[Any, Hub]] = queue.Queue()
    ended: list[tuple[str, Any]] = []

    def main() -> None:
        a, b = make()
        try:
            handed.put((a, get_hub()))
            try:
                if role == "write":
                    a.sendall(BIG)
                    got = None
                else:
                    got = a.recv(10)
            except Exception as exc:
                ended.append((type(exc).__name__, exc))
            else:
                ended.append(("returned", got))
        finally:
            a.close()
            b.close()

    thread = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    thread.start()
    sock, hub = handed.get(timeout=10)
    for _ in range(500):
        if _waiting(sock, role):
            break
        time.sleep(0.01)
    assert _waiting(sock, role)
    time.sleep(0.05)  # into the loop's selector

    def end() -> None:
        if how == "close":
            sock.close()
        else:
            sock.shutdown(socket.SHUT_RDWR)

    if closer == "plain":
        end()
    else:
        shoal.run(end, loop=loop)
    thread.join(timeout=2)
    hung = thread.is_alive()
    if hung:
        # Let the test end: a wake-up of the loop runs what was left for it.
        hub.loop.call_soon_threadsafe(lambda: None)
        thread.join(timeout=10)
        assert not thread.is_alive()
        return "hung", None, threads
    (outcome,) = ended
    return outcome[0], outcome[1], threads


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("role", ["write", "read"])
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_closing_in_another_thread_wakes_the_waiter_at_once(
    loop: str, role: str, closer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer waited for ever (its loop asleep in its selector, its
    writer taken off that loop from the wrong thread); a reader was woken
    from the wrong thread."""
    how, value, threads = _end_a_wait_from_another_thread(
        loop, role, "close", closer, socket.socketpair, monkeypatch
    )
    assert how == "ClosedFileError", (how, value)
    assert value.errno == errno.EBADF
    assert "was closed by another thread" in str(value)
    assert threads
    assert all(threads), threads


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("role", ["write", "read"])
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_shutdown_in_another_thread_wakes_the_waiter_at_once(
    loop: str, role: str, closer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the stdlib's call blocked in a thread gets: BrokenPipeError for
    a write, the end for a read."""
    how, value, threads = _end_a_wait_from_another_thread(
        loop, role, "shutdown", closer, socket.socketpair, monkeypatch
    )
    if role == "write":
        assert how == "BrokenPipeError", (how, value)
    else:
        assert (how, value) == ("returned", b"")
    assert threads
    assert all(threads), threads


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("role", ["write", "read"])
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_closing_a_tls_socket_in_another_thread_wakes_the_waiter_at_once(
    loop: str,
    role: str,
    closer: str,
    contexts: Contexts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    how, value, threads = _end_a_wait_from_another_thread(
        loop, role, "close", closer, lambda: _tls_pair(contexts), monkeypatch
    )
    assert how == "ClosedFileError", (how, value)
    assert value.errno == errno.EBADF
    assert threads
    assert all(threads), threads


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("role", ["write", "read"])
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_shutdown_of_a_tls_socket_in_another_thread_wakes_the_waiter_at_once(
    loop: str,
    role: str,
    closer: str,
    contexts: Contexts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the stdlib's TLS socket blocked in a thread: ``SSLEOFError`` for a
    write, the end for a read."""
    how, value, threads = _end_a_wait_from_another_thread(
        loop, role, "shutdown", closer, lambda: _tls_pair(contexts), monkeypatch
    )
    if role == "write":
        assert how == "SSLEOFError", (how, value)
    else:
        assert (how, value) == ("returned", b"")
    assert threads
    assert all(threads), threads


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_in_the_waiters_own_thread_still_wakes_it_at_once(
    loop: str,
) -> None:
    """The same thread's close wakes the writer directly, as before: it has
    ended by the time ``close`` returns and the closer yields once."""

    def main() -> tuple[str, bool]:
        a, b = socket.socketpair()
        with a, b:
            t = shoal.spawn(a.sendall, BIG)
            for _ in range(500):
                if a._writer is not None:
                    break
                shoal.sleep(0.005)
            a.close()
            shoal.schedule()
            assert not t.alive
            with pytest.raises(shoal.ClosedFileError) as caught:
                t.get(timeout=1)
            return type(caught.value).__name__, t.alive

    assert shoal.run(main, loop=loop) == ("ClosedFileError", False)


def _handshaken(contexts: Contexts, then: Callable[[Any], Any]) -> Any:
    """``then(client)`` on a TLS client whose handshake is done, its server
    closed. Switches."""
    client, server = _tls_pair(contexts)
    try:
        return then(client)
    finally:
        client.close()
        server.close()


def test_do_handshake_on_a_closed_tls_socket_is_ebadf(contexts: Contexts) -> None:
    """As the stdlib's ends: ``OSError(EBADF)``, naming the socket (it was
    ``AttributeError: 'NoneType' object has no attribute 'do_handshake'``)."""

    def closed(client: Any) -> OSError:
        client.close()
        with pytest.raises(OSError, match="closed") as caught:
            client.do_handshake()
        return caught.value

    err = shoal.run(_handshaken, contexts, closed)
    assert type(err) is OSError
    assert err.errno == errno.EBADF
    assert "SSLSocket" in str(err)


def test_do_handshake_on_an_unwrapped_tls_socket_is_a_value_error(
    contexts: Contexts,
) -> None:
    """As ``read``, ``write`` and ``unwrap`` on it: a ``ValueError`` naming
    the socket (the stdlib's is an ``AttributeError``)."""

    def main() -> ValueError:
        server_ctx, client_ctx = contexts
        a, b = socket.socketpair()
        server = shoal.spawn(server_ctx.wrap_socket, b, server_side=True)
        client = client_ctx.wrap_socket(a, server_hostname="localhost")
        tls = server.get(timeout=5)
        with client, tls:
            peer = shoal.spawn(tls.unwrap)
            client.unwrap()
            peer.get(timeout=5)
            with pytest.raises(ValueError, match="SSLSocket") as caught:
                client.do_handshake()
            return caught.value

    err = shoal.run(main)
    assert "unwrapped" in str(err) or "No SSL wrapper" in str(err)


# -- subprocess calls in the hub ---------------------------------------------------


CALLS: dict[str, Callable[[], Any]] = {
    "run": lambda: subprocess.run(["true"]),
    "call": lambda: subprocess.call(["true"]),
    "check_call": lambda: subprocess.check_call(["true"]),
    "check_output": lambda: subprocess.check_output(["true"]),
    "getoutput": lambda: subprocess.getoutput("true"),
    "getstatusoutput": lambda: subprocess.getstatusoutput("true"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_subprocess_call_in_the_hub_is_refused_before_the_child_starts(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every time, not as the timing falls: the child was started (forked
    and exec'd), and only the wait for it refused, or not, if it had
    ended."""
    started: list[object] = []
    execute = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def spy(self: Any, *args: Any) -> Any:
        started.append(self)
        return execute(self, *args)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", spy, raising=False)

    async def in_hub() -> BaseException | None:
        try:
            CALLS[name]()
        except BaseException as exc:
            return exc
        return None

    def main() -> list[BaseException | None]:
        return [shoal.await_(in_hub()) for _ in range(3)]

    for err in shoal.run(main):
        assert isinstance(err, shoal.BlockingInHubError), err
        assert f"subprocess.{name}(" in str(err)
    assert started == []


def test_popen_itself_stays_allowed_in_the_hub() -> None:
    """Starting a child does not wait (beyond fork and exec): only its
    ``wait`` and ``communicate`` would."""

    async def start() -> subprocess.Popen:
        await asyncio.sleep(0)
        return subprocess.Popen(["true"])

    def main() -> int:
        with shoal.await_(start()) as p:
            return p.wait(timeout=10)

    assert shoal.run(main) == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_a_pipe_in_another_thread_wakes_its_reader_at_once(loop: str) -> None:
    """A tasklet reading a child's unbuffered stdout pipe, which another
    thread closes: woken at once with ``ClosedFileError`` (it slept for
    ever in its loop's selector, woken from the wrong thread)."""
    made: queue.Queue[Any] = queue.Queue()
    ended: dict[str, BaseException | bytes] = {}

    def job() -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(5)"],
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        made.put(child)
        try:
            ended["read"] = child.stdout.read(10)
        except BaseException as exc:  # what the read ends with
            ended["read"] = exc
        finally:
            child.kill()
            child.wait(timeout=5)

    worker = threading.Thread(target=shoal.run, args=(job,), kwargs={"loop": loop})
    worker.start()
    child = made.get(timeout=10)
    deadline = time.monotonic() + 5
    while child.stdout._waiter is None and time.monotonic() < deadline:
        time.sleep(0.005)  # until the tasklet waits in its hub
    assert child.stdout._waiter is not None
    child.stdout.close()
    worker.join(3)
    assert not worker.is_alive(), "the reader was never woken"
    err = ended["read"]
    assert isinstance(err, shoal.ClosedFileError), err
    assert err.errno == errno.EBADF


# -- audit round 27: buffered files closed from another thread ---------------------
#
# A buffered pipe (``Popen``'s default buffering), its text wrapper
# (``text=True``), and a socket's ``makefile`` reader or writer, closed by
# another thread while a tasklet of a second thread's run waits inside: the
# close raised ``RuntimeError`` (it threw into the other thread's tasklet),
# left the file open, and the tasklet waited on. Now the close wakes it in its
# own thread with ``ClosedFileError``, waits until it has left, and closes.


def _child_pipe(text: bool) -> tuple[Any, Callable[[], None], Callable[[], None]]:
    """A child's stdout pipe (default buffering; a text wrapper if ``text``),
    what ends the child (from any thread) and what reaps it. Does not
    switch."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(5)"],
        stdout=subprocess.PIPE,
        text=text,
    )

    def reap() -> None:
        child.kill()
        child.wait(timeout=5)
        child.stdout.close()  # if the test's close failed

    return child.stdout, child.kill, reap


def _socket_file(mode: str) -> tuple[Any, Callable[[], None], Callable[[], None]]:
    """``makefile(mode)`` of one end of a socket pair, what ends the wait of
    its reader (writer) from any thread (closing the other end), and what
    closes both ends. Does not switch."""
    a, b = socket.socketpair()
    f = a.makefile(mode)

    def end() -> None:
        f.close()  # if the test's close failed (the file keeps the socket open)
        a.close()
        b.close()

    return f, b.close, end


FILES: dict[str, tuple[Callable[[], Any], Callable[[Any], Any], str]] = {
    # what makes it, what waits inside it, the buffered object's slot
    "pipe read": (lambda: _child_pipe(False), lambda f: f.read(10), "_reading"),
    "text pipe read": (lambda: _child_pipe(True), lambda f: f.read(10), "_reading"),
    "makefile readline": (
        lambda: _socket_file("rb"),
        lambda f: f.readline(),
        "_reading",
    ),
    "makefile write": (lambda: _socket_file("wb"), lambda f: f.write(BIG), "_writing"),
}


def _inside(f: Any, slot: str) -> Any:
    """The tasklet inside file ``f`` (its buffer, for a text wrapper) in
    ``slot``'s direction, or None."""
    return getattr(getattr(f, "buffer", f), slot)


def _close_from_another_thread(
    loop: str,
    closer: str,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    parked: bool = True,
) -> dict[str, Any]:
    """A tasklet of a second thread's run waits inside a file of ``kind``
    (in the hub, if ``parked``, else as soon as it is inside); this thread
    closes the file, plainly or in ``shoal.run`` (``closer``). What the
    close did ("returned", or its exception), what the wait ended with,
    whether the file is closed, and for each ``Hub.wake_if`` meanwhile,
    whether it ran in its hub's own thread. "hung" if the waiter was still
    waiting 3 s after the close."""
    make, act, slot = FILES[kind]
    threads: list[bool] = []
    wake_if = Hub.wake_if

    def spy(self: Hub, t: Any, waitable: Any, value: Any) -> None:
        threads.append(self.sched.thread_id == threading.get_ident())
        wake_if(self, t, waitable, value)

    monkeypatch.setattr(Hub, "wake_if", spy)
    handed: queue.Queue[tuple[Any, Callable[[], None]]] = queue.Queue()
    ended: list[Any] = []

    def main() -> None:
        f, release, cleanup = make()
        try:
            handed.put((f, release))
            try:
                ended.append(act(f))
            except Exception as exc:
                ended.append(exc)
        finally:
            cleanup()

    thread = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    thread.start()
    f, release = handed.get(timeout=10)
    for _ in range(500):
        user = _inside(f, slot)
        if user is not None and (not parked or user._blocked_on is not None):
            break
        time.sleep(0.01)
    assert _inside(f, slot) is not None
    if parked:
        time.sleep(0.05)  # into the loop's selector
    closed: Any = "returned"
    try:
        if closer == "plain":
            f.close()
        else:
            shoal.run(f.close, loop=loop)
    except Exception as exc:
        closed = exc
    thread.join(timeout=3)
    if thread.is_alive():
        release()  # let the test end: the wait ends otherwise
        thread.join(timeout=10)
        assert not thread.is_alive()
        ended[:] = ["hung"]
    (outcome,) = ended
    return {"close": closed, "wait": outcome, "closed": f.closed, "threads": threads}


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
@pytest.mark.parametrize("kind", sorted(FILES))
def test_closing_a_buffered_file_in_another_thread_wakes_the_waiter_at_once(
    loop: str, closer: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for a raw pipe or a socket: the close succeeds, and the tasklet
    inside gets ``ClosedFileError(EBADF)`` in its own thread, naming the
    file and saying another thread closed it."""
    got = _close_from_another_thread(loop, closer, kind, monkeypatch)
    assert got["close"] == "returned", got
    assert got["closed"] is True
    err = got["wait"]
    assert isinstance(err, shoal.ClosedFileError), got
    assert err.errno == errno.EBADF
    assert str(err).endswith(" was closed by another thread"), str(err)
    assert "Buffered" in str(err)
    assert got["threads"]
    assert all(got["threads"]), got["threads"]


class _Spinning(io.RawIOBase):
    """A raw file whose read stays runnable for a while (it yields), then
    waits in the hub for long: a tasklet inside its buffered reader is not
    parked at first. Its ``readinto`` switches."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = time.monotonic() + 0.3
        for _ in range(1_000_000):
            if time.monotonic() > deadline:
                break
            shoal.sleep(0)
        shoal.sleep(10)
        return 0


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_closing_in_another_thread_a_buffered_file_whose_reader_is_runnable(
    loop: str, closer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tasklet inside is runnable when the close comes (it yields):
    its own thread has it run on until it waits, then wakes it with
    ``ClosedFileError``; the closing thread never touches it (it looped
    on ``schedule()`` of its own thread, then threw from the wrong one)."""

    def make() -> tuple[Any, Callable[[], None], Callable[[], None]]:
        return _buffered.BufferedReader(_Spinning()), lambda: None, lambda: None

    monkeypatch.setitem(FILES, "spinning", (make, lambda f: f.read(10), "_reading"))
    got = _close_from_another_thread(
        loop, closer, "spinning", monkeypatch, parked=False
    )
    assert got["close"] == "returned", got
    assert got["closed"] is True
    err = got["wait"]
    assert isinstance(err, shoal.ClosedFileError), got
    assert err.errno == errno.EBADF
    assert all(got["threads"]), got["threads"]


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_a_buffered_pipe_between_reads_in_another_thread(loop: str) -> None:
    """Nobody inside (its reader is between two reads): the close just
    closes; the next read is the stdlib's error for a closed file."""
    made: queue.Queue[Any] = queue.Queue()
    go = threading.Event()
    ended: list[Any] = []

    def job() -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", "print('one'); import time; time.sleep(5)"],
            stdout=subprocess.PIPE,
        )
        try:
            ended.append(child.stdout.readline())
            made.put(child)
            for _ in range(500):  # between reads, in the hub
                if go.is_set():
                    break
                shoal.sleep(0.01)
            try:
                ended.append(child.stdout.readline())
            except ValueError as exc:
                ended.append(exc)
        finally:
            child.kill()
            child.wait(timeout=5)

    worker = threading.Thread(target=shoal.run, args=(job,), kwargs={"loop": loop})
    worker.start()
    child = made.get(timeout=10)
    child.stdout.close()
    go.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    first, then = ended
    assert first == b"one\n"
    assert isinstance(then, ValueError), then
    assert "closed file" in str(then)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", sorted(FILES))
def test_closing_a_buffered_file_in_the_waiters_own_thread_is_as_before(
    loop: str, kind: str
) -> None:
    """The same thread's close wakes the tasklet inside at once, saying
    another tasklet closed it, and closes."""
    make, act, slot = FILES[kind]

    def main() -> tuple[Any, bool, bool]:
        f, _, cleanup = make()
        try:
            t = shoal.spawn(act, f)
            for _ in range(500):
                user = _inside(f, slot)
                if user is not None and user._blocked_on is not None:
                    break
                shoal.sleep(0.005)
            f.close()
            alive = t.alive
            with pytest.raises(shoal.ClosedFileError) as caught:
                t.get(timeout=1)
            return caught.value, alive, f.closed
        finally:
            cleanup()

    err, alive, closed = shoal.run(main, loop=loop)
    assert not alive
    assert closed
    assert err.errno == errno.EBADF
    assert str(err).endswith(" was closed by another tasklet"), str(err)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_raw_pipe_closed_in_another_thread_says_so(loop: str) -> None:
    """The message names the closer: another thread, not another tasklet."""
    made: queue.Queue[Any] = queue.Queue()
    ended: list[Any] = []

    def job() -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(5)"],
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        made.put(child)
        try:
            ended.append(child.stdout.read(10))
        except Exception as exc:
            ended.append(exc)
        finally:
            child.kill()
            child.wait(timeout=5)

    worker = threading.Thread(target=shoal.run, args=(job,), kwargs={"loop": loop})
    worker.start()
    child = made.get(timeout=10)
    for _ in range(500):
        if child.stdout._waiter is not None:
            break
        time.sleep(0.01)
    child.stdout.close()
    worker.join(timeout=3)
    if worker.is_alive():
        child.kill()
        worker.join(timeout=10)
    (err,) = ended
    assert isinstance(err, shoal.ClosedFileError), err
    assert str(err).endswith("was closed by another thread"), str(err)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["plain", "tls"])
def test_a_socket_closed_in_another_thread_says_so(
    loop: str, how: str, contexts: Contexts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message names the closer: another thread, not another tasklet."""
    make = socket.socketpair if how == "plain" else (lambda: _tls_pair(contexts))
    outcome, value, _ = _end_a_wait_from_another_thread(
        loop, "read", "close", "plain", make, monkeypatch
    )
    assert outcome == "ClosedFileError", (outcome, value)
    assert str(value).endswith("was closed by another thread"), str(value)


# Audit round 28: a close of a buffered file that gives up (a timeout scope or
# a kill around ``close()``) while it waits for a tasklet of another thread to
# leave went on evicting it later, in that thread, on a file that stays open:
# the reader was told the file was closed (its partial line lost), at each
# read it began while the request still found it inside. Now a close that
# gives up leaves it alone, as one in its own thread does. And a close could
# not finish while a reader that caught its ``ClosedFileError`` read again:
# it went back in and waited, to be evicted again, for as long as it tried
# (across threads it kept the closer's thread waiting). Now a close marks
# the file as closing before it evicts: the next try fails at once with
# ``ClosedFileError``, as a raw socket's does, and so does any other
# tasklet's call meanwhile. A close that fails with ``BusyError`` (a tasklet
# of a thread without a hub is inside) closed the raw object all the same;
# now it leaves the file as it was.


def _parked(f: Any, slot: str) -> bool:
    """Whether a tasklet waits inside ``f`` in ``slot``'s direction."""
    user = _inside(f, slot)
    return user is not None and getattr(user, "_blocked_on", None) is not None


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("mode", ["rb", "r"])
@pytest.mark.parametrize("how", ["timeout", "kill"])
def test_a_close_from_another_thread_that_gives_up_leaves_the_reader_alone(
    loop: str, mode: str, how: str
) -> None:
    """The reader's thread runs no loop round until the closer has given up
    (a timeout scope around ``close()``, or a kill of the closing tasklet):
    the file stays open, and the reader, waiting with part of a line read,
    is never told it was closed; it reads the whole line, then the next."""
    handed: queue.Queue[Any] = queue.Queue()
    busy = threading.Event()
    got: list[Any] = []

    def main() -> None:
        a, b = socket.socketpair()
        f = a.makefile(mode)
        try:
            b.sendall(b"hel")  # part of a line: readline keeps it and waits

            def reader() -> None:
                for _ in range(2):
                    try:
                        got.append(f.readline())
                    except OSError as exc:
                        got.append(exc)

            r = shoal.spawn(reader)
            for _ in range(500):
                if _parked(f, "_reading"):
                    break
                shoal.sleep(0.005)
            handed.put(f)
            busy.wait(5)
            time.sleep(0.6)  # no loop round meanwhile: the close gives up first
            shoal.sleep(0.1)  # the close's request runs now, if it still runs
            b.sendall(b"lo\nworld\n")
            r.join(timeout=5)
            got.append(f.closed)
        finally:
            f.close()
            a.close()
            b.close()

    thread = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    thread.start()
    f = handed.get(timeout=10)

    def closer() -> bool:
        busy.set()
        if how == "timeout":
            with shoal.move_on_after(0.1) as scope:
                f.close()
            return scope.cancelled_caught
        t = shoal.spawn(f.close)
        shoal.sleep(0.1)
        t.kill()
        return isinstance(t.exception, shoal.TaskletExit)

    gave_up = shoal.run(closer, loop=loop)
    closed = f.closed
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert gave_up, got
    assert not closed
    line, then = (b"hello\n", b"world\n") if "b" in mode else ("hello\n", "world\n")
    assert got == [line, then, False]


class _Feeding(io.RawIOBase):
    """A raw file whose read stays runnable (it yields) until ``ready``,
    then returns ``data``: a tasklet inside its buffered reader is not
    parked. Its ``readinto`` switches."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ready = False
        self.inside = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.inside = True
        deadline = time.monotonic() + 5
        try:
            for _ in range(10_000_000):
                if self.ready or time.monotonic() > deadline:
                    break
                shoal.sleep(0)
            data, self.data = self.data, b""
            buffer[: len(data)] = data
            return len(data)
        finally:
            self.inside = False


class _Sink(io.RawIOBase):
    """A raw file that keeps what is written to it. Does not switch."""

    def __init__(self) -> None:
        self.written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.written += data
        return len(data)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("mode", ["rb", "r"])
def test_a_reader_that_reads_again_after_a_close_is_refused_at_once(
    loop: str, mode: str
) -> None:
    """A reader that catches the ``ClosedFileError`` and reads again at
    once (without a switch) gets ``ClosedFileError`` at once, saying the
    file is being closed, as a raw socket's second try fails at once: it
    does not go back in to wait, to be evicted again for as long as it
    tries (the close waited for it to stop). The close ends once it has
    left."""

    def main() -> tuple[list[OSError], Any, bool]:
        a, b = socket.socketpair()
        f = a.makefile(mode)
        errors: list[OSError] = []

        def reader() -> Any:
            for _ in range(200):
                try:
                    return f.readline()
                except OSError as exc:
                    errors.append(exc)
            return None

        try:
            t = shoal.spawn(reader)
            for _ in range(500):
                if _parked(f, "_reading"):
                    break
                shoal.sleep(0.005)
            f.close()
            return errors, t.get(timeout=5), f.closed
        finally:
            a.close()
            b.close()

    errors, value, closed = shoal.run(main, loop=loop)
    assert closed
    assert value is None
    assert len(errors) == 200
    first, *then = errors
    assert isinstance(first, shoal.ClosedFileError)
    assert str(first).endswith(" was closed by another tasklet"), str(first)
    for err in then:
        assert isinstance(err, shoal.ClosedFileError), err
        assert err.errno == errno.EBADF
        assert "Buffered" in str(err)
        assert str(err).endswith(" is being closed by another tasklet"), str(err)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("closer", ["plain", "shoal.run"])
def test_a_reader_that_reads_again_after_a_close_from_another_thread(
    loop: str, closer: str
) -> None:
    """The same across threads: the reader's second try fails at once,
    saying another thread closes the file (or, once the close is done, it
    is the stdlib's error for a closed file); it is evicted once, and the
    close (in a plain thread, or a run's tasklet) returns and closes."""
    handed: queue.Queue[Any] = queue.Queue()
    errors: list[Exception] = []

    def main() -> None:
        a, b = socket.socketpair()
        f = a.makefile("rb")
        try:
            handed.put(f)
            for _ in range(20):
                try:
                    f.readline()
                    break
                except OSError as exc:
                    errors.append(exc)
                except ValueError as exc:
                    errors.append(exc)
                    break
        finally:
            a.close()
            b.close()

    thread = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    thread.start()
    f = handed.get(timeout=10)
    for _ in range(500):
        if _parked(f, "_reading"):
            break
        time.sleep(0.01)
    time.sleep(0.05)  # into the loop's selector
    if closer == "plain":
        f.close()
    else:
        shoal.run(f.close, loop=loop)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert f.closed
    first, *then = errors
    assert isinstance(first, shoal.ClosedFileError)
    assert str(first).endswith(" was closed by another thread"), str(first)
    assert then
    if isinstance(then[-1], ValueError):
        assert "closed file" in str(then.pop())
    else:
        assert len(errors) == 20
    for err in then:
        assert isinstance(err, shoal.ClosedFileError), err
        assert str(err).endswith(" is being closed by another thread"), str(err)


def _closing_a_pair(loop: str, scope: float | None) -> dict[str, Any]:
    """A ``BufferedRWPair`` whose reader, a tasklet, is inside and runnable
    (its raw read yields until told); a second tasklet closes it (within
    ``scope`` seconds if given: it gives up then), and meanwhile a third
    writes to it. What the write did while the close waited, what the read
    returned, whether the file ended closed, and what a write and a read of
    yet another tasklet did after the close ended."""

    def main() -> dict[str, Any]:
        raw, sink = _Feeding(b"one\n"), _Sink()
        f = _buffered.BufferedRWPair(raw, sink)
        got: dict[str, Any] = {}

        def attempt(call: Callable[[], Any]) -> Any:
            try:
                return call()
            except Exception as exc:
                return exc

        r = shoal.spawn(attempt, f.readline)
        for _ in range(500):
            if raw.inside:
                break
            shoal.sleep(0.001)

        def close() -> None:
            if scope is None:
                f.close()
                return
            with shoal.move_on_after(scope):
                f.close()

        c = shoal.spawn(close)
        shoal.sleep(0.02)  # the close waits for the reader to leave
        got["write meanwhile"] = attempt(lambda: f.write(b"x"))
        if scope is not None:
            c.join(timeout=5)  # it gives up
        raw.ready = True
        got["read"] = r.get(timeout=5)
        c.join(timeout=5)
        got["closed"] = f.closed
        if not f.closed:
            raw.data, raw.ready = b"two\n", True
            got["write after"] = shoal.spawn(attempt, lambda: f.write(b"y")).get()
            got["read after"] = shoal.spawn(attempt, f.readline).get()
            f.close()
        return got

    got: dict[str, Any] = shoal.run(main, loop=loop)
    return got


@pytest.mark.parametrize("loop", LOOPS)
def test_another_tasklets_call_while_a_close_waits_is_refused(loop: str) -> None:
    """While the close waits for the reader to leave, another tasklet's
    write (its direction free) fails at once with ``ClosedFileError``: the
    file is being closed (it went in, and its data was flushed by the close
    or dropped)."""
    got = _closing_a_pair(loop, None)
    err = got["write meanwhile"]
    assert isinstance(err, shoal.ClosedFileError), got
    assert err.errno == errno.EBADF
    assert str(err).endswith(" is being closed by another tasklet"), str(err)
    assert got["read"] == b"one\n"  # it was runnable: it ran on and left
    assert got["closed"] is True


@pytest.mark.parametrize("loop", LOOPS)
def test_a_close_in_the_readers_own_thread_that_gives_up_leaves_the_file_usable(
    loop: str,
) -> None:
    """As across threads: once the close has given up, the file is open and
    nothing refuses its calls (the marks of the close are gone), and the
    reader inside went on undisturbed."""
    got = _closing_a_pair(loop, 0.05)
    assert isinstance(got["write meanwhile"], shoal.ClosedFileError), got
    assert got["read"] == b"one\n"
    assert got["closed"] is False
    assert got["write after"] == 1
    assert got["read after"] == b"two\n"


class _Stuck(io.RawIOBase):
    """A raw file whose write waits in the hub (for long). Switches."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        shoal.sleep(10)
        return len(data)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", ["writer", "pair"])
def test_a_second_close_while_the_first_ones_flush_waits(loop: str, kind: str) -> None:
    """A close whose flush waits is inside the file: a second tasklet's
    close wakes it with ``ClosedFileError`` (its data dropped) and closes,
    as it wakes any tasklet inside; neither hits the stdlib's lock
    ("reentrant call")."""

    def main() -> tuple[Any, Any, bool]:
        if kind == "writer":
            f: Any = _buffered.BufferedWriter(_Stuck())
        else:
            f = _buffered.BufferedRWPair(_Feeding(b""), _Stuck())
        f.write(b"x")  # stays in the buffer
        first = shoal.spawn(f.close)
        shoal.sleep(0.02)  # its flush waits
        try:
            f.close()
            second: Any = "returned"
        except Exception as exc:
            second = exc
        first.join(timeout=5)
        return first.exception, second, f.closed

    first, second, closed = shoal.run(main, loop=loop)
    assert second == "returned"
    assert closed
    assert isinstance(first, shoal.ClosedFileError), first
    assert str(first).endswith(" was closed by another tasklet"), str(first)


class _Dozing(io.RawIOBase):
    """A raw file whose read stays runnable (it yields with ``schedule()``,
    which never parks in the hub, as ``sleep(0)``'s turns of the hub may,
    where a close would rightly find it waiting) until ``ready``, then
    waits in the hub a moment and returns b"ok". Its ``readinto``
    switches."""

    def __init__(self) -> None:
        self.ready = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = time.monotonic() + 5
        for _ in range(10_000_000):
            if self.ready or time.monotonic() > deadline:
                break
            shoal.schedule()
        shoal.sleep(0.05)
        buffer[:2] = b"ok"
        return 2


@pytest.mark.parametrize("loop", LOOPS)
def test_a_close_from_another_thread_that_gives_up_on_a_runnable_reader(
    loop: str,
) -> None:
    """The reader is runnable when the close comes, and stays so until the
    closer has given up: its thread stops looking for it then, and neither
    that read nor the next ones, which wait, are told the file was closed
    (they were, at each wait, while its thread kept looking)."""
    handed: queue.Queue[Any] = queue.Queue()
    got: list[Any] = []

    def main() -> None:
        raw = _Dozing()
        f = _buffered.BufferedReader(raw, 2)
        handed.put((f, raw))
        for _ in range(3):
            try:
                got.append(f.read(2))
            except OSError as exc:
                got.append(exc)

    thread = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    thread.start()
    f, raw = handed.get(timeout=10)
    for _ in range(500):
        if _inside(f, "_reading") is not None:
            break
        time.sleep(0.01)

    def closer() -> bool:
        with shoal.move_on_after(0.1) as scope:
            f.close()
        return scope.cancelled_caught

    gave_up = shoal.run(closer, loop=loop)
    raw.ready = True
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert gave_up, got
    assert not f.closed
    assert got == [b"ok", b"ok", b"ok"]


class _Blocking(io.RawIOBase):
    """A raw file whose read blocks its thread a moment (no hub), then
    returns b"ok". Does not switch."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.3)
        buffer[:2] = b"ok"
        return 2


def test_a_close_that_cannot_evict_leaves_the_file_open() -> None:
    """The tasklet inside is a plain thread's, blocked in its read (a thread
    without a hub, which no request can reach): the close fails with
    ``BusyError`` and leaves the file as it was, raw object included (it
    closed the raw object first, under the reader's feet), and the read
    ends as it would have."""
    f = _buffered.BufferedReader(_Blocking(), 2)
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(f.read(2)))
    reader.start()
    for _ in range(500):
        if _inside(f, "_reading") is not None:
            break
        time.sleep(0.005)
    with pytest.raises(shoal.BusyError):
        f.close()
    closed = f.raw.closed
    reader.join(timeout=5)
    assert not closed
    assert got == [b"ok"]
    assert not f.closed
    f.close()
    assert f.closed
