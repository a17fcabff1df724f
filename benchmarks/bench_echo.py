"""TCP echo server on loopback: 64-byte messages, lock-step clients.

Each row's process runs one server on 127.0.0.1 and starts the load
generator (``benchmarks/_echo_load.py``, uvloop protocols) as a separate
process. The load opens N connections (100, then 1,000); each sends 64 bytes,
waits for the 64 bytes back and sends again. After a warm-up, the messages
echoed in a fixed window are counted, and the server's CPU time over the
same window is read from ``/proc`` (Linux), so each row shows:

- msgs/s: echoed messages per second, all connections together;
- CPU µs/msg: the server process's CPU time per message. On 2 cores the
  load generator (one core of Python) is often the bottleneck, and then
  msgs/s says little about the server; CPU per message still does.
- srv% and load%: how busy each process was (100% = one core).

The servers:

- shoal: ``serve_tcp`` and a handler looping ``recv``/``sendall``;
- gevent: ``gevent.server.StreamServer``, the same handler;
- asyncio, uvloop: ``asyncio.start_server``, a handler looping
  ``await reader.read()``, ``writer.write()``, ``await writer.drain()``;
- uvloop proto: a raw ``asyncio.Protocol`` whose ``data_received`` writes
  the data back, on uvloop: the least any Python server on uvloop costs.

Every server stops by itself when the load generator is done (it is bounded
in time), and the load generator is killed if it is still there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from benchmarks import _echo_load, _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _echo_load, _harness, _peers

HOST = "127.0.0.1"
LOAD_LIMIT = 100.0  # seconds: a load generator still running then is killed

# -- the load generator -------------------------------------------------------


def start_load(port: int, argv: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "benchmarks._echo_load", *argv, "--port", str(port)]
    cmd += ["--server-pid", str(os.getpid()), "--limit", str(int(LOAD_LIMIT))]
    return subprocess.Popen(cmd, cwd=_harness.ROOT, stdout=subprocess.PIPE)


def finish_load(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The load generator's result; it is killed first if still running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the load generator did not end in {LOAD_LIMIT:g} s")
    assert proc.stdout is not None
    out = proc.stdout.read().decode().strip().splitlines()
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out[-1])
    return result


def drive(port: int, argv: list[str], sleep: Callable[[float], object]) -> Any:
    """Run the load against ``port`` and wait for it with a cooperative
    ``sleep`` (the server keeps serving meanwhile); its result."""
    proc = start_load(port, argv)
    try:
        deadline = time.monotonic() + LOAD_LIMIT
        while proc.poll() is None and time.monotonic() < deadline:
            sleep(0.05)
        return finish_load(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def adrive(port: int, argv: list[str]) -> Any:
    """``drive`` for asyncio servers."""
    import asyncio

    proc = start_load(port, argv)
    try:
        deadline = time.monotonic() + LOAD_LIMIT
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return finish_load(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the servers: each runs the load against itself and returns its result ----


def serve_shoal(argv: list[str]) -> Any:
    shoal = _peers.import_shoal()

    def handler(sock: Any, address: Any) -> None:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)

    def main() -> Any:
        with shoal.serve_tcp(handler, HOST, 0) as server:
            return drive(server.address[1], argv, shoal.sleep)

    return shoal.run(main)


def serve_gevent(argv: list[str]) -> Any:
    import gevent
    from gevent.server import StreamServer

    def handler(sock: Any, address: Any) -> None:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)

    server = StreamServer((HOST, 0), handler)
    server.start()
    try:
        return drive(server.server_port, argv, gevent.sleep)
    finally:
        server.close()


async def serve_streams(argv: list[str]) -> Any:
    import asyncio

    async def handler(reader: asyncio.StreamReader, writer: Any) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handler, HOST, 0)
    try:
        return await adrive(server.sockets[0].getsockname()[1], argv)
    finally:
        server.close()


async def serve_protocol(argv: list[str]) -> Any:
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, HOST, 0)
    try:
        return await adrive(server.sockets[0].getsockname()[1], argv)
    finally:
        server.close()


def servers() -> dict[str, Callable[[list[str]], Any]]:
    """Every server, by row name: ``serve(load argv)`` -> the load's result."""

    def on_asyncio(argv: list[str]) -> Any:
        import asyncio

        return asyncio.run(serve_streams(argv))

    def on_uvloop(argv: list[str]) -> Any:
        import uvloop

        return uvloop.run(serve_streams(argv))

    def proto_on_uvloop(argv: list[str]) -> Any:
        import uvloop

        return uvloop.run(serve_protocol(argv))

    return {
        "shoal": serve_shoal,
        "gevent": serve_gevent,
        "asyncio": on_asyncio,
        "uvloop": on_uvloop,
        "uvloop proto": proto_on_uvloop,
    }


# -- the rows and the table -----------------------------------------------------


def row(serve: Callable[[list[str]], Any], args: argparse.Namespace) -> Any:
    """One sample for one server: n connections in lock-step."""

    def measure(n: int) -> dict[str, Any]:
        _echo_load.raise_fd_limit(n + 100)
        argv = ["lockstep", "--conns", str(n), "--seconds", str(args.seconds)]
        argv += ["--warmup", str(args.warmup)]
        got = serve(argv)
        if got["errors"]:
            raise RuntimeError(f"load errors: {got['errors']}")
        msgs, secs, cpu = got["messages"], got["seconds"], got["server_cpu"]
        return {
            "rate": msgs / secs,
            "cpu": None if cpu is None else cpu / msgs,
            "srv": None if cpu is None else cpu / secs,
            "load": got["load_cpu"] / secs,
        }

    return measure


def median(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(table: _harness.Table, rows: dict[str, list[Any] | str]) -> None:
    print(
        f"{'impl':<14}{'msgs/s':>9}{'shoal÷it':>10}{'CPU µs/msg':>12}"
        f"{'it÷shoal':>10}{'srv%':>6}{'load%':>7}{'spread':>8}"
    )
    rate: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, samples in rows.items():
        if isinstance(samples, str):
            continue
        r, c = median(samples, "rate"), median(samples, "cpu")
        if r is not None:
            rate[name] = r
        if c is not None:
            cpu[name] = c
    for name, samples in rows.items():
        if isinstance(samples, str):
            print(f"{name:<14}{'-':>9}  {samples}")
            continue
        r, c = rate.get(name), cpu.get(name)
        srv, load = median(samples, "srv"), median(samples, "load")
        rates = [s["rate"] for s in samples]
        spread = (max(rates) - min(rates)) / r if r else 0.0
        print(
            f"{name:<14}{r or 0:>9,.0f}{_ratio(rate.get('shoal'), r):>10}"
            f"{'-' if c is None else f'{c * 1e6:.2f}':>12}"
            f"{_ratio(c, cpu.get('shoal')):>10}"
            f"{'-' if srv is None else f'{srv:.0%}':>6}"
            f"{load:>7.0%}{spread:>8.0%}"
        )
    print("(shoal÷it, it÷shoal: above 1x, shoal is better)")
    for ref, factor in (("gevent", 1.5), ("uvloop", 1.0)):
        goal = f"shoal msgs/s >= {factor:g}x {ref}"
        s, o = rate.get("shoal"), rate.get(ref)
        if s is None or o is None:
            print(f"target: {goal}: n/a")
            continue
        verdict = "PASS" if s >= factor * o else "FAIL"
        line = f"target: {goal}: {verdict} ({s / o:.2f}x)"
        sc, oc = cpu.get("shoal"), cpu.get(ref)
        if sc and oc:
            by_cpu = "PASS" if oc >= factor * sc else "FAIL"
            line += f"; by CPU per message: {by_cpu} ({oc / sc:.2f}x)"
        print(line)


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    if args.seconds is None:
        args.seconds = 0.3 if args.quick else 1.0
    if args.warmup is None:
        args.warmup = 0.1 if args.quick else 0.2
    impls = {name: row(serve, args) for name, serve in servers().items()}
    return [
        _harness.Table(
            f"echo, 64-byte messages in lock-step, {conns:,} connections",
            impls,
            floor=None,
            count=conns,
            fresh=1 if args.quick else 5,
            timeout=LOAD_LIMIT + 20,
            report=report,
        )
        for conns in (100, 1000)
    ]


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, help="measured window (1.0)")
    parser.add_argument("--warmup", type=float, help="warm-up before it (0.2)")


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
