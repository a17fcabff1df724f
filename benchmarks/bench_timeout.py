"""A timeout scope around an operation that does not block, per scope.

Each iteration enters a 10-second timeout scope, calls a trivial function
inside it and leaves: the cost of arming and disarming a deadline that
never fires, which every ``timeout=`` on a quick operation pays.

- bare: the same loop with no scope (the loop's own cost, for reference);
- shoal: ``with shoal.timeout(10):``;
- shoal move_on: ``with shoal.move_on_after(10):``;
- asyncio, uvloop: ``async with asyncio.timeout(10):`` (Python 3.11+), on the
  stdlib loop and on uvloop;
- uv wait_for: ``await asyncio.wait_for(coro(), 10)`` on uvloop;
- trio: ``with trio.move_on_after(10):``;
- gevent: ``with gevent.Timeout(10):``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

try:
    from benchmarks import _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers

SECONDS = 10.0


def work() -> int:
    return 1


async def awork() -> int:
    return 1


def check(total: int, n: int) -> None:
    if total != n:
        raise AssertionError(f"the work ran {total} times, not {n}")


def bench_bare(n: int) -> float:
    total = 0
    start = perf_counter()
    for _ in range(n):
        total += work()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


def shoal_scopes(make: Callable[[float], Any], n: int) -> float:
    total = 0
    start = perf_counter()
    for _ in range(n):
        with make(SECONDS):
            total += work()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


def bench_shoal(n: int) -> float:
    shoal = _peers.import_shoal()
    return float(shoal.run(shoal_scopes, shoal.timeout, n))


def bench_shoal_move_on(n: int) -> float:
    shoal = _peers.import_shoal()
    return float(shoal.run(shoal_scopes, shoal.move_on_after, n))


def bench_gevent(n: int) -> float:
    import gevent

    gevent.sleep(0)  # start the hub first, as shoal.run does
    total = 0
    timeout = gevent.Timeout
    start = perf_counter()
    for _ in range(n):
        with timeout(SECONDS):
            total += work()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


async def asyncio_main(n: int) -> float:
    import asyncio

    if sys.version_info < (3, 11):
        raise _harness.UnavailableError("asyncio.timeout needs Python 3.11")
    timeout = asyncio.timeout
    total = 0
    start = perf_counter()
    for _ in range(n):
        async with timeout(SECONDS):
            total += work()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


async def wait_for_main(n: int) -> float:
    import asyncio

    wait_for = asyncio.wait_for
    total = 0
    start = perf_counter()
    for _ in range(n):
        total += await wait_for(awork(), SECONDS)
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


async def trio_main(n: int) -> float:
    import trio

    move_on_after = trio.move_on_after
    total = 0
    start = perf_counter()
    for _ in range(n):
        with move_on_after(SECONDS):
            total += work()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    impls = {
        "bare": bench_bare,
        "shoal": bench_shoal,
        "shoal move_on": bench_shoal_move_on,
        "gevent": bench_gevent,
        **_peers.event_loops(asyncio_main),
        "uv wait_for": _peers.event_loops(wait_for_main)["uvloop"],
        "trio": _peers.on_trio(trio_main),
    }
    targets = [_harness.at_most(2e-6), _harness.within(1, "uvloop")]
    title = "timeout scope around a call that does not block, per scope"
    return [_harness.Table(title, impls, floor=None, targets=targets)]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
