"""Watching switches: the schedule callback, at every kind of switch."""

from __future__ import annotations

import threading
import time

import pytest

import shoal
from shoal import _watch


def test_schedule_callback_sees_every_switch_in_order() -> None:
    """The schedule callback gets (prev, next) for each switch, deaths included."""
    seen: list[tuple[str, str]] = []

    def record(prev: shoal.Tasklet, nxt: shoal.Tasklet) -> None:
        seen.append((prev.name, nxt.name))

    a = shoal.spawn(shoal.schedule)
    b = shoal.spawn(shoal.schedule)
    a.name, b.name = "a", "b"
    old = _watch.set_schedule_callback(record)
    try:
        a.join()
        b.join()
    finally:
        _watch.set_schedule_callback(old)
    assert seen == [
        ("main", "a"),  # main waits for a
        ("a", "b"),  # a yields
        ("b", "a"),  # b yields
        ("a", "b"),  # a ends; main (woken) queues behind b
        ("b", "main"),  # b ends
    ]


def test_a_schedule_callback_set_mid_run_sees_every_later_switch() -> None:
    """Set while tasklets yield to one another (schedule() on its fast path,
    which does not test for a callback), the callback still sees every
    switch after it."""
    seen: list[tuple[str, str]] = []

    def record(prev: shoal.Tasklet, nxt: shoal.Tasklet) -> None:
        seen.append((prev.name, nxt.name))

    def a_body() -> None:
        shoal.schedule()
        _watch.set_schedule_callback(record)
        shoal.schedule()
        shoal.schedule()

    def b_body() -> None:
        for _ in range(3):
            shoal.schedule()

    a, b = shoal.spawn(a_body), shoal.spawn(b_body)
    a.name, b.name = "a", "b"
    try:
        a.join()
        b.join()
    finally:
        _watch.set_schedule_callback(None)
    assert seen == [
        ("a", "b"),  # a yields, callback set
        ("b", "a"),
        ("a", "b"),
        ("b", "a"),
        ("a", "b"),  # a ends; main (woken) queues behind b
        ("b", "main"),  # b ends
    ]


def test_a_schedule_callback_sees_the_switches_of_tasklets_waiting_for_io() -> None:
    """A socket read parks, and the hub resumes the reader, by paths of
    their own (HubTurns.wait_in_hub, run_ready); with a callback set, they
    report their switches all the same."""
    seen: list[tuple[str, str]] = []

    def record(prev: shoal.Tasklet, nxt: shoal.Tasklet) -> None:
        seen.append((prev.name, nxt.name))

    def main() -> None:
        a, b = shoal.socket.socketpair()
        with a, b:
            first = shoal.Event()

            def read() -> bytes:
                x = a.recv(1)
                first.set()
                return x + a.recv(1)

            reader = shoal.spawn(read)
            reader.name = "reader"
            shoal.sleep(0.001)  # the reader waits in the hub
            _watch.set_schedule_callback(record)
            try:
                b.sendall(b"x")
                first.wait()
                b.sendall(b"y")
                assert reader.get() == b"xy"
            finally:
                _watch.set_schedule_callback(None)

    shoal.run(main)
    assert seen == [
        ("main", "hub"),  # main waits for the first byte: the hub polls
        ("hub", "reader"),  # x is there: the hub runs the reader
        ("reader", "main"),  # which wakes main and waits again
        ("main", "hub"),  # main sent y and waits for the reader: the hub's turn
        ("hub", "reader"),  # y is there
        ("reader", "main"),  # the reader ends; main was woken
    ]


def test_with_a_schedule_callback_a_sleeper_wakes_while_others_only_yield() -> None:
    """A tasklet that waits in the hub while others are runnable gives the
    hub its turn in the run queue, callback or not: else tasklets that only
    yield would starve its timer."""

    def main() -> None:
        sleeper = shoal.spawn(shoal.sleep, 0.005)
        _watch.set_schedule_callback(lambda prev, nxt: None)
        try:
            give_up = time.monotonic() + 5
            while not sleeper.dead and time.monotonic() < give_up:
                shoal.schedule()
        finally:
            _watch.set_schedule_callback(None)
        assert sleeper.dead

    shoal.run(main)


def test_a_schedule_callback_set_by_another_thread_sees_the_switches_after() -> None:
    """Another thread sets the callback while this one's tasklets yield: once
    this thread sees it was set, every switch is reported."""
    seen: list[str] = []
    was_set = threading.Event()

    def record(prev: shoal.Tasklet, nxt: shoal.Tasklet) -> None:
        if threading.current_thread() is threading.main_thread():
            seen.append(nxt.name)

    def setter() -> None:
        _watch.set_schedule_callback(record)
        was_set.set()

    mark: list[int] = []

    def yielder() -> None:
        for _ in range(10_000):  # bounded: the setter is quick
            shoal.schedule()
            if was_set.is_set():
                break
        mark.append(len(seen))
        for _ in range(3):
            shoal.schedule()

    t = shoal.spawn(yielder)
    t.name = "y"
    other = shoal.spawn(lambda: [shoal.schedule() for _ in range(20_000)])
    other.name = "o"
    thread = threading.Thread(target=setter)
    try:
        thread.start()
        t.join()
        other.kill()
    finally:
        thread.join(5)
        _watch.set_schedule_callback(None)
    assert was_set.is_set()
    # After y saw it: y yields 3 times, each a switch to o and back.
    assert seen[mark[0] : mark[0] + 6] == ["o", "y"] * 3


def test_bad_schedule_callback_is_rejected() -> None:
    """A callback must be callable or None; the error names it."""
    with pytest.raises(TypeError, match="callable or None, got 3"):
        _watch.set_schedule_callback(3)  # type: ignore[arg-type]


def test_a_schedule_callback_sees_the_hub_hand_a_deadlock_to_main() -> None:
    """Main waits on a channel while an asyncio task runs (a possible
    waker); when the task ends, the hub finds nothing can wake main and
    switches to it with DeadlockError (HubTurns._hub_deadlock): reported
    as every other switch."""
    seen: list[tuple[str, str]] = []

    def record(prev: shoal.Tasklet, nxt: shoal.Tasklet) -> None:
        seen.append((prev.name, nxt.name))

    def main() -> None:
        import asyncio

        task = asyncio.get_running_loop().create_task(asyncio.sleep(0.01))
        _watch.set_schedule_callback(record)
        try:
            with pytest.raises(shoal.DeadlockError):
                shoal.Channel().receive()
        finally:
            _watch.set_schedule_callback(None)
        assert task.done()

    shoal.run(main)
    assert seen == [("main", "hub"), ("hub", "main")]
