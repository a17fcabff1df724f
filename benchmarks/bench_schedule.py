"""Yield between two tasks, per switch: one yield by one task is one switch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

try:
    from benchmarks import _harness, _peers, floor
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers, floor


def yield_loop(lib: Any, n: int) -> float:
    """Two tasks each call ``lib.schedule()`` n times (floor or shoal)."""

    def other() -> None:
        for _ in range(n):
            lib.schedule()

    def main() -> float:
        lib.spawn(other)
        start = perf_counter()
        for _ in range(n):
            lib.schedule()
        return perf_counter() - start

    return float(lib.run(main)) / (2 * n)


def bench_floor(n: int) -> float:
    return yield_loop(floor, n)


def bench_shoal(n: int) -> float:
    return yield_loop(_peers.import_shoal(), n)


def bench_gevent(n: int) -> float:
    import gevent

    def other() -> None:
        for _ in range(n):
            gevent.sleep(0)

    task = gevent.spawn(other)
    start = perf_counter()
    for _ in range(n):
        gevent.sleep(0)
    elapsed = perf_counter() - start
    task.join()
    return elapsed / (2 * n)


async def asyncio_main(n: int) -> float:
    import asyncio

    async def other() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    start = perf_counter()
    for _ in range(n):
        await asyncio.sleep(0)
    elapsed = perf_counter() - start
    await task
    return elapsed / (2 * n)


async def trio_main(n: int) -> float:
    import trio

    async def other() -> None:
        for _ in range(n):
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        start = perf_counter()
        for _ in range(n):
            await trio.lowlevel.checkpoint()
        elapsed = perf_counter() - start
    return elapsed / (2 * n)


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    impls = {
        "floor": bench_floor,
        "shoal": bench_shoal,
        "gevent": bench_gevent,
        **_peers.event_loops(asyncio_main),
        "trio": _peers.on_trio(trio_main),
    }
    targets = [_harness.within(1.5), _harness.faster(2.5, "uvloop")]
    return [_harness.Table("yield to another task, per switch", impls, targets=targets)]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
