"""The main job: a million tasklets pass a token around a ring of channels.

Run ``python -m shoal.demo [--tasklets N] [--laps K] [--quick]``. Tasklet i
receives from channel i and sends to channel i+1, adding one; the main tasklet
injects the token into channel 0, takes it back from channel N, once per lap.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TextIO

import greenlet

from shoal import Channel, run, schedule, spawn

SPAWN_CHUNK = 20_000  # tasklets between two progress updates on a terminal


class Progress:
    """One status line per phase: rewritten in place on a terminal; elsewhere
    (a log, a pipe) only the final state of each phase is printed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.width = 0

    def update(self, text: str) -> None:
        if self.tty:
            self.out.write("\r" + text.ljust(self.width))
            self.width = len(text)
            self.out.flush()

    def done(self, text: str) -> None:
        if self.tty:
            self.update(text)
            self.width = 0
        self.out.write("\n" if self.tty else text + "\n")
        self.out.flush()


@dataclass
class Result:
    token: int = 0
    finished: int = 0  # tasklets that ended when their inbox was closed
    rss_growth: int | None = None  # bytes, from before spawning to end of lap 1
    phases: dict[str, float] = field(default_factory=dict)  # name -> seconds


def rss() -> int | None:
    """Resident set size in bytes; the peak RSS where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes


def relay(inbox: Channel, outbox: Channel, finished: list[int]) -> None:
    """One ring member: pass each token on, plus one, until inbox is closed."""
    for token in inbox:  # switches: blocks until the token comes round
        outbox.send(token + 1)  # switches: to the next tasklet
    finished[0] += 1


def ring(n: int, laps: int, progress: Progress) -> Result:
    """Build the ring, run the token round it ``laps`` times, shut it down."""
    result, finished = Result(), [0]
    clock = time.perf_counter()

    def phase(name: str) -> float:
        nonlocal clock
        clock, then = time.perf_counter(), clock
        result.phases[name] = clock - then
        return clock - then

    base = rss()
    # A cyclic GC pass traverses every tracked object; with a million tasklets
    # and channels piling up, the passes triggered while spawning and starting
    # them make those phases several times slower (spawning alone: 3.5x at
    # 1,000,000). Nothing made here is garbage, so GC is off until every
    # tasklet has started; then gc.freeze() moves the survivors out of the
    # collector's way for good. Demo tuning, not something the library does.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        channels = [Channel()]
        for start in range(0, n, SPAWN_CHUNK):
            for _ in range(start, min(start + SPAWN_CHUNK, n)):
                inbox, outbox = channels[-1], Channel()
                channels.append(outbox)
                spawn(relay, inbox, outbox, finished)  # does not switch
            progress.update(f"spawning: {len(channels) - 1:,}/{n:,} tasklets")
        progress.done(f"spawning: {n:,}/{n:,} tasklets in {phase('spawn'):.2f} s")
        first, last = channels[0], channels[-1]

        progress.update(f"first lap: starting {n:,} tasklets...")
        first.send(0)  # switches: each tasklet starts, blocks, passes the token on
        token = last.receive()
        seconds = phase("first lap")
        gc.freeze()
    finally:
        if gc_was_enabled:
            gc.enable()
    grown = rss()
    if base is not None and grown is not None:
        result.rss_growth = grown - base
    progress.done(f"first lap: {n:,} tasklets started and blocked in {seconds:.2f} s")

    for lap in range(2, laps + 1):
        progress.update(f"laps: {lap}/{laps}")
        first.send(token)  # switches: the token goes round once more
        token = last.receive()
    if laps > 1:
        progress.done(f"laps: {laps}/{laps} in {phase(later_laps(laps)):.2f} s")

    progress.update("shutdown: closing the channels...")
    for channel in channels:
        channel.close()  # does not switch; each tasklet's loop ends on its turn
    schedule()  # switches: every tasklet runs to its end, then main
    seconds = phase("shutdown")
    progress.done(f"shutdown: {finished[0]:,} tasklets finished in {seconds:.2f} s")
    result.token, result.finished = token, finished[0]
    return result


def later_laps(laps: int) -> str:
    return "lap 2" if laps == 2 else f"laps 2-{laps}"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shoal.demo", description=__doc__)
    parser.add_argument("--tasklets", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--laps", type=int, default=5, metavar="K")
    parser.add_argument(
        "--quick", action="store_true", help="10,000 tasklets, 2 laps (for tests)"
    )
    args = parser.parse_args(argv)
    n, laps = (10_000, 2) if args.quick else (args.tasklets, args.laps)
    if n < 1 or laps < 1:
        parser.error("--tasklets and --laps must be at least 1")
    print(f"shoal ring demo: {n:,} tasklets, {laps} laps")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"greenlet {greenlet.__version__}, shoal {version('shoal')}"
    )
    result = run(ring, n, laps, Progress(sys.stdout))

    expected = n * laps
    ok = result.token == expected and result.finished == n
    verdict = "OK" if ok else "WRONG"
    print(
        f"token: {result.token} (expected {n} tasklets x {laps} laps = {expected}) {verdict}"
    )
    print("elapsed:")
    for name, seconds in result.phases.items():
        print(f"  {name:<10} {seconds:8.3f} s")
    total = sum(result.phases.values())
    print(f"  {'total':<10} {total:8.3f} s")
    # A hop is one channel hand-off, a send meeting its receive; in the ring
    # it is also one greenlet switch. Per lap: n relays plus main's injection.
    hops = n + 1
    rates = f"first lap {rate(hops, result.phases['first lap'])}"
    if laps > 1:
        later = later_laps(laps)
        rates += f", {later} {rate(hops * (laps - 1), result.phases[later])}"
    print(
        f"switches (one switch = one channel hand-off, {hops:,} per lap): "
        f"{hops * laps:,} in all; {rates}"
    )
    if result.rss_growth is None:
        print("memory per tasklet: n/a (no /proc/self/statm or resource module)")
    else:
        print(
            f"memory per tasklet: {result.rss_growth / n / 1024:.2f} KB "
            f"(RSS growth {result.rss_growth / 2**20:,.1f} MB / {n:,} tasklets, "
            "from before spawning to the end of the first lap; "
            "counts the tasklet, its greenlet and its channel)"
        )
    if not ok:
        problem = f"token {result.token} != {expected}, or {result.finished:,}"
        print(f"error: {problem} of {n:,} tasklets finished", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
