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
  then, and taking it would block. Meanwhile the file is being closed
  (``_Closing``): any other call, a woken tasklet's next try included,
  fails at once with ``ClosedFileError``. A close that gives up (a timeout
  scope, a kill) leaves the file open and usable, and the tasklet inside
  alone from then on, in whichever thread.

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

from ._errors import BusyError, ClosedFileError
from ._hub import Hub, HubWait, hub_wait_timed
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


class _Closing:
    """A close of a shared file under way, by tasklet ``task``: the file's
    ``_closing`` meanwhile, and its mark in each direction that nobody is
    inside (``_evict``) or that a tasklet left with an exception (``_left``:
    the eviction's ``ClosedFileError``, most likely). While it is ``on``,
    ``_enter`` refuses any other tasklet a mark stands for, with
    ``ClosedFileError``: a woken reader that reads again does not go back
    in to wait (to be woken again, for as long as it tries). The mark is
    what ``_enter`` finds where a tasklet inside would be, so a file that
    nobody closes pays nothing for it. ``off`` once the close has ended,
    closed or given up: a mark left then stands for nobody, and the
    evictions it asked of other threads stop (``_evict_there``); ``lock``
    (made by the first such request) makes one there either wake its
    tasklet before ``off`` returns or not at all. ``outer``: the close that was under way when this one began,
    if any (a second closer, or the buffer's own close inside a text
    wrapper's): a closer's calls are never refused. ``inside`` once the
    closer is in the stdlib's close, where its flush may wait: a second
    close has it leave as it has any tasklet inside leave."""

    __slots__ = ("inside", "lock", "on", "outer", "task")

    def __init__(self, task: Task, outer: _Closing | None) -> None:
        self.task: Task | None = task
        self.outer = outer
        self.on = True
        self.inside = False
        self.lock: threading.Lock | None = None

    def off(self) -> None:
        """The close has ended. Does not switch; blocks while an eviction
        in another thread wakes its tasklet (not for long: that does not
        switch either)."""
        lock = self.lock
        if lock is None:  # no other thread was asked: nobody to wait for
            self.on = False
            self.task = None
            return
        with lock:
            self.on = False
            self.task = None


def _enter(f: Any, slot: str) -> Any:
    """Mark the calling tasklet as inside ``f`` in ``slot``'s direction;
    what was there before (for the caller to put back as it leaves: the
    tasklet itself, nobody, or a close's mark). ``BusyError`` if another
    tasklet is; ``ClosedFileError`` while another tasklet closes ``f`` (see
    ``_Closing``). Does not switch."""
    cur = get_scheduler().current
    user: Any = getattr(f, slot)  # a tasklet, nobody, or a close's mark
    if user is not None and user is not cur:
        if type(user) is not _Closing:
            doing = "read" if slot == _READING else "written"
            raise BusyError(f"{f!r} is already being {doing} by {user!r}")
        user = _past(f, user, cur)
    setattr(f, slot, cur)
    return user


def _past(f: Any, closing: _Closing, cur: Task) -> Any:
    """``_enter`` of ``cur`` where ``closing``'s mark is: refused with
    ``ClosedFileError`` while it is on, unless ``cur`` closes ``f`` too
    (the mark stays for when it leaves); nobody once that close has ended.
    Does not switch."""
    if not closing.on:
        return None
    closer = closing.task
    if closer is cur:
        return closing
    under_way: _Closing | None = f._closing
    while under_way is not None:
        if under_way.task is cur:  # None once off
            return closing
        under_way = under_way.outer
    by = "tasklet" if closer is None or closer._sched is cur._sched else "thread"
    raise ClosedFileError(errno.EBADF, f"{f!r} is being closed by another {by}")


def _left(f: Any, before: Any) -> Any:
    """What a call that raised restores in its direction of ``f``, which
    it entered after ``before``: while a close of ``f`` is under way, the
    close's mark in place of nobody, so that this tasklet's next try is
    refused at once (``_Closing``). Does not switch."""
    closing: _Closing | None = getattr(f, "_closing", None)
    if before is None and closing is not None and closing.on:
        return closing
    return before


def _guarded(base: type, name: str, slot: str) -> Callable[..., Any]:
    """``base.name``, run with the calling tasklet marked inside."""
    plain = getattr(base, name)

    def method(self: Any, *args: Any) -> Any:
        before = _enter(self, slot)
        try:
            return plain(self, *args)
        except BaseException:
            before = _left(self, before)  # the way out of a call that raised only
            raise
        finally:
            setattr(self, slot, before)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"As ``io.{base.__name__}.{name}``; ``BusyError`` while another"
        " tasklet is inside, ``ClosedFileError`` while another closes it."
        " Switches if it waits."
    )
    return method


def _evict(f: Any, slot: str, closing: _Closing) -> bool:
    """Have any other tasklet inside ``f`` in ``slot``'s direction leave,
    for ``closing``: one that waits is woken with ``ClosedFileError``; one
    that is runnable runs on (it leaves, or waits again). True if there was
    one. A tasklet of another thread is seen to by its own thread
    (``_evict_elsewhere``), and this waits until it has left. Once nobody
    is inside, ``closing``'s mark is (unless another close's is). Switches
    if there was one (in a thread without a hub, or from code in the hub,
    blocks instead while another thread's tasklet leaves)."""
    s = get_scheduler()
    cur = s.current
    evicted = False
    while True:
        user = getattr(f, slot)
        if user is closing:  # its own mark: nobody is inside
            break
        if type(user) is _Closing:
            user = _closer(user, s)
            if type(user) is _Closing:  # a close under way: nobody is inside
                break
        if user is None:
            setattr(f, slot, closing)
            break
        if user is cur:
            break
        evicted = True
        if user._sched is not s:
            if not _evict_elsewhere(f, slot, user, s, closing):
                break  # its thread runs no loop any more: nothing to wait for
        elif user._blocked_on is None:
            schedule()
        else:
            err = ClosedFileError(errno.EBADF, f"{f!r} was closed by another tasklet")
            user.throw(err)
    return evicted


def _closer(mark: _Closing, s: Scheduler) -> Any:
    """Who ``_evict`` of scheduler ``s``'s thread finds where close
    ``mark``'s mark is: nobody (None) once that close has ended; its
    closer if it is in the stdlib's close in this thread (another thread's
    has the stdlib's lock, which the close then waits on); else ``mark``.
    Does not switch."""
    if not mark.on:
        return None
    closer = mark.task  # None once off
    if mark.inside and closer is not None and closer._sched is s:
        return closer
    return mark


def _hold(f: Any, slot: str, closing: _Closing) -> None:
    """Once ``_evict`` is done, that a close's mark is in ``slot``'s
    direction of ``f`` (``closing``'s, or another's under way) or the
    closer itself, which then closes: others are refused meanwhile, a
    flush that waits included. ``BusyError`` (see ``_enter``) if another
    tasklet is still inside: one of a thread that runs no loop to ask
    (``_evict_elsewhere``), or one that went in at the very moment the
    close began. Does not switch."""
    user = getattr(f, slot)
    if user is None or (type(user) is _Closing and not user.on):
        setattr(f, slot, closing)
    elif type(user) is not _Closing:
        _enter(f, slot)  # BusyError, or the closer itself


#: How often a close waiting for a tasklet of another thread to leave looks
#: again by itself, in case its thread's loop closed before it ran the
#: request (``_evict_elsewhere``): it is told at once otherwise.
_LOOK_AGAIN = 0.1


class _Leaving:
    """A closer's wait for ``user``, a tasklet of another thread, to leave
    file ``f``, for ``closing``: ``done``, which the user's thread calls
    once it has left (``_evict_there``), ends it. The closer waits in its
    hub (``wait``, a ``HubWait`` woken through ``HubWait.wake``,
    thread-safe), or, in a thread without a hub or from code in the hub,
    blocks on ``event``. A closer that gives up turns ``closing`` off, and
    the user's thread stops."""

    __slots__ = ("closing", "event", "f", "left", "task", "user", "wait")

    def __init__(self, f: Any, user: Task, s: Scheduler, closing: _Closing) -> None:
        self.f = f
        self.user = user
        self.closing = closing
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
        hub_wait_timed(s, wait, _LOOK_AGAIN)  # its own running out: look again

    def __str__(self) -> str:
        return f"{self.user!r} of another thread to leave {self.f!r}, to close it"


def _evict_elsewhere(
    f: Any, slot: str, user: Task, s: Scheduler, closing: _Closing
) -> bool:
    """``_evict`` of ``user``, a tasklet of another thread, from the thread
    of scheduler ``s``, for ``closing``: its hub's loop runs
    ``_evict_there`` in its own thread, which has it leave, and this waits
    until it has left (if the wait is interrupted, the close gives up:
    turning ``closing`` off is the caller's). False if it is still inside
    and its thread runs no loop to ask (gone, or it never had a hub).
    Switches (or blocks the thread: see ``_Leaving``)."""
    leaving = _Leaving(f, user, s, closing)
    there: Hub | None = user._sched.hub
    if there is None:
        return False
    if closing.lock is None:  # before the request: _evict_there takes it
        closing.lock = threading.Lock()
    loop = there.loop
    try:
        loop.call_soon_threadsafe(_evict_there, f, slot, user, there, leaving)
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
    leaving: _Leaving,
    rounds: int = 0,
) -> None:
    """A loop callback of ``user``'s own hub: have ``user`` leave ``f`` in
    ``slot``'s direction, as ``_evict`` does in its own thread; one that
    waits is woken with ``ClosedFileError`` (a wait in the hub through its
    ``HubWait``, else thrown), one that is runnable runs first, and this
    looks again after it did (``rounds``: how many times so far). Tells
    ``leaving`` once it has left. Stops, leaving it alone, once the close
    has given up (its ``closing`` is off): the file stays open. Switches
    only into a tasklet thrown at."""
    closing = leaving.closing
    try:
        while getattr(f, slot) is user and closing.on:
            on = user._blocked_on
            if on is None:  # runnable: it runs, then this looks again
                hub.ensure_flush()
                args = (f, slot, user, hub, leaving, rounds + 1)
                if rounds < _ROUNDS:  # after the flush
                    hub.loop.call_soon(_evict_there, *args)
                else:
                    hub.loop.call_later(_LOOK_AGAIN, _evict_there, *args)
                return
            err = ClosedFileError(errno.EBADF, f"{f!r} was closed by another thread")
            if isinstance(on, HubWait):
                assert closing.lock is not None  # made before the request
                with closing.lock:  # not once the closer has given up
                    if closing.on:
                        on.abort(user, err)  # it raises err when it runs
            else:
                user.throw(err)  # switches: checked just before, not locked
    except BaseException:
        leaving.done()  # the closer must not wait for ever
        raise
    leaving.done()


class _Shared:
    """The part each shared class adds: who is inside, and ``close``."""

    #: The tasklet inside a reading (writing) call; None when nobody is; a
    #: ``_Closing`` (its mark) while a close is under way and nobody is.
    _reading: Task | _Closing | None = None
    _writing: Task | _Closing | None = None
    #: The close under way, if any (the last one begun).
    _closing: _Closing | None = None
    #: The directions a close takes.
    _SLOTS: tuple[str, ...] = ()

    def close(self) -> None:
        """Close, after waking any other tasklet inside with
        ``ClosedFileError`` and waiting until it has left (one of another
        thread is woken in its own thread, see ``_evict``); meanwhile other
        calls fail with ``ClosedFileError``. If it is interrupted (a
        timeout, a kill), the file stays open, and whoever is inside is
        left alone from then on (one woken already keeps its error).
        Switches if there was one, or if the flush of a writer waits."""
        closing = _begin(self)
        try:
            evicted = False
            for slot in self._SLOTS:
                evicted |= _evict(self, slot, closing)
            for slot in self._SLOTS:
                _hold(self, slot, closing)
            raw: Any = getattr(self, "raw", None)
            if evicted and raw is not None:
                raw.close()  # the buffer is not flushed: its writer was told
            closing.inside = True
            super().close()  # type: ignore[misc]
        finally:
            _end(self, closing)


def _begin(f: Any) -> _Closing:
    """A close of shared buffered object ``f`` begins: its ``_Closing``,
    whose mark goes at once in each direction nobody is inside (no call
    begins there from now on). Does not switch."""
    closing = _Closing(get_scheduler().current, f._closing)
    f._closing = closing
    for slot in f._SLOTS:
        user = getattr(f, slot)
        if user is None or (type(user) is _Closing and not user.on):
            setattr(f, slot, closing)
    return closing


def _end(f: Any, closing: _Closing) -> None:
    """The close ``_begin`` began has ended (closed or given up): its marks
    are taken off, and calls are as before it. Does not switch (it may
    block a moment: see ``_Closing.off``)."""
    closing.off()
    under_way: _Closing | None = f._closing
    while under_way is not None and not under_way.on:
        under_way = under_way.outer
    f._closing = under_way
    for slot in f._SLOTS:
        if getattr(f, slot) is closing:
            setattr(f, slot, None)


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
        (one of another thread in its own thread, see ``_evict``), as
        ``_Shared.close`` does (and if interrupted, as it). Switches if
        there was one, or if the flush waits."""
        buffer = self.buffer
        if not isinstance(buffer, _Shared) or self.closed:
            super().close()
            return
        closing = _begin(buffer)
        try:
            evicted = False
            for slot in buffer._SLOTS:
                evicted |= _evict(buffer, slot, closing)
            if evicted:
                buffer.close()  # without the wrapper's flush
            closing.inside = True
            super().close()
        finally:
            _end(buffer, closing)


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
