"""Waiting for a file descriptor to be ready: the hub's readers and writers.

``wait_readable``/``wait_writable`` park the current tasklet in the hub
(``loop.add_reader``/``add_writer``) until the descriptor is ready, with an
optional timeout. The loop keeps one reader and one writer per descriptor,
so callers that may share one (sockets) refuse a second waiter with
``BusyError`` before they get here.
"""

from __future__ import annotations

import functools

from ._hub import HubWait, get_hub, hub_wait
from ._scheduler import get_scheduler

__all__ = ["wait_readable", "wait_writable"]


def wait_readable(fd: int, timeout: float | None = None, what: str = "") -> None:
    """Wait until ``fd`` can be read without blocking; ``shoal.TimeoutError``
    after ``timeout``. Switches."""
    _wait(fd, timeout, what or f"fd {fd} to be readable", writing=False)


def wait_writable(fd: int, timeout: float | None = None, what: str = "") -> None:
    """Wait until ``fd`` can be written without blocking; ``shoal.TimeoutError``
    after ``timeout``. Switches."""
    _wait(fd, timeout, what or f"fd {fd} to be writable", writing=True)


def _wait(fd: int, timeout: float | None, what: str, *, writing: bool) -> None:
    s = get_scheduler()
    hub = get_hub(s)
    loop = hub.loop
    wait = HubWait(hub, what)
    add, remove = (
        (loop.add_writer, loop.remove_writer)
        if writing
        else (loop.add_reader, loop.remove_reader)
    )
    add(fd, hub.wake_if, s.current, wait, None)
    wait.cancels.append(functools.partial(remove, fd))
    hub_wait(s, wait, timeout)
