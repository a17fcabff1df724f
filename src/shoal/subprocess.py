"""A cooperative drop-in for the standard ``subprocess`` module.

Every name of the stdlib module is here. ``Popen``, ``run``, ``call``,
``check_call``, ``check_output``, ``getoutput`` and ``getstatusoutput`` are
cooperative: ``wait``, ``communicate`` and reads and writes on the pipes
park only the calling tasklet. A ``timeout`` that runs out raises
``TimeoutExpired``, which is both ``subprocess.TimeoutExpired`` and
``shoal.TimeoutError``. Code in the hub (asyncio code on shoal's loop)
calling one that waits for the child (all but ``Popen``) gets
``BlockingInHubError`` before the child is started. The parent's pipe
descriptors are non-blocking: an ``os.read`` on ``p.stdout.fileno()``
with nothing to read raises ``BlockingIOError`` where the stdlib's would
block.

Handing a pipe to another process
---------------------------------
A process given a descriptor shares its open file, and O_NONBLOCK with it:
a child given a non-blocking pipe fails its first read or write that would
wait (``cat: -: Resource temporarily unavailable``). So a pipe handed over
is made blocking first, for good (the parent cannot take it back from the
child), and stays so:

- This module's ``Popen`` does it for a pipe given as ``stdin``,
  ``stdout`` or ``stderr`` (``stdin=p1.stdout``), as a descriptor
  (``stdin=p1.stdout.fileno()``, or a dup of it) or in ``pass_fds``.
- Nothing else is seen by shoal: the stdlib's ``subprocess.Popen`` (a
  library using it), ``os.posix_spawn``, ``os.fork`` and exec,
  ``multiprocessing`` (a forked child inherits the descriptors, a spawned
  one gets them sent), a descriptor sent over a Unix socket. Give the pipe
  through :func:`hand_over`: ``stdin=shoal.subprocess.hand_over(p1.stdout)``.
  An ``os.dup`` of the descriptor shares the open file too: hand over
  either, before the other process gets it.
- The parent can go on using a pipe it handed over, cooperatively still:
  its waits watch the pipe through an epoll instance (uvloop makes whatever
  it waits on non-blocking), and a write goes a ``PIPE_BUF`` at a time. As
  with the stdlib, two processes reading (writing) one pipe race for the
  data (the room), and the loser's read (write) blocks the thread; the
  usual way is to close the parent's end once the child has it. Without
  epoll (not Linux), the parent waits on the pipe itself, and uvloop makes
  it non-blocking again.

Design
------
``Popen`` is the stdlib's, with its two waiting hooks replaced: ``_wait``
(under ``wait``) and ``_communicate`` (under ``communicate``). The stdlib
keeps its argument checks, return codes, ``__exit__`` and the rest.

- ``_wait`` waits for a pidfd (Linux 5.3+) to be readable, then reaps with
  the stdlib's ``poll``; elsewhere it polls with a growing ``shoal.sleep``.
- The parent's pipe ends are non-blocking, under a raw ``_pipe.Pipe``
  whose ``readinto``/``write`` wait in the hub; the buffered and text
  objects on top are built again as the stdlib builds them.
- ``_communicate`` is the stdlib's POSIX loop (the same ``os.read`` and
  ``os.write`` on the descriptors, the same output kept for a retry after a
  timeout), with one wait in the hub for whichever pipe is ready first.
- Before the child starts, ``Popen`` hands over what it is given
  (``_pipe.hand_over``): a descriptor whose pipe's inode is that of a live
  ``Pipe`` (a registry: a closed descriptor number reused for another file
  cannot match), through that ``Pipe``'s own open file (setting the flag on
  the one given changes the ``Pipe``'s), and still non-blocking. If the
  child cannot start, the pipes are made non-blocking again.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import subprocess as _stdlib
import time
from subprocess import DEVNULL as DEVNULL
from subprocess import PIPE as PIPE
from subprocess import STDOUT as STDOUT
from subprocess import CalledProcessError as CalledProcessError
from subprocess import CompletedProcess as CompletedProcess
from subprocess import SubprocessError as SubprocessError
from typing import Any

from . import _pipe
from ._buffered import claimed
from ._errors import BlockingInHubError
from ._errors import TimeoutError as _TimeoutError
from ._hub import get_hub, sleep
from ._io import wait_any
from ._pipe import CHUNK, PIPE_BUF, cooperative, shared, wait_fd
from ._scheduler import get_scheduler

_OURS = {
    "Popen",
    "TimeoutExpired",
    "call",
    "check_call",
    "check_output",
    "getoutput",
    "getstatusoutput",
    "run",
}
# A drop-in: every other name of the stdlib module, as it is there.
globals().update({n: getattr(_stdlib, n) for n in _stdlib.__all__ if n not in _OURS})
__all__ = list(_stdlib.__all__)


class TimeoutExpired(_stdlib.TimeoutExpired, _TimeoutError):  # noqa: N818 - stdlib name
    """A timeout of this module ran out: ``subprocess.TimeoutExpired`` with
    ``cmd``, ``timeout``, ``stdout`` and ``stderr``, and ``shoal.TimeoutError``."""

    def __init__(
        self, cmd: Any, timeout: float, output: Any = None, stderr: Any = None
    ) -> None:
        super().__init__(cmd, timeout, output, stderr)
        self.args = (cmd, timeout)  # OSError's __new__ left them out


def _text(data: bytes | None, f: Any) -> str | None:
    """``data`` decoded as text mode does: universal newlines."""
    if data is None:
        return None
    return data.decode(f.encoding, f.errors).replace("\r\n", "\n").replace("\r", "\n")


class Popen(_stdlib.Popen[Any]):
    """As ``subprocess.Popen``; ``wait``, ``communicate`` and the pipe
    objects (``stdin``, ``stdout``, ``stderr``) switch instead of blocking.
    Creating one does not switch: the thread waits only while the child
    starts (fork and exec), as with the stdlib."""

    __signature__ = inspect.signature(_stdlib.Popen)
    # The stdlib's private state that the hooks below share with it.
    _communication_started: bool
    _fileobj2output: dict[Any, list[bytes]]
    _input: Any
    _input_offset: int
    _sigint_wait_secs: float
    text_mode: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            bound = self.__signature__.bind(*args, **kwargs)
        except TypeError:
            bound = None  # the stdlib's __init__ says what is wrong
        handed = []
        if bound is not None:
            given = bound.arguments
            fds = given.get("pass_fds", ())
            if not isinstance(fds, (tuple, list)):
                # Read it once, here and for the stdlib: it may be an iterator.
                try:
                    fds = given["pass_fds"] = tuple(fds)
                except TypeError:
                    fds = ()  # the stdlib's __init__ says what is wrong
                else:
                    args, kwargs = bound.args, bound.kwargs
            names = ("stdin", "stdout", "stderr")
            for f in (*(given.get(n) for n in names), *fds):
                if (pipe := _pipe.hand_over(f)) is not None:
                    handed.append(pipe)
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            for pipe in handed:  # no child has it
                pipe.take_back()
            raise
        bufsize = kwargs.get("bufsize", args[1] if len(args) > 1 else -1)
        self.stdin = cooperative(self.stdin, bufsize)
        self.stdout = cooperative(self.stdout, bufsize)
        self.stderr = cooperative(self.stderr, bufsize)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end; its return code. When ``timeout``
        runs out first, raise ``TimeoutExpired`` (also ``shoal.TimeoutError``)
        and leave the child running. Switches unless it has been reaped."""
        return super().wait(timeout)

    def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
        """Send ``input`` to stdin and close it, read stdout and stderr to
        their end, all at once, and wait for the child; ``(stdout, stderr)``.
        ``TimeoutExpired`` (or a timeout scope, or a kill) leaves the output
        so far with the ``Popen``, and a retry goes on. Meanwhile another
        tasklet using one of the pipes gets ``BusyError``, and so does this,
        at once, if another tasklet is using one. What an earlier partial
        read left in a binary pipe's buffer comes first; in text mode,
        characters decoded but not yet returned are lost, as with the
        stdlib's ``communicate`` over two pipes. Switches."""
        # The stdlib's, without its shortcut for a single pipe (a plain
        # read(), which loses what it read when it is interrupted).
        if self._communication_started and input:
            raise ValueError("Cannot send input after starting communication")
        endtime = None if timeout is None else time.monotonic() + timeout
        pipes = [f for f in (self.stdin, self.stdout, self.stderr) if f]
        with claimed(pipes):
            return self._started(input, endtime, timeout)

    def _started(self, input: Any, endtime: Any, timeout: Any) -> Any:
        """:meth:`communicate`, the pipes held. Switches."""
        try:
            return self._communicate(input, endtime, timeout)
        except KeyboardInterrupt:
            # As the stdlib: give a child that got the same Ctrl-C a moment
            # to exit, once.
            wait = self._sigint_wait_secs
            if endtime is not None:
                wait = min(wait, max(0.0, endtime - time.monotonic()))
            self._sigint_wait_secs = 0
            with contextlib.suppress(TimeoutExpired):
                self._wait(timeout=wait)
            raise
        finally:
            self._communication_started = True

    def _wait(self, timeout: float | None) -> int | None:
        if self.poll() is not None:
            return self.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        pidfd = _pidfd(self.pid)
        delay = 0.001
        try:
            while self.poll() is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
                if pidfd is None:
                    sleep(delay if left is None else min(delay, left))
                    delay = min(delay * 2, 0.05)
                    continue
                try:
                    wait_any((pidfd,), (), left, self)
                except _TimeoutError:
                    raise TimeoutExpired(self.args, timeout) from None  # type: ignore[arg-type]
                # It has exited; should poll() still not reap it (another
                # thread holds the stdlib's lock), poll with sleeps instead.
                os.close(pidfd)
                pidfd = None
        finally:
            if pidfd is not None:
                os.close(pidfd)
        return self.returncode

    def _communicate(self, input: Any, endtime: Any, orig_timeout: Any) -> Any:
        stdin: Any = self.stdin
        first = not self._communication_started
        if stdin and not self._communication_started:
            with contextlib.suppress(BrokenPipeError):
                stdin.flush()
                if not input:
                    stdin.close()
        if not self._communication_started:
            self._fileobj2output = {f: [] for f in (self.stdout, self.stderr) if f}
        output = self._fileobj2output
        if stdin and self._input is None:
            self._input_offset = 0
            self._input = input
            if input is not None and self.text_mode:
                if first and orig_timeout is None and not (self.stdout or self.stderr):
                    # The stdlib's shortcut (stdin the only pipe, no timeout)
                    # does stdin.write(input) if input: it refuses a non-str
                    # and skips a false one; elsewhere encode() fails below.
                    if not input:
                        input = self._input = None
                    elif not isinstance(input, str):
                        raise TypeError(
                            f"write() argument must be str, not {type(input).__name__}"
                        )
                if input is not None:
                    self._input = input.encode(stdin.encoding, stdin.errors)
        sending = stdin is not None and not stdin.closed
        todo = memoryview((self._input or b"") if sending else b"")
        reading = [f for f in output if not f.closed]

        def expired() -> TimeoutExpired:
            seqs = [output.get(f) for f in (self.stdout, self.stderr)]
            out, err = (b"".join(seq) if seq else None for seq in seqs)
            return TimeoutExpired(self.args, orig_timeout, out, err)

        while reading or sending:
            if sending and self._input_offset >= len(todo):
                sending = False
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()
                continue
            left = None if endtime is None else endtime - time.monotonic()
            if left is not None and left <= 0:
                raise expired()
            # By the descriptor to wait on for each, asked at every wait:
            # not the pipe's own once handed over to another process, which
            # another tasklet may do meanwhile (wait_fd).
            waits = {wait_fd(f)[0]: f for f in reading}
            reads: list[int] = list(waits)
            writes: list[int] = []
            if sending:
                to_stdin, readable = wait_fd(stdin)
                (reads if readable else writes).append(to_stdin)
            try:
                fd = wait_any(reads, writes, left, self)
            except _TimeoutError:
                raise expired() from None
            if sending and fd == to_stdin:
                start = self._input_offset
                # Blocking once handed over: a step that cannot block.
                end = start + PIPE_BUF if shared(stdin) else len(todo)
                try:
                    self._input_offset += os.write(stdin.fileno(), todo[start:end])
                except BlockingIOError:
                    pass
                except BrokenPipeError:  # it exited, or closed its stdin
                    self._input_offset = len(todo)
                continue
            f = waits[fd]
            try:
                data = _read(f, f.fileno())
            except BlockingIOError:
                continue
            output[f].append(data)
            if not data:
                reading.remove(f)
                f.close()

        self.wait(timeout=None if endtime is None else endtime - time.monotonic())
        out, err = (
            None if f is None else b"".join(output[f])
            for f in (self.stdout, self.stderr)
        )
        if self.text_mode:
            return _text(out, self.stdout), _text(err, self.stderr)
        return out, err


def hand_over(f: Any) -> Any:
    """Make ``f``, a pipe of this module's ``Popen`` (``p.stdout``, its
    descriptor, or a dup of that), blocking, for a process that this
    module's ``Popen`` does not start: the stdlib's ``Popen``,
    ``os.posix_spawn``, ``os.fork`` and exec, ``multiprocessing``, a
    descriptor sent over a Unix socket. That process shares the pipe's open
    file, whose non-blocking flag would fail its reads and writes with
    EAGAIN. Return ``f``::

        import subprocess  # the stdlib's, as a library would use it
        p2 = subprocess.Popen(cmd, stdin=shoal.subprocess.hand_over(p1.stdout))

    Anything else ``Popen`` takes (None, another file or descriptor) is
    returned as it is; a closed file is a ``ValueError``, anything else a
    ``TypeError``. This module's ``Popen`` does this itself for ``stdin``,
    ``stdout``, ``stderr`` and ``pass_fds``. The parent can go on using the
    pipe, cooperatively still, but as with any pipe two processes read
    (write), whoever is first takes the data (room). Does not switch."""
    if f is not None and not isinstance(f, int):
        fileno = getattr(f, "fileno", None)
        if not callable(fileno):
            raise TypeError(
                "hand_over() takes a file object, a file descriptor or None,"
                f" not {f!r} (a {type(f).__name__})"
            )
        fileno()  # a closed file's ValueError
    _pipe.hand_over(f)
    return f


def _read(f: Any, fd: int) -> bytes:
    """What came next on the pipe of ``f``, a readable descriptor ``fd``: a
    buffered binary ``f`` gives first what an earlier partial read left in
    its buffer (text mode's decoded but unread characters are not
    reachable: lost, as with the stdlib's ``communicate`` with two pipes).
    Does not switch: ``fd`` is readable."""
    if isinstance(f, io.BufferedReader):
        data: bytes = f.read1(CHUNK)
        return data
    return os.read(fd, CHUNK)


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when the child ``pid`` exits;
    None where there is none (not Linux, a kernel before 5.3)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd: int = pidfd_open(pid)
    except OSError:  # ENOSYS: an old kernel; ESRCH: reaped by someone else
        return None
    return fd


def _refuse_in_hub(name: str, popenargs: Any, kwargs: Any) -> None:
    """``BlockingInHubError`` for code in the hub (asyncio code on shoal's
    loop) calling ``name``, which waits for the child: before the child is
    started, whether or not it would have ended in time. ``Popen()`` itself
    stays allowed. Asyncio code outside a run, which cannot have a hub,
    gets ``get_hub``'s ``RuntimeError``, before the child is started too.
    Does not switch."""
    s = get_scheduler()
    get_hub(s)
    if s.current is s.hubtask:
        cmd = popenargs[0] if popenargs else kwargs.get("args")
        raise BlockingInHubError(
            "code running in the hub (asyncio code on shoal's loop) would block:"
            f" subprocess.{name}({cmd!r}) waits for the child; the hub must never"
            " wait, and no child was started: in asyncio code use"
            " asyncio.create_subprocess_exec(), or call it from a tasklet"
            " (shoal.spawn)"
        )


def call(*popenargs: Any, timeout: float | None = None, **kwargs: Any) -> int:
    """As ``subprocess.call``: run the command, wait for it, return its
    return code; on any exception (a timeout, a kill) kill it. Code in the
    hub gets ``BlockingInHubError`` before the child is started. Switches."""
    _refuse_in_hub("call", popenargs, kwargs)
    with Popen(*popenargs, **kwargs) as p:
        try:
            return p.wait(timeout=timeout)
        except BaseException:
            p.kill()
            raise  # p.__exit__ reaps it


def check_call(*popenargs: Any, **kwargs: Any) -> int:
    """As ``subprocess.check_call``: :func:`call`, raising
    ``CalledProcessError`` for a non-zero return code. Code in the hub gets
    ``BlockingInHubError`` before the child is started. Switches."""
    _refuse_in_hub("check_call", popenargs, kwargs)
    retcode = call(*popenargs, **kwargs)
    if retcode:
        cmd = kwargs.get("args")
        raise CalledProcessError(retcode, popenargs[0] if cmd is None else cmd)
    return 0


def check_output(*popenargs: Any, timeout: float | None = None, **kwargs: Any) -> Any:
    """As ``subprocess.check_output``: the command's stdout, or
    ``CalledProcessError`` for a non-zero return code. Code in the hub gets
    ``BlockingInHubError`` before the child is started. Switches."""
    _refuse_in_hub("check_output", popenargs, kwargs)
    for kw in ("stdout", "check"):
        if kw in kwargs:
            raise ValueError(f"{kw} argument not allowed, it will be overridden.")
    if "input" in kwargs and kwargs["input"] is None:
        # As the stdlib: an explicit input=None is an empty input.
        text = ("universal_newlines", "text", "encoding", "errors")
        kwargs["input"] = "" if any(kwargs.get(k) for k in text) else b""
    done = run(*popenargs, stdout=PIPE, timeout=timeout, check=True, **kwargs)
    return done.stdout


def run(
    *popenargs: Any,
    input: Any = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **kwargs: Any,
) -> CompletedProcess[Any]:
    """As ``subprocess.run``: run the command, communicate with it and wait
    for it; a ``CompletedProcess``. On any exception (a timeout, a kill) the
    child is killed and reaped. Code in the hub gets ``BlockingInHubError``
    before the child is started. Switches."""
    _refuse_in_hub("run", popenargs, kwargs)
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = PIPE
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError(
                "stdout and stderr arguments may not be used with capture_output."
            )
        kwargs["stdout"] = kwargs["stderr"] = PIPE
    with Popen(*popenargs, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except BaseException:
            # The output so far is in a TimeoutExpired already; __exit__
            # reaps the child.
            process.kill()
            raise
        retcode = process.poll()
        if check and retcode:
            raise CalledProcessError(retcode, process.args, stdout, stderr)
    return CompletedProcess(process.args, retcode, stdout, stderr)  # type: ignore[arg-type]


def getstatusoutput(
    cmd: Any, *, encoding: str | None = None, errors: str | None = None
) -> tuple[int, str]:
    """As ``subprocess.getstatusoutput``: ``(exitcode, output)`` of ``cmd``
    run in a shell, stderr included, a trailing newline stripped. Code in
    the hub gets ``BlockingInHubError`` before the child is started.
    Switches."""
    _refuse_in_hub("getstatusoutput", (cmd,), {})
    try:
        data = check_output(
            cmd, shell=True, text=True, stderr=STDOUT, encoding=encoding, errors=errors
        )
        exitcode = 0
    except CalledProcessError as ex:
        data, exitcode = ex.output, ex.returncode
    if data[-1:] == "\n":
        data = data[:-1]
    return exitcode, data


def getoutput(
    cmd: Any, *, encoding: str | None = None, errors: str | None = None
) -> str:
    """As ``subprocess.getoutput``: the output of ``cmd`` run in a shell.
    Code in the hub gets ``BlockingInHubError`` before the child is started.
    Switches."""
    _refuse_in_hub("getoutput", (cmd,), {})
    return getstatusoutput(cmd, encoding=encoding, errors=errors)[1]
