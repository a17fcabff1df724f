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
    s = get_scheduler()
    hub = get_hub(s)
    wait = HubWait(hub, what or f"fd {fd} to be readable")
    hub.loop.add_reader(fd, hub.wake_if, s.current, wait, None)
    wait.cancels.append(functools.partial(hub.loop.remove_reader, fd))
    hub_wait(s, wait, timeout)


def wait_writable(fd: int, timeout: float | None = None, what: str = "") -> None:
    """Wait until ``fd`` can be written without blocking; ``shoal.TimeoutError``
    after ``timeout``. Switches."""
    s = get_scheduler()
    hub = get_hub(s)
    wait = HubWait(hub, what or f"fd {fd} to be writable")
    hub.loop.add_writer(fd, hub.wake_if, s.current, wait, None)
    wait.cancels.append(functools.partial(hub.loop.remove_writer, fd))
    hub_wait(s, wait, timeout)
