"""Race two branches, per race: the first wins at once, the other is killed.

One branch returns a constant without blocking; the other blocks forever, on
a channel receive (first table) or in a one-hour sleep, which holds a timer
on the event loop (second table). Each race returns the winner's value only
once the loser is gone:

- shoal: ``shoal.oneof(win, lose)``, which kills the loser and waits for it;
- asyncio (stdlib loop and uvloop): two tasks,
  ``asyncio.wait(..., return_when=FIRST_COMPLETED)``, then ``cancel()`` the
  loser and await its cancellation;
- trio: a nursery of both; the first to finish cancels the nursery's scope;
- gevent: two greenlets, ``gevent.wait(count=1)``, then ``kill()`` the loser
  (which waits for it to die).
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

HOUR = 3600.0


def check(total: int, n: int) -> None:
    if total != n:
        raise AssertionError(f"{total} races won by the quick branch, not {n}")


def bench_shoal(blocker: str, n: int) -> float:
    shoal = _peers.import_shoal()

    def main() -> float:
        ch = shoal.Channel()

        def win() -> int:
            return 1

        def lose() -> int:
            if blocker == "channel":
                ch.receive()
            else:
                shoal.sleep(HOUR)
            return 0

        oneof = shoal.oneof
        total = 0
        start = perf_counter()
        for _ in range(n):
            total += oneof(win, lose)
        elapsed = perf_counter() - start
        check(total, n)
        return elapsed

    return float(shoal.run(main)) / n


def bench_gevent(blocker: str, n: int) -> float:
    import gevent
    from gevent.queue import Channel

    ch: Channel = Channel()

    def win() -> int:
        return 1

    def lose() -> int:
        if blocker == "channel":
            ch.get()
        else:
            gevent.sleep(HOUR)
        return 0

    spawn, wait = gevent.spawn, gevent.wait
    total = 0
    start = perf_counter()
    for _ in range(n):
        a, b = spawn(win), spawn(lose)
        first = wait((a, b), count=1)[0]
        other = b if first is a else a
        other.kill()
        total += first.value
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


async def asyncio_main(blocker: str, n: int) -> float:
    import asyncio

    queue: asyncio.Queue[int] = asyncio.Queue()

    async def win() -> int:
        return 1

    async def lose() -> int:
        if blocker == "channel":
            await queue.get()
        else:
            await asyncio.sleep(HOUR)
        return 0

    create_task, wait, first_completed = (
        asyncio.create_task,
        asyncio.wait,
        asyncio.FIRST_COMPLETED,
    )
    total = 0
    start = perf_counter()
    for _ in range(n):
        tasks = (create_task(win()), create_task(lose()))
        done, pending = await wait(tasks, return_when=first_completed)
        for task in pending:
            task.cancel()
            try:  # noqa: SIM105 - cheaper than contextlib.suppress in the timed loop
                await task
            except asyncio.CancelledError:
                pass
        total += done.pop().result()
    elapsed = perf_counter() - start
    check(total, n)
    return elapsed / n


async def trio_main(blocker: str, n: int) -> float:
    import trio

    rx = trio.open_memory_channel[int](0)[1]

    async def win() -> int:
        return 1

    async def lose() -> int:
        if blocker == "channel":
            await rx.receive()
        else:
            await trio.sleep(HOUR)
        return 0

    won: list[int] = []

    async def branch(fn: Callable[[], Any], scope: trio.CancelScope) -> None:
        won.append(await fn())
        scope.cancel()

    start = perf_counter()
    for _ in range(n):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(branch, win, nursery.cancel_scope)
            nursery.start_soon(branch, lose, nursery.cancel_scope)
    elapsed = perf_counter() - start
    check(sum(won), n)
    return elapsed / n


def impls(blocker: str) -> dict[str, _harness.Measure]:
    def bind(fn: Callable[[str, int], Any]) -> Callable[[int], Any]:
        return lambda n: fn(blocker, n)

    return {
        "shoal": bind(bench_shoal),
        "gevent": bind(bench_gevent),
        **_peers.event_loops(bind(asyncio_main)),
        "trio": _peers.on_trio(bind(trio_main)),
    }


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    targets = [_harness.faster(2, "uvloop")]
    return [
        _harness.Table(
            f"oneof: the first branch wins at once, the loser {what}, per race",
            impls(blocker),
            floor=None,
            targets=targets,
        )
        for blocker, what in (
            ("channel", "blocked on a channel receive"),
            ("sleep", "in a one-hour sleep"),
        )
    ]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
