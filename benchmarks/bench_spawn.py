"""Spawn short tasks and run them to completion, per task.

Each round spawns ``BATCH`` tasks that return a constant, then waits for all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from time import perf_counter

try:
    from benchmarks import _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers

BATCH = 1000


def rounds(n: int) -> int:
    return max(1, n // BATCH)


def task() -> int:
    return 42


async def atask() -> int:
    return 42


def bench_greenlet(n: int) -> float:
    from greenlet import greenlet

    start = perf_counter()
    for _ in range(rounds(n)):
        batch = [greenlet(task) for _ in range(BATCH)]
        for g in batch:
            g.switch()
    return (perf_counter() - start) / (rounds(n) * BATCH)


def bench_shoal(n: int) -> float:
    shoal = _peers.import_shoal()

    def main() -> float:
        start = perf_counter()
        for _ in range(rounds(n)):
            batch = [shoal.spawn(task) for _ in range(BATCH)]
            for tasklet in batch:
                tasklet.join()
        return perf_counter() - start

    return float(shoal.run(main)) / (rounds(n) * BATCH)


def bench_gevent(n: int) -> float:
    import gevent

    start = perf_counter()
    for _ in range(rounds(n)):
        gevent.joinall([gevent.spawn(task) for _ in range(BATCH)])
    return (perf_counter() - start) / (rounds(n) * BATCH)


async def asyncio_main(n: int) -> float:
    import asyncio

    start = perf_counter()
    for _ in range(rounds(n)):
        await asyncio.gather(*[asyncio.create_task(atask()) for _ in range(BATCH)])
    return (perf_counter() - start) / (rounds(n) * BATCH)


async def trio_main(n: int) -> float:
    import trio

    start = perf_counter()
    for _ in range(rounds(n)):
        async with trio.open_nursery() as nursery:
            for _ in range(BATCH):
                nursery.start_soon(atask)
    return (perf_counter() - start) / (rounds(n) * BATCH)


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    impls = {
        "greenlet": bench_greenlet,
        "shoal": bench_shoal,
        "gevent": bench_gevent,
        **_peers.event_loops(asyncio_main),
        "trio": _peers.on_trio(trio_main),
    }
    title = f"spawn + run to completion, per task (batches of {BATCH})"
    targets = [_harness.faster(4, "uvloop")]
    return [_harness.Table(title, impls, floor="greenlet", targets=targets)]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
