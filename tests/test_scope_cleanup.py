"""A timeout scope whose time runs out while an interruption delivered to
its tasklet after it was entered is still live (a kill, a throw of what is
no ``Exception``, an outer scope's expiry, a task group's failed child): the
scope bounds the cleanup that waits, and the interruption goes on as
itself. Otherwise, as before: the scope's expiry replaces what the block
raised, as in trio and asyncio, whatever that is and wherever it came
from (an error thrown in, caught, translated, stored, re-raised)."""

from __future__ import annotations

import gc
import math
import sys
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

import shoal
from shoal import stackless
from shoal._hub import get_hub
from shoal._timeouts import with_timeout

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

#: Longer than any test waits for: a cleanup that ran this long, or code
#: after the block that ran at all, means the interruption was lost.
LONG = 5.0
#: What the tests allow the machine (2 shared cores) beyond a deadline.
SLACK = 1.0


def _killed_soon(worker: Callable[[], object]) -> BaseException | None:
    """Run ``worker`` in a tasklet, kill it 10 ms in, and return what it
    ended with (in a run of its own). Switches."""

    def main() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        t.kill()
        return t.exception

    return shoal.run(main)


def _scope(kind: str, seconds: float) -> shoal.CancelScope:
    return shoal.timeout(seconds) if kind == "timeout" else shoal.move_on_after(seconds)


def _cleanup_in_scope(kind: str, log: list[str], seconds: float = 0.05) -> None:
    """A block whose ``finally`` waits longer than its scope allows; what
    comes out of the scope goes on out of this function."""
    with _scope(kind, seconds) as scope:
        try:
            shoal.sleep(LONG)
            log.append("block ran on")
        finally:
            log.append("cleanup")
            shoal.sleep(LONG)
            log.append("cleanup ran on")
    log.append(f"after the block, caught={scope.cancelled_caught}")


KINDS = ["timeout", "move_on_after"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_during_a_waiting_finally_ends_the_tasklet(kind: str) -> None:
    """The scope's deadline ends the cleanup; the kill, not the expiry, comes
    out of the scope: no TimeoutError, no silent exit, and ``kill`` returns
    once the scope has cut the cleanup short."""
    log: list[str] = []

    def worker() -> None:
        try:
            _cleanup_in_scope(kind, log)
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    def main() -> tuple[BaseException | None, float]:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        start = time.monotonic()
        t.kill()
        return t.exception, time.monotonic() - start

    exc, took = shoal.run(main)
    assert isinstance(exc, shoal.TaskletExit)
    assert log == ["cleanup"]
    assert took < SLACK


def test_a_kill_goes_on_through_nested_scopes_that_expire() -> None:
    """Both scopes expire during the cleanup (the inner one first): each
    bounds what it holds, and the kill comes out of both."""
    log: list[str] = []

    def worker() -> None:
        with shoal.move_on_after(0.1):
            try:
                _cleanup_in_scope("timeout", log)
            finally:
                log.append("outer cleanup")
                shoal.sleep(LONG)
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == ["cleanup", "outer cleanup"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_with_an_ordinary_exception_goes_on(kind: str) -> None:
    """``kill(exc)`` is a kill whatever ``exc`` is: the expiry does not
    replace it."""
    log: list[str] = []
    sent = KeyError("from outside")

    def worker() -> None:
        try:
            _cleanup_in_scope(kind, log)
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    def main() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        t.kill(sent)
        return t.exception

    assert shoal.run(main) is sent
    assert log == ["cleanup"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_throw_of_what_is_no_exception_goes_on(kind: str) -> None:
    """``throw(TaskletExit())`` interrupts as a kill does (it does not wait
    for the tasklet): the expiry does not replace it."""
    log: list[str] = []
    sent = shoal.TaskletExit("thrown")

    def worker() -> None:
        try:
            _cleanup_in_scope(kind, log)
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    def main() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        t.throw(sent)
        t.join(timeout=SLACK)
        return t.exception

    assert shoal.run(main) is sent
    assert log == ["cleanup"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_throw_of_an_error_is_replaced_by_the_expiry(kind: str) -> None:
    """``throw(KeyError())`` delivers an error, not an interruption: it is
    the block's error like any other, which the expiry replaces, as trio
    and asyncio replace a block's own error (round 26 let it go on, and
    this test said so: that marked the exception for good, see the tests
    of audit 27 below)."""
    log: list[str] = []

    def worker() -> None:
        try:
            _cleanup_in_scope(kind, log)
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    def main() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        t.throw(KeyError("from outside"))
        t.join(timeout=SLACK)
        return t.exception

    assert shoal.run(main) is None
    ended = (
        ["caught TimeoutError"]
        if kind == "timeout"
        else ["after the block, caught=True"]
    )
    assert log == ["cleanup", *ended, "tasklet ran on"]


@pytest.mark.parametrize("inner", KINDS)
@pytest.mark.parametrize("outer", KINDS)
def test_an_outer_expiry_goes_on_through_an_inner_scope_that_expires(
    outer: str, inner: str
) -> None:
    """The outer scope expires first, the inner one during the cleanup: the
    inner one ends the cleanup, the outer one's expiry leaves its block
    (auditor's repro 4: asyncio raises the outer TimeoutError at the inner
    deadline)."""
    log: list[str] = []

    def main() -> tuple[str, float, bool, bool]:
        start = time.monotonic()
        outcome = "ended normally"
        try:
            with _scope(outer, 0.02) as out:
                with _scope(inner, 0.06) as inn:
                    try:
                        shoal.sleep(LONG)
                    finally:
                        shoal.sleep(LONG)
                log.append("after the inner block")
                shoal.sleep(LONG)
        except shoal.TimeoutError:
            outcome = "TimeoutError"
        return (
            outcome,
            time.monotonic() - start,
            out.cancelled_caught,
            inn.cancelled_caught,
        )

    outcome, took, outer_caught, inner_caught = shoal.run(main)
    assert outcome == ("TimeoutError" if outer == "timeout" else "ended normally")
    assert log == []
    assert (outer_caught, inner_caught) == (True, False)
    assert 0.05 <= took < SLACK


def test_a_failed_child_ends_the_block_through_a_scope_that_expires() -> None:
    """The child fails while the block's cleanup waits in a scope; the scope
    ends the cleanup and the group's interruption leaves the block at once
    (auditor's repro 5)."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.01)
        raise ValueError("child failed")

    def block() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(fail)
            group.spawn(shoal.sleep, LONG)
            with shoal.move_on_after(0.05):
                try:
                    shoal.sleep(LONG)
                finally:
                    shoal.sleep(LONG)
            log.append("block ran on")
            shoal.sleep(LONG)

    def main() -> float:
        start = time.monotonic()
        with pytest.raises(ExceptionGroup) as info:
            block()
        assert [str(e) for e in info.value.exceptions] == ["child failed"]
        return time.monotonic() - start

    took = shoal.run(main)
    assert log == []
    assert took < SLACK


def test_a_oneof_loser_whose_cleanup_waits_in_a_scope_dies() -> None:
    """oneof kills the loser, whose cleanup waits in a scope that expires:
    the loser ends there and oneof returns (auditor's repro t14)."""
    log: list[str] = []

    def loser() -> None:
        for i in range(5):
            with shoal.move_on_after(0.05):
                try:
                    shoal.sleep(LONG)
                finally:
                    shoal.sleep(LONG)
            log.append(f"round {i}")

    def winner() -> str:
        shoal.sleep(0.01)
        return "winner"

    def main() -> tuple[object, float]:
        start = time.monotonic()
        result = shoal.oneof(winner, loser)
        return result, time.monotonic() - start

    result, took = shoal.run(main)
    assert result == "winner"
    assert log == []
    assert took < SLACK


def test_a_child_failing_during_a_kills_cleanup_leaves_the_kill_going_on() -> None:
    """The group's own interruption (a child failed) cuts into a kill that
    is unwinding the block: the kill goes on as itself, as a kill of the
    block does; the group's error, which ``except*`` would take, does not
    replace it."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.03)
        raise ValueError("child failed")

    def worker() -> None:
        try:
            with shoal.TaskGroup() as group:
                group.spawn(fail)
                try:
                    shoal.sleep(LONG)
                finally:
                    shoal.sleep(0.1)
        except ExceptionGroup:
            log.append("caught the group's error")
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == []


def _slow_cleanup() -> None:
    try:
        shoal.sleep(LONG)
    finally:
        shoal.sleep(0.2)


def test_a_kill_while_a_group_waits_goes_on_through_an_expiry_in_its_exit() -> None:
    """The owner is killed while the group's exit waits for a child; the
    scope around the group expires while the exit kills the child, whose
    cleanup waits: the exit raises the kill, not the expiry (which the
    scope would have silenced)."""
    log: list[str] = []

    def worker() -> None:
        with shoal.move_on_after(0.05), shoal.TaskGroup() as group:
            group.spawn(_slow_cleanup)
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == []


@pytest.mark.parametrize("second", ["kill", "outer"])
def test_an_interruption_after_an_expiry_while_oneof_kills_goes_on(
    second: str,
) -> None:
    """oneof waits for a loser's cleanup; the scope around it expires, then
    the caller is killed (or an outer scope expires): oneof raises the
    expiry once the loser has ended, and the interruption that came after
    it still comes out of the scope."""
    log: list[str] = []

    def worker() -> None:
        with shoal.move_on_after(0.03):
            shoal.oneof(lambda: shoal.sleep(0.01), _slow_cleanup)
        log.append("tasklet ran on")

    def killed() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.06)
        t.kill()
        return t.exception

    def outer() -> BaseException | None:
        try:
            with shoal.timeout(0.06):
                worker()
        except shoal.TimeoutError as exc:
            return exc
        return None

    exc = shoal.run(killed if second == "kill" else outer)
    assert isinstance(
        exc, shoal.TaskletExit if second == "kill" else shoal.TimeoutError
    )
    assert log == []


def test_the_timeout_of_a_call_lets_a_kill_go_on() -> None:
    """``with_timeout``, the ``timeout=`` of every blocking call, is the
    same scope: a kill in flight through its call goes on."""
    log: list[str] = []

    def call() -> None:
        try:
            shoal.sleep(LONG)
        finally:
            log.append("cleanup")
            shoal.sleep(LONG)

    def worker() -> None:
        try:
            with_timeout(0.05, call, doing="the call")
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == ["cleanup"]


def test_a_kill_goes_on_through_an_expiry_thrown_by_greenlet() -> None:
    """The cleanup waits in ``sleep(math.inf)``, which the expiry ends with
    ``greenlet.throw`` (no bomb, no ``__context__``): the delivery counts
    all the same (round 26's known gap)."""
    log: list[str] = []

    def worker() -> None:
        with shoal.move_on_after(0.05):
            try:
                shoal.sleep(LONG)
            finally:
                shoal.sleep(math.inf)
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == []


# What stays as it was: a scope entered during the cleanup bounds it, and an
# error of the block itself is replaced by the expiry.


def _killed_during(cleanup: Callable[[list[str]], None]) -> tuple[object, list[str]]:
    """Kill a tasklet whose ``finally`` runs ``cleanup``: its exception, and
    what the cleanup logged."""
    log: list[str] = []

    def worker() -> None:
        try:
            shoal.sleep(LONG)
        finally:
            cleanup(log)
            log.append("rest of the cleanup")
        log.append("tasklet ran on")

    def main() -> BaseException | None:
        t = shoal.spawn(worker)
        shoal.sleep(0.01)
        t.kill()
        return t.exception

    return shoal.run(main), log


def test_a_scope_entered_in_a_kills_cleanup_bounds_that_cleanup() -> None:
    """The kill was in flight before the scope was entered: the scope ends
    its part of the cleanup silently, the rest of it runs, then the kill
    goes on."""

    def cleanup(log: list[str]) -> None:
        with shoal.move_on_after(0.02) as scope:
            shoal.sleep(LONG)
        log.append(f"moved on, caught={scope.cancelled_caught}")

    exc, log = _killed_during(cleanup)
    assert isinstance(exc, shoal.TaskletExit)
    assert log == ["moved on, caught=True", "rest of the cleanup"]


def test_a_timeout_entered_in_a_kills_cleanup_raises_there() -> None:
    """As above with ``timeout``, and with the ``timeout=`` of a call: the
    cleanup gets its TimeoutError."""

    def cleanup(log: list[str]) -> None:
        try:
            with shoal.timeout(0.02):
                shoal.sleep(LONG)
        except shoal.TimeoutError:
            log.append("scope timed out")
        try:
            shoal.Channel().receive(timeout=0.02)
        except shoal.TimeoutError:
            log.append("call timed out")

    exc, log = _killed_during(cleanup)
    assert isinstance(exc, shoal.TaskletExit)
    assert log == ["scope timed out", "call timed out", "rest of the cleanup"]


def test_an_outer_expiry_before_the_inner_scope_was_entered_waits_for_it() -> None:
    """The outer scope expired before the cleanup entered the inner one: the
    inner one ends its part silently, the rest of the cleanup runs, and the
    outer expiry comes out of the outer block."""
    log: list[str] = []

    def block() -> None:
        with shoal.timeout(0.01):
            try:
                shoal.sleep(LONG)
            finally:
                with shoal.move_on_after(0.02) as scope:
                    shoal.sleep(LONG)
                log.append(f"moved on, caught={scope.cancelled_caught}")

    def main() -> None:
        with pytest.raises(shoal.TimeoutError):
            block()
        log.append("after")

    shoal.run(main)
    assert log == ["moved on, caught=True", "after"]


def test_an_error_of_the_block_is_replaced_by_the_expiry_as_in_trio() -> None:
    """No interruption in flight, only an error the block raised itself: the
    expiry replaces it, as an exception raised in a ``finally`` does (trio's
    ``move_on_after`` swallows it, ``fail_after`` and asyncio's ``timeout``
    raise their timeout error instead)."""
    log: list[str] = []

    def raise_in(scope: shoal.CancelScope) -> None:
        with scope:
            try:
                raise ValueError("the block's own")
            finally:
                shoal.sleep(LONG)

    def main() -> None:
        with shoal.move_on_after(0.02) as scope:
            try:
                raise ValueError("the block's own")
            finally:
                shoal.sleep(LONG)
        log.append(f"moved on, caught={scope.cancelled_caught}")
        scope = shoal.timeout(0.02)
        with pytest.raises(shoal.TimeoutError) as info:
            raise_in(scope)
        log.append(f"timed out, caught={scope.cancelled_caught}")
        assert isinstance(info.value.__context__, BaseException)
        assert isinstance(info.value.__context__.__context__, ValueError)

    shoal.run(main)
    assert log == ["moved on, caught=True", "timed out, caught=True"]


# Audit 27: what counts is what was delivered to the tasklet after the scope
# was entered and is still live, not what the expiry's __context__ chain
# holds (an exception the block caught is on it too) nor a mark on an
# exception (which stays on it for good, and crosses tasklets).


def _scope_outcome(kind: str, block: Callable[[], None]) -> str:
    """Run ``block`` in a scope of 50 ms: how it came out of the scope."""
    scope = _scope(kind, 0.05)
    try:
        with scope:
            block()
    except shoal.TimeoutError:
        return f"TimeoutError, caught={scope.cancelled_caught}"
    except BaseException as exc:
        return f"{type(exc).__name__}, caught={scope.cancelled_caught}"
    return f"ended, caught={scope.cancelled_caught}"


#: What a scope whose expiry replaced the block's exception gives.
REPLACED = {
    "timeout": "TimeoutError, caught=True",
    "move_on_after": "ended, caught=True",
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_caught_keyboard_interrupt_does_not_come_back(kind: str) -> None:
    """The block raises KeyboardInterrupt, catches it and shuts down in its
    handler, which the scope ends: the scope's expiry, not the caught
    exception, comes out (trio: a silent exit; asyncio: TimeoutError)."""
    log: list[str] = []

    def block() -> None:
        try:
            shoal.sleep(0.01)
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            log.append("shutting down")
            shoal.sleep(LONG)

    assert shoal.run(_scope_outcome, kind, block) == REPLACED[kind]
    assert log == ["shutting down"]


def _thrown_at(
    worker: Callable[[], str], exc: BaseException, when: float = 0.01
) -> str:
    """Run ``worker`` in a tasklet, throw ``exc`` into it ``when`` seconds in,
    and return what ``worker`` returned. Switches."""

    def main() -> str:
        t = shoal.spawn(worker)
        shoal.sleep(when)
        t.throw(exc)
        t.join(timeout=SLACK)
        assert t.exception is None
        return str(t.value)

    return str(shoal.run(main))


@pytest.mark.parametrize("kind", KINDS)
def test_a_thrown_error_handled_in_the_block_gives_way_to_the_expiry(
    kind: str,
) -> None:
    """An error thrown in and handled; the handler overruns the scope: the
    expiry comes out, not the handled error."""

    def block() -> None:
        try:
            shoal.sleep(LONG)
        except ValueError:
            shoal.sleep(LONG)

    outcome = _thrown_at(lambda: _scope_outcome(kind, block), ValueError("thrown"))
    assert outcome == REPLACED[kind]


class AppError(Exception):
    pass


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_translated_from_a_thrown_one_gives_way_to_the_expiry(
    kind: str,
) -> None:
    """``except ValueError as e: raise AppError from e``, then a ``finally``
    that waits: the expiry replaces the AppError (on its chain), and the
    thrown ValueError does not come back instead."""
    seen: list[BaseException] = []

    def block() -> None:
        try:
            try:
                shoal.sleep(LONG)
            except ValueError as exc:
                raise AppError("translated") from exc
        finally:
            seen.append(sys.exc_info()[1])  # type: ignore[arg-type]
            shoal.sleep(LONG)

    outcome = _thrown_at(lambda: _scope_outcome(kind, block), ValueError("thrown"))
    assert outcome == REPLACED[kind]
    assert [type(e) for e in seen] == [AppError]


def test_a_thrown_error_stored_and_raised_again_is_an_error_of_the_block() -> None:
    """The error thrown in is kept, and raised again later in another scope
    whose cleanup overruns it: an error of that block, replaced."""

    def worker() -> str:
        saved: BaseException | None = None
        try:
            shoal.sleep(LONG)
        except ValueError as exc:
            saved = exc

        def block() -> None:
            try:
                assert saved is not None
                raise saved
            finally:
                shoal.sleep(LONG)

        return _scope_outcome("move_on_after", block)

    assert _thrown_at(worker, ValueError("thrown")) == "ended, caught=True"


def test_an_error_thrown_into_another_tasklet_is_an_error_where_get_raises_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A child dies of an error thrown into it; ``get()`` raises it in main,
    in a scope whose cleanup overruns it: an error of main's block,
    replaced (the throw was delivered to the child, not to main)."""

    def main() -> str:
        child = shoal.spawn(shoal.sleep, LONG)
        shoal.sleep(0)
        child.throw(ValueError("thrown into the child"))

        def block() -> None:
            try:
                child.get()
            finally:
                shoal.sleep(LONG)

        return _scope_outcome("move_on_after", block)

    assert shoal.run(main) == "ended, caught=True"
    assert "thrown into the child" in capsys.readouterr().err  # its failure


def _boom() -> None:
    shoal.sleep(0.05)  # after the 10 ms at which the tests interrupt
    raise KeyError("child failure")


def test_a_task_group_leaves_out_an_error_its_block_handled() -> None:
    """An error thrown into the owner is handled in the block; a child fails
    meanwhile: the group raises the child's failure alone."""

    def worker() -> str:
        try:
            with shoal.TaskGroup() as group:
                group.spawn(_boom)
                try:
                    shoal.sleep(LONG)
                except ValueError:
                    shoal.sleep(LONG)
        except ExceptionGroup as exc:
            return repr(exc.exceptions)
        return "no error"

    outcome = _thrown_at(worker, ValueError("thrown"))
    assert outcome == "(KeyError('child failure'),)"


#: The handler of a thrown ValueError, with ``except*`` (Python 3.11+).
_EXCEPT_STAR = """
def handled_with_except_star():
    try:
        shoal.sleep(LONG)
    except* ValueError:
        shoal.sleep(LONG)
"""


def _handled_with_except() -> None:
    try:
        shoal.sleep(LONG)
    except ValueError:
        shoal.sleep(LONG)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is 3.11+")
@pytest.mark.parametrize("kind", KINDS)
def test_except_star_and_except_give_the_same_outcome(kind: str) -> None:
    """A thrown error handled by ``except*`` or by ``except``, the handler
    overrunning the scope: the same outcome (round 26 gave two)."""
    space: dict[str, Any] = {"shoal": shoal, "LONG": LONG}
    exec(_EXCEPT_STAR, space)
    handlers: list[Callable[[], None]] = [
        _handled_with_except,
        space["handled_with_except_star"],
    ]
    outcomes = [
        _thrown_at(partial(_scope_outcome, kind, handler), ValueError("thrown"))
        for handler in handlers
    ]
    assert outcomes == [REPLACED[kind]] * 2


def test_a_childs_failure_during_the_owners_killed_cleanup_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The owner is killed, its ``finally`` waits, a child fails meanwhile
    (and is killed as it reports it): the kill goes on, and the failure,
    which nobody will get, is printed, not lost."""

    def owner() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_boom)
            try:
                shoal.sleep(LONG)
            finally:
                shoal.sleep(0.2)

    assert isinstance(_killed_soon(owner), shoal.TaskletExit)
    err = capsys.readouterr().err
    assert "failed with KeyError" in err
    assert "child failure" in err


def _slow_cleanup_child() -> None:
    try:
        shoal.sleep(LONG)
    finally:
        shoal.sleep(0.2)


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_of_a_groups_block_outlives_an_expiry_in_its_exit(
    kind: str,
) -> None:
    """The block raises; the scope around the group expires while its exit
    waits for a child's cleanup: the block's error comes out in the
    ExceptionGroup, as a child's would (asyncio and trio), not the
    expiry."""

    def block(scope: shoal.CancelScope) -> None:
        with scope, shoal.TaskGroup() as group:
            group.spawn(_slow_cleanup_child)
            shoal.sleep(0)
            raise ValueError("the block's own error")

    def main() -> tuple[list[str], bool]:
        scope = _scope(kind, 0.05)
        with pytest.raises(ExceptionGroup) as info:
            block(scope)
        return [repr(e) for e in info.value.exceptions], scope.cancelled_caught

    errors, caught = shoal.run(main)
    assert errors == ['ValueError("the block\'s own error")']
    assert caught is False


def _poll_sleep0() -> None:
    end = time.monotonic() + LONG
    while time.monotonic() < end:
        shoal.sleep(0)


def _poll_schedule() -> None:
    end = time.monotonic() + LONG
    while time.monotonic() < end:
        shoal.schedule()


def _poll_stackless_schedule() -> None:
    end = time.monotonic() + LONG
    while time.monotonic() < end:
        stackless.schedule()


@pytest.mark.parametrize(
    "poll", [_poll_sleep0, _poll_schedule, _poll_stackless_schedule]
)
def test_a_kill_goes_on_through_a_cleanup_that_polls(
    poll: Callable[[], None],
) -> None:
    """The cleanup only yields (``sleep(0)``, ``schedule()``): the expiry
    that ends it, thrown with or without a bomb, lets the kill go on."""
    log: list[str] = []

    def worker() -> None:
        with shoal.move_on_after(0.05):
            try:
                shoal.sleep(LONG)
            finally:
                poll()
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == []


def _stackless_worker(log: list[str]) -> None:
    with shoal.move_on_after(0.05) as scope:
        try:
            shoal.sleep(LONG)
        finally:
            shoal.sleep(0.3)
    log.append(f"moved on, caught={scope.cancelled_caught}")


@pytest.mark.parametrize("how", ["kill", "throw", "raise_exception"])
def test_a_stackless_kill_goes_on_through_an_expiry(how: str) -> None:
    """``tasklet.kill()``, and a ``TaskletExit`` thrown or raised in a
    Stackless tasklet, go on as a shoal kill does."""
    log: list[str] = []

    def main() -> BaseException | None:
        t = stackless.tasklet(_stackless_worker)(log)
        shoal.sleep(0.01)
        if how == "kill":
            t.kill()
        elif how == "throw":
            t.throw(shoal.TaskletExit)
        else:
            t.raise_exception(shoal.TaskletExit)
        t.join(timeout=SLACK)
        return t.exception

    assert isinstance(shoal.run(main), shoal.TaskletExit)
    assert log == []


@pytest.mark.parametrize("kind", ["shoal", "stackless"])
def test_an_error_thrown_into_a_stackless_tasklet_is_replaced_as_in_shoal(
    kind: str,
) -> None:
    """A ValueError thrown into a Stackless tasklet or a shoal one: an error
    either way, which the expiry replaces (round 26 told them apart)."""
    log: list[str] = []

    def main() -> None:
        if kind == "stackless":
            t: shoal.Tasklet = stackless.tasklet(_stackless_worker)(log)
        else:
            t = shoal.spawn(_stackless_worker, log)
        shoal.sleep(0.01)
        t.throw(ValueError("thrown"))
        t.join(timeout=SLACK)
        assert t.exception is None

    shoal.run(main)
    assert log == ["moved on, caught=True"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_swallowed_in_the_block_comes_back_when_the_scope_expires(
    kind: str,
) -> None:
    """The block catches the kill and carries on; when the scope's time
    runs out, the kill comes back instead of the expiry (asyncio's
    ``uncancel`` count: a cancellation delivered in the block is not
    consumed by catching it)."""
    log: list[str] = []

    def worker() -> None:
        try:
            with _scope(kind, 0.05):
                try:
                    shoal.sleep(LONG)
                except shoal.TaskletExit:
                    log.append("swallowed the kill")
                shoal.sleep(LONG)
                log.append("block ran on")
        except shoal.TimeoutError:
            log.append("caught TimeoutError")
        log.append("tasklet ran on")

    assert isinstance(_killed_soon(worker), shoal.TaskletExit)
    assert log == ["swallowed the kill"]


def test_a_keyboard_interrupt_from_a_tasklet_goes_on_through_mains_scope() -> None:
    """A tasklet's KeyboardInterrupt is thrown into main, whose ``finally``
    waits in a scope that expires: it goes on out of ``run``."""
    log: list[str] = []

    def interrupt() -> None:
        shoal.sleep(0.01)
        raise KeyboardInterrupt

    def main() -> None:
        shoal.spawn(interrupt)
        with shoal.move_on_after(0.05):
            try:
                shoal.sleep(LONG)
            finally:
                log.append("cleanup")
                shoal.sleep(LONG)
        log.append("main ran on")

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shoal.run(main)
    assert log == ["cleanup"]
    assert time.monotonic() - start < SLACK


def _cleanup_waits() -> None:
    try:
        shoal.sleep(LONG)
    finally:
        shoal.sleep(0.02)


@pytest.mark.parametrize("how", ["kill", "throw", "stackless", "oneof", "group"])
def test_an_interrupted_tasklet_is_freed_once_it_has_ended(how: str) -> None:
    """What was delivered to a tasklet (kill, throw, a Stackless kill, a
    oneof loser's kill, a group's failed child) keeps nothing alive once
    it has ended, its cleanup having outlived the call that interrupted
    it."""
    refs: list[weakref.ref[shoal.Tasklet]] = []

    def main() -> None:
        if how == "oneof":

            def lose() -> None:
                refs.append(weakref.ref(shoal.current()))
                _cleanup_waits()

            shoal.oneof(lambda: shoal.sleep(0.01), lose)
            return
        if how == "group":

            def owner() -> str:
                refs.append(weakref.ref(shoal.current()))
                try:
                    with shoal.TaskGroup() as group:
                        group.spawn(_boom)
                        _cleanup_waits()
                except ExceptionGroup:
                    return "the group failed"
                return "the group did not fail"

            assert shoal.spawn(owner).get() == "the group failed"
            return
        t = (
            stackless.tasklet(_cleanup_waits)()
            if how == "stackless"
            else shoal.spawn(_cleanup_waits)
        )
        refs.append(weakref.ref(t))
        shoal.sleep(0.01)
        if how == "kill":
            shoal.spawn(t.kill)  # a killer that waits, but not main
        elif how == "throw":
            t.throw(shoal.TaskletExit)
        else:
            t.kill()
        del t
        shoal.sleep(0.1)  # its cleanup ends meanwhile

    shoal.run(main)
    gc.collect()
    assert [r() for r in refs] == [None]


def test_a_kill_deferred_past_a_completed_join_goes_on_through_a_new_scope() -> None:
    """The tasklet's join has just ended when the kill comes: it returns
    from the join first, enters a scope, and raises the kill at its next
    channel action there (``Tasklet.throw``'s deferral). The kill was
    delivered after the scope was entered, as far as the scope is
    concerned: it goes on through the scope's expiry."""
    log: list[str] = []

    def worker(other: shoal.Tasklet, ch: shoal.Channel) -> None:
        other.join()
        with shoal.move_on_after(0.05) as scope:
            try:
                ch.receive()
            finally:
                log.append("cleanup")
                shoal.sleep(LONG)
        log.append(f"moved on, caught={scope.cancelled_caught}")

    def main() -> BaseException | None:
        other = shoal.spawn(shoal.schedule)
        t = shoal.spawn(worker, other, shoal.Channel())
        shoal.schedule()  # other yields, t joins it
        shoal.schedule()  # other ends: t's join is done, t not yet run
        assert t._blocked_on is None  # a join that has happened
        assert t._temp is None
        t.kill()
        return t.exception

    assert isinstance(shoal.run(main), shoal.TaskletExit)
    assert log == ["cleanup"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("kind", ["timeout", "move_on_after"])
@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_an_interruption_out_of_the_loop_goes_on_through_mains_scope(
    loop: str, kind: str, exc: type[BaseException]
) -> None:
    """A KeyboardInterrupt or SystemExit raised by a loop callback (as a
    signal handler does) reaches main as it waits; a scope that expires
    while main's cleanup waits lets it go on (it was swallowed or turned
    into TimeoutError)."""
    log: list[str] = []

    def main() -> None:
        def interrupt() -> None:
            raise exc()

        get_hub().loop.call_later(0.02, interrupt)
        with _scope(kind, 0.1):
            try:
                shoal.sleep(LONG)
            finally:
                log.append("cleanup")
                shoal.sleep(LONG)
        log.append("main ran on")

    with pytest.raises(exc):
        shoal.run(main, loop=loop)
    assert log == ["cleanup"]
