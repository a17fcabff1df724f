"""Select over 2 and over 16 channels, per operation.

One sender task sends 0..n-1 on a rotating channel (value i on channel i % k);
the selecting task receives each value with one select over all k channels.
Every channel is a rendezvous, so exactly one value is in flight per select.

Only shoal has an atomic select. The peers race one receive per channel and
cancel the losers, the usual idiom:
- asyncio: ``asyncio.wait(FIRST_COMPLETED)`` over ``Queue.get()`` tasks. asyncio
  has no rendezvous queue, so the sender waits on ``Queue.join()`` after each
  put (the selector calls ``task_done()``): one value in flight, as elsewhere.
- trio: a nursery of ``receive()`` racers on ``open_memory_channel(0)``; the
  winner cancels the nursery.
- gevent has no select, and its queues lack ``rawlink()``, so ``gevent.wait``
  cannot watch them. The closest equivalent is the same race: one greenlet per
  ``gevent.queue.Channel.get``, ``gevent.wait(count=1)``, then kill the rest.
  (A shared fan-in Queue was rejected: it changes the senders and measures a
  plain queue hand-off, which bench_channel already does.)
Every variant checks that no value was lost or duplicated.
"""

from __future__ import annotations

import argparse
import functools
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


def check(total: int, n: int) -> None:
    if total != n * (n - 1) // 2:
        raise AssertionError(f"received values sum to {total}, not 0+1+...+{n - 1}")


def bench_shoal(k: int, n: int) -> float:
    shoal = _peers.import_shoal()

    def main() -> float:
        channels = [shoal.Channel() for _ in range(k)]

        def sender() -> None:
            for i in range(n):
                channels[i % k].send(i)

        shoal.spawn(sender)
        total = 0
        start = perf_counter()
        for _ in range(n):
            _case, value = shoal.select(*[ch.receive_case() for ch in channels])
            total += value
        elapsed = perf_counter() - start
        check(total, n)
        return elapsed

    return float(shoal.run(main)) / n


def bench_gevent(k: int, n: int) -> float:
    import gevent
    from gevent.queue import Channel

    channels: list[Channel] = [Channel() for _ in range(k)]

    def sender() -> None:
        for i in range(n):
            channels[i % k].put(i)

    task = gevent.spawn(sender)
    total = received = 0
    start = perf_counter()
    while received < n:
        racers = [gevent.spawn(ch.get) for ch in channels]
        gevent.wait(racers, count=1)
        gevent.killall(racers)
        for racer in racers:  # a killed racer's value is its GreenletExit
            if not isinstance(racer.value, gevent.GreenletExit):
                total += racer.value
                received += 1
    elapsed = perf_counter() - start
    task.join()
    check(total, n)
    return elapsed / n


async def asyncio_main(k: int, n: int) -> float:
    import asyncio

    queues: list[asyncio.Queue[int]] = [asyncio.Queue(1) for _ in range(k)]

    async def sender() -> None:
        for i in range(n):
            await queues[i % k].put(i)
            await queues[i % k].join()

    task = asyncio.create_task(sender())
    total = received = 0
    start = perf_counter()
    while received < n:
        gets = [asyncio.create_task(q.get()) for q in queues]
        done, pending = await asyncio.wait(gets, return_when=asyncio.FIRST_COMPLETED)
        for get in pending:
            get.cancel()
        for get in done:
            total += get.result()
            received += 1
            queues[gets.index(get)].task_done()
    elapsed = perf_counter() - start
    await task
    check(total, n)
    return elapsed / n


async def trio_main(k: int, n: int) -> float:
    import trio

    channels = [trio.open_memory_channel[int](0) for _ in range(k)]
    got: list[int] = []

    async def race(rx: Any, scope: trio.CancelScope) -> None:
        got.append(await rx.receive())
        scope.cancel()

    async def sender() -> None:
        for i in range(n):
            await channels[i % k][0].send(i)

    async with trio.open_nursery() as outer:
        outer.start_soon(sender)
        start = perf_counter()
        while len(got) < n:
            async with trio.open_nursery() as racers:
                for _, rx in channels:
                    racers.start_soon(race, rx, racers.cancel_scope)
        elapsed = perf_counter() - start
    check(sum(got), n)
    return elapsed / n


def impls(k: int) -> dict[str, _harness.Measure]:
    def bind(fn: Callable[[int, int], Any]) -> Callable[[int], Any]:
        return functools.partial(fn, k)

    return {
        "shoal": bind(bench_shoal),
        "gevent": bind(bench_gevent),
        **_peers.event_loops(bind(asyncio_main)),
        "trio": _peers.on_trio(bind(trio_main)),
    }


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    return [
        _harness.Table(f"select over {k} channels, per operation", impls(k), None)
        for k in (2, 16)
    ]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
