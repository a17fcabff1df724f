"""Helpers for testing code that uses shoal.

``leftover_tasklets()`` and ``check_no_leftovers()`` find tasklets a test left
runnable or blocked; shoal's own suite runs the check after every test.
"""

from __future__ import annotations

from ._scheduler import Task, get_scheduler

__all__ = ["check_no_leftovers", "leftover_tasklets"]

#: How many rounds of kills ``check_no_leftovers`` makes at most: each
#: round kills what the previous one's finally blocks spawned.
_ROUNDS = 100


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
    cur = s.current
    if cur is not s.main:
        problems.append(f"current tasklet is {cur!r}, not main")
    problems += [repr(t) for t in leftover_tasklets() if t is not cur]
    # Killing one may spawn more (its finally block): kill those too, a
    # bounded number of rounds; never the caller itself.
    for _ in range(_ROUNDS):
        doomed = [t for t in leftover_tasklets() if t is not cur]
        if not doomed:
            break
        for t in doomed:
            try:
                t.kill()  # type: ignore[attr-defined]
            except BaseException as e:  # a cleanup failed
                # (a Stackless tasklet hands it to main; a tasklet that
                # blocks again in its finally is a deadlock): say so, and
                # go on killing the others.
                problems.append(f"killing {t!r} raised {e!r}")
    if problems:
        raise AssertionError("tasklets left behind:\n  " + "\n  ".join(problems))
