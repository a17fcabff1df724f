"""Run every benchmark program in turn and print their tables.

    python benchmarks/run_all.py [--quick] [--repeat N] [--timeout S] [--only IMPL]

Benchmarks are not tests: the exit code is 0 whatever the numbers say.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

try:
    from benchmarks import _harness
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness

MODULES = (
    "bench_channel",
    "bench_schedule",
    "bench_spawn",
    "bench_select",
    "bench_memory",
    "bench_oneof",
    "bench_timeout",
    "bench_sleep_io",
    "bench_echo",
    "bench_10k",
    "bench_proxy",
)
PACKAGES = ("shoal", "greenlet", "gevent", "uvloop", "trio")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        checkout = _harness.ROOT / "src" / package / "__init__.py"
        return "from src/ (not installed)" if checkout.exists() else "not installed"


def header() -> None:
    print(f"python {platform.python_version()} ({sys.executable})")
    print(", ".join(f"{name} {version(name)}" for name in PACKAGES))
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(f"{platform.platform()}, {cpus} CPUs ({usable} usable)")
    print(f"benchmarks in {_harness.ROOT / 'benchmarks'}, one subprocess per row")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.py")
    _harness.add_common_args(parser)
    argv = sys.argv[1:] if argv is None else argv
    parser.parse_args(argv)  # reject a bad option once, not in every program
    header()
    start = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(f"benchmarks.{name}").main(argv)
        except Exception:  # one broken program must not hide the others
            print(f"\n== {name} failed ==", flush=True)
            traceback.print_exc()
    print(f"\nall benchmarks: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
