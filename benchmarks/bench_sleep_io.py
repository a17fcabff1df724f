"""``sleep(0)`` while I/O is pending, per yield.

K tasks yield in a loop (``sleep(0)``, or the library's equivalent) while
the event loop also has work of its own: 100 idle connected sockets (one end
of a ``socketpair`` each), each with a task blocked reading it, and 5 tasks
in long sleeps (timers pending). So every pass through the event loop polls
100 registered descriptors, as a real server's would. One yield by one task
is one operation.

- shoal: ``shoal.sleep(0)``; readers in ``sock.recv``; ``shoal.sleep(3600)``;
- shoal no I/O: the same yields with nothing pending (for reference);
- gevent: ``gevent.sleep(0)``; ``gevent.socket`` readers;
- asyncio, uvloop: ``asyncio.sleep(0)``; readers in ``StreamReader.read``;
- trio: ``trio.sleep(0)``; ``trio.socket`` readers.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

try:
    from benchmarks import _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers

SOCKETS = 100
SLEEPERS = 5
HOUR = 3600.0


def per_yield(k: int, n: int) -> int:
    """Yields per task: n operations in all, over k tasks."""
    return max(1, n // k)


def bench_shoal(k: int, n: int, io: bool = True) -> float:
    shoal = _peers.import_shoal()
    rounds = per_yield(k, n)

    def yielder() -> None:
        sleep = shoal.sleep
        for _ in range(rounds):
            sleep(0)

    def main() -> float:
        pairs = [shoal.socket.socketpair() for _ in range(SOCKETS if io else 0)]
        readers = [shoal.spawn(a.recv, 1) for a, _ in pairs]
        sleepers = [shoal.spawn(shoal.sleep, HOUR + i) for i in range(SLEEPERS * io)]
        shoal.sleep(0.001)  # everyone is parked: readers in the hub, sleepers too
        start = perf_counter()
        tasks = [shoal.spawn(yielder) for _ in range(k)]
        for t in tasks:
            t.join()
        elapsed = perf_counter() - start
        for t in sleepers:
            t.kill()
        for _, b in pairs:
            b.close()  # the reader gets b"" and ends
        for t in readers:
            t.join()
        for a, _ in pairs:
            a.close()
        return elapsed

    return float(shoal.run(main)) / (rounds * k)


def bench_gevent(k: int, n: int) -> float:
    import gevent
    from gevent import socket as gsocket

    rounds = per_yield(k, n)

    def yielder() -> None:
        sleep = gevent.sleep
        for _ in range(rounds):
            sleep(0)

    pairs = [gsocket.socketpair() for _ in range(SOCKETS)]
    readers = [gevent.spawn(a.recv, 1) for a, _ in pairs]
    sleepers = [gevent.spawn(gevent.sleep, HOUR + i) for i in range(SLEEPERS)]
    gevent.sleep(0.001)
    start = perf_counter()
    tasks = [gevent.spawn(yielder) for _ in range(k)]
    gevent.joinall(tasks)
    elapsed = perf_counter() - start
    gevent.killall(sleepers)
    for _, b in pairs:
        b.close()
    gevent.joinall(readers)
    for a, _ in pairs:
        a.close()
    return elapsed / (rounds * k)


async def asyncio_main(k: int, n: int) -> float:
    import asyncio

    rounds = per_yield(k, n)

    async def yielder() -> None:
        sleep = asyncio.sleep
        for _ in range(rounds):
            await sleep(0)

    streams = []
    for _ in range(SOCKETS):
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=a)
        streams.append((reader, writer, b))
    readers = [asyncio.create_task(r.read(1)) for r, _, _ in streams]
    sleepers = [asyncio.create_task(asyncio.sleep(HOUR + i)) for i in range(SLEEPERS)]
    await asyncio.sleep(0.001)
    start = perf_counter()
    await asyncio.gather(*(yielder() for _ in range(k)))
    elapsed = perf_counter() - start
    for task in sleepers:
        task.cancel()
    for _, _, b in streams:
        b.close()
    await asyncio.gather(*readers, *sleepers, return_exceptions=True)
    for _, writer, _ in streams:
        writer.close()
    return elapsed / (rounds * k)


async def trio_main(k: int, n: int) -> float:
    import trio

    rounds = per_yield(k, n)

    async def yielder() -> None:
        sleep = trio.sleep
        for _ in range(rounds):
            await sleep(0)

    pairs = [trio.socket.socketpair() for _ in range(SOCKETS)]
    async with trio.open_nursery() as background:
        for a, _ in pairs:
            background.start_soon(a.recv, 1)
        for i in range(SLEEPERS):
            background.start_soon(trio.sleep, HOUR + i)
        await trio.sleep(0.001)
        start = perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(k):
                nursery.start_soon(yielder)
        elapsed = perf_counter() - start
        background.cancel_scope.cancel()
    for a, b in pairs:
        a.close()
        b.close()
    return elapsed / (rounds * k)


def impls(k: int) -> dict[str, _harness.Measure]:
    def bind(fn: Any, **kwargs: Any) -> Any:
        return lambda n: fn(k, n, **kwargs)

    return {
        "shoal": bind(bench_shoal),
        "shoal no I/O": bind(bench_shoal, io=False),
        "gevent": bind(bench_gevent),
        **_peers.event_loops(bind(asyncio_main)),
        "trio": _peers.on_trio(bind(trio_main)),
    }


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    targets = [_harness.within(1, "uvloop")]
    return [
        _harness.Table(
            f"sleep(0) by {k} tasks, with {SOCKETS} sockets and {SLEEPERS} "
            "timers pending, per yield",
            impls(k),
            floor=None,
            targets=targets,
        )
        for k in (2, 100)
    ]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
