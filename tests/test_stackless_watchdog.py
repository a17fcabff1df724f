"""Nested ``stackless.run()`` calls: the watchdog stack of C Stackless.

Each ``run()`` caller is pushed on a stack and paused; when nothing else can
run, the innermost one is woken. A caller woken *otherwise* (``t.run()``,
``t.kill()``, an exception thrown into it) while callers nested inside its
run are still on the stack pops them too, innermost first, and puts each
that is not scheduled meanwhile at the end of the ring
(``PyStackless_RunWatchdogEx`` in ``stacklessmodule.c``: "if there are deeper
tasklets on the stack, we pop them here and make them runnable"). Those then
return from their ``run()`` when their turn comes, and none of them is woken
again in main's place.

Ring notation as in test_stackless.py: ``[head, ...]``, head the current
tasklet. Each test starts and ends with only main runnable; loops are bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shoal import stackless

DEADLOCK = r"Deadlock: the last runnable tasklet cannot be blocked"


@pytest.fixture(autouse=True)
def only_main_runnable() -> Iterator[None]:
    """Check the scheduler is clean before and after every test."""
    assert stackless.getcurrent() is stackless.getmain()
    assert stackless.getruncount() == 1
    yield
    assert stackless.getcurrent() is stackless.getmain()
    assert stackless.getruncount() == 1


def ring() -> list[Any]:
    """The runnables ring from the current tasklet on (bounded walk)."""
    cur = stackless.getcurrent()
    out = [cur]
    t = cur.next
    for _ in range(50):
        if t is cur or t is None:
            break
        out.append(t)
        t = t.next
    return out


def assert_no_stale_watchdog(events: list[Any]) -> None:
    """Main, alone and blocking, gets the deadlock error at once: no paused
    ``run()`` caller is left on the watchdog stack to be woken instead."""
    before = list(events)
    with pytest.raises(RuntimeError, match=DEADLOCK):
        stackless.channel().receive()
    assert events == before


def test_waking_the_outer_run_caller_requeues_the_inner_one() -> None:
    """main.run() from inside a tasklet's nested run(): main's run() returns,
    and the tasklet whose run() is still pending is runnable, not paused."""
    events: list[Any] = []

    def waker() -> None:
        stackless.getmain().run()
        events.append("waker back")

    def runner() -> None:
        stackless.tasklet(waker)()
        stackless.run()
        events.append("runner back")

    r = stackless.tasklet(runner)()
    stackless.run()
    # Woken with [main, waker]; popping runner put it at the end.
    assert events == []
    assert r.scheduled
    assert not r.paused
    assert stackless.getruncount() == 3
    assert ring()[2] is r
    stackless.run()
    assert events == ["waker back", "runner back"]
    assert not r.alive
    assert_no_stale_watchdog(events)


def test_inner_run_callers_are_requeued_innermost_first() -> None:
    """Two run() callers nested inside main's: when main is woken, both go
    to the end of the ring, the innermost first, and each one's run() then
    returns in its turn."""
    events: list[Any] = []
    made: dict[str, Any] = {}

    def waker() -> None:
        stackless.getmain().run()
        events.append("waker back")

    def inner() -> None:
        made["waker"] = stackless.tasklet(waker)()
        stackless.run()
        events.append("inner back")

    def outer() -> None:
        made["inner"] = stackless.tasklet(inner)()
        stackless.run()
        events.append("outer back")

    made["outer"] = stackless.tasklet(outer)()
    stackless.run()
    # Woken with [main, waker]: inner is popped first, then outer.
    assert events == []
    assert ring() == [
        stackless.getmain(),
        made["waker"],
        made["inner"],
        made["outer"],
    ]
    stackless.run()
    assert events == ["waker back", "inner back", "outer back"]
    assert_no_stale_watchdog(events)


def test_waking_a_middle_run_caller_requeues_those_above_it_only() -> None:
    """a.run() while a and b (nested in a's run) are in run(): a's run()
    returns with b runnable; main stays the wake-up tasklet."""
    events: list[Any] = []
    b: Any = None

    def waker() -> None:
        a.run()
        events.append("waker back")

    def body_b() -> None:
        stackless.tasklet(waker)()
        stackless.run()
        events.append("b back")

    def body_a() -> None:
        nonlocal b
        b = stackless.tasklet(body_b)()
        stackless.run()
        events.append(("a back", b.scheduled, b.paused))

    a = stackless.tasklet(body_a)()
    stackless.run()
    assert events == [("a back", True, False), "waker back", "b back"]
    assert not b.alive
    assert_no_stale_watchdog(events)


def test_killing_an_outer_run_caller_requeues_the_inner_one() -> None:
    """kill() of a tasklet inside run() while another is nested in its run:
    the nested one is made runnable as the killed one unwinds."""
    events: list[Any] = []
    b: Any = None

    def killer() -> None:
        a.kill()
        events.append(("killer back", b.scheduled))

    def body_b() -> None:
        stackless.tasklet(killer)()
        stackless.run()
        events.append("b back")

    def body_a() -> None:
        nonlocal b
        b = stackless.tasklet(body_b)()
        try:
            stackless.run()
        finally:
            events.append("a unwinds")

    a = stackless.tasklet(body_a)()
    stackless.run()
    assert events == ["a unwinds", ("killer back", True), "b back"]
    assert not a.alive
    assert not b.alive
    assert_no_stale_watchdog(events)


def test_exception_thrown_into_outer_run_caller_requeues_the_inner_one() -> None:
    """An exception raised in main inside run() comes out of run(), and the
    run() caller nested in it is runnable, as when main is woken normally."""
    events: list[Any] = []

    def thrower() -> None:
        stackless.getmain().raise_exception(KeyError, "thrown")
        events.append("thrower back")

    def runner() -> None:
        stackless.tasklet(thrower)()
        stackless.run()
        events.append("runner back")

    r = stackless.tasklet(runner)()
    with pytest.raises(KeyError, match="thrown"):
        stackless.run()
    assert r.scheduled
    assert stackless.getruncount() == 3
    assert ring()[2] is r
    stackless.run()
    assert events == ["thrower back", "runner back"]
    assert_no_stale_watchdog(events)


def test_inserted_inner_run_caller_is_not_queued_twice() -> None:
    """An inner run() caller inserted before main is woken is scheduled
    already: popping it leaves it where it is, once in the ring."""
    events: list[Any] = []
    r: Any = None

    def waker() -> None:
        r.insert()
        stackless.getmain().run()
        events.append("waker back")

    def runner() -> None:
        stackless.tasklet(waker)()
        stackless.run()
        events.append("runner back")

    r = stackless.tasklet(runner)()
    stackless.run()
    # [main, waker, runner]: runner was inserted before main.run().
    assert stackless.getruncount() == 3
    assert ring()[2] is r
    stackless.run()
    assert events == ["waker back", "runner back"]
    assert not r.alive
    assert_no_stale_watchdog(events)


def test_inserted_inner_run_caller_returns_and_main_is_woken_last() -> None:
    """An inner run() caller inserted by another tasklet returns from its
    run() in its turn; main is woken once nothing else is runnable."""
    events: list[Any] = []
    r: Any = None

    def inserter() -> None:
        r.insert()
        events.append("inserter done")

    def runner() -> None:
        stackless.tasklet(inserter)()
        stackless.run()
        events.append("runner back")
        stackless.schedule()
        events.append("runner done")

    r = stackless.tasklet(runner)()
    stackless.run()
    assert events == ["inserter done", "runner back", "runner done"]
    assert not r.alive
    assert_no_stale_watchdog(events)
