"""The exception hierarchy drawn in shoal/_errors.py."""

from __future__ import annotations

import greenlet
import pytest

import shoal


@pytest.mark.parametrize(
    ("exc", "bases"),
    [
        (shoal.Error, (Exception,)),
        (shoal.ClosedError, (shoal.Error,)),
        (shoal.ChannelClosed, (shoal.ClosedError,)),
        (shoal.ClosedFileError, (shoal.ClosedError, OSError)),
        (shoal.WouldBlock, (shoal.Error,)),
        (shoal.BlockingInHubError, (shoal.Error, RuntimeError)),
        (shoal.DeadlockError, (shoal.Error, RuntimeError)),
    ],
)
def test_hierarchy(exc: type[BaseException], bases: tuple[type, ...]) -> None:
    """Each failure is a shoal.Error and what the API promises besides."""
    for base in bases:
        assert issubclass(exc, base)


def test_taskletexit_is_a_baseexception_but_not_greenletexit() -> None:
    """TaskletExit escapes ``except Exception``; greenlet must not treat it as a
    normal return, or a kill would stop at the first nested greenlet."""
    assert issubclass(shoal.TaskletExit, BaseException)
    assert not issubclass(shoal.TaskletExit, Exception)
    assert not issubclass(shoal.TaskletExit, greenlet.GreenletExit)


def test_kill_passes_through_a_nested_greenlet() -> None:
    """A tasklet blocked inside a nested greenlet is killed as a whole."""
    ch = shoal.Channel()
    log: list[str] = []

    def inner() -> None:
        try:
            ch.receive()
        finally:
            log.append("inner finally")

    def outer() -> None:
        try:
            greenlet.greenlet(inner).switch()
            log.append("outer carried on")  # pragma: no cover - must not happen
        finally:
            log.append("outer finally")

    t = shoal.spawn(outer)
    shoal.schedule()
    t.kill()
    assert log == ["inner finally", "outer finally"]
    assert isinstance(t.exception, shoal.TaskletExit)
