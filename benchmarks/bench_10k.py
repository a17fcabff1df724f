"""10,000 open connections to one server, each echoing once a second.

The servers are bench_echo's (shoal ``serve_tcp``, gevent ``StreamServer``,
asyncio streams on uvloop and on the stdlib loop). The load generator
(``benchmarks/_echo_load.py rounds``, a process of its own) opens the
connections 64 at a time; each sends one 64-byte message as soon as it is
connected, and the connect phase ends when every one has come back (so the
server accepted and served them all). Then, for ``--rounds`` rounds of one
second, every connection sends 64 bytes at its own offset inside the second
and checks the reply. Each row shows:

- errors: failed connects, lost connections, wrong or missing replies (a
  reply still out a second after the last round is missing); the target is
  none at all, and every echo back;
- late: replies still out when the connection's next message went (over a
  second: the server fell behind, and did not echo once a second); the
  target is none (counted here, not among the errors);
- connect s: the connect phase, all connections open and served once;
- p50/p99/max: each round trip's latency over all rounds, in ms;
- KB/conn: the server's RSS growth from idle to the end, per connection;
- CPU µs/echo: the server's CPU time over the rounds, per echoed message.

One sample per row: a row takes several seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

try:
    from benchmarks import _echo_load, _harness, bench_echo
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _echo_load, _harness, bench_echo

ROWS = ("shoal", "gevent", "uvloop", "asyncio")


def row(serve: Any, args: argparse.Namespace) -> Any:
    def measure(n: int) -> dict[str, Any]:
        _echo_load.raise_fd_limit(n + 100)
        argv = ["rounds", "--conns", str(n), "--rounds", str(args.rounds)]
        got: dict[str, Any] = serve(argv)
        return got

    return measure


def _ms(value: float) -> str:
    return f"{value * 1e3:.2f}" if value == value else "-"  # NaN: no latencies


def report(table: _harness.Table, rows: dict[str, list[Any] | str]) -> None:
    print(
        f"{'impl':<10}{'errors':>7}{'late':>6}{'connect s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'KB/conn':>9}{'CPU µs/echo':>13}"
    )
    shoal: dict[str, Any] | None = None
    for name, samples in rows.items():
        if isinstance(samples, str):
            print(f"{name:<10}{'-':>7}  {samples}")
            continue
        got = samples[-1]
        if name == "shoal":
            shoal = got
        errors = sum(got["errors"].values())
        rss = "-"
        if got["rss_end"] is not None and got["rss_base"] is not None:
            rss = (
                f"{(got['rss_end'] - got['rss_base']) / got['connections'] / 1024:.1f}"
            )
        cpu = "-"
        if got["server_cpu"] is not None and got["messages"]:
            cpu = f"{got['server_cpu'] / got['messages'] * 1e6:.1f}"
        print(
            f"{name:<10}{errors:>7}{got['late']:>6}{got['connect']:>10.2f}"
            f"{_ms(got['p50']):>8}"
            f"{_ms(got['p99']):>8}{_ms(got['max']):>8}{rss:>9}{cpu:>13}"
        )
        if errors:
            print(f"{'':<10}errors: {got['errors']}")
    if shoal is None:
        print("target: shoal serves every connection once a second: n/a")
        return
    ok = (
        not shoal["errors"]
        and shoal["messages"] == shoal["expected"]
        and not shoal["late"]
    )
    verdict = "PASS" if ok else "FAIL"
    print(
        f"target: shoal serves {shoal['connections']:,} connections, each once "
        f"a second, without errors: {verdict} ({shoal['messages']:,} of {shoal['expected']:,} "
        f"echoes, {sum(shoal['errors'].values())} errors, {shoal['late']} late)"
    )


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    conns = args.count or 10_000
    servers = bench_echo.servers()
    impls = {name: row(servers[name], args) for name in ROWS}
    table = _harness.Table(
        f"{conns:,} connections, each echoing 64 bytes once a second, "
        f"{args.rounds} rounds",
        impls,
        floor=None,
        count=conns,
        fresh=1,
        timeout=bench_echo.LOAD_LIMIT + 20,
        report=report,
    )
    return [table]


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, help="rounds of one second (3)")


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
