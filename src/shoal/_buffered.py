"""Buffered and text file objects that tasklets share as they share sockets.

The stdlib's buffered objects (``io.BufferedReader``, ``BufferedWriter``,
``BufferedRWPair``) hold a lock while a call runs. A tasklet that waits
inside one (a read on a pipe or socket that parks it) keeps holding it, and
the lock belongs to the thread: any other tasklet's call on the object,
``close()`` included, fails with "RuntimeError: reentrant call". Here each
object keeps, per direction, the tasklet inside it:

- another tasklet's call gets ``shoal.BusyError``, as a second reader
  (writer) of a socket does, before the lock is touched;
- ``close()`` first wakes the tasklets inside with ``ClosedFileError``, as
  closing a socket does, then closes (what a woken writer left in the
  buffer is dropped: it was told), so ``Popen.__exit__`` can always close
  the pipes and reap the child.

``claimed`` lets code that reads or writes the descriptors itself (a
``communicate()``) hold the objects the same way.
"""

from __future__ import annotations

import contextlib
import errno
import io
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import BusyError, ClosedFileError
from ._scheduler import Task, get_scheduler, schedule

__all__ = [
    "BufferedRWPair",
    "BufferedReader",
    "BufferedWriter",
    "TextIOWrapper",
    "claimed",
    "rebuild",
    "socket_file",
]

_READING, _WRITING = "_reading", "_writing"


def _enter(f: Any, slot: str) -> Task | None:
    """Mark the calling tasklet as inside ``f`` in ``slot``'s direction;
    what was there before. ``BusyError`` if another tasklet is. Does not
    switch."""
    cur = get_scheduler().current
    user: Task | None = getattr(f, slot)
    if user is not None and user is not cur:
        doing = "read" if slot == _READING else "written"
        raise BusyError(f"{f!r} is already being {doing} by {user!r}")
    setattr(f, slot, cur)
    return user


def _guarded(base: type, name: str, slot: str) -> Callable[..., Any]:
    """``base.name``, run with the calling tasklet marked inside."""
    plain = getattr(base, name)

    def method(self: Any, *args: Any) -> Any:
        before = _enter(self, slot)
        try:
            return plain(self, *args)
        finally:
            setattr(self, slot, before)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"As ``io.{base.__name__}.{name}``; ``BusyError`` while another"
        " tasklet is inside. Switches if it waits."
    )
    return method


def _evict(f: Any, slot: str) -> bool:
    """Have any other tasklet inside ``f`` in ``slot``'s direction leave:
    one that waits is woken with ``ClosedFileError``; one that is runnable
    runs on (it leaves, or waits again). True if there was one. Switches
    if there was."""
    cur = get_scheduler().current
    evicted = False
    while (user := getattr(f, slot)) is not None and user is not cur:
        evicted = True
        if user._blocked_on is None:
            schedule()
        else:
            err = ClosedFileError(errno.EBADF, f"{f!r} was closed by another tasklet")
            user.throw(err)
    return evicted


class _Shared:
    """The part each shared class adds: who is inside, and ``close``."""

    #: The tasklet inside a reading (writing) call; None when nobody is.
    _reading: Task | None = None
    _writing: Task | None = None
    #: The directions a close takes.
    _SLOTS: tuple[str, ...] = ()

    def close(self) -> None:
        """Close, after waking any other tasklet inside with
        ``ClosedFileError``. Switches if there was one, or if the flush of
        a writer waits."""
        evicted = False
        for slot in self._SLOTS:
            evicted |= _evict(self, slot)
        raw: Any = getattr(self, "raw", None)
        if evicted and raw is not None:
            raw.close()  # the buffer is not flushed: its writer was told
        befores = [(slot, _enter(self, slot)) for slot in self._SLOTS]
        try:
            super().close()  # type: ignore[misc]
        finally:
            for slot, before in befores:
                setattr(self, slot, before)


_READS = ("read", "read1", "readinto", "readinto1", "readline", "peek")
_OTHERS = ("flush", "seek", "tell", "truncate", "detach")


class BufferedReader(_Shared, io.BufferedReader):
    """``io.BufferedReader`` that tasklets share (see the module)."""

    _SLOTS = (_READING,)


class BufferedWriter(_Shared, io.BufferedWriter):
    """``io.BufferedWriter`` that tasklets share (see the module)."""

    _SLOTS = (_WRITING,)


class BufferedRWPair(_Shared, io.BufferedRWPair):
    """``io.BufferedRWPair`` that tasklets share: one reader and one writer
    at a time (see the module)."""

    _SLOTS = (_READING, _WRITING)


def _share(cls: type, base: type, slots: dict[str, str]) -> None:
    for name, slot in slots.items():
        setattr(cls, name, _guarded(base, name, slot))


_share(BufferedReader, io.BufferedReader, dict.fromkeys(_READS + _OTHERS, _READING))
_share(BufferedWriter, io.BufferedWriter, dict.fromkeys(("write", *_OTHERS), _WRITING))
_share(
    BufferedRWPair,
    io.BufferedRWPair,
    {**dict.fromkeys(_READS, _READING), "write": _WRITING, "flush": _WRITING},
)


class TextIOWrapper(io.TextIOWrapper):
    """``io.TextIOWrapper`` over a shared buffered object: ``close`` wakes
    the tasklets inside its buffer first, as the buffer's own would (the
    wrapper's flush would otherwise find them there)."""

    def close(self) -> None:
        """Close, waking another tasklet inside with ``ClosedFileError``.
        Switches if there was one, or if the flush waits."""
        buffer = self.buffer
        if isinstance(buffer, _Shared) and not self.closed:
            evicted = False
            for slot in buffer._SLOTS:
                evicted |= _evict(buffer, slot)
            if evicted:
                buffer.close()  # without the wrapper's flush
        super().close()


def rebuild(raw: Any, mode: str, size: int) -> Any:
    """The shared buffered object over ``raw`` for ``mode`` (its "r" and
    "w"), with a buffer of ``size`` bytes. Does not switch."""
    if "r" in mode and "w" in mode:
        return BufferedRWPair(raw, raw, size)
    if "w" in mode:
        return BufferedWriter(raw, size)
    return BufferedReader(raw, size)


def socket_file(
    make: Callable[..., Any],
    mode: str,
    buffering: int | None,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
) -> Any:
    """``socket.makefile``'s file, with the shared buffered and text
    objects: ``make`` is the stdlib's ``makefile``, which makes the raw one
    (and checks the arguments). Does not switch."""
    if buffering == 0:  # the raw object itself, or the stdlib's error
        return make(mode, 0, encoding=encoding, errors=errors, newline=newline)
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    rawmode = ("r" if "r" in mode else "") + ("w" if "w" in mode else "")
    raw = make(rawmode + "b", 0)
    if buffering is None or buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    buffer = rebuild(raw, rawmode, buffering)
    if "b" in mode:
        return buffer
    text = TextIOWrapper(buffer, encoding, errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text


@contextlib.contextmanager
def claimed(files: list[Any]) -> Iterator[None]:
    """Hold each of ``files`` (shared buffered or text objects, or raw
    objects with ``_reading``/``_writing``) in its direction, as a call
    inside it does: others get ``BusyError`` meanwhile, and so does this,
    at once, if another tasklet is inside one. Does not switch."""
    taken: list[tuple[Any, str, Task | None]] = []
    try:
        for f in files:
            if f.closed:
                continue
            target = f.buffer if isinstance(f, io.TextIOWrapper) else f
            slot = _WRITING if f.writable() else _READING
            taken.append((target, slot, _enter(target, slot)))
        yield
    finally:
        for target, slot, before in reversed(taken):
            setattr(target, slot, before)
