"""Channel ping-pong between two tasks, per message.

One message is one send + receive hand-off; a round trip is two messages.
"""

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


def pingpong(lib: Any, n: int) -> float:
    """Ping-pong on the floor or on shoal: both have spawn, Channel and run."""

    def main() -> float:
        ping, pong = lib.Channel(), lib.Channel()

        def echo() -> None:
            for _ in range(n):
                pong.send(ping.receive())

        lib.spawn(echo)
        start = perf_counter()
        for i in range(n):
            ping.send(i)
            pong.receive()
        return perf_counter() - start

    return float(lib.run(main)) / (2 * n)


def bench_floor(n: int) -> float:
    return pingpong(floor, n)


def bench_shoal(n: int) -> float:
    return pingpong(_peers.import_shoal(), n)


def bench_gevent(n: int) -> float:
    import gevent
    from gevent.queue import Channel

    ping: Channel = Channel()
    pong: Channel = Channel()

    def echo() -> None:
        for _ in range(n):
            pong.put(ping.get())

    task = gevent.spawn(echo)
    start = perf_counter()
    for i in range(n):
        ping.put(i)
        pong.get()
    elapsed = perf_counter() - start
    task.join()
    return elapsed / (2 * n)


async def asyncio_main(n: int) -> float:
    import asyncio

    ping: asyncio.Queue[int] = asyncio.Queue()
    pong: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        for _ in range(n):
            await pong.put(await ping.get())

    task = asyncio.create_task(echo())
    start = perf_counter()
    for i in range(n):
        await ping.put(i)
        await pong.get()
    elapsed = perf_counter() - start
    await task
    return elapsed / (2 * n)


async def trio_main(n: int) -> float:
    import trio

    ping_tx, ping_rx = trio.open_memory_channel[int](0)
    pong_tx, pong_rx = trio.open_memory_channel[int](0)

    async def echo() -> None:
        for _ in range(n):
            await pong_tx.send(await ping_rx.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        start = perf_counter()
        for i in range(n):
            await ping_tx.send(i)
            await pong_rx.receive()
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
    targets = [_harness.within(1.5), _harness.faster(4, "gevent")]
    targets.append(_harness.faster(4, "uvloop"))
    title = "channel ping-pong, per message"
    return [_harness.Table(title, impls, targets=targets)]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
