"""Shared machinery of the benchmark programs: measure, collect, tabulate.

The parent process runs each implementation in a fresh subprocess
(``python -m benchmarks.<module> --json --table T --impl NAME``), so gevent's
hub, event loops and GC state never leak from one measurement into the next.
The child prints one JSON line: its samples, or why it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# n operations -> seconds per operation (or, for memory, bytes per task).
Measure = Callable[[int], float]


class UnavailableError(Exception):
    """A measurement that cannot run here; the message is shown in its row."""


@dataclass(frozen=True)
class Target:
    """A goal for one row: ``value(impl) <= ratio * value(ref) + extra``;
    with no ``ref``, an absolute bound: ``value(impl) <= extra``."""

    label: str
    impl: str
    ref: str | None
    ratio: float = 1.0
    extra: float = 0.0


def within(factor: float, ref: str = "floor") -> Target:
    return Target(f"shoal <= {factor:g}x {ref}", "shoal", ref, ratio=factor)


def faster(factor: float, ref: str) -> Target:
    label = f"shoal >= {factor:g}x faster than {ref}"
    return Target(label, "shoal", ref, ratio=1 / factor)


def at_most(seconds: float, impl: str = "shoal") -> Target:
    """An absolute goal: ``impl`` takes at most ``seconds`` per operation."""
    return Target(f"{impl} <= {seconds * 1e6:g} µs", impl, None, extra=seconds)


@dataclass(frozen=True)
class Table:
    """One table: rows are implementations, measured alike."""

    title: str
    impls: dict[str, Measure]
    floor: str | None = "floor"  # the row of the first ratio column
    targets: Sequence[Target] = ()
    # "us"/"ns": seconds shown as µs/ns; "KB": bytes shown as KB
    unit: str = "us"
    compare: str = "shoal"  # the row of the second ratio column
    count: int | None = None  # fixed n; None calibrates n to a sample time
    fresh: int = 0  # N > 0: at most N samples, each in its own process
    timeout: float = 120.0
    # Prints the table instead of _report: for rows whose samples are not one
    # float each (a dict of figures per sample, say).
    report: Callable[[Table, dict[str, list[Any] | str]], None] | None = None


def _calibrate(measure: Measure, min_time: float) -> int:
    """Grow n until one sample takes about min_time (the runs also warm up)."""
    n = 100
    while True:
        elapsed = measure(n) * n
        if elapsed >= min_time / 10 or n >= 10**8:
            return max(n, int(n * min_time / max(elapsed, 1e-9)))
        n *= 10


def _child(table: Table, name: str, args: argparse.Namespace) -> dict[str, Any]:
    measure = table.impls[name]
    n = args.count or table.count
    try:
        if table.fresh:
            assert n is not None, "a fresh-process table needs a count"
            return {"samples": [measure(n)]}
        if n is None:
            n = _calibrate(measure, 0.05 if args.quick else 0.25)
        else:
            measure(max(1, n // 10))  # warm up
        return {"samples": [measure(n) for _ in range(args.repeat)], "n": n}
    except UnavailableError as exc:
        return {"skip": str(exc)}
    except ImportError as exc:
        return {"skip": f"{exc.name or exc} not installed"}


def _spawn(module: str, argv: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *argv]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    # The exception lines of a chained traceback: the cause first.
    chain = [
        line
        for line in proc.stderr.splitlines()
        if line[:1].strip() and not line.startswith(("Traceback", "During", "The"))
    ]
    return {"error": f"exit {proc.returncode}: {' / '.join(chain) or 'no output'}"}


def _target_line(target: Target, medians: dict[str, float]) -> str:
    v = medians.get(target.impl)
    if target.ref is None:  # an absolute bound
        if v is None:
            return f"target: {target.label}: n/a ({target.impl} not measured)"
        verdict = "PASS" if v <= target.extra else "FAIL"
        return f"target: {target.label}: {verdict} ({v * 1e6:.3f} µs)"
    r = medians.get(target.ref)
    if v is None or r is None:
        missing = target.impl if v is None else target.ref
        return f"target: {target.label}: n/a ({missing} not measured)"
    verdict = "PASS" if v <= target.ratio * r + target.extra else "FAIL"
    if target.extra:
        shown = f"{(v - r) / 1024:+.2f} KB"
    else:
        shown = f"{r / v:.2f}x faster" if target.ratio < 1 else f"{v / r:.2f}x"
    return f"target: {target.label}: {verdict} ({shown})"


def _collect(
    module: str, index: int, table: Table, args: argparse.Namespace, argv: list[str]
) -> dict[str, list[float] | str]:
    """Samples (or the reason there are none) per row, in interleaved rounds.

    Each round runs every row once, so a burst of load from a neighbour on the
    shared machine hits all rows alike instead of one row's samples.
    """
    rows: dict[str, list[float] | str] = {
        name: [] for name in table.impls if not args.only or name in args.only
    }
    count: dict[str, int] = {}  # n calibrated in round one, reused after
    rounds = min(args.repeat, table.fresh or 3)
    for i in range(rounds):
        repeat = 1 if table.fresh else len(range(i, args.repeat, rounds))
        for name, samples in rows.items():
            if isinstance(samples, str):
                continue
            child = [*argv, "--repeat", str(repeat), "--json", "--table", str(index)]
            child += ["--impl", name]
            if name in count:
                child += ["--count", str(count[name])]
            result = _spawn(module, child, args.timeout or table.timeout)
            if "samples" not in result:
                rows[name] = result.get("skip") or result["error"]
                continue
            samples += result["samples"]
            if "n" in result:
                count[name] = result["n"]
    return rows


_UNITS = {
    "us": ("µs/op", 1e6, 3),
    "ns": ("ns/op", 1e9, 1),
    "KB": ("KB/task", 1 / 1024, 3),
}


def _report(table: Table, rows: dict[str, list[float] | str]) -> None:
    unit, scale, digits = _UNITS[table.unit]
    refs = (table.floor, table.compare)
    first_label = f"vs {refs[0] or 'floor'}"
    second_label = f"vs {refs[1]}"
    print(f"{'impl':<14}{unit:>10}{first_label:>12}{second_label:>12}{'spread':>8}")
    medians = {
        name: statistics.median(samples)
        for name, samples in rows.items()
        if not isinstance(samples, str)
    }
    for name, samples in rows.items():
        if isinstance(samples, str):
            print(f"{name:<14}{'-':>10}  {samples}")
            continue
        med = medians[name]
        first, second = (
            f"{med / medians[ref]:.2f}x" if ref in medians else "-" for ref in refs
        )
        spread = f"{(max(samples) - min(samples)) / med:.0%}" if med else "-"
        print(
            f"{name:<14}{med * scale:>10.{digits}f}{first:>12}{second:>12}{spread:>8}"
        )
    for target in table.targets:
        print(_target_line(target, medians))


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The options every program takes, run_all.py included."""
    parser.add_argument("--repeat", type=int, help="samples per row (7; quick: 3)")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--only", action="append", help="run only this row")
    parser.add_argument("--timeout", type=float, help="seconds per subprocess")


def main(
    file: str,
    tables: Callable[[argparse.Namespace], list[Table]],
    argv: list[str] | None = None,
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parent: run every table's rows in subprocesses. Child: measure one row."""
    parser = argparse.ArgumentParser(prog=Path(file).name)
    add_common_args(parser)
    parser.add_argument("--count", type=int, help="fixed n instead of calibrating")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    if add_args is not None:
        add_args(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    module = Path(file).stem
    if args.json:
        print(json.dumps(_child(tables(args)[args.table], args.impl, args)))
        sys.stdout.flush()
        os._exit(0)  # skip teardown: parked tasks need no orderly goodbye
    for index, table in enumerate(tables(args)):
        repeat = min(args.repeat, table.fresh or args.repeat)
        print(f"\n== {table.title} (median of {repeat}) ==", flush=True)
        report = table.report or _report
        report(table, _collect(module, index, table, args, argv))
    return 0
