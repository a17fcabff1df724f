"""oneof, allof and TaskGroup: who wins, who is killed, what comes out."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest

import shoal

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup


def _after(seconds: float, value: object, log: list[str], name: str) -> object:
    try:
        shoal.sleep(seconds)
        log.append(f"{name} done")
        return value
    finally:
        log.append(f"{name} finally")


def test_oneof_returns_the_first_and_kills_the_rest_first() -> None:
    """The losers' finally blocks have run before oneof returns."""
    log: list[str] = []

    def main() -> object:
        result = shoal.oneof(
            lambda: _after(0.05, "slow", log, "slow"),
            lambda: _after(0.005, "fast", log, "fast"),
        )
        log.append("returned")
        return result

    assert shoal.run(main) == "fast"
    assert log == ["fast done", "fast finally", "slow finally", "returned"]


def test_oneof_first_to_finish_raising_is_raised_and_not_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first branch to end raised: the others die, its exception comes out."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.005)
        raise KeyError("first")

    def main() -> None:
        with pytest.raises(KeyError, match="first"):
            shoal.oneof(lambda: _after(0.05, "x", log, "slow"), fail)

    shoal.run(main)
    assert log == ["slow finally"]
    assert "KeyError" not in capsys.readouterr().err


def test_oneof_timeout_kills_every_branch() -> None:
    """No branch in time: shoal.TimeoutError, every branch cleaned up."""
    log: list[str] = []

    def main() -> None:
        with pytest.raises(shoal.TimeoutError):
            shoal.oneof(
                lambda: _after(5, 1, log, "a"),
                lambda: _after(5, 2, log, "b"),
                timeout=0.01,
            )

    shoal.run(main)
    assert sorted(log) == ["a finally", "b finally"]


def test_allof_returns_results_in_argument_order() -> None:
    """Results come in the order given, not the order finished."""
    log: list[str] = []

    def main() -> tuple[object, ...]:
        return shoal.allof(
            lambda: _after(0.02, "first arg", log, "a"),
            lambda: _after(0.005, "second arg", log, "b"),
        )

    assert shoal.run(main) == ("first arg", "second arg")


def test_allof_failure_kills_the_others_and_propagates() -> None:
    """One raises: the rest are killed and that exception comes out."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.005)
        raise ValueError("one failed")

    def main() -> None:
        with pytest.raises(ValueError, match="one failed"):
            shoal.allof(lambda: _after(5, 1, log, "slow"), fail)

    shoal.run(main)
    assert log == ["slow finally"]


def test_nesting_and_killing_the_caller_kills_the_branches() -> None:
    """A branch may run oneof/allof; killing the caller kills them all."""
    log: list[str] = []

    def inner() -> object:
        return shoal.allof(
            lambda: _after(5, 1, log, "deep1"), lambda: _after(5, 2, log, "deep2")
        )

    def caller() -> object:
        return shoal.oneof(inner, lambda: _after(5, 3, log, "sibling"))

    def main() -> None:
        t = shoal.spawn(caller)
        shoal.sleep(0.01)
        t.kill()

    shoal.run(main)
    assert sorted(log) == ["deep1 finally", "deep2 finally", "sibling finally"]


def test_oneof_and_allof_bad_arguments() -> None:
    """Not callables: TypeError naming them; oneof() of nothing: ValueError."""
    with pytest.raises(TypeError, match="got 3"):
        shoal.oneof(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got 'x'"):
        shoal.allof("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        shoal.oneof()
    assert shoal.allof() == ()


def test_taskgroup_waits_for_every_child() -> None:
    """The block exits only when all children have finished."""
    log: list[str] = []

    def main() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_after, 0.01, 1, log, "a")
            group.spawn(_after, 0.005, 2, log, "b")
        log.append("exited")

    shoal.run(main)
    assert log == ["b done", "b finally", "a done", "a finally", "exited"]


def _only_failure(timer: bool, grouped: Callable[[], object]) -> BaseException:
    """The one failure in the ExceptionGroup that ``grouped`` raises,
    called as :func:`_under_timer` calls it."""
    with pytest.raises(ExceptionGroup) as info:
        _under_timer(timer, grouped)
    (only,) = info.value.exceptions
    return only


def test_taskgroup_first_failure_kills_siblings_and_groups_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failing child kills the others; the failure comes as an ExceptionGroup."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.005)
        raise ValueError("child failed")

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_after, 5, 1, log, "slow")
            group.spawn(fail)

    def main() -> None:
        assert isinstance(_only_failure(False, grouped), ValueError)

    shoal.run(main)
    assert log == ["slow finally"]
    assert "ValueError" not in capsys.readouterr().err


def test_a_failing_child_kills_its_siblings_and_interrupts_the_body_at_once() -> None:
    """The body waits (the owner is not in ``__exit__`` yet): the first
    failure kills the siblings and ends the body then, not when the body
    would have finished."""
    log: list[str] = []

    def fail() -> None:
        shoal.sleep(0.005)
        log.append("child fails")
        raise ValueError("child failed")

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_after, 5, 1, log, "sibling")
            group.spawn(fail)
            try:
                shoal.sleep(5)
                log.append("body slept")
            finally:
                log.append("body finally")

    def main() -> None:
        assert isinstance(_only_failure(False, grouped), ValueError)

    shoal.run(main)
    assert log == ["child fails", "body finally", "sibling finally"]


@pytest.mark.parametrize("stackless", [False, True])
def test_a_child_failing_as_the_body_completes_does_not_interrupt_exit(
    stackless: bool,
) -> None:
    """The body's last wait completed (a value handed to it) when a child
    fails: the owner takes the value, leaves the body, and its exit
    collects the failure; nothing is thrown into the exit's own wait. Also
    once ``shoal.stackless`` is imported, which makes the main tasklet a
    Stackless ``tasklet``, whose ``throw`` has Stackless's semantics."""
    if stackless:
        from shoal import stackless as _  # noqa: F401
    log: list[object] = []

    def main() -> None:
        ch = shoal.Channel()
        ch.preference = 1  # the sender goes on after the hand-off

        def send_then_fail() -> None:
            ch.send("last")
            raise ValueError("child failed")

        def grouped() -> None:
            with shoal.TaskGroup() as group:
                group.spawn(send_then_fail)
                log.append(ch.receive())

        assert isinstance(_only_failure(False, grouped), ValueError)

    shoal.run(main)
    assert log == ["last"]


@pytest.mark.parametrize("scope", ["timeout", "move_on_after"])
def test_an_outer_timeout_ends_a_waiting_task_group_as_itself(scope: str) -> None:
    """A scope around a TaskGroup expires while the body waits: the
    children are killed, and the scope sees its own expiry (TimeoutError,
    or a silent exit), not an ExceptionGroup."""
    log: list[str] = []

    def main() -> None:
        make = getattr(shoal, scope)
        try:
            with make(0.01) as outer, shoal.TaskGroup() as group:
                group.spawn(_after, 5, 1, log, "child")
                shoal.sleep(5)
            log.append(f"left silently, caught={outer.cancelled_caught}")
        except shoal.TimeoutError:
            log.append("TimeoutError")

    shoal.run(main)
    expected = "TimeoutError" if scope == "timeout" else "left silently, caught=True"
    assert log == ["child finally", expected]


def test_a_body_error_comes_with_the_failures_of_children_killed() -> None:
    """The body raises; a child fails as it is killed (its ``finally``
    raises): both errors are in the group, the body's first."""

    def child() -> None:
        try:
            shoal.sleep(5)
        finally:
            raise KeyError("cleanup failed")

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(child)
            shoal.schedule()
            raise LookupError("body")

    def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            grouped()
        body, cleanup = info.value.exceptions
        assert isinstance(body, LookupError)
        assert isinstance(cleanup, KeyError)

    shoal.run(main)


def test_taskgroup_body_error_kills_children() -> None:
    """The block raising kills the children; its error is in the group."""
    log: list[str] = []

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_after, 5, 1, log, "child")
            shoal.schedule()
            raise LookupError("body")

    def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            grouped()
        assert isinstance(info.value.exceptions[0], LookupError)

    shoal.run(main)
    assert log == ["child finally"]


def test_killing_the_owner_kills_the_children() -> None:
    """A killed owner's TaskGroup kills its children; TaskletExit goes on."""
    log: list[str] = []

    def owner() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_after, 5, 1, log, "child")

    def main() -> object:
        t = shoal.spawn(owner)
        shoal.sleep(0.005)
        t.kill()
        return t.exception

    assert isinstance(shoal.run(main), shoal.TaskletExit)
    assert log == ["child finally"]


def test_children_may_spawn_children_but_not_after_close() -> None:
    """Children added while the group waits are waited for; after: error."""
    log: list[str] = []

    def main() -> None:
        with shoal.TaskGroup() as group:

            def parent() -> None:
                group.spawn(_after, 0.005, 1, log, "grandchild")

            group.spawn(parent)
        assert log == ["grandchild done", "grandchild finally"]
        with pytest.raises(RuntimeError, match="closed"):
            group.spawn(lambda: None)

    shoal.run(main)


def _slow_finally(log: list[str], name: str, seconds: float) -> None:
    try:
        shoal.sleep(5)
    finally:
        shoal.sleep(seconds)
        log.append(f"{name} finally")


def test_an_outer_timeout_during_the_cleanup_of_branches_waits_for_all_of_them() -> (
    None
):
    """The inner timeout ends a oneof; while a loser's finally still runs,
    the outer timeout expires too: the cleanup goes on, every branch's
    finally runs, and then the outer timeout comes out."""
    log: list[str] = []

    def main() -> None:
        with (
            pytest.raises(shoal.TimeoutError),
            shoal.timeout(0.05),
            shoal.timeout(0.01),
        ):
            shoal.oneof(
                lambda: _slow_finally(log, "a", 0.1),
                lambda: _slow_finally(log, "b", 0),
                lambda: _slow_finally(log, "c", 0),
            )

    shoal.run(main)
    assert log == ["a finally", "b finally", "c finally"]


@pytest.mark.parametrize("construct", ["allof", "TaskGroup"])
def test_killing_the_caller_again_during_the_cleanup_still_ends_every_branch(
    construct: str,
) -> None:
    """The caller is killed; while a branch's finally still runs, it is
    killed again: every branch still ends, its finally run, before the
    caller does."""
    log: list[str] = []
    fns = [
        lambda: _slow_finally(log, "a", 0.05),
        lambda: _slow_finally(log, "b", 0),
        lambda: _slow_finally(log, "c", 0),
    ]

    def caller() -> None:
        try:
            if construct == "allof":
                shoal.allof(*fns)
            else:
                with shoal.TaskGroup() as group:
                    for fn in fns:
                        group.spawn(fn)
        finally:
            log.append("caller finally")

    def main() -> None:
        c = shoal.spawn(caller)
        shoal.sleep(0.01)
        again = shoal.spawn(lambda: (shoal.sleep(0.02), c.kill()))
        c.kill()
        again.get(timeout=5)
        assert c.dead

    shoal.run(main)
    assert log == ["a finally", "b finally", "c finally", "caller finally"]


def test_a_losing_branch_that_fails_as_it_is_killed_is_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """oneof returns the winner's value; a loser whose finally raises is
    printed as a failed tasklet is (nobody else gets its exception)."""

    def loser() -> None:
        try:
            shoal.sleep(5)
        finally:
            raise ValueError("cleanup failed")

    def main() -> object:
        return shoal.oneof(lambda: (shoal.sleep(0.001), "win")[1], loser)

    assert shoal.run(main) == "win"
    err = capsys.readouterr().err
    assert "ValueError: cleanup failed" in err


def _fails_at_once() -> None:
    raise ValueError("undelivered")


def test_a_failure_oneof_or_allof_does_not_deliver_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing is lost: a loser that failed in the round the winner finished
    (oneof), or a second failure (allof), is printed as an unobserved
    tasklet's failure is; the delivered one is not printed again."""

    def main() -> None:
        assert shoal.oneof(lambda: "v", _fails_at_once) == "v"
        with pytest.raises(ValueError, match="first"):
            shoal.allof(lambda: _raise(ValueError("first")), _fails_at_once)

    shoal.run(main)
    err = capsys.readouterr().err
    assert err.count("ValueError: undelivered") == 2
    assert "ValueError: first" not in err


def _raise(exc: BaseException) -> None:
    raise exc


def _fails_soon() -> None:
    shoal.sleep(0.01)
    raise KeyError("lost")


def _slow_cleanup() -> None:
    try:
        shoal.sleep(10)
    finally:
        shoal.sleep(0.2)


@pytest.mark.parametrize("scope", ["move_on_after", "timeout"])
def test_a_failing_task_group_whose_exit_a_timeout_interrupts_raises_the_failures(
    scope: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The block is over, the group's exit waits for the children; a child
    has failed, and its sibling's cleanup is slow. A timeout around the
    group expires meanwhile: the group was failing already, so it raises
    its failures, and the scope sees them, not its expiry (as asyncio's
    TaskGroup and trio's nursery do; the expiry went on as itself, and the
    failure was only printed)."""

    scopes: list[shoal.CancelScope] = []

    def grouped() -> None:
        with getattr(shoal, scope)(0.05) as cancel_scope, shoal.TaskGroup() as group:
            scopes.append(cancel_scope)
            group.spawn(_slow_cleanup)
            group.spawn(_fails_soon)

    def main() -> None:
        assert isinstance(_only_failure(False, grouped), KeyError)
        assert not scopes[0].cancelled_caught

    shoal.run(main)
    assert "lost" not in capsys.readouterr().err


@pytest.mark.parametrize("where", ["block", "exit"])
def test_a_child_failing_as_an_expiry_kills_it_is_the_groups_failure(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A timeout around the group expires first (in the block, or while
    its exit waits); a child's ``finally`` raises as the expiry kills it:
    the group raises that failure, which the scope sees instead of its
    expiry, as trio's nursery and asyncio's TaskGroup do (the expiry went
    on, and the failure was only printed)."""

    def fails_when_killed() -> None:
        try:
            shoal.sleep(10)
        finally:
            raise KeyError("in finally")

    scopes: list[shoal.CancelScope] = []

    def grouped() -> None:
        with shoal.timeout(0.05) as scope, shoal.TaskGroup() as group:
            scopes.append(scope)
            group.spawn(fails_when_killed)
            if where == "block":
                shoal.sleep(10)

    def main() -> None:
        assert isinstance(_only_failure(False, grouped), KeyError)
        assert not scopes[0].cancelled_caught

    shoal.run(main)
    assert "in finally" not in capsys.readouterr().err


def test_a_task_group_killed_while_its_exit_waits_prints_the_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As above, but the owner is killed: a kill goes on as itself, and the
    child's failure, which nobody will get now, is printed, not lost."""

    def owner() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(_slow_cleanup)
            group.spawn(_fails_soon)

    def main() -> object:
        t = shoal.spawn(owner)
        shoal.sleep(0.05)  # the child has failed; the sibling cleans up
        t.kill()
        return t.exception

    assert isinstance(shoal.run(main), shoal.TaskletExit)
    assert "KeyError: 'lost'" in capsys.readouterr().err


def _under_timer(timer: bool, body: Callable[[], object]) -> object:
    """``body()``. A group waiting for an end report that never comes
    raises DeadlockError when nothing else could wake the thread; with
    ``timer``, a tasklet sleeping elsewhere, it would hang instead: then
    ``body()`` is bounded by a 2-second shoal timeout."""
    if not timer:
        return body()
    shoal.spawn(shoal.sleep, 30)  # killed when the run ends
    with shoal.timeout(2):
        return body()


@pytest.mark.parametrize("timer", [False, True])
def test_a_grandchild_spawned_in_the_round_a_sibling_fails_is_accounted_for(
    timer: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """One child fails at once while another spawns a grandchild in the
    same round: the first failure kills the grandchild before it ever ran.
    It has finished with nothing to report; the group ends, and raises the
    real failure, which is not also printed."""
    log: list[str] = []

    def fails() -> None:
        raise ValueError("first failure")

    def main() -> None:
        def grouped() -> None:
            with shoal.TaskGroup() as group:

                def spawner() -> None:
                    group.spawn(_after, 1, None, log, "grandchild")

                group.spawn(fails)
                group.spawn(spawner)

        assert isinstance(_only_failure(timer, grouped), ValueError)

    shoal.run(main)
    assert log == []  # never started: no finally to run
    assert "first failure" not in capsys.readouterr().err


@pytest.mark.parametrize("timer", [False, True])
def test_a_sibling_killed_by_the_first_failure_cannot_spawn_in_its_finally(
    timer: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The group is killing its children (a child failed): a killed
    sibling's ``finally`` that spawns into it gets a RuntimeError naming
    the group, and the group ends with the real failure."""
    log: list[str] = []

    def main() -> None:
        def grouped() -> None:
            with shoal.TaskGroup() as group:

                def spawner() -> None:
                    try:
                        shoal.sleep(1)
                    finally:
                        try:
                            group.spawn(_after, 0, None, log, "late")
                        except RuntimeError as exc:
                            log.append(f"refused: {exc}")

                def fails() -> None:
                    shoal.sleep(0.01)
                    raise ValueError("first failure")

                group.spawn(spawner)
                group.spawn(fails)

        assert isinstance(_only_failure(timer, grouped), ValueError)

    shoal.run(main)
    assert len(log) == 1, log
    assert log[0].startswith("refused: <TaskGroup ")
    assert "closed" in log[0]
    assert "first failure" not in capsys.readouterr().err


@pytest.mark.parametrize("timer", [False, True])
def test_a_child_killed_by_the_block_before_it_started_is_accounted_for(
    timer: bool,
) -> None:
    """The block kills a child it has just spawned: the child never runs,
    and the group's exit does not wait for it."""
    log: list[str] = []

    def main() -> None:
        def grouped() -> None:
            with shoal.TaskGroup() as group:
                group.spawn(_after, 0.005, None, log, "other")
                child = group.spawn(_after, 1, None, log, "killed")
                child.kill()
            log.append("exited")

        _under_timer(timer, grouped)

    shoal.run(main)
    assert log == ["other done", "other finally", "exited"]


@pytest.mark.parametrize("timer", [False, True])
def test_a_last_child_killed_by_an_outsider_before_it_started_ends_the_wait(
    timer: bool,
) -> None:
    """The group's exit waits; a tasklet outside the group kills the last
    child before it ever ran: the exit wakes and ends."""
    log: list[str] = []

    def main() -> None:
        victims: list[shoal.Tasklet] = []

        def grouped() -> None:
            with shoal.TaskGroup() as group:
                shoal.spawn(lambda: victims[0].kill())  # runs before the child
                victims.append(group.spawn(_after, 1, None, log, "victim"))
            log.append("exited")

        _under_timer(timer, grouped)
        assert isinstance(victims[0].exception, shoal.TaskletExit)

    shoal.run(main)
    assert log == ["exited"]


def test_a_failure_thrown_into_a_child_before_it_started_is_the_groups(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An exception thrown into a child that has not started ends it: a
    failure of the group's, which ends the block at once, as a child's
    failure does, kills the siblings, and is raised in the group and not
    also printed."""
    log: list[str] = []

    def main() -> None:
        def grouped() -> None:
            with shoal.TaskGroup() as group:
                group.spawn(_after, 0.01, None, log, "before")
                shoal.schedule()  # it starts
                child = group.spawn(_after, 5, None, log, "child")
                group.spawn(_after, 5, None, log, "after")
                child.throw(ValueError("thrown"))
                log.append("block went on")

        assert isinstance(_only_failure(False, grouped), ValueError)

    shoal.run(main)
    assert log == ["before finally"]
    assert "thrown" not in capsys.readouterr().err


def test_spawn_into_a_group_not_entered_is_refused() -> None:
    """A child of a group nobody waits in would fail unseen: refused."""
    group = shoal.TaskGroup()

    def main() -> None:
        with pytest.raises(RuntimeError, match=r"<TaskGroup .*not been entered"):
            group.spawn(lambda: None)

    shoal.run(main)


def test_a_child_failing_in_the_round_a_sibling_ends_is_not_lost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One child ends well and another fails in the same round, while the
    group's exit waits: the failure is raised in the group, not dropped
    (nor printed) because every child had ended by the time the exit
    looked."""

    def fails() -> None:
        raise ValueError("same round")

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(lambda: None)
            group.spawn(fails)

    def main() -> None:
        assert isinstance(_only_failure(False, grouped), ValueError)

    shoal.run(main)
    assert "same round" not in capsys.readouterr().err


@pytest.mark.parametrize("construct", ["oneof", "allof"])
def test_a_branch_that_ends_before_it_started_is_its_outcome(
    construct: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch that ends before it ever ran (here a failure thrown into
    it; only the Stackless ring reaches a branch then) has ended as one
    that ran would have: its failure is the call's, the other branch is
    killed, nothing is printed."""
    from shoal import stackless

    log: list[str] = []

    def main() -> None:
        def thrower() -> None:
            first = stackless.getcurrent().next  # the first branch, not started
            assert "not started" in repr(first)
            first.throw(ValueError("thrown"))

        stackless.tasklet(thrower)()
        run = getattr(shoal, construct)
        with shoal.timeout(0.5), pytest.raises(ValueError, match="thrown"):
            run(lambda: _after(5, 1, log, "first"), lambda: _after(5, 2, log, "second"))

    shoal.run(main)
    assert log == ["second finally"]
    assert "thrown" not in capsys.readouterr().err


def test_spawn_into_a_group_from_another_thread_is_refused() -> None:
    """Tasklets never move between threads: a child spawned from another
    thread would run (or not) in that thread, and report its end to the
    owner's scheduler from there."""
    errors: list[str] = []

    def other_thread(group: shoal.TaskGroup) -> None:
        try:
            group.spawn(lambda: None)
        except RuntimeError as exc:
            errors.append(str(exc))

    def main() -> None:
        with shoal.timeout(2), shoal.TaskGroup() as group:
            thread = threading.Thread(target=other_thread, args=(group,))
            thread.start()
            thread.join(5)

    shoal.run(main)
    assert len(errors) == 1, errors
    assert errors[0].startswith("<TaskGroup ")
    assert "another thread" in errors[0]


@pytest.mark.parametrize("construct", ["oneof", "allof"])
def test_a_branch_killed_from_outside_ends_the_call_with_its_tasklet_exit(
    construct: str,
) -> None:
    """A branch that a tasklet other than the call kills (here itself) has
    no result: its ``TaskletExit`` is its outcome, raised by the call once
    the other branches are killed, as asyncio.gather raises the
    CancelledError of a child cancelled from outside (documented)."""
    log: list[str] = []

    def killed() -> None:
        shoal.current().kill()

    def main() -> None:
        run = getattr(shoal, construct)
        with pytest.raises(shoal.TaskletExit):
            run(killed, lambda: _after(5, 2, log, "other"))
        log.append("caller went on")

    shoal.run(main)
    assert log == ["other finally", "caller went on"]


def _real_failure() -> None:
    shoal.sleep(0.02)
    raise ValueError("the real failure")


@pytest.mark.parametrize("construct", ["oneof", "allof"])
def test_a_failure_the_caller_loses_to_an_interruption_in_cleanup_is_printed(
    construct: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch fails; while the loser's cleanup runs, a timeout around
    the call expires: the call raises the timeout, so the failure, which
    the caller never gets, is printed (oneof lost it without a word)."""

    def main() -> None:
        run = getattr(shoal, construct)
        with pytest.raises(shoal.TimeoutError), shoal.timeout(0.1):
            run(_real_failure, _slow_cleanup)  # cleanup outlasts the timeout

    shoal.run(main)
    assert "the real failure" in capsys.readouterr().err


@pytest.mark.parametrize("construct", ["oneof", "allof", "TaskGroup"])
def test_a_keyboard_interrupt_from_a_branch_is_raised_and_not_printed(
    construct: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt escaping a branch goes to the main tasklet at
    once, here the caller: it gets that very exception, which is then not
    also printed as an unobserved failure (it was)."""
    interrupt = KeyboardInterrupt()

    def raises() -> None:
        shoal.sleep(0.01)
        raise interrupt

    def main() -> None:
        if construct == "TaskGroup":
            with shoal.TaskGroup() as group:
                group.spawn(raises)
                group.spawn(shoal.sleep, 1)
        else:
            getattr(shoal, construct)(raises, lambda: shoal.sleep(1))

    with pytest.raises(KeyboardInterrupt) as info:
        shoal.run(main)
    assert info.value is interrupt
    assert "KeyboardInterrupt" not in capsys.readouterr().err


def test_an_error_thrown_into_a_task_group_owner_while_its_exit_waits_is_raised() -> (
    None
):
    """An exception thrown into the owner while the group's exit waits for
    its children is an error of the block: raised in the group, first (it
    was swallowed, and the block exited normally)."""
    thrown = ValueError("thrown into owner")

    def owner() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(shoal.sleep, 5)

    def main() -> BaseException | None:
        t = shoal.spawn(owner)
        shoal.sleep(0.01)  # the owner waits in the group's exit
        t.throw(thrown)
        return t.exception

    error = shoal.run(main)
    assert isinstance(error, ExceptionGroup)
    assert error.exceptions == (thrown,)


def test_a_child_failure_survives_a_block_that_turns_the_interruption_into_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A child fails and interrupts the block, whose cleanup raises an error
    of its own: the group raises both, the block's first, as asyncio does
    (the child, killed in its except clause as the exit began, lost its
    failure to the kill)."""

    def fails() -> None:
        shoal.sleep(0.01)
        raise ZeroDivisionError("child failure")

    def grouped() -> None:
        with shoal.TaskGroup() as group:
            group.spawn(fails)
            try:
                shoal.sleep(1)
            finally:
                raise OSError("block cleanup failed")

    def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            grouped()
        assert [type(e) for e in info.value.exceptions] == [OSError, ZeroDivisionError]

    shoal.run(main)
    assert "child failure" not in capsys.readouterr().err
