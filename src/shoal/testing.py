"""Helpers for testing code that uses shoal.

``leftover_tasklets()`` and ``check_no_leftovers()`` find tasklets a test left
runnable or blocked; shoal's own suite runs the check after every test.
"""

from __future__ import annotations

from ._scheduler import Task, get_scheduler

__all__ = ["check_no_leftovers", "leftover_tasklets"]


def leftover_tasklets() -> list[Task]:
    """Every unfinished tasklet of this thread, oldest first. Does not switch."""
    s = get_scheduler()
    return list(s.alive)


def check_no_leftovers() -> None:
    """Raise ``AssertionError`` if a tasklet of this thread is still alive or
    the main tasklet is not the current one; kill the leftovers first, so that
    one failing test does not spoil the next. Switches while killing.
    """
    s = get_scheduler()
    problems = []
    if s.current is not s.main:
        problems.append(f"current tasklet is {s.current!r}, not main")
    left = leftover_tasklets()
    problems += [repr(t) for t in left]
    for t in left:
        t.kill()  # type: ignore[attr-defined]
    if problems:
        raise AssertionError("tasklets left behind:\n  " + "\n  ".join(problems))
