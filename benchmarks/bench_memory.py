"""Memory per blocked task: RSS growth over N tasks each parked on a receive.

Each task waits on its own channel or queue, so the figure includes one channel
per task; a raw greenlet runs a Python function parked in a switch to main.
The "shoal shared" row parks every tasklet on one channel: the tasklet's own
cost, without a channel each.
One sample per process: the allocator keeps freed memory, so a second round in
the same process would measure reuse. ``--million`` runs 1,000,000 tasks for
shoal and raw greenlet only.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import Any

try:
    from benchmarks import _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers


def rss() -> int:
    """Resident set size in bytes (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def baseline() -> int:
    gc.collect()
    return rss()


def bench_greenlet(n: int) -> float:
    from greenlet import getcurrent, greenlet

    main = getcurrent()

    def park() -> None:  # a Python frame, as every real task has
        main.switch()

    base = baseline()
    parked = [greenlet(park) for _ in range(n)]
    for g in parked:
        g.switch()
    return (rss() - base) / n


def bench_shoal(n: int) -> float:
    return shoal_blocked(n, shared=False)


def bench_shoal_shared(n: int) -> float:
    return shoal_blocked(n, shared=True)


def shoal_blocked(n: int, *, shared: bool) -> float:
    shoal = _peers.import_shoal()
    ready: list[None] = []

    def wait(channel: Any) -> None:
        ready.append(None)
        channel.receive()

    def main() -> float:
        base = baseline()
        one = shoal.Channel()
        channels = [one] * n if shared else [shoal.Channel() for _ in range(n)]
        tasklets = [shoal.spawn(wait, channel) for channel in channels]
        while len(ready) < n:
            shoal.schedule()
        grown = rss() - base
        for channel in channels:  # let every tasklet end before run() returns
            channel.send(None)
        for tasklet in tasklets:
            tasklet.join()
        return grown / n

    return float(shoal.run(main))


def bench_gevent(n: int) -> float:
    import gevent
    from gevent.queue import Channel

    ready: list[None] = []

    def wait(channel: Channel) -> None:
        ready.append(None)
        channel.get()

    gevent.sleep(0)  # start the hub before the baseline
    base = baseline()
    channels: list[Channel] = [Channel() for _ in range(n)]
    tasks = [gevent.spawn(wait, channel) for channel in channels]
    while len(ready) < n:
        gevent.sleep(0)
    assert len(tasks) == n
    return (rss() - base) / n


async def asyncio_main(n: int) -> float:
    import asyncio

    ready: list[None] = []

    async def wait(queue: asyncio.Queue[None]) -> None:
        ready.append(None)
        await queue.get()

    base = baseline()
    queues: list[asyncio.Queue[None]] = [asyncio.Queue() for _ in range(n)]
    tasks = [asyncio.create_task(wait(queue)) for queue in queues]
    while len(ready) < n:
        await asyncio.sleep(0)
    grown = rss() - base
    for task in tasks:
        task.cancel()
    return grown / n


async def trio_main(n: int) -> float:
    import trio

    ready: list[None] = []

    async def wait(rx: Any) -> None:
        ready.append(None)
        await rx.receive()

    base = baseline()
    channels = [trio.open_memory_channel[None](0) for _ in range(n)]
    async with trio.open_nursery() as nursery:
        for _, rx in channels:
            nursery.start_soon(wait, rx)
        while len(ready) < n:
            await trio.sleep(0)
        grown = rss() - base
        nursery.cancel_scope.cancel()
    return grown / n


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    impls: dict[str, _harness.Measure] = {
        "greenlet": bench_greenlet,
        "shoal": bench_shoal,
        "shoal shared": bench_shoal_shared,
        "gevent": bench_gevent,
        **_peers.event_loops(asyncio_main),
        "trio": _peers.on_trio(trio_main),
    }
    count, samples, timeout = (10_000 if args.quick else 100_000), 3, 120.0
    if args.million:
        impls = {name: impls[name] for name in ("greenlet", "shoal", "shoal shared")}
        count, samples, timeout = 1_000_000, 1, 900.0
    count = args.count or count
    targets = [
        _harness.Target("shoal <= greenlet + 1 KB", "shoal", "greenlet", extra=1024),
        _harness.Target(
            "shoal shared <= greenlet + 1 KB", "shoal shared", "greenlet", extra=1024
        ),
    ]
    title = f"memory per blocked task, {count:,} tasks"
    table = _harness.Table(
        title,
        impls,
        floor="greenlet",
        targets=targets,
        unit="KB",
        count=count,
        fresh=samples,
        timeout=timeout,
    )
    return [table]


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--million", action="store_true", help="1,000,000 tasks")


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
