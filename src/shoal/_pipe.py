"""Cooperative pipe ends: a raw file object whose reads and writes switch.

``Pipe`` wraps the parent's end of a pipe, made non-blocking; the buffered
and text objects put on top as the stdlib does (``cooperative``) then
switch too, and are shared among tasklets as sockets are (``_buffered``).
Its waits go through ``_io.wait_on``.
"""

from __future__ import annotations

import errno
import io
import os
from typing import Any

from . import _buffered
from ._buffered import _enter
from ._errors import ClosedFileError
from ._hub import HubWait
from ._io import new_wait, wait_on
from ._scheduler import Task, get_scheduler

__all__ = ["CHUNK", "Pipe", "cooperative", "hand_over"]

CHUNK = 65536  # a pipe's default capacity on Linux


class Pipe(io.RawIOBase):
    """The parent's end of a pipe, non-blocking: ``readinto`` and ``write``
    switch while they wait. Closing it wakes a tasklet waiting on it with
    ``ClosedFileError``; a second tasklet waiting on it gets ``BusyError``."""

    #: The tasklet inside a read (write), as for the shared buffered
    #: objects (``_buffered``); None when nobody is.
    _reading: Task | None = None
    _writing: Task | None = None

    def __init__(self, file: io.FileIO) -> None:
        self._file = file
        self._waiter: tuple[Task, HubWait] | None = None
        os.set_blocking(file.fileno(), False)

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
        while (done := op(arg)) is None:  # FileIO's "it would block"
            wait = new_wait(self)
            self._waiter = (get_scheduler().current, wait)
            fds = (self.fileno(),)
            reads, writes = ((), fds) if self.writable() else (fds, ())
            try:
                wait_on(wait, reads, writes, None)
            finally:
                self._waiter = None
        return done

    def close(self) -> None:
        """Close the pipe, waking a tasklet waiting on it. Does not switch."""
        if self._waiter is not None:
            # Off the hub before the descriptor goes, and the waiter told.
            task, wait = self._waiter
            self._waiter = None
            err = ClosedFileError(
                errno.EBADF, f"{self!r} was closed by another tasklet"
            )
            wait.abort(task, err)
        try:
            super().close()
        finally:
            self._file.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd {self.fileno()}"
        return f"<pipe {state} {'to write' if self.writable() else 'to read'}>"


def hand_over(f: Any) -> None:
    """If ``f`` is (a file object over) a ``Pipe``, make its descriptor
    blocking: a child gets it as its stdin, stdout or stderr, and shares
    its open file. The parent should close it then. Does not switch."""
    raw = getattr(f, "buffer", f)
    raw = getattr(raw, "raw", raw)
    if isinstance(raw, Pipe) and not raw.closed:
        os.set_blocking(raw.fileno(), True)


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
