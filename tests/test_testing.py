"""shoal.testing: the leftover check the suite runs after every test."""

from __future__ import annotations

import pytest

import shoal
from shoal.testing import check_no_leftovers, leftover_tasklets


def test_the_check_names_the_leftovers_and_kills_them() -> None:
    """A tasklet left blocked is named in the AssertionError, and killed,
    so that the next test starts clean."""
    t = shoal.spawn(shoal.Channel().receive)
    shoal.schedule()
    with pytest.raises(AssertionError, match="tasklets left behind"):
        check_no_leftovers()
    assert t.dead
    assert leftover_tasklets() == []


def test_what_a_leftovers_finally_block_spawns_is_killed_too() -> None:
    """Killing a leftover runs its finally block, which may spawn another
    tasklet: that one is killed as well, not left to the next test."""

    def stubborn() -> None:
        try:
            shoal.Channel().receive()
        finally:
            shoal.spawn(shoal.Channel().receive)

    shoal.spawn(stubborn)
    shoal.schedule()
    with pytest.raises(AssertionError, match="stubborn"):
        check_no_leftovers()
    assert leftover_tasklets() == []


def test_called_from_a_tasklet_it_reports_and_does_not_kill_its_caller() -> None:
    """From a tasklet, the check says that main is not current and names
    the other leftovers; it does not kill the tasklet that called it (its
    AssertionError was lost in a TaskletExit)."""
    other = shoal.spawn(shoal.Channel().receive)

    def checker() -> str:
        try:
            check_no_leftovers()
        except AssertionError as e:
            return str(e)
        return "no error"

    t = shoal.spawn(checker)
    shoal.schedule()
    message = t.get()
    assert "not main" in message
    assert repr(other)[:20] in message
    assert other.dead


def test_a_leftover_whose_cleanup_fails_is_reported_and_the_others_killed() -> None:
    """A Stackless leftover whose finally raises hands that to main (the
    checker); the check says so, and still kills the leftovers after it,
    instead of raising the cleanup's error and leaving them to the next
    test."""
    from shoal import stackless

    def failing() -> None:
        try:
            stackless.schedule_remove()
        finally:
            raise ValueError("cleanup failed")

    stackless.tasklet(failing)()
    later = shoal.spawn(shoal.Channel().receive)
    stackless.run()
    shoal.schedule()
    with pytest.raises(AssertionError, match="cleanup failed"):
        check_no_leftovers()
    assert later.dead
    assert leftover_tasklets() == []
