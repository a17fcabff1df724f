"""Looking inside a running program: ``dump_tasklets`` and ``monitor``.

``dump_tasklets`` prints each live tasklet of the calling thread with its
state and its stack: a suspended tasklet's stack is its greenlet's frame.

``monitor`` finds a tasklet that keeps the thread without switching (a
blocking call, a long computation). While it watches, every switch counts
itself (``Scheduler.switches``, through the scheduler's switch hook, which
costs nothing while nobody watches). A watcher thread samples the count and
the current tasklet a few times per threshold: when neither changed for the
whole threshold, it reports the tasklet with the stack it is running, read
from ``sys._current_frames()``. The hub waiting in its loop's poll for I/O
is idle, not a hog; a hub running one asyncio callback for that long is
reported too.

Both take a ``file``: None (``sys.stderr``) or anything with a ``write``
method, checked at the call (a ``TypeError``). A monitor's reports are
written from its watcher thread, long after the call: a write that fails
there (a file closed since, a full disk) is said once on ``sys.stderr``,
which then gets that report and the later ones, and the monitor keeps
watching; ``Monitor.reports`` has them all.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import sys
import threading
import time
import traceback
from types import FrameType, TracebackType
from typing import IO, Any

from ._hub import Hub
from ._scheduler import DEAD, Scheduler, Task, get_scheduler, getcurrent
from ._watch import count_switches
from ._workers import _worker

__all__ = [
    "Monitor",
    "close_run_monitors",
    "dump_tasklets",
    "monitor",
    "monitor_from_environment",
]

_PACKAGE = os.path.dirname(__file__)
_IDLE_CODES = (Hub.run_loop.__code__,)  # uvloop polls in C under run_loop
#: The body of every worker greenlet: the base of each tasklet's stack.
_BASE_CODES = (_worker.__code__,)
#: How many nested greenlets deep a tasklet's stack is followed.
_NESTING = 100


def _frames(t: Task, s: Scheduler) -> list[FrameType]:
    """The frames of tasklet ``t`` of ``s``, outermost first, or none if it
    has not started. A tasklet parked (or running) inside a nested
    greenlet of its own has the frames of that greenlet and of each parent
    up to the tasklet's own: the one whose base is a worker's, or the
    thread's main greenlet for the main tasklet. Does not switch."""
    if t is s.current:
        return _outward(s, getcurrent(), sys._getframe(2))  # dump_tasklets' caller
    if t._gr is None or t._gr is DEAD:
        return []
    return _outward(s, t._gr, t._gr.gr_frame)


def _running_frames(t: Task, s: Scheduler, frame: FrameType) -> list[FrameType]:
    """The frames of ``t``, running ``frame`` in another thread (the
    monitor's view), outermost first: through its nested greenlets as
    :func:`_frames`, found from the greenlet it last parked in. That thread
    has not switched for a while, so they hold still. Does not switch."""
    chain = _chain(frame)
    gr = t._gr
    if (chain and chain[0].f_code in _BASE_CODES) or gr is None or gr is DEAD:
        return chain  # in its own greenlet: nothing outside it
    if gr.gr_frame is not None:  # it entered a greenlet since: which?
        running = _running_below(gr, type(s.root))
        if running is None:
            return _outward(s, gr, gr.gr_frame) + chain  # those between unknown
        gr = running
    return _outward(s, gr, frame)


def _running_below(gr: Any, greenlet: Any) -> Any:
    """The running greenlet that has ``gr`` among its parents, or None: the
    monitor cannot ask another thread for its current greenlet, and a
    greenlet knows only its parent, so the collector's objects are
    searched (only when a tasklet is reported). ``greenlet`` is the
    greenlet class. Does not switch."""
    for g in gc.get_objects():
        if not isinstance(g, greenlet) or not g or g.gr_frame is not None:
            continue  # not a running greenlet
        up = g.parent
        for _ in range(_NESTING):
            if up is None:
                break
            if up is gr:
                return g
            up = up.parent
    return None


def _outward(s: Scheduler, gr: Any, frame: FrameType | None) -> list[FrameType]:
    """The frames from ``frame``, suspended or running in greenlet ``gr``,
    out through ``gr``'s parents, each suspended where it switched in, to
    the tasklet's own greenlet (a worker's, or the thread's main greenlet);
    outermost first. Does not switch."""
    hub = s.hub.gr if s.hub is not None else None
    chain: list[FrameType] = []
    for _ in range(_NESTING):
        segment = _chain(frame)
        chain[:0] = segment
        if segment and segment[0].f_code in _BASE_CODES:
            break  # the worker greenlet: the tasklet's own
        gr = gr.parent
        if gr is None or gr is hub:
            break
        frame = gr.gr_frame
        if frame is None:
            break  # running or dead: no parent suspended in a switch
    return chain


def _chain(frame: FrameType | None) -> list[FrameType]:
    """``frame`` and its callers in its greenlet, outermost first."""
    chain = []
    while frame is not None:
        chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    return chain


def _stack(chain: list[FrameType]) -> list[str]:
    """The formatted stack of frames ``chain`` (outermost first), without
    the scheduler's own frames at its base (the worker greenlet that runs
    every tasklet).

    A tasklet spawned with one of shoal's own functions (``shoal.sleep``,
    ``Queue.get``, a ``TaskGroup`` child) has only shoal's frames: then only
    the worker greenlet's base frame is left out, and the stack starts at
    the function it was spawned with."""
    base = 0
    while base < len(chain) and chain[base].f_code.co_filename.startswith(_PACKAGE):
        base += 1
    if base == len(chain):  # only shoal's frames
        base = 0
        while base < len(chain) - 1 and chain[base].f_code in _BASE_CODES:
            base += 1
    summary = traceback.StackSummary.extract((f, f.f_lineno) for f in chain[base:])
    return summary.format()


def _check_file(caller: str, file: object) -> None:
    """TypeError unless ``file`` is None or has a write method."""
    if file is not None and not callable(getattr(file, "write", None)):
        raise TypeError(
            f"{caller} needs file to be None (for sys.stderr) or an object"
            f" with a write method, such as a text file open for writing,"
            f" got {file!r}"
        )


def dump_tasklets(file: IO[str] | None = None) -> None:
    """Print every live tasklet of this thread, its state (what it waits on)
    and its stack, and the hub, to ``file`` (default ``sys.stderr``;
    anything else needs a ``write`` method, or ``TypeError``). Does not
    switch."""
    _check_file("dump_tasklets()", file)
    out = sys.stderr if file is None else file
    s = get_scheduler()
    tasks: list[Task] = [s.main, *(t for t in s.alive if t is not s.main)]
    thread = threading.current_thread().name
    print(f"== shoal: {len(tasks)} live tasklets in thread {thread!r} ==", file=out)
    for t in tasks:
        print(repr(t), file=out)
        lines = _stack(_frames(t, s))
        print("".join(lines) or "  (no stack: not started)\n", end="", file=out)
    if s.hub is not None:
        print(f"hub: {s.hub!r}", file=out)
    flush = getattr(out, "flush", None)
    if flush is not None:
        flush()


class Monitor:
    """Reports each tasklet that keeps one thread for ``milliseconds`` or
    longer without switching. Made by :func:`monitor`; a context manager."""

    def __init__(self, sched: Scheduler, milliseconds: float, file: Any) -> None:
        self.sched = sched
        self.threshold = milliseconds / 1000
        self.file = file
        #: Where reports go: ``file``, or None (``sys.stderr``) from its
        #: first failed write on (see :meth:`_write`).
        self._out = file
        #: Every report made so far, as printed.
        self.reports: list[str] = []
        self._stop = threading.Event()
        count_switches(sched, True)
        self._thread = threading.Thread(
            target=self._watch, name=f"shoal monitor ({milliseconds:g} ms)", daemon=True
        )
        self._thread.start()
        if sched.in_run:
            _in_runs.append(self)  # the run's end closes it (close_run_monitors)

    def close(self) -> None:
        """Stop watching (waits for the watcher thread). Does not switch."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            count_switches(self.sched, False)
        if self in _in_runs:
            _in_runs.remove(self)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _watch(self) -> None:
        s = self.sched
        period = max(self.threshold / 4, 0.001)
        last: tuple[int, Task] = (s.switches, s.current)
        since = time.monotonic()
        reported = False
        while not self._stop.wait(period):
            now = time.monotonic()
            seen = (s.switches, s.current)
            if seen != last:
                last, since, reported = seen, now, False
            elif not reported and now - since >= self.threshold:
                frame = sys._current_frames().get(s.thread_id)
                if frame is not None and not self._idle(seen[1], frame):
                    self._report(seen[1], frame, now - since)
                    reported = True

    def _idle(self, t: Task, frame: FrameType) -> bool:
        """The hub waiting for I/O in its loop's poll."""
        hub = self.sched.hub
        if hub is None or t is not hub.task:
            return False
        return frame.f_code in _IDLE_CODES or frame.f_code.co_filename == (
            selectors.__file__
        )

    def _report(self, t: Task, frame: FrameType, held: float) -> None:
        hub = self.sched.hub
        who = "the hub (asyncio code on its loop)" if hub and t is hub.task else repr(t)
        thread = threading._active.get(self.sched.thread_id)  # type: ignore[attr-defined]
        name = thread.name if thread is not None else str(self.sched.thread_id)
        text = (
            f"shoal monitor: {who} has kept thread {name!r} for {held * 1000:.0f} ms"
            f" without switching (threshold {self.threshold * 1000:g} ms):\n"
            + "".join(_stack(_running_frames(t, self.sched, frame)))
        )
        self.reports.append(text)
        self._write(text)

    def _write(self, text: str) -> None:
        """Print report ``text`` to the file. If that fails, say so on
        ``sys.stderr``, once, and print this report and the later ones
        there: the watcher thread must not die of it (later hogs would go
        unreported). A failing or missing ``sys.stderr`` is ignored: the
        reports stay in ``reports``. Does not switch."""
        out = self._out
        if out is not None:
            try:
                print(text, end="", file=out)
                return
            except Exception as e:
                self._out = None
                text = (
                    f"shoal monitor: could not write the report below to"
                    f" {out!r} ({type(e).__name__}: {e}); it and later reports"
                    " go to sys.stderr (all are in Monitor.reports)\n" + text
                )
        err = sys.stderr  # None without a console: print would use stdout
        if err is not None:
            with contextlib.suppress(Exception):
                print(text, end="", file=err)


#: The open monitors made inside a run, of every thread.
_in_runs: list[Monitor] = []


def close_run_monitors(sched: Scheduler) -> None:
    """The run of ``sched`` ends: close the monitors made inside it, which
    would otherwise report what the thread does after it as a tasklet's.
    Does not switch."""
    for m in [m for m in _in_runs if m.sched is sched]:
        m.close()


def monitor(milliseconds: float = 100, file: IO[str] | None = None) -> Monitor:
    """Watch this thread from another one, and report (to ``file``, default
    ``sys.stderr``; anything else needs a ``write`` method, or
    ``TypeError``) any tasklet that keeps it for ``milliseconds`` or longer
    without switching, with the stack it is running. It samples every
    quarter of ``milliseconds``: a hold it reports lasted at least that
    long, and one is sure to be reported from 1.25 times that on (a
    shorter one may be seen only once it has begun). Returns the
    :class:`Monitor`; ``close()`` it, or use it as a context manager (the
    end of the ``shoal.run`` it was made in closes it too).
    ``SHOAL_MONITOR=<milliseconds>`` makes every ``shoal.run`` monitor its
    thread. A report that cannot be written to ``file`` (closed since, say)
    is written to ``sys.stderr`` after a line saying why, and so are the
    later ones; the monitor keeps watching. Does not switch."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, (int, float)):
        raise TypeError(
            f"monitor() needs milliseconds as a number, got {milliseconds!r}"
        )
    if not 0 < milliseconds <= _LONGEST:
        raise ValueError(
            f"monitor() needs milliseconds > 0 and at most {_LONGEST:.0f}"
            f" (a day), got {milliseconds!r}"
        )
    _check_file("monitor()", file)
    return Monitor(get_scheduler(), milliseconds, file)


#: The longest report threshold a monitor takes: a day, in milliseconds
#: (its thread's timed waits cannot take infinity, nor 1e300).
_LONGEST = 86_400_000.0


def monitor_from_environment() -> Monitor | None:
    """A :func:`monitor` as ``SHOAL_MONITOR`` asks, or None when it is unset
    or empty. Does not switch."""
    value = os.environ.get("SHOAL_MONITOR", "")
    if not value:
        return None
    try:
        milliseconds = float(value)
    except ValueError:
        raise ValueError(
            f"SHOAL_MONITOR={value!r}: expected a number of milliseconds"
        ) from None
    if not 0 < milliseconds <= _LONGEST:
        raise ValueError(
            f"SHOAL_MONITOR={value!r}: expected milliseconds > 0 and at most"
            f" {_LONGEST:.0f} (a day)"
        )
    return monitor(milliseconds)
