#!/usr/bin/env python3
"""Set up and run shoal's development tasks with only Python 3 and PyPI.

    python3 dev.py demo [args...]    the million-tasklet ring demo (shoal.demo)
    python3 dev.py test [args...]    ruff format --check, ruff check, mypy, pytest
    python3 dev.py bench [args...]   benchmarks/run_all.py

Every command first makes sure .venv exists and holds shoal (editable, with the
`dev` extras). The install is skipped while pyproject.toml is unchanged, so any
command is fast and safe to run twice. Extra args go to the demo, pytest or the
benchmarks. Stdlib only, on purpose: this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "shoal-dev.stamp"  # sha256 of the pyproject.toml last installed
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

VENV_HINT = """\
error: could not create .venv: this Python has no working `venv`/`ensurepip`.
On Debian or Ubuntu install it with:  sudo apt install python3-venv
(or python3.X-venv matching `python3 --version`), then run this again."""


def run(*cmd: str | Path) -> int:
    """Run `cmd` in the repo root; return its exit code (a signal N as 128+N)."""
    code = subprocess.run([str(part) for part in cmd], check=False).returncode
    return 128 - code if code < 0 else code


def create_venv() -> int:
    """Create .venv with the running interpreter, replacing a broken one."""
    if importlib.util.find_spec("ensurepip") is None:
        print(VENV_HINT, file=sys.stderr)
        return 1
    print(f"==> creating .venv with {sys.executable}", flush=True)
    # --clear: a .venv whose python is gone (interrupted, or its base Python
    # was removed) is rebuilt rather than patched.
    code = run(sys.executable, "-m", "venv", "--clear", VENV)
    if code != 0 or not PYTHON.exists():
        print(VENV_HINT, file=sys.stderr)
        return code or 1
    return 0


def setup() -> int:
    """Make .venv current with pyproject.toml; return 0 or the failing code."""
    if not PYTHON.exists():
        code = create_venv()
        if code != 0:
            return code
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return 0
    print("==> installing shoal (editable, [dev] extras) into .venv", flush=True)
    STAMP.unlink(missing_ok=True)  # a failed install must not look current
    pip = (PYTHON, "-m", "pip", "--disable-pip-version-check")
    code = run(*pip, "install", "--quiet", "--editable", ".[dev]")
    if code == 0:
        STAMP.write_text(digest + "\n")
    return code


def demo(args: Sequence[str]) -> int:
    return run(PYTHON, "-m", "shoal.demo", *args)


def bench(args: Sequence[str]) -> int:
    return run(PYTHON, "benchmarks/run_all.py", *args)


def test(args: Sequence[str]) -> int:
    """Run each check in order; stop at the first failure with its code."""
    steps: list[tuple[str, list[str]]] = [
        ("ruff format --check .", ["ruff", "format", "--check", "."]),
        ("ruff check .", ["ruff", "check", "."]),
        ("mypy (strict, config in pyproject.toml)", ["mypy"]),
        ("pytest " + " ".join(args), ["pytest", *args]),
    ]
    for title, cmd in steps:
        print(f"==> {title.rstrip()}", flush=True)
        code = run(PYTHON, "-m", *cmd)
        if code == 5 and cmd[0] == "pytest":
            print("error: pytest collected no tests", file=sys.stderr)
        if code != 0:
            return code
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "demo": demo,
    "test": test,
    "bench": bench,
}


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help", "help") else 2
    os.chdir(ROOT)
    code = setup()
    if code != 0:
        return code
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
