"""shoal.subprocess: a pipe of the parent handed to another process.

A child shares the open file of a descriptor it is given, O_NONBLOCK
included: a shoal pipe must be blocking before a child gets it, however it
is given (a file object, its descriptor number, a dup of it, ``pass_fds``,
or ``hand_over`` before another way of starting a process). Every child is
killed and reaped in a ``finally`` (``_child``), and every wait has a bound.
"""

from __future__ import annotations

import os
import subprocess as stdlib_subprocess
import time
from typing import Any

import pytest

import shoal
import shoal.subprocess as subprocess
from _children import child as _child
from _children import py as _py
from shoal._hub import LOOPS

BIG = 1024 * 1024  # far beyond a pipe's 64 KiB

# Children that use their descriptors with plain os.read and os.write, so
# that a non-blocking one fails them at once (BlockingIOError, exit 1).
LATE_HELLO = "import os, time; time.sleep(0.5); os.write(1, b'hello' + bytes([10]))"
COPY = "import os\nwhile d := os.read(0, 65536): os.write(1, d)"
LATE_COUNT = (
    "import os, time\ntime.sleep(0.5)\nn = 0\n"
    "while d := os.read(0, 65536): n += len(d)\nprint(n)"
)


STALL = 0.25  # the children wait 0.5 s: a thread blocked that long shows


def _ticker(stall: list[float]) -> None:
    """Tick every 1 ms; ``stall[0]``: the longest time between two ticks
    since it was last reset to 0."""
    last = time.monotonic()
    while True:
        shoal.sleep(0.001)
        now = time.monotonic()
        stall[0] = max(stall[0], now - last)
        last = now


def _stall(stall: list[float]) -> float:
    """The longest stall so far, once the ticker has ticked again."""
    shoal.sleep(0.01)
    return stall[0]


def _fd(f: Any) -> int:
    assert f is not None
    fd: int = f.fileno()
    return fd


# -- a descriptor number, as the stdlib accepts ------------------------------------


@pytest.mark.parametrize("how", ["keyword", "positional", "dup"])
def test_a_pipes_descriptor_as_stdin_of_another_child(how: str) -> None:
    """stdin=p1.stdout.fileno() (or a dup of it) is handed over as
    stdin=p1.stdout is: the child reads a blocking pipe."""

    def main() -> tuple[bytes, bytes, int, int]:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            fd = _fd(p1.stdout)
            given = os.dup(fd) if how == "dup" else fd
            try:
                pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
                if how == "positional":
                    # Popen(args, bufsize, executable, stdin, stdout, stderr)
                    p2 = subprocess.Popen(_py(COPY), -1, None, given, *pipes.values())
                else:
                    p2 = subprocess.Popen(_py(COPY), stdin=given, **pipes)
            finally:
                if given != fd:
                    os.close(given)
            with p2:
                assert p1.stdout is not None
                p1.stdout.close()
                out, err = p2.communicate(timeout=10)
                return out, err, p2.wait(timeout=10), p1.wait(timeout=10)

    out, err, rc2, rc1 = shoal.run(main)
    assert (out, err, rc2, rc1) == (b"hello\n", b"", 0, 0)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_pipes_descriptor_as_stdout_or_stderr_of_another_child(stream: str) -> None:
    """stdout=p3.stdin.fileno() (stderr too): a child that fills the pipe
    waits for room instead of failing with EAGAIN."""
    fill = f"import os\nv = memoryview(bytes({BIG}))\nwhile v: v = v[os.write(1, v):]"

    def main() -> tuple[bytes, int, int]:
        with _child(LATE_COUNT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p3:
            fd = _fd(p3.stdin)
            kwargs: dict[str, Any] = {stream: fd}
            if stream == "stderr":
                fill2 = fill.replace("os.write(1", "os.write(2")
                p4 = subprocess.Popen(_py(fill2), **kwargs)
            else:
                p4 = subprocess.Popen(_py(fill), **kwargs)
            with p4:
                out, _ = p3.communicate(timeout=20)  # closes p3.stdin
                return out, p4.wait(timeout=10), p3.wait(timeout=10)

    assert shoal.run(main) == (f"{BIG}\n".encode(), 0, 0)


def test_a_pipe_in_pass_fds_is_handed_over() -> None:
    """pass_fds=[p1.stdout.fileno()]: the child reads that descriptor, and
    it is blocking."""

    def main() -> tuple[bytes, int, int]:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            fd = _fd(p1.stdout)
            code = f"import os\nwhile d := os.read({fd}, 65536): os.write(1, d)"
            with _child(code, stdout=subprocess.PIPE, pass_fds=[fd]) as p2:
                assert p1.stdout is not None
                p1.stdout.close()
                out, _ = p2.communicate(timeout=10)
                return out, p2.wait(timeout=10), p1.wait(timeout=10)

    assert shoal.run(main) == (b"hello\n", 0, 0)


def test_pass_fds_given_as_an_iterator_is_read_once() -> None:
    """pass_fds as a generator: handed over, and the stdlib still gets the
    descriptors (the iterator is read once, for both)."""

    def main() -> tuple[bytes, int]:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            fd = _fd(p1.stdout)
            code = f"import os\nwhile d := os.read({fd}, 65536): os.write(1, d)"
            fds = (n for n in [fd])
            with _child(code, stdout=subprocess.PIPE, pass_fds=fds) as p2:
                assert p1.stdout is not None
                p1.stdout.close()
                out, _ = p2.communicate(timeout=10)
                return out, p2.wait(timeout=10)

    assert shoal.run(main) == (b"hello\n", 0)


def test_a_child_that_cannot_start_leaves_the_pipe_as_it_was() -> None:
    """Popen failing (no such program) after it handed a pipe over: no
    other process has it, so it is non-blocking again, and reading it
    still does not block the thread."""

    def main() -> tuple[bool, bytes, float]:
        stall = [0.0]
        ticker = shoal.spawn(_ticker, stall)
        try:
            with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
                assert p1.stdout is not None
                with pytest.raises(FileNotFoundError):
                    subprocess.Popen(["/nonexistent/shoal-test"], stdin=p1.stdout)
                blocking = os.get_blocking(p1.stdout.fileno())
                stall[0] = 0.0
                line = p1.stdout.readline()
                return blocking, line, _stall(stall)
        finally:
            ticker.kill()

    blocking, line, during = shoal.run(main)
    assert (blocking, line) == (False, b"hello\n")
    assert during < STALL


def test_a_failed_popen_leaves_a_pipe_handed_over_before_blocking() -> None:
    """Only what that Popen handed over is taken back: a pipe handed over
    before (hand_over, or another child) stays blocking."""

    def main() -> bool:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            subprocess.hand_over(p1.stdout)
            with pytest.raises(FileNotFoundError):
                subprocess.Popen(["/nonexistent/shoal-test"], stdin=p1.stdout)
            return os.get_blocking(_fd(p1.stdout))

    assert shoal.run(main) is True


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_a_handed_over_pipe_wakes_its_reader(loop: str) -> None:
    """A tasklet waiting on a pipe handed over (through its epoll watch)
    is woken by another tasklet's close with ClosedFileError, and nothing
    is left open."""

    def main() -> str:
        with _child(LATE_HELLO, stdout=subprocess.PIPE, bufsize=0) as p1:
            with _child("pass", stdin=p1.stdout) as p2:
                assert p2.wait(timeout=10) == 0
            stdout = p1.stdout
            assert stdout is not None
            reader = shoal.spawn(stdout.read, 10)
            shoal.sleep(0.05)  # it waits
            stdout.close()
            with pytest.raises(shoal.ClosedFileError) as caught:
                reader.get(timeout=5)
            return str(caught.value)

    assert "closed by another tasklet" in shoal.run(main, loop=loop)


def _read_a_handed_over_pipe(to_the_end: bool) -> tuple[bytes, float, set[bool]]:
    """p1's stdout handed to p2, then read by the parent: the line read,
    the longest stall of the thread meanwhile, and the blocking flags the
    pipe was seen with; ``to_the_end``: read on to the end, and reap p1."""
    stall = [0.0]
    seen: set[bool] = set()
    ticker = shoal.spawn(_ticker, stall)
    try:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            with _child("pass", stdin=p1.stdout) as p2:
                assert p2.wait(timeout=10) == 0
            assert p1.stdout is not None
            watcher = shoal.spawn(_watch_flag, p1.stdout, seen)
            stall[0] = 0.0
            line = p1.stdout.readline()
            during = _stall(stall)
            if to_the_end:
                assert p1.stdout.read() == b""
            watcher.kill()
            if to_the_end:
                assert p1.wait(timeout=10) == 0
            return line, during, seen
    finally:
        ticker.kill()


def test_without_epoll_a_handed_over_pipe_is_waited_on_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where there is no epoll, the parent waits on the pipe itself (the
    stdlib's loop leaves its flag alone)."""
    import select

    monkeypatch.delattr(select, "epoll")

    line, during, seen = shoal.run(_read_a_handed_over_pipe, False, loop="asyncio")
    assert line == b"hello\n"
    assert during < STALL
    assert seen == {True}


# -- what is not a shoal pipe is left alone ------------------------------------------


@pytest.mark.parametrize("reuse", ["after_close", "behind_its_back"])
def test_a_reused_descriptor_number_is_not_taken_for_the_pipe(reuse: str) -> None:
    """A descriptor number that was a shoal pipe's and now is another
    non-blocking pipe (the pipe closed, or the number replaced with dup2)
    stays non-blocking: it is not the shoal pipe's."""

    def main() -> bool:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            assert p1.stdout is not None
            fd = p1.stdout.fileno()
            r, w = os.pipe()
            if reuse == "after_close":
                p1.stdout.close()
            try:
                os.dup2(r, fd)  # fd: the read end of another pipe
                os.set_blocking(fd, False)
                with _child("pass", stdin=fd) as p2:
                    assert p2.wait(timeout=10) == 0
                return os.get_blocking(fd)
            finally:
                os.close(r)
                os.close(w)
                if reuse == "after_close":
                    os.close(fd)

    assert shoal.run(main) is False


def test_another_non_blocking_pipe_is_left_as_it_is() -> None:
    """A pipe that shoal did not make stays as its owner set it, handed to
    Popen or to hand_over."""

    def main() -> tuple[bool, bool]:
        r, w = os.pipe()
        try:
            os.set_blocking(r, False)
            assert subprocess.hand_over(r) == r
            with _child("pass", stdin=r) as p:
                assert p.wait(timeout=10) == 0
            return os.get_blocking(r), os.get_blocking(w)
        finally:
            os.close(r)
            os.close(w)

    assert shoal.run(main) == (False, True)


# -- hand_over: for a process shoal does not start ----------------------------------


@pytest.mark.parametrize("what", ["file", "descriptor"])
def test_hand_over_prepares_a_pipe_for_the_stdlibs_popen(what: str) -> None:
    """subprocess.hand_over(p1.stdout) (or its descriptor) returns its
    argument, made blocking: the stdlib's Popen can give it to a child."""

    def main() -> tuple[bytes, bytes, int, int]:
        with _child(LATE_HELLO, stdout=subprocess.PIPE) as p1:
            given = p1.stdout if what == "file" else _fd(p1.stdout)
            assert subprocess.hand_over(given) is given
            p2 = stdlib_subprocess.Popen(
                _py(COPY),
                stdin=given,
                stdout=stdlib_subprocess.PIPE,
                stderr=stdlib_subprocess.PIPE,
            )
            try:
                assert p1.stdout is not None
                p1.stdout.close()
                out, err = p2.communicate(timeout=10)  # the stdlib's: blocks
            finally:
                p2.kill()
                p2.communicate()
            return out, err, p2.returncode, p1.wait(timeout=10)

    assert shoal.run(main) == (b"hello\n", b"", 0, 0)


def test_hand_over_takes_what_popen_takes() -> None:
    """None, a descriptor or a file object is returned as it is; anything
    else is a TypeError naming it."""
    assert subprocess.hand_over(None) is None
    assert subprocess.hand_over(subprocess.PIPE) == subprocess.PIPE
    with open(os.devnull, "rb") as f:
        assert subprocess.hand_over(f) is f
    with pytest.raises(TypeError, match=r"hand_over\(\).*'stdin'.*str"):
        subprocess.hand_over("stdin")  # type: ignore[arg-type]


def test_hand_over_of_a_closed_pipe_says_so() -> None:
    """A closed pipe cannot be handed to anyone: ValueError, as Popen's."""

    def main() -> None:
        with _child("pass", stdout=subprocess.PIPE) as p:
            assert p.stdout is not None
            p.stdout.close()
            with pytest.raises(ValueError, match="closed"):
                subprocess.hand_over(p.stdout)

    shoal.run(main)


# -- the parent's own use of a pipe it handed over ---------------------------------


def _watch_flag(f: Any, seen: set[bool]) -> None:
    """Note in ``seen`` whether ``f``'s descriptor is blocking, every 1 ms
    until ``f`` is closed (10 s at most)."""
    for _ in range(10_000):
        if f.closed:
            return
        seen.add(os.get_blocking(f.fileno()))
        shoal.sleep(0.001)


@pytest.mark.parametrize("loop", LOOPS)
def test_reading_a_handed_over_pipe_keeps_it_blocking_and_the_thread_free(
    loop: str,
) -> None:
    """The parent still reading p1.stdout after p2 got it: the read waits
    in the hub, not in the blocking descriptor, and the wait does not make
    it non-blocking again (uvloop makes what it polls non-blocking)."""

    line, during, seen = shoal.run(_read_a_handed_over_pipe, True, loop=loop)
    assert line == b"hello\n"
    assert during < STALL
    assert seen == {True}


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["write", "communicate"])
def test_writing_a_handed_over_pipe_keeps_it_blocking_and_the_thread_free(
    how: str, loop: str
) -> None:
    """The parent still writing p3.stdin after p4 got it as its stdout: a
    write to a full pipe waits in the hub, a step of PIPE_BUF at most, and
    the pipe stays blocking."""
    data = bytes(BIG)

    def main() -> tuple[bytes, float, set[bool]]:
        stall = [0.0]
        seen: set[bool] = set()
        ticker = shoal.spawn(_ticker, stall)
        try:
            with _child(
                LATE_COUNT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            ) as p3:
                with _child("pass", stdout=p3.stdin) as p4:
                    assert p4.wait(timeout=10) == 0
                assert p3.stdin is not None
                watcher = shoal.spawn(_watch_flag, p3.stdin, seen)
                stall[0] = 0.0
                if how == "write":
                    p3.stdin.write(data)
                    during = _stall(stall)
                    watcher.kill()
                    out, _ = p3.communicate(timeout=20)
                else:
                    out, _ = p3.communicate(data, timeout=20)
                    during = _stall(stall)
                    watcher.kill()
                assert p3.wait(timeout=10) == 0
                return out, during, seen
        finally:
            ticker.kill()

    out, during, seen = shoal.run(main, loop=loop)
    assert out == f"{BIG}\n".encode()
    assert during < STALL
    assert seen == {True}


@pytest.mark.parametrize("loop", LOOPS)
def test_a_pipe_handed_over_while_communicate_waits_on_it_stays_blocking(
    loop: str,
) -> None:
    """One tasklet is in p1.communicate() when another hands p1.stdout to
    p2: communicate's next wait is on the epoll watch, not on the pipe,
    which the loop would make non-blocking again under p2's feet."""
    late = "import os, time\nfor _ in range(3):\n    time.sleep(0.2); os.write(1, b'x')"

    def main() -> tuple[set[bool], int, bytes]:
        seen: set[bool] = set()
        with _child(late, stdout=subprocess.PIPE) as p1:
            reader = shoal.spawn(p1.communicate, timeout=10)
            shoal.sleep(0.05)  # communicate waits on p1.stdout
            # p2 reads only once communicate has had bytes and waited again
            late_copy = "import time\ntime.sleep(0.5)\n" + COPY
            with _child(late_copy, stdin=p1.stdout, stdout=subprocess.PIPE) as p2:
                assert p1.stdout is not None
                watcher = shoal.spawn(_watch_flag, p1.stdout, seen)
                out, _ = reader.get()
                watcher.kill()
                copied, _ = p2.communicate(timeout=10)
                return seen, p2.returncode, out + copied

    seen, code, both = shoal.run(main, loop=loop)
    assert seen == {True}
    assert code == 0
    assert sorted(both) == sorted(b"xxx")  # each byte went to one of the two
