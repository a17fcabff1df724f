"""Watching switches: the schedule callback (Stackless's
``set_schedule_callback``) and the switch counts of a monitor.

The kernel's switch points test one value before they call :func:`switched`,
so that watching costs nothing when nobody watches: ``gate``, which is the
user's callback, or ``switched`` itself when only a monitor watches, or
None. Each kernel module keeps the gate in a global of its own (a module
global is cheaper to read than another module's attribute) and registers a
function in ``gate_listeners`` that copies it there whenever it changes.
Nothing here switches.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = [
    "count_switches",
    "gate",
    "gate_listeners",
    "get_schedule_callback",
    "set_schedule_callback",
    "switched",
    "unraisable",
]

ScheduleCallback = Callable[[Any, Any], object]
#: Non-None while anything watches switches (see the module docstring).
gate: ScheduleCallback | None = None
_user_callback: ScheduleCallback | None = None
#: Schedulers counting their switches for a monitor (``shoal.monitor``),
#: each with the number of its monitors open.
_counted: dict[Any, int] = {}
#: Called, in order, whenever ``gate`` changes.
gate_listeners: list[Callable[[], object]] = []


def _regate() -> None:
    global gate
    if _user_callback is not None:
        gate = _user_callback
    elif _counted:
        gate = switched
    else:
        gate = None
    for listener in gate_listeners:
        listener()


def set_schedule_callback(callback: ScheduleCallback | None) -> ScheduleCallback | None:
    """Call ``callback(prev, next)`` at every switch; return the old callback."""
    global _user_callback
    if callback is not None and not callable(callback):
        raise TypeError(f"schedule callback must be callable or None, got {callback!r}")
    old, _user_callback = _user_callback, callback
    _regate()
    return old


def get_schedule_callback() -> ScheduleCallback | None:
    """The current schedule callback, or None."""
    return _user_callback


def count_switches(sched: Any, on: bool) -> None:
    """Start (or stop) counting ``sched.switches``, for a monitor; each
    monitor of a thread starts and stops once, and counting goes on while
    any of them is open. Counting costs every switch of every thread a call
    while any scheduler counts."""
    if on:
        _counted[sched] = _counted.get(sched, 0) + 1
    elif _counted.get(sched, 0) > 1:
        _counted[sched] -= 1  # another monitor of that thread counts on
    else:
        _counted.pop(sched, None)
    _regate()


def switched(prev: Any, nxt: Any) -> None:
    """Count a switch for a monitor and tell the schedule callback. The
    callback's exceptions, whatever their class, are printed to stderr, not
    raised: a switch is half done when it runs (one raised there would leave
    the wrong tasklet current), and C Stackless reports them all as
    unraisable."""
    if _counted:
        nxt._sched.switches += 1
    callback = _user_callback
    if callback is not None:
        try:
            callback(prev, nxt)
        except BaseException as exc:  # any: see the docstring
            unraisable(exc, callback)


def unraisable(exc: BaseException, callback: object) -> None:
    """Print ``exc``, raised by ``callback`` where it cannot propagate."""
    print(f"Exception ignored in shoal callback {callback!r}:", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
