"""Cooperative pipe ends: a raw file object whose reads and writes switch.

``Pipe`` wraps the parent's end of a pipe, made non-blocking; the buffered
and text objects put on top as the stdlib does (``cooperative``) then
switch too, and are shared among tasklets as sockets are (``_buffered``).
Its waits go through ``_io.wait_on``.

O_NONBLOCK belongs to the open file, which a child given the descriptor
shares: ``hand_over`` makes a pipe blocking again before a child gets it,
recognising its descriptor (the number itself or a dup) by the pipe's inode
in a registry of the live ``Pipe`` objects, and by its flag. A pipe handed
over is then waited on through an epoll instance watching it (``_watch``),
never itself: uvloop (libuv's ``uv_poll_init``) makes whatever it waits on
non-blocking, which the child would see.
"""

from __future__ import annotations

import errno
import io
import os
import select
import stat
import threading
import weakref
from typing import Any

from . import _buffered
from ._buffered import _enter
from ._errors import ClosedFileError
from ._hub import HubWait
from ._io import new_wait, wait_on
from ._scheduler import Task, get_scheduler

__all__ = ["CHUNK", "PIPE_BUF", "Pipe", "cooperative", "hand_over", "shared", "wait_fd"]

CHUNK = 65536  # a pipe's default capacity on Linux
#: What a write to a blocking pipe that polls writable takes without
#: waiting (on Linux, polling writable means a free page): a pipe handed
#: over is written in steps of this.
PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)

#: The open ``Pipe`` objects by their pipe's (st_dev, st_ino): a pipe's
#: inode is its own while any descriptor refers to it, so a descriptor
#: number closed and reused for another file cannot be taken for it.
_pipes: weakref.WeakValueDictionary[tuple[int, int], Pipe] = (
    weakref.WeakValueDictionary()
)


class Pipe(io.RawIOBase):
    """The parent's end of a pipe, non-blocking: ``readinto`` and ``write``
    switch while they wait. Closing it wakes a tasklet waiting on it with
    ``ClosedFileError``; a second tasklet waiting on it gets ``BusyError``."""

    #: The tasklet inside a read (write), as for the shared buffered
    #: objects (``_buffered``); None when nobody is.
    _reading: Task | None = None
    _writing: Task | None = None
    #: True once handed over to another process (``hand_over``): the open
    #: file is blocking, and waits go through ``_watch``.
    _shared = False
    #: The epoll instance watching a shared pipe, made at its first wait.
    _watch: Any = None
    #: Its pipe's (st_dev, st_ino), its key in ``_pipes``.
    _key: tuple[int, int] | None = None

    def __init__(self, file: io.FileIO) -> None:
        self._file = file
        self._waiter: tuple[Task, HubWait] | None = None
        self._shared = False  # on the instance: read at every call
        fd = file.fileno()
        st = os.fstat(fd)
        self._key = (st.st_dev, st.st_ino)
        os.set_blocking(fd, False)
        _pipes[self._key] = self

    def fileno(self) -> int:
        return self._file.fileno()

    def readable(self) -> bool:
        return self._file.readable()

    def writable(self) -> bool:
        return self._file.writable()

    @property
    def name(self) -> Any:
        return self._file.name

    @property
    def closefd(self) -> bool:
        return self._file.closefd

    # As the stdlib's pipe (a FileIO): a pipe cannot seek, and says so
    # with OSError(ESPIPE), not io.UnsupportedOperation.
    def seekable(self) -> bool:
        return self._file.seekable()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._file.seek(pos, whence)

    def tell(self) -> int:
        return self._file.tell()

    @property
    def mode(self) -> str:
        return self._file.mode

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; 0 at end of file. Switches if it waits."""
        before = _enter(self, "_reading")
        try:
            n: int = self._retry(self._file.readinto, buffer)
        finally:
            self._reading = before
        return n

    def readall(self) -> bytes:
        """Read to the end of file, in big steps. Switches while it waits."""
        chunks = []
        before = _enter(self, "_reading")
        try:
            while chunk := self._retry(self._file.read, CHUNK):
                chunks.append(chunk)
        finally:
            self._reading = before
        return b"".join(chunks)

    def write(self, data: Any) -> int:
        """Write all of ``data``, as a blocking pipe does (a text wrapper
        on an unbuffered pipe counts on it). Switches while it waits."""
        before = _enter(self, "_writing")
        try:
            with memoryview(data) as view, view.cast("B") as octets:
                sent = 0
                while sent < len(octets):
                    sent += self._retry(self._file.write, octets[sent:])
        finally:
            self._writing = before
        return sent

    def _retry(self, op: Any, arg: Any) -> Any:
        while not self._shared:  # handed over (meanwhile): blocking
            if (done := op(arg)) is not None:  # None: FileIO's "would block"
                return done
            self._park(self.fileno(), self.writable())
        return self._retry_shared(op, arg)

    def _retry_shared(self, op: Any, arg: Any) -> Any:
        """``op(arg)`` on the blocking descriptor of a pipe handed over,
        once it is ready: it does not block unless the other process takes
        the data (the room) first, as with any pipe read by two. A write
        goes a ``PIPE_BUF`` at a time, what polling writable promises.
        Switches while it waits."""
        if self.writable():
            arg = arg[:PIPE_BUF]
        while True:
            watch = self.watch()
            if watch is None:  # no epoll: wait on the pipe itself
                self._park(self.fileno(), self.writable())
            elif not watch.poll(0):
                self._park(watch.fileno(), False)
            if (done := op(arg)) is not None:
                return done

    def _park(self, fd: int, writing: bool) -> None:
        """Wait until ``fd`` is readable (writable), woken early by
        ``close``. Switches."""
        wait = new_wait(self)
        self._waiter = (get_scheduler().current, wait)
        fds = (fd,)
        try:
            wait_on(wait, () if writing else fds, fds if writing else (), None)
        finally:
            self._waiter = None

    def share(self) -> None:
        """Mark the pipe as handed over: its descriptor is blocking now. Does
        not switch."""
        self._shared = True

    def take_back(self) -> None:
        """Undo ``share`` and make the descriptor non-blocking again, when no
        other process got it after all. Does not switch."""
        self._shared = False
        self._close_watch()
        if not self.closed:
            os.set_blocking(self.fileno(), False)

    def watch(self) -> Any:
        """For a pipe handed over: an epoll instance watching it, readable
        when the pipe is ready, to wait on in its place; None without epoll.
        Does not switch."""
        if self._watch is None and hasattr(select, "epoll"):
            self._watch = select.epoll(1)
            events = select.EPOLLOUT if self.writable() else select.EPOLLIN
            self._watch.register(self.fileno(), events)
        return self._watch

    def _close_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    def close(self) -> None:
        """Close the pipe, waking a tasklet waiting on it with
        ``ClosedFileError``, which says whether another tasklet or another
        thread closed it (that tasklet is woken in its own thread: see
        ``HubWait.wake``). Does not switch."""
        if self._waiter is not None:
            # Off the hub before the descriptor goes, and the waiter told.
            task, wait = self._waiter
            self._waiter = None
            here = task._sched.thread_id == threading.get_ident()
            by = "another tasklet" if here else "another thread"
            err = ClosedFileError(errno.EBADF, f"{self!r} was closed by {by}")
            wait.abort(task, err)
        key = self._key
        if key is not None and _pipes.get(key) is self:
            _pipes.pop(key, None)
        try:
            super().close()
        finally:
            try:
                self._file.close()
            finally:
                self._close_watch()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd {self.fileno()}"
        return f"<pipe {state} {'to write' if self.writable() else 'to read'}>"


def hand_over(f: Any) -> Pipe | None:
    """If ``f`` (a descriptor, or a file object's) is the open file of a
    ``Pipe``, through its own descriptor or a dup, and still non-blocking:
    make it blocking, for another process to share, and return the
    ``Pipe``. None for anything else (another file, another open file of
    the same pipe, a pipe handed over already, no descriptor at all), left
    as it is. Does not switch."""
    if not isinstance(f, int):
        try:
            f = f.fileno()
        except Exception:  # no descriptor: Popen says so
            return None
        if not isinstance(f, int):
            return None
    if f < 0:  # PIPE, STDOUT, DEVNULL
        return None
    try:
        st = os.fstat(f)
    except (OSError, OverflowError):  # not a descriptor: Popen says so
        return None
    if not stat.S_ISFIFO(st.st_mode):
        return None
    pipe = _pipes.get((st.st_dev, st.st_ino))
    if pipe is None or pipe.closed or os.get_blocking(f):
        return None
    os.set_blocking(f, True)
    if not os.get_blocking(pipe.fileno()):
        # Another open file of the same pipe (its other end, or reopened
        # through /proc): its owner made it non-blocking, not shoal.
        os.set_blocking(f, False)
        return None
    if pipe._shared:  # handed over before; a loop reset the flag (no epoll)
        return None
    pipe.share()
    return pipe


def _raw(f: Any) -> Any:
    """The raw object under the file object ``f``."""
    raw = getattr(f, "buffer", f)
    return getattr(raw, "raw", raw)


def shared(f: Any) -> bool:
    """``f`` (a pipe's file object) has been handed over: its descriptor is
    blocking. Does not switch."""
    raw = _raw(f)
    return isinstance(raw, Pipe) and raw._shared


def wait_fd(f: Any) -> tuple[int, bool]:
    """What to wait on in the hub for the pipe's file object ``f`` to be
    ready: a descriptor, and whether to wait for it to be readable (else
    writable). The pipe's own descriptor, or once it has been handed over,
    the epoll instance watching it, readable when it is ready. Does not
    switch."""
    raw = _raw(f)
    if isinstance(raw, Pipe) and raw._shared and (watch := raw.watch()) is not None:
        return watch.fileno(), True
    return f.fileno(), not f.writable()


def cooperative(f: Any, bufsize: Any) -> Any:
    """The file object ``f`` that ``subprocess.Popen`` built for a pipe,
    built again the same way over a ``Pipe``. Does not switch."""
    if f is None:
        return None
    text = f if isinstance(f, io.TextIOWrapper) else None
    binary = f.detach() if text is not None else f
    if isinstance(binary, io.FileIO):  # bufsize=0: the raw object itself
        binary = Pipe(binary)
    else:
        raw = Pipe(binary.detach())
        size = bufsize if isinstance(bufsize, int) and bufsize > 1 else -1
        if size < 0:  # the default, as io.open chooses it
            blksize = os.fstat(raw.fileno()).st_blksize
            size = blksize if blksize > 1 else io.DEFAULT_BUFFER_SIZE
        binary = _buffered.rebuild(raw, "w" if raw.writable() else "r", size)
    if text is None:
        return binary
    return _buffered.TextIOWrapper(
        binary,
        encoding=text.encoding,
        errors=text.errors,
        line_buffering=text.line_buffering,
        write_through=text.write_through,
    )
