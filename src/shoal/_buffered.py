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
  the pipes and reap the child. A tasklet of another thread is woken in
  its own thread, which its hub's loop is asked to do
  (``call_soon_threadsafe``: a thread never touches another's tasklets),
  and the close waits until it has left: the stdlib's lock is held until
  then, and taking it would block.

``claimed`` lets code that reads or writes the descriptors itself (a
``communicate()``) hold the objects the same way.
"""

from __future__ import annotations

import contextlib
import errno
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import BusyError, ClosedFileError, TimeoutError
from ._hub import Hub, HubTimer, HubWait, hub_wait
from ._scheduler import Scheduler, Task, get_scheduler, schedule

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
    runs on (it leaves, or waits again). True if there was one. A tasklet
    of another thread is seen to by its own thread (``_evict_elsewhere``),
    and this waits until it has left. Switches if there was one (in a
    thread without a hub, or from code in the hub, blocks instead while
    another thread's tasklet leaves)."""
    s = get_scheduler()
    cur = s.current
    evicted = False
    while (user := getattr(f, slot)) is not None and user is not cur:
        evicted = True
        if user._sched is not s:
            if not _evict_elsewhere(f, slot, user, s):
                break  # its thread runs no loop any more: nothing to wait for
        elif user._blocked_on is None:
            schedule()
        else:
            err = ClosedFileError(errno.EBADF, f"{f!r} was closed by another tasklet")
            user.throw(err)
    return evicted


#: How often a close waiting for a tasklet of another thread to leave looks
#: again by itself, in case its thread's loop closed before it ran the
#: request (``_evict_elsewhere``): it is told at once otherwise.
_LOOK_AGAIN = 0.1


class _Leaving:
    """A closer's wait for ``user``, a tasklet of another thread, to leave
    file ``f``: ``done``, which the user's thread calls once it has left
    (``_evict_there``), ends it. The closer waits in its hub (``wait``, a
    ``HubWait`` woken through ``HubWait.wake``, thread-safe), or, in a
    thread without a hub or from code in the hub, blocks on ``event``."""

    __slots__ = ("event", "f", "left", "task", "user", "wait")

    def __init__(self, f: Any, user: Task, s: Scheduler) -> None:
        self.f = f
        self.user = user
        self.left = False
        hub: Hub | None = s.hub
        self.task = s.current
        self.wait: HubWait | None = None
        self.event: threading.Event | None = None
        if hub is not None and self.task is not hub.task:
            self.wait = HubWait(hub, self)
        else:
            self.event = threading.Event()

    def done(self) -> None:
        """The user has left (or its thread gave up on it). From any
        thread. Does not switch."""
        self.left = True
        if self.wait is not None:
            self.wait.wake(self.task, None)
        else:
            assert self.event is not None
            self.event.set()

    def wait_a_while(self, s: Scheduler) -> None:
        """Wait until ``done``, or for ``_LOOK_AGAIN`` seconds. Switches (or
        blocks the thread, see the class)."""
        wait = self.wait
        if wait is None:
            assert self.event is not None
            self.event.wait(_LOOK_AGAIN)
            return
        timer = HubTimer(wait.hub, self.task, wait, _LOOK_AGAIN)
        wait.cancels.append(timer.cancel)
        try:
            hub_wait(s, wait)
        except TimeoutError:
            if not timer.fired:  # a timeout scope's: not ours
                raise

    def __str__(self) -> str:
        return f"{self.user!r} of another thread to leave {self.f!r}, to close it"


def _evict_elsewhere(f: Any, slot: str, user: Task, s: Scheduler) -> bool:
    """``_evict`` of ``user``, a tasklet of another thread, from the thread
    of scheduler ``s``: its hub's loop runs ``_evict_there`` in its own
    thread, which has it leave, and this waits until it has left. False if
    it is still inside and its thread runs no loop to ask (gone, or it
    never had a hub). Switches (or blocks the thread: see ``_Leaving``)."""
    leaving = _Leaving(f, user, s)
    there: Hub | None = user._sched.hub
    if there is None:
        return False
    loop = there.loop
    try:
        loop.call_soon_threadsafe(_evict_there, f, slot, user, there, leaving.done)
    except RuntimeError:  # its loop is closed
        return False
    while not leaving.left and getattr(f, slot) is user:
        if loop.is_closed():  # before it ran the request
            return getattr(f, slot) is not user
        leaving.wait_a_while(s)
    return True


#: How many times in a row ``_evict_there`` looks again at the loop's next
#: round for a tasklet that it finds runnable, before it looks only every
#: ``_LOOK_AGAIN`` seconds: one that stays runnable for long (it yields in
#: a loop, or a Stackless tasklet was paused) does not keep the loop busy.
_ROUNDS = 100


def _evict_there(
    f: Any,
    slot: str,
    user: Task,
    hub: Hub,
    done: Callable[[], None],
    rounds: int = 0,
) -> None:
    """A loop callback of ``user``'s own hub: have ``user`` leave ``f`` in
    ``slot``'s direction, as ``_evict`` does in its own thread; one that
    waits is woken with ``ClosedFileError`` (a wait in the hub through its
    ``HubWait``, else thrown), one that is runnable runs first, and this
    looks again after it did (``rounds``: how many times so far). ``done``
    once it has left. Switches only into a tasklet thrown at."""
    try:
        while getattr(f, slot) is user:
            on = user._blocked_on
            if on is None:  # runnable: it runs, then this looks again
                hub.ensure_flush()
                args = (f, slot, user, hub, done, rounds + 1)
                if rounds < _ROUNDS:  # after the flush
                    hub.loop.call_soon(_evict_there, *args)
                else:
                    hub.loop.call_later(_LOOK_AGAIN, _evict_there, *args)
                return
            err = ClosedFileError(errno.EBADF, f"{f!r} was closed by another thread")
            if isinstance(on, HubWait):
                on.abort(user, err)  # it raises err when it runs
            else:
                user.throw(err)
    except BaseException:
        done()  # the closer must not wait for ever
        raise
    done()


class _Shared:
    """The part each shared class adds: who is inside, and ``close``."""

    #: The tasklet inside a reading (writing) call; None when nobody is.
    _reading: Task | None = None
    _writing: Task | None = None
    #: The directions a close takes.
    _SLOTS: tuple[str, ...] = ()

    def close(self) -> None:
        """Close, after waking any other tasklet inside with
        ``ClosedFileError`` and waiting until it has left (one of another
        thread is woken in its own thread, see ``_evict``). Switches if
        there was one, or if the flush of a writer waits."""
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
        """Close, waking another tasklet inside with ``ClosedFileError``
        (one of another thread in its own thread, see ``_evict``).
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
