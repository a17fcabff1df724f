"""shoal.subprocess, on real child processes (``sys.executable -c ...``).

Every child is killed and reaped in a ``finally`` (``_child``), and every wait
has a bound, so a broken implementation fails instead of hanging.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess as stdlib_subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shoal
import shoal.subprocess as subprocess
from _children import child as _child
from _children import py as _py
from shoal._hub import get_hub


def _run(fn: Callable[[], Any]) -> Any:
    return shoal.run(fn)


def _gone(pid: int) -> bool:
    """The child ``pid`` has exited and been reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _children() -> list[int]:
    """This process's children, zombies included."""
    pids = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            pids += [int(pid) for pid in f.read().split()]
    return pids


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _ticker(counter: list[int]) -> None:
    while True:
        shoal.sleep(0.001)
        counter[0] += 1


# -- the module -------------------------------------------------------------------


def test_module_is_a_drop_in() -> None:
    """Same names; the rest are the stdlib's own objects; same signatures."""
    assert subprocess.__all__ == stdlib_subprocess.__all__
    ours = {
        "Popen",
        "TimeoutExpired",
        "call",
        "check_call",
        "check_output",
        "getoutput",
        "getstatusoutput",
        "run",
    }
    for name in stdlib_subprocess.__all__:
        same = getattr(subprocess, name) is getattr(stdlib_subprocess, name)
        assert same == (name not in ours), name
    assert issubclass(subprocess.Popen, stdlib_subprocess.Popen)
    assert issubclass(subprocess.TimeoutExpired, stdlib_subprocess.TimeoutExpired)
    assert issubclass(subprocess.TimeoutExpired, shoal.TimeoutError)
    for name in ours:
        mine, theirs = (getattr(m, name) for m in (subprocess, stdlib_subprocess))
        assert _shape(mine) == _shape(theirs), name


def _shape(fn: Any) -> list[tuple[str, Any, Any]]:
    """A signature without its annotations."""
    params = inspect.signature(fn).parameters.values()
    return [(p.name, p.kind, p.default) for p in params]


# -- run, call, check_call, check_output -------------------------------------------


def test_run_results_and_check() -> None:
    """run returns a CompletedProcess; check=True raises CalledProcessError."""
    code = "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"

    def main() -> None:
        done = subprocess.run(_py(code), capture_output=True)
        assert isinstance(done, subprocess.CompletedProcess)
        assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err")
        assert done.args == _py(code)
        quiet = subprocess.run(_py("pass"), stdout=subprocess.DEVNULL)
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, None, None)
        with pytest.raises(subprocess.CalledProcessError) as info:
            subprocess.run(_py(code), capture_output=True, check=True)
        e = info.value
        assert (e.returncode, e.output, e.stderr) == (3, b"out\n", b"err")
        echoed = subprocess.run(
            _py("import sys; sys.stdout.write(sys.stdin.read().upper())"),
            input=b"shout",
            stdout=subprocess.PIPE,
        )
        assert echoed.stdout == b"SHOUT"

    _run(main)


def test_check_output_call_and_check_call() -> None:
    """Their results and errors, as the stdlib's."""

    def main() -> None:
        assert subprocess.check_output(_py("print('hi')")) == b"hi\n"
        merged = subprocess.check_output(
            _py("import sys; sys.stderr.write('e')"), stderr=subprocess.STDOUT
        )
        assert merged == b"e"
        upper = _py("import sys; sys.stdout.write(sys.stdin.read().upper())")
        assert subprocess.check_output(upper, input=b"abc") == b"ABC"
        assert subprocess.check_output(upper, input=None) == b""
        with pytest.raises(subprocess.CalledProcessError) as info:
            subprocess.check_output(_py("print('partial'); raise SystemExit(2)"))
        assert (info.value.returncode, info.value.output) == (2, b"partial\n")
        assert subprocess.call(_py("raise SystemExit(5)")) == 5
        assert subprocess.check_call(_py("pass")) == 0
        failing = _py("raise SystemExit(1)")
        with pytest.raises(subprocess.CalledProcessError) as info:
            subprocess.check_call(failing)
        assert (info.value.returncode, info.value.cmd) == (1, failing)
        assert subprocess.getstatusoutput("echo hello; exit 4") == (4, "hello")
        assert subprocess.getoutput("echo hello") == "hello"

    _run(main)


def test_bad_input_gets_the_stdlibs_errors() -> None:
    """The same exception types as the stdlib for the same mistakes."""
    cases: list[tuple[str, Callable[[Any], Any]]] = [
        ("input and stdin", lambda m: m.run(_py("pass"), input=b"", stdin=m.PIPE)),
        (
            "capture_output and stdout",
            lambda m: m.run(_py("pass"), capture_output=True, stdout=m.PIPE),
        ),
        ("check_output stdout", lambda m: m.check_output(_py("pass"), stdout=None)),
        ("bufsize", lambda m: m.Popen(_py("pass"), bufsize="big")),
        ("unknown keyword", lambda m: m.Popen(_py("pass"), colour=True)),
        ("no such program", lambda m: m.run(["/nonexistent/program"])),
        ("text input as bytes", lambda m: m.run(_py("pass"), input=b"x", text=True)),
        (
            "text input as bytes, with a timeout",
            lambda m: m.run(_py("pass"), input=b"x", text=True, timeout=10),
        ),
        ("binary input as str", lambda m: m.run(_py("pass"), input="x")),
        (
            "text input as bytes, captured",
            lambda m: m.run(_py("pass"), input=b"x", text=True, capture_output=True),
        ),
        (
            "binary input as str, captured",
            lambda m: m.run(_py("pass"), input="x", capture_output=True),
        ),
        ("timeout not a number", lambda m: m.run(_py("pass"), timeout="soon")),
    ]

    def outcome(module: Any, case: Callable[[Any], Any]) -> type[BaseException]:
        try:
            case(module)
        except Exception as e:
            return type(e)
        raise AssertionError("no exception")

    def main() -> None:
        for what, case in cases:
            assert outcome(subprocess, case) is outcome(stdlib_subprocess, case), what

    _run(main)


def test_communicate_refuses_input_after_it_started() -> None:
    """As the stdlib: a second communicate cannot send input."""

    def main() -> None:
        with _child("import sys; sys.stdin.read()", stdin=subprocess.PIPE) as p:
            assert p.communicate(b"data", timeout=10) == (None, None)
            with pytest.raises(ValueError, match="Cannot send input"):
                p.communicate(b"more")

    _run(main)


# -- text mode --------------------------------------------------------------------


def test_text_mode_encoding_errors_and_newlines() -> None:
    """text/universal_newlines/encoding/errors decode and translate newlines."""
    echo = _py("import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())")

    def main() -> None:
        done = subprocess.run(echo, input="a\r\nb\rc\n", capture_output=True, text=True)
        assert (done.stdout, done.stderr) == ("a\nb\nc\n", "")
        old = subprocess.run(
            echo, input="x\r\n", stdout=subprocess.PIPE, universal_newlines=True
        )
        assert old.stdout == "x\n"
        utf8 = subprocess.check_output(echo, input="h\u00e9 \u263a", encoding="utf-8")
        assert utf8 == "h\u00e9 \u263a"
        raw = _py("import sys; sys.stdout.buffer.write(b'ok\\xff')")
        lossy = subprocess.check_output(raw, encoding="utf-8", errors="replace")
        assert lossy == "ok\ufffd"
        with pytest.raises(UnicodeDecodeError):
            subprocess.check_output(raw, encoding="utf-8")
        with _child(
            "import sys\nfor line in sys.stdin: print(line.strip().upper(), flush=True)",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        ) as p:
            assert p.stdin is not None
            assert p.stdout is not None
            for word in ("one", "two"):
                p.stdin.write(word + "\n")  # line buffered: flushed at once
                assert p.stdout.readline() == word.upper() + "\n"
            p.stdin.close()
            assert p.stdout.read() == ""
            assert p.wait(timeout=10) == 0

    _run(main)


# -- more than the pipe buffer ----------------------------------------------------


BIG = 4 * 1024 * 1024  # far beyond a pipe's 64 KiB

# Interleaves writing stdout and stderr with reading stdin, in 64 KiB steps:
# a parent that does any one of the three to its end first deadlocks.
_CHATTY = f"""
import hashlib, sys
out, err, inp = sys.stdout.buffer, sys.stderr.buffer, sys.stdin.buffer
digest = hashlib.sha256()
for _ in range({BIG} // 65536):
    out.write(b"o" * 65536); out.flush()
    err.write(b"e" * 65536); err.flush()
    digest.update(inp.read(65536))
digest.update(inp.read())
out.write(digest.hexdigest().encode())
"""


def test_communicate_megabytes_both_ways_without_deadlock() -> None:
    """Several MB to stdout AND stderr while reading several MB of stdin;
    other tasklets keep running meanwhile."""
    data = os.urandom(BIG + 12345)

    def main() -> tuple[bytes, bytes, int]:
        ticks = [0]
        ticker = shoal.spawn(_ticker, ticks)
        try:
            with _child(
                _CHATTY,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as p:
                out, err = p.communicate(data, timeout=60)
                assert p.returncode == 0
                return out, err, ticks[0]
        finally:
            ticker.kill()

    out, err, ticks = _run(main)
    assert out == b"o" * BIG + hashlib.sha256(data).hexdigest().encode()
    assert err == b"e" * BIG
    assert ticks > 0


def test_pipes_stream_megabytes_cooperatively() -> None:
    """p.stdin.write and p.stdout.read of more than the pipe buffer, in two
    tasklets."""
    data = os.urandom(BIG)
    cat = "import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)"

    def main() -> bytes:
        with _child(cat, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p:
            assert p.stdin is not None
            assert p.stdout is not None
            stdin = p.stdin

            def feed() -> None:
                stdin.write(data)
                stdin.close()

            writer = shoal.spawn(feed)
            got = p.stdout.read()
            writer.get(timeout=30)
            assert p.wait(timeout=10) == 0
            return got

    assert _run(main) == data


def test_unbuffered_pipes() -> None:
    """bufsize=0: the pipes are the raw objects, cooperative too."""

    def main() -> None:
        with _child(
            "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read(5))",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        ) as p:
            assert p.stdin is not None
            assert p.stdout is not None
            assert p.stdin.write(b"12345") == 5
            got = b""
            while chunk := p.stdout.read(3):
                got += chunk
            assert got == b"12345"

    _run(main)


# -- the thread is not blocked ---------------------------------------------------


def test_reading_lines_does_not_block_the_thread() -> None:
    """While a child sleeps before writing, another tasklet keeps ticking."""
    code = "import time; time.sleep(0.2); print('first', flush=True); print('second')"

    def main() -> tuple[list[str], int, int]:
        ticks = [0]
        ticker = shoal.spawn(_ticker, ticks)
        try:
            with _child(code, stdout=subprocess.PIPE, text=True) as p:
                assert p.stdout is not None
                lines = []
                at_first = -1
                for line in p.stdout:
                    if not lines:
                        at_first = ticks[0]
                    lines.append(line)
                assert p.wait(timeout=10) == 0
                return lines, at_first, ticks[0]
        finally:
            ticker.kill()

    lines, at_first, ticks = _run(main)
    assert lines == ["first\n", "second\n"]
    assert at_first >= 10  # 0.2 s of 1 ms sleeps: many ticks, not zero
    assert ticks >= at_first


def test_many_children_waited_concurrently() -> None:
    """20 children sleeping 0.5 s each finish together, not one by one."""

    def one() -> int:
        return subprocess.call(_py("import time; time.sleep(0.5)"), timeout=30)

    def main() -> list[int]:
        return list(shoal.allof(*[one for _ in range(20)]))

    start = time.monotonic()
    assert _run(main) == [0] * 20
    # One by one: 10 s at least. Together: 0.5 s plus 20 interpreters
    # starting, which a loaded machine stretches to seconds.
    assert time.monotonic() - start < 5.0


# -- timeouts ---------------------------------------------------------------------


def test_wait_timeout_leaves_the_child_running() -> None:
    """The exception is TimeoutExpired and shoal.TimeoutError; the child lives."""

    def main() -> None:
        with _child("import time; time.sleep(30)") as p:
            start = time.monotonic()
            with pytest.raises(stdlib_subprocess.TimeoutExpired) as info:
                p.wait(timeout=0.05)
            assert time.monotonic() - start < 5
            e = info.value
            assert isinstance(e, shoal.TimeoutError)
            assert isinstance(e, subprocess.TimeoutExpired)
            assert (e.cmd, e.timeout) == (p.args, 0.05)
            assert p.poll() is None
            with pytest.raises(shoal.TimeoutError):
                p.wait(timeout=0)
            p.kill()
            assert p.wait(timeout=10) == -9

    _run(main)


def test_communicate_timeout_keeps_the_output_so_far() -> None:
    """As the stdlib: the exception carries what was read; a retry goes on."""
    code = (
        "import os, time; os.write(1, b'partial\\n'); os.write(2, b'ready\\n');"
        " time.sleep(30)"
    )

    def main() -> None:
        with _child(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
            assert p.stderr is not None
            assert p.stderr.readline() == b"ready\n"  # stdout is written too
            with pytest.raises(subprocess.TimeoutExpired) as info:
                p.communicate(timeout=0.5)
            assert isinstance(info.value, shoal.TimeoutError)
            assert (info.value.stdout, info.value.stderr) == (b"partial\n", None)
            p.kill()
            assert p.communicate(timeout=10) == (b"partial\n", b"")
            assert p.returncode == -9

    _run(main)


def test_run_timeout_kills_the_child() -> None:
    """run(timeout=), call(timeout=) and check_output(timeout=) kill and
    reap the child; run reports its output so far."""
    code = "import os, time; os.write(1, b'started'); time.sleep(30)"

    def main() -> None:
        assert _children() == []
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired) as info:
            subprocess.run(_py(code), capture_output=True, timeout=0.5)
        assert time.monotonic() - start < 10
        assert isinstance(info.value, shoal.TimeoutError)
        # What the child wrote before the timeout (nothing if it was slow).
        assert info.value.stdout in (b"started", None)
        assert info.value.stderr is None
        assert _children() == []
        with pytest.raises(shoal.TimeoutError):
            subprocess.call(_py(code), stdout=subprocess.DEVNULL, timeout=0.1)
        assert _children() == []
        with pytest.raises(shoal.TimeoutError):
            subprocess.check_output(_py(code), timeout=0.1)
        assert _children() == []

    _run(main)


# -- kills ------------------------------------------------------------------------


def test_killing_a_tasklet_blocked_in_wait() -> None:
    """The wait is left: no hub registration, no descriptor, child untouched."""

    def main() -> None:
        hub = get_hub()
        with _child("import time; time.sleep(30)") as p:
            shoal.sleep(0.01)  # the loop has made its own descriptors
            fds = _open_fds()
            waiter = shoal.spawn(p.wait)
            shoal.sleep(0.02)
            assert hub.waiting == 1
            waiter.kill()
            assert hub.waiting == 0
            assert _open_fds() == fds
            assert p.poll() is None
            p.kill()
            assert p.wait(timeout=10) == -9

    _run(main)


def test_killing_a_tasklet_blocked_in_communicate() -> None:
    """The registrations go; communicate can be called again after."""

    def main() -> None:
        hub = get_hub()
        code = (
            "import os, time; os.write(1, b'hi\\n'); os.write(2, b'ready\\n');"
            " time.sleep(30)"
        )
        with _child(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
            assert p.stderr is not None
            assert p.stderr.readline() == b"ready\n"
            talker = shoal.spawn(p.communicate)
            shoal.sleep(0.05)  # it reads "hi", then waits for more
            talker.kill()
            assert hub.waiting == 0
            assert p.poll() is None
            p.kill()
            assert p.communicate(timeout=10) == (b"hi\n", b"")

    _run(main)


def test_killing_a_tasklet_in_run_or_call_kills_the_child(
    tmp_path: Path,
) -> None:
    """run() and call() kill and reap their child on any exception, a kill
    of their tasklet included."""
    code = (
        "import os, sys, time\n"
        "with open(sys.argv[1], 'w') as f: f.write(str(os.getpid()))\n"
        "time.sleep(30)"
    )

    def started(path: Path) -> int:
        for _ in range(1000):
            if path.exists() and (text := path.read_text()):
                return int(text)
            shoal.sleep(0.01)
        raise AssertionError("the child did not start")

    def main() -> None:
        for i, call in enumerate(
            [
                lambda path: subprocess.run(
                    [*_py(code), str(path)], capture_output=True
                ),
                lambda path: subprocess.call([*_py(code), str(path)]),
            ]
        ):
            path = tmp_path / f"pid{i}"
            t = shoal.spawn(call, path)
            pid = started(path)
            t.kill()
            assert t.dead
            assert _gone(pid)
            assert get_hub().waiting == 0

    _run(main)


# -- fallback, context manager, pipelines ---------------------------------------


def test_without_pidfd_wait_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where os.pidfd_open is missing, wait polls with shoal.sleep."""
    monkeypatch.delattr(os, "pidfd_open", raising=False)

    def main() -> tuple[int, int]:
        ticks = [0]
        ticker = shoal.spawn(_ticker, ticks)
        try:
            with _child("import time; time.sleep(0.2)") as p:
                with pytest.raises(subprocess.TimeoutExpired):
                    p.wait(timeout=0.01)
                return p.wait(timeout=10), ticks[0]
        finally:
            ticker.kill()

    code, ticks = _run(main)
    assert code == 0
    assert ticks >= 10


def test_popen_as_a_context_manager() -> None:
    """Leaving the block closes the pipes and reaps the child."""

    def main() -> None:
        with subprocess.Popen(
            _py("print('done')"), stdout=subprocess.PIPE, stdin=subprocess.PIPE
        ) as p:
            assert p.stdout is not None
            assert p.stdout.read() == b"done\n"
        assert p.returncode == 0
        assert p.stdout.closed
        assert p.stdin is not None
        assert p.stdin.closed

    _run(main)


def test_a_pipe_handed_to_another_child() -> None:
    """p1.stdout as p2's stdin: the pipeline idiom of the stdlib docs."""

    def main() -> bytes:
        with (
            _child("for i in range(3): print(i)", stdout=subprocess.PIPE) as p1,
            _child(
                "import sys; sys.stdout.write(sys.stdin.read().replace(chr(10), ' '))",
                stdin=p1.stdout,
                stdout=subprocess.PIPE,
            ) as p2,
        ):
            assert p1.stdout is not None
            p1.stdout.close()
            out, _ = p2.communicate(timeout=10)
            assert p1.wait(timeout=10) == 0
            return out

    assert _run(main) == b"0 1 2 "


_PIPE_KINDS = {"unbuffered": {"bufsize": 0}, "buffered": {}, "text": {"text": True}}


@pytest.mark.parametrize("kind", sorted(_PIPE_KINDS))
def test_a_second_reader_of_any_pipe_is_busy_and_close_wakes_the_reader(
    kind: str,
) -> None:
    """As for unbuffered pipes, with the default buffered and text pipes: a
    second tasklet reading (or asking where the stream is) gets BusyError,
    not the buffer's RuntimeError; closing the pipe wakes the reader with
    ClosedFileError."""

    def main() -> None:
        with _child(
            "import time; time.sleep(30)", stdout=subprocess.PIPE, **_PIPE_KINDS[kind]
        ) as p:
            stdout = p.stdout
            assert stdout is not None
            reader = shoal.spawn(stdout.read, 10)
            shoal.sleep(0.01)
            with pytest.raises(shoal.BusyError, match="already being read"):
                stdout.read(10)
            with pytest.raises(shoal.BusyError, match="already being read"):
                stdout.readline()
            stdout.close()
            with pytest.raises(shoal.ClosedFileError):
                reader.get(timeout=5)
            assert stdout.closed
            assert get_hub().waiting == 0

    _run(main)


@pytest.mark.parametrize("kind", sorted(_PIPE_KINDS))
def test_a_second_writer_of_a_full_pipe_is_busy_and_close_wakes_the_writer(
    kind: str,
) -> None:
    """The same for a tasklet writing to a child's stdin that it does not
    read: a second writer gets BusyError, and close wakes the first (what
    it had not written is dropped: it is told)."""

    def main() -> None:
        with _child(
            "import time; time.sleep(30)", stdin=subprocess.PIPE, **_PIPE_KINDS[kind]
        ) as p:
            stdin = p.stdin
            assert stdin is not None
            data: Any = "x" * 1_000_000 if kind == "text" else b"x" * 1_000_000
            writer = shoal.spawn(lambda: (stdin.write(data), stdin.flush()))
            shoal.sleep(0.01)
            assert not writer.dead  # the pipe is full
            with pytest.raises(shoal.BusyError, match="already being written"):
                stdin.write(data[:1])
            stdin.close()  # what was still buffered is not sent
            with pytest.raises(shoal.ClosedFileError):
                writer.get(timeout=5)
            assert stdin.closed
            assert get_hub().waiting == 0

    _run(main)


@pytest.mark.parametrize("kind", sorted(_PIPE_KINDS))
def test_leaving_popen_while_a_tasklet_reads_its_output_reaps_the_child(
    kind: str,
) -> None:
    """Popen.__exit__ closes the pipes, then waits for the child: a tasklet
    still reading stdout is woken with ClosedFileError, and the child is
    reaped (no zombie), its other pipes closed."""

    def main() -> None:
        with subprocess.Popen(
            _py("import time; time.sleep(30)"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **_PIPE_KINDS[kind],
        ) as p:
            assert p.stdout is not None
            reader = shoal.spawn(p.stdout.read)  # a log-pumping tasklet
            shoal.sleep(0.01)
            p.kill()
        assert p.returncode == -9
        assert _gone(p.pid)
        assert p.stderr is not None
        assert p.stderr.closed
        with pytest.raises(shoal.ClosedFileError):
            reader.get(timeout=5)

    _run(main)


def test_communicate_and_another_reader_of_its_pipes_are_busy() -> None:
    """communicate() reads every pipe itself: while it does, another tasklet
    reading one gets BusyError (it used to strand that reader), and a
    communicate() started while another tasklet reads one gets BusyError
    before doing anything; so does a second communicate()."""
    code = (
        "import sys, time; time.sleep(0.1); sys.stdout.write('data');"
        " sys.stdout.flush(); time.sleep(0.1)"
    )

    def main() -> None:
        with _child(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
            assert p.stdout is not None
            talker = shoal.spawn(p.communicate, timeout=10)
            shoal.sleep(0.01)
            with pytest.raises(shoal.BusyError):
                p.stdout.read(4)
            with pytest.raises(shoal.BusyError):
                p.communicate(timeout=10)
            assert talker.get(timeout=10) == (b"data", b"")
        with _child(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
            assert p.stdout is not None
            reader = shoal.spawn(p.stdout.read, 4)
            shoal.sleep(0.01)
            with pytest.raises(shoal.BusyError):
                p.communicate(timeout=10)
            assert reader.get(timeout=10) == b"data"
            assert p.communicate(timeout=10) == (b"", b"")

    _run(main)


@pytest.mark.parametrize("pipes", ["stdout", "stdout+stderr"])
def test_communicate_interrupted_by_a_scope_keeps_the_output_for_a_retry(
    pipes: str,
) -> None:
    """A timeout scope (not communicate's own timeout) interrupts it: what
    it read so far is kept, and a retry returns all of it, with one pipe as
    with two (one pipe took the stdlib's shortcut, a plain read, which lost
    it)."""
    code = (
        "import os, time; os.write(1, b'early-'); time.sleep(0.3); os.write(1, b'late')"
    )
    extra = {"stderr": subprocess.PIPE} if "stderr" in pipes else {}

    def main() -> bytes:
        with _child(code, stdout=subprocess.PIPE, **extra) as p:
            with shoal.move_on_after(0.15) as scope:
                p.communicate()
            assert scope.cancelled_caught
            out, _ = p.communicate(timeout=10)
            return out

    assert _run(main) == b"early-late"


@pytest.mark.parametrize("pipes", ["stdout", "stdout+stderr"])
def test_communicate_after_a_partial_read_keeps_what_the_buffer_held(
    pipes: str,
) -> None:
    """readline() read a whole chunk into the pipe's buffer; communicate()
    then gives the rest of it, as the stdlib's does with one pipe (and, in
    binary mode, with two as well, where the stdlib loses it)."""
    code = "import sys; sys.stdout.write('first\\nsecond\\nthird\\n')"
    extra = {"stderr": subprocess.PIPE} if "stderr" in pipes else {}

    def main() -> tuple[bytes, bytes]:
        with _child(code, stdout=subprocess.PIPE, **extra) as p:
            assert p.stdout is not None
            first = p.stdout.readline()
            out, _ = p.communicate(timeout=10)
            return first, out

    assert _run(main) == (b"first\n", b"second\nthird\n")


@pytest.mark.parametrize("kind", sorted(_PIPE_KINDS))
def test_a_pipe_cannot_seek_and_says_so_as_the_stdlibs(kind: str) -> None:
    """tell() and seek() on a pipe raise what the stdlib's raise (OSError
    ESPIPE, not io.UnsupportedOperation, but from a text wrapper);
    seekable() is False; closefd is there."""
    import errno

    def errors(module: Any) -> list[object]:
        with module.Popen(
            _py("pass"), stdout=subprocess.PIPE, **_PIPE_KINDS[kind]
        ) as p:
            found: list[object] = [p.stdout.seekable()]
            for call in (p.stdout.tell, lambda: p.stdout.seek(0)):
                try:
                    call()
                except OSError as e:
                    found.append((type(e), e.errno))
            raw = getattr(getattr(p.stdout, "buffer", p.stdout), "raw", p.stdout)
            found.append(raw.closefd)
            p.stdout.read()
        return found

    stdlib = shoal.run(errors, stdlib_subprocess)
    assert len(stdlib) == 4  # both calls raised
    if kind != "text":  # a text wrapper says io.UnsupportedOperation itself
        assert stdlib[1] == (OSError, errno.ESPIPE)
    assert _run(lambda: errors(subprocess)) == stdlib


def test_a_false_input_in_text_mode_is_skipped_as_by_the_stdlib() -> None:
    """With stdin the only pipe, the stdlib writes the input only if it is
    true: b"" or 0 in text mode are no error there, and none here."""

    def outcome(module: Any, value: object) -> tuple[int, object]:
        done = module.run(_py("pass"), input=value, text=True)
        return done.returncode, done.stdout

    for value in (b"", 0, ""):
        expected = outcome(stdlib_subprocess, value)
        assert _run(lambda v=value: outcome(subprocess, v)) == expected, value
