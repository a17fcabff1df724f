"""How each library runs one measurement: shoal, asyncio, uvloop and trio.

Imports happen inside the calls, so the parent process that only tabulates
never imports a peer, and a missing one becomes a skipped row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

from benchmarks._harness import ROOT, Measure, UnavailableError

AsyncMain = Callable[[int], Coroutine[Any, Any, float]]


def import_shoal() -> ModuleType:
    """Import shoal; an installed one wins over the checkout's ``src/``."""
    if str(ROOT / "src") not in sys.path:
        sys.path.append(str(ROOT / "src"))
    try:
        import shoal
    except ImportError as exc:
        raise UnavailableError(f"shoal not importable ({exc})") from exc
    if getattr(shoal, "__file__", None) is None:  # src/shoal lacks __init__.py
        raise UnavailableError("shoal not importable (no shoal/__init__.py yet)")
    return sys.modules["shoal"]


def event_loops(main: AsyncMain) -> dict[str, Measure]:
    """The asyncio and uvloop rows: ``main(n)`` on a new loop, no policy change."""

    def on_asyncio(n: int) -> float:
        import asyncio

        return asyncio.run(main(n))

    def on_uvloop(n: int) -> float:
        import uvloop

        return uvloop.run(main(n))

    return {"asyncio": on_asyncio, "uvloop": on_uvloop}


def on_trio(main: AsyncMain) -> Measure:
    """The trio row: ``main(n)`` under ``trio.run``."""

    def measure(n: int) -> float:
        import trio

        return trio.run(main, n)

    return measure
