"""CPU instructions per operation, counted by callgrind, shoal and peers side by side.

    python benchmarks/instructions.py [--only TABLE ...] [--quick]

The other programs report medians of wall-clock time, which on a shared,
noisy machine wander by tens of percent. Instruction counts do not: each row
runs the same workload function as the time-based program, in a child process
(``--child TABLE ROW N``) under ``valgrind --tool=callgrind``, once for n1 and
once for n2 = 2 * n1, and reports ``(I(n2) - I(n1)) / (ops(n2) - ops(n1))``,
operations counted as the time-based program counts them, so interpreter
start-up, imports and set-up cancel out. At most two children run at once.

Tables (``--only`` takes a name or a prefix before ``-``: ``--only proxy``):
yield, channel, spawn, oneof-channel, oneof-sleep, proxy-<operation>.

Instructions complement time, they do not replace it: cache misses,
allocation and greenlet stack copies (``rep movsb``, one instruction however
many bytes it moves) weigh in time but barely in instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

try:
    from benchmarks import (
        _harness,
        bench_channel,
        bench_oneof,
        bench_proxy,
        bench_schedule,
        bench_spawn,
    )
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import (
        _harness,
        bench_channel,
        bench_oneof,
        bench_proxy,
        bench_schedule,
        bench_spawn,
    )

TIMEOUT = 900.0  # seconds per child under valgrind
COLLECTED = re.compile(r"^==\d+== Collected : ([\d,]+)\s*$", re.MULTILINE)
HEADER = """\
CPU instructions per operation, counted by valgrind --tool=callgrind. They are
deterministic, so they complement the time medians of the other programs, but
do not replace them: memory and cache effects, and greenlet stack copies done
with `rep movsb` (one instruction however many bytes), weigh less than in time.
Each row: (I(2n) - I(n)) / (ops(2n) - ops(n)), start-up and imports cancel."""


@dataclass(frozen=True)
class Workload:
    """One table: a time-based program's table, the rows counted here, n1,
    and how many operations ``n`` means (as the time-based program counts)."""

    key: str
    table: _harness.Table
    rows: tuple[str, ...]
    n1: int
    ops: Callable[[int], int]


def per_message(n: int) -> int:
    return 2 * n  # two tasks, n yields (or n round trips of two messages)


def per_task(n: int) -> int:
    return bench_spawn.rounds(n) * bench_spawn.BATCH


def per_race(n: int) -> int:
    return n


def per_proxy_op(n: int) -> int:
    # bench_proxy.row: BATCHES batches of ``loops`` loops of UNROLL statements
    chunk = bench_proxy.UNROLL * bench_proxy.BATCHES
    return max(1, n // chunk) * chunk


def workloads(quick: bool) -> list[Workload]:
    """Every table, in the order printed; building it imports no peer."""
    args = argparse.Namespace(quick=quick)
    cheap = 10_000 if quick else 20_000
    loops = ("asyncio", "uvloop")
    peers = ("floor", "shoal", "gevent", *loops)
    result = [
        Workload(key, module.tables(args)[0], rows, cheap, ops)
        for key, module, rows, ops in (
            ("yield", bench_schedule, (*peers, "trio"), per_message),
            ("channel", bench_channel, peers, per_message),
            ("spawn", bench_spawn, ("greenlet", "shoal", "uvloop"), per_task),
        )
    ]
    oneof = zip(("channel", "sleep"), bench_oneof.tables(args), strict=True)
    for blocker, table in oneof:
        races = ("shoal", *loops)
        result.append(Workload(f"oneof-{blocker}", table, races, cheap // 10, per_race))
    rows = ("plain", "minimal", "tproxy", "make_proxy")
    proxies = zip(bench_proxy.OPERATIONS, bench_proxy.tables(args), strict=True)
    for operation, table in proxies:
        result.append(Workload(f"proxy-{operation}", table, rows, cheap, per_proxy_op))
    return result


def child(key: str, row: str, n: int) -> NoReturn:
    """Run one row's workload for ``n``; print ``skip: why`` if it cannot run."""
    table = next(w.table for w in workloads(False) if w.key == key)
    try:
        table.impls[row](n)
    except _harness.UnavailableError as exc:
        print(f"skip: {exc}")
    except ImportError as exc:
        print(f"skip: {exc.name or exc} not installed")
    sys.stdout.flush()
    os._exit(0)  # skip teardown, as the time-based children do


def count(valgrind: str, key: str, row: str, n: int) -> int | str:
    """Instructions of one child run, or why there is no count."""
    cmd = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += [sys.executable, __file__, "--child", key, row, str(n)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run(
            cmd, cwd=_harness.ROOT, env=env, capture_output=True, text=True,
            timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"timed out after {TIMEOUT:g} s"
    if proc.stdout.startswith("skip: "):
        return proc.stdout.strip()[6:]
    match = COLLECTED.search(proc.stderr)
    if proc.returncode or match is None:
        lines = [line for line in proc.stderr.splitlines() if line[:2] != "=="]
        return f"exit {proc.returncode}: {lines[-1] if lines else 'no count'}"
    return int(match.group(1).replace(",", ""))


def ns(work: Workload) -> tuple[int, int]:
    return work.n1, 2 * work.n1


def per_op(work: Workload, counts: tuple[int | str, ...]) -> float | str:
    low, high = counts
    if isinstance(low, str) or isinstance(high, str):
        return low if isinstance(low, str) else str(high)
    return (high - low) / (work.ops(2 * work.n1) - work.ops(work.n1))


def target_line(target: _harness.Target, values: dict[str, float]) -> str:
    """A time target, read in instructions: the ratio, never a time verdict."""
    head = f"target {target.label} (a time target), in instructions:"
    v, r = values.get(target.impl), values.get(target.ref or "")
    if v is None or r is None:
        return f"{head} n/a"
    met = "met" if v <= target.ratio * r + target.extra else "not met"
    if target.ratio < 1:
        shown = f"{target.ref} runs {r / v:.2f}x the instructions of {target.impl}"
    else:
        shown = f"{target.impl} runs {v / r:.2f}x the instructions of {target.ref}"
    return f"{head} {shown} ({met} in instructions)"


def report(work: Workload, results: dict[str, float | str]) -> None:
    table = work.table
    refs = (table.floor or "uvloop", table.compare)
    print(f"\n== [{work.key}] {table.title}, in instructions ==")
    print(f"(runs of {work.ops(work.n1):,} and {work.ops(2 * work.n1):,} operations)")
    labels = "".join(f"{'vs ' + ref:>14}" for ref in refs)
    print(f"{'impl':<14}{'instr/op':>12}{labels}")
    values = {name: v for name, v in results.items() if not isinstance(v, str)}
    for name, value in results.items():
        if isinstance(value, str):
            print(f"{name:<14}{'-':>12}  {value}")
            continue
        ratios = (f"{value / values[r]:.2f}x" if r in values else "-" for r in refs)
        print(f"{name:<14}{value:>12,.0f}" + "".join(f"{s:>14}" for s in ratios))
    for target in table.targets:
        if target.ref is not None:  # an absolute bound is in seconds
            print(target_line(target, values))
    sys.stdout.flush()


def selected(key: str, only: list[str] | None) -> bool:
    return not only or any(key == o or key.startswith(o + "-") for o in only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="instructions.py")
    parser.add_argument(
        "--only", action="append", metavar="TABLE", help="run only this table"
    )
    parser.add_argument("--quick", action="store_true", help="half the counts")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        key, row, n = args.child
        child(key, row, int(n))
    chosen = [w for w in workloads(args.quick) if selected(w.key, args.only)]
    if not chosen:
        names = ", ".join(w.key for w in workloads(args.quick))
        parser.error(f"no table matches --only {args.only}; tables: {names}")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found: instruction counts need valgrind (callgrind);")
        print("install it (e.g. `apt install valgrind`), or use the time benchmarks.")
        return 0
    print(HEADER, flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:  # 2 cores on this host
        runs: dict[tuple[str, str, int], Future[int | str]] = {
            (w.key, row, n): pool.submit(count, valgrind, w.key, row, n)
            for w in chosen
            for row in w.rows
            for n in ns(w)
        }
        try:
            for w in chosen:
                results = {
                    row: per_op(w, tuple(runs[w.key, row, n].result() for n in ns(w)))
                    for row in w.rows
                }
                report(w, results)
        except KeyboardInterrupt:  # the children got the SIGINT too
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
