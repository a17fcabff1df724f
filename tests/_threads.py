"""Help for tests that use shoal from a second OS thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

#: What a channel's RuntimeError says when a tasklet of another thread waits.
FOREIGN = "belongs to tasklets of another thread"


def in_another_thread(fn: Callable[[], object]) -> BaseException | None:
    """Run ``fn`` in a new OS thread; return what it raised, or None."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as e:
            raised.append(e)

    th = threading.Thread(target=body)
    th.start()
    th.join(timeout=10)
    assert not th.is_alive()
    return raised[0] if raised else None
