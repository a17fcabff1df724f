"""The load generator of bench_echo and bench_10k: a process of its own.

    python -m benchmarks._echo_load lockstep --port P --conns N --seconds S
    python -m benchmarks._echo_load rounds --port P --conns N --rounds R

It runs on uvloop (the stdlib loop where uvloop is missing) with plain
``asyncio.Protocol`` clients, the cheapest Python client there is, so that
as much as possible of the machine is left to the server being measured.

``lockstep``: every connection sends 64 bytes, waits for the 64 bytes to
come back, and sends again. After ``--warmup`` seconds the messages echoed
during ``--seconds`` are counted.

``rounds``: every connection sends 64 bytes once a ``--period`` (each at its
own offset inside the period, so the load is even) and checks the reply;
each round trip's latency is recorded. Before the rounds, each connection
sends one message as soon as it is connected, and the connect phase ends
when every one of them has come back: the server has accepted and served
every connection.

With ``--server-pid`` (Linux), the server's CPU time (summed over its
threads, from ``/proc/PID/task/*/schedstat``, in ns) and its resident set
size are read at the edges of the measured window, so the server's own cost
per message is known even when this process is the bottleneck.

Prints one JSON line. Exits by itself: the run is bounded, and an alarm ends
the process if anything hangs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

SIZE = 64
MESSAGE = bytes(range(SIZE))
CONNECTING = 64  # connects in flight at once: stays inside every listen backlog


def raise_fd_limit(wanted: int) -> None:
    """Lift the soft limit on open files to ``wanted`` (at most the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def process_cpu(pid: int) -> float | None:
    """CPU seconds process ``pid`` has used so far (None: no way to know)."""
    task_dir = Path(f"/proc/{pid}/task")
    try:
        total = 0
        for task in task_dir.iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:  # clock ticks, coarser; fields after the command name
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def process_rss(pid: int) -> int | None:
    """Resident set size of process ``pid`` in bytes (None: unknown)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Stats:
    def __init__(self) -> None:
        self.count = 0  # messages echoed in full
        self.errors: dict[str, int] = {}
        self.stopping = False  # lock-step: send no more
        self.closing = False
        self.latencies: list[float] = []
        self.late = 0  # replies still out when the next message went
        self.pinged = 0  # messages sent in the rounds (not when connecting)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class LockStep(asyncio.Protocol):
    """Send a message, wait for all of it to come back, send the next."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.left = SIZE
        self.idle = False  # stopping, and its last message came back
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def start(self) -> None:
        self.transport.write(MESSAGE)

    def data_received(self, data: bytes) -> None:
        left = self.left - len(data)
        if left > 0:
            self.left = left
            return
        if left < 0:
            self.stats.error("extra bytes")
        self.left = SIZE
        self.stats.count += 1
        if self.stats.stopping:
            self.idle = True
        else:
            self.transport.write(MESSAGE)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.stats.closing:
            self.stats.error("connection lost")


class Pinger(asyncio.Protocol):
    """A message sent on demand; checks and times each reply. A message sent
    while the previous reply is still out counts as late (that reply took
    over one period), and both stay in flight."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.got = b""
        self.sent: deque[float] = deque()  # send times of replies still out
        self.transport: Any = None
        self.replied: asyncio.Future[None] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def ping(self, record: bool = True) -> None:
        if self.sent:
            self.stats.late += 1
        if record:
            self.stats.pinged += 1
        self.sent.append(perf_counter() if record else -1.0)
        self.transport.write(MESSAGE)

    def data_received(self, data: bytes) -> None:
        got = self.got + data
        while len(got) >= SIZE:
            if not self.sent:
                self.stats.error("unexpected bytes")
                got = b""
                break
            if got[:SIZE] != MESSAGE:
                self.stats.error("wrong reply")
            got = got[SIZE:]
            sent = self.sent.popleft()
            if sent >= 0:
                self.stats.latencies.append(perf_counter() - sent)
            self.stats.count += 1
        self.got = got
        if not self.sent and self.replied is not None and not self.replied.done():
            self.replied.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.stats.closing:
            self.stats.error("connection lost")
        if self.replied is not None and not self.replied.done():
            self.replied.set_result(None)


async def connect_all(
    port: int, conns: int, factory: Callable[[], Any], stats: Stats
) -> list[Any]:
    """Open ``conns`` connections, ``CONNECTING`` at a time; the protocols."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECTING)

    async def one() -> Any:
        async with gate:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, ("127.0.0.1", port))
                _, proto = await loop.create_connection(factory, sock=sock)
            except OSError as exc:
                sock.close()
                stats.error(f"connect: {exc.strerror or exc}")
                return None
            if isinstance(proto, Pinger):  # served before the gate opens again
                proto.replied = loop.create_future()
                proto.ping(record=False)
                await proto.replied
                proto.replied = None
            return proto

    protos = await asyncio.gather(*(one() for _ in range(conns)))
    return [p for p in protos if p is not None]


def close_all(protos: list[Any], stats: Stats) -> None:
    stats.closing = True
    for proto in protos:
        proto.transport.close()


async def lockstep(args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    pid = args.server_pid
    start = perf_counter()
    protos = await connect_all(args.port, args.conns, lambda: LockStep(stats), stats)
    connect = perf_counter() - start
    if len(protos) < args.conns:
        raise SystemExit(
            f"only {len(protos)} of {args.conns} connected: {stats.errors}"
        )
    for proto in protos:
        proto.start()
    await asyncio.sleep(args.warmup)
    count0, cpu0, me0, t0 = stats.count, process_cpu(pid), own_cpu(), perf_counter()
    await asyncio.sleep(args.seconds)
    count1, cpu1, me1, t1 = stats.count, process_cpu(pid), own_cpu(), perf_counter()
    # Stop, and close once the last replies are in: no reset mid-message.
    stats.stopping = True
    deadline = perf_counter() + 1.0
    while not all(p.idle for p in protos) and perf_counter() < deadline:
        await asyncio.sleep(0.005)
    close_all(protos, stats)
    await asyncio.sleep(0)  # let the transports close
    return {
        "messages": count1 - count0,
        "seconds": t1 - t0,
        "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        "load_cpu": me1 - me0,
        "connect": connect,
        "errors": stats.errors,
    }


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def rounds(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    pid = args.server_pid
    rss0 = process_rss(pid)
    start = perf_counter()
    protos = await connect_all(args.port, args.conns, lambda: Pinger(stats), stats)
    connect = perf_counter() - start
    rss1 = process_rss(pid)
    stats.count = 0
    cpu0, t0 = process_cpu(pid), perf_counter()
    base = loop.time() + 0.05
    step = args.period / max(1, len(protos))
    for r in range(args.rounds):
        first = base + r * args.period
        for i, proto in enumerate(protos):
            loop.call_at(first + i * step, proto.ping)
    await asyncio.sleep(max(0.0, base + args.rounds * args.period - loop.time()))
    # The last messages and their replies: at most one more period. uvloop's
    # timers have a resolution of 1 ms, so the last pings, due just before
    # that sleep's end, may run just after it.
    planned = args.rounds * len(protos)
    deadline = loop.time() + args.period
    while stats.pinged < planned or any(p.sent for p in protos):
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.01)
    cpu1, t1 = process_cpu(pid), perf_counter()
    missing = sum(len(p.sent) for p in protos)
    if missing:
        stats.errors["no reply"] = missing
    if stats.pinged < planned:  # the load generator fell behind
        stats.errors["not sent"] = planned - stats.pinged
    rss2 = process_rss(pid)
    close_all(protos, stats)
    await asyncio.sleep(0)
    lat = sorted(stats.latencies)
    return {
        "connections": len(protos),
        "connect": connect,
        "messages": stats.count,
        "expected": args.rounds * args.conns,
        "seconds": t1 - t0,
        "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        "rss_base": rss0,
        "rss_connected": rss1,
        "rss_end": rss2,
        "p50": percentile(lat, 50),
        "p90": percentile(lat, 90),
        "p99": percentile(lat, 99),
        "max": lat[-1] if lat else float("nan"),
        "errors": stats.errors,
        "late": stats.late,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_echo_load.py")
    parser.add_argument("mode", choices=("lockstep", "rounds"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, required=True)
    parser.add_argument("--server-pid", type=int, default=os.getppid())
    parser.add_argument("--seconds", type=float, default=1.0, help="lockstep window")
    parser.add_argument("--warmup", type=float, default=0.3, help="lockstep warm-up")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of pings")
    parser.add_argument("--period", type=float, default=1.0, help="seconds a round")
    parser.add_argument("--limit", type=int, default=120, help="alarm, seconds")
    args = parser.parse_args(argv)
    signal.alarm(args.limit)  # whatever happens, this process ends
    raise_fd_limit(args.conns + 100)
    run = lockstep if args.mode == "lockstep" else rounds
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
        result["load_loop"] = "asyncio"
    else:
        result = uvloop.run(run(args))
        result["load_loop"] = "uvloop"
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
