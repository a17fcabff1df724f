"""The floor: the least a direct hand-off scheduler on raw greenlet can cost.

A deque run queue, a round-robin ``schedule()`` and a rendezvous ``Channel``
whose send switches straight to a waiting receiver. No hub, timers or error
handling: it is what the machine can do at all, for shoal to be measured by.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet

_ready: deque[greenlet] = deque()  # runnable tasks, in turn order
_hub: list[greenlet] = []  # the greenlet inside run(); finished tasks return to it


def spawn(fn: Callable[..., Any], *args: Any) -> greenlet:
    """Make ``fn(*args)`` runnable inside ``run()``. Does not switch."""
    task = greenlet(lambda: fn(*args), parent=_hub[-1])
    _ready.append(task)
    return task


def schedule() -> None:
    """Let every other runnable task run once, then return. Switches."""
    _ready.append(getcurrent())
    _ready.popleft().switch()


def _block() -> Any:
    # Park the current task: run the next one, or fall back to run()'s loop.
    return (_ready.popleft() if _ready else _hub[-1]).switch()


class Channel:
    """Rendezvous channel; a send to a waiting receiver switches straight to it."""

    __slots__ = ("_receivers", "_senders")

    def __init__(self) -> None:
        self._receivers: deque[greenlet] = deque()
        self._senders: deque[tuple[greenlet, Any]] = deque()

    def send(self, value: Any) -> None:
        """Hand ``value`` to a receiver, blocking until there is one. Switches."""
        if self._receivers:
            _ready.append(getcurrent())
            self._receivers.popleft().switch(value)
        else:
            self._senders.append((getcurrent(), value))
            _block()

    def receive(self) -> Any:
        """Take a value from a sender, blocking until there is one. May switch."""
        if self._senders:
            sender, value = self._senders.popleft()
            _ready.append(sender)
            return value
        self._receivers.append(getcurrent())
        return _block()


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` and the tasks it spawns until none is runnable."""
    result: list[Any] = []
    _hub.append(getcurrent())
    try:
        spawn(lambda: result.append(fn(*args)))
        while _ready:
            _ready.popleft().switch()
    finally:
        _hub.pop()
    if not result:
        raise RuntimeError("deadlock: the main task blocked with nothing runnable")
    return result[0]
