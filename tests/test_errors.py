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


def _raised(b: object) -> BaseException:
    """What raising bomb ``b`` raises."""
    try:
        b.raise_()  # type: ignore[attr-defined]
    except BaseException as exc:
        return exc
    raise AssertionError(f"{b!r} did not raise")


def test_bomb_normalises_its_value_as_cpython_does() -> None:
    """bomb(type, value) raises what ``raise`` of (type, value) raises after
    CPython's normalisation, which C Stackless relies on: a tuple value is
    the arguments, None none, an instance of the type itself, anything else
    the one argument (a KeyError, unlike the old type((a, b)))."""
    from shoal.stackless import bomb

    err = KeyError("k")
    sub = LookupError("not a KeyError")
    assert _raised(bomb(KeyError, ("a", "b"))).args == ("a", "b")
    assert _raised(bomb(KeyError, ())).args == ()
    assert _raised(bomb(KeyError)).args == ()
    assert _raised(bomb(KeyError, "a")).args == ("a",)
    assert _raised(bomb(LookupError, err)) is err
    wrapped = _raised(bomb(KeyError, sub))
    assert type(wrapped) is KeyError
    assert wrapped.args == (sub,)
    assert _raised(bomb(None, err)) is err
    once = bomb(KeyError, ("a", "b"))
    once.type = ValueError  # writable: raise_ clears value on purpose
    assert type(_raised(once)) is ValueError


@pytest.mark.parametrize("kind", [None, 3, int, "KeyError"])
def test_bomb_without_an_exception_class_raises_type_error(kind: object) -> None:
    """A bomb whose type is not an exception class raises a TypeError that
    names it, not an AssertionError (or a call of whatever it holds)."""
    from shoal.stackless import bomb

    err = _raised(bomb(kind))
    assert type(err) is TypeError
    assert str(err) == (
        f"cannot raise {bomb(kind)!r}: its type must be an exception class, "
        f"got {kind!r}"
    )
