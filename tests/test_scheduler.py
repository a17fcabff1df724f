"""The per-thread scheduler: greenlet reuse, start depth, threads, callbacks."""

from __future__ import annotations

import sys
import threading
import time

import greenlet

import shoal
from shoal import _scheduler, _watch


def test_finished_tasklets_greenlets_are_reused() -> None:
    """Short tasklets one after another run in a handful of greenlets."""
    seen: set[int] = set()

    def note() -> None:
        seen.add(id(greenlet.getcurrent()))

    for _ in range(5):
        ts = [shoal.spawn(note) for _ in range(200)]
        for t in ts:
            t.join()
    assert len(seen) <= 2


def test_many_blocked_tasklets_do_not_deepen_the_stack() -> None:
    """Tasklets first started one from inside another start at a fixed depth.

    Regression: a new greenlet inherits the recursion depth of whoever first
    switches to it; 5,000 tasklets blocking in turn hit RecursionError.
    """
    ch = shoal.Channel()
    count = max(5000, sys.getrecursionlimit() * 3)
    ts = [shoal.spawn(ch.receive) for _ in range(count)]
    shoal.schedule()
    assert ch.balance == -count
    for i in range(count):
        ch.send(i)
    assert [t.get() for t in ts] == list(range(count))


def test_one_scheduler_per_thread() -> None:
    """Each OS thread has its own scheduler, main tasklet and tasklets."""
    results: dict[str, object] = {}

    def in_thread() -> None:
        main = shoal.current()
        ch = shoal.Channel()
        t = shoal.spawn(lambda: ch.send("from thread tasklet"))
        results["value"] = ch.receive()
        t.join()
        results["main is own"] = main is shoal.current()
        results["sched"] = _scheduler.get_scheduler()

    th = threading.Thread(target=in_thread)
    th.start()
    th.join(timeout=10)
    assert not th.is_alive()
    assert results["value"] == "from thread tasklet"
    assert results["main is own"] is True
    assert results["sched"] is not _scheduler.get_scheduler()


def test_a_main_tasklet_that_never_switched_finds_its_scheduler_by_the_hint() -> None:
    """The main tasklet's greenlet is known from the scheduler's making, so
    get_scheduler() (each timeout scope, each wait) takes the hint rather
    than the threading.local even before the main tasklet first switches."""
    results: list[object] = []

    class Unread:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the threading.local was read for {name!r}")

    def in_thread() -> None:
        s = _scheduler.get_scheduler()
        results.append(s.main._gr is greenlet.getcurrent())
        real, _scheduler.local = _scheduler.local, Unread()  # type: ignore[assignment]
        try:
            results.extend(_scheduler.get_scheduler() is s for _ in range(3))
            results.append(shoal.current() is s.main)
        finally:
            _scheduler.local = real

    th = threading.Thread(target=in_thread)
    th.start()
    th.join(timeout=10)
    assert not th.is_alive()
    assert results == [True] * 5


def test_threads_switching_mid_hand_off_keep_their_own_schedulers() -> None:
    """Hot paths guess the thread's scheduler (``_scheduler.hint``): two
    threads yielding and handing off at once, with the GIL passed between
    them every few microseconds, each see only their own tasklets, in order.
    """
    rounds = 2000
    results: dict[int, list[object]] = {}
    errors: list[BaseException] = []

    def job(key: int) -> None:
        order: list[object] = []

        def echo() -> None:
            for _ in range(rounds):
                value = ping.receive()
                order.append(("echo", value))
                shoal.schedule()
                pong.send(value + 1)

        ping, pong = shoal.Channel(), shoal.Channel()
        t = shoal.spawn(echo)
        for i in range(rounds):
            ping.send(key + i)
            shoal.schedule()
            order.append(("main", pong.receive()))
        t.join()
        results[key] = order
        results[key].append(_scheduler.get_scheduler())

    def in_thread(key: int) -> None:
        try:
            job(key)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=in_thread, args=(k,)) for k in (0, 10**6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
    finally:
        sys.setswitchinterval(old)
    assert not any(th.is_alive() for th in threads)
    assert errors == []
    for key in (0, 10**6):
        *order, sched = results[key]
        expected: list[object] = []
        for i in range(rounds):
            expected += [("echo", key + i), ("main", key + i + 1)]
        assert order == expected
        assert sched is not _scheduler.get_scheduler()
    assert results[0][-1] is not results[10**6][-1]


def test_a_finished_threads_scheduler_is_not_kept_as_the_hint() -> None:
    """When a thread that used shoal ends, ``_scheduler.hint`` lets go of
    its scheduler (and the greenlets pooled in it), even if no other thread
    has looked up its own since."""
    seen: list[object] = []

    def in_thread() -> None:
        t = shoal.spawn(lambda: None)
        t.join()
        sched = _scheduler.get_scheduler()
        seen.extend([sched, _scheduler.hint is sched])

    th = threading.Thread(target=in_thread)
    th.start()
    th.join(timeout=30)
    assert not th.is_alive()
    assert seen[1:] == [True]  # it was the hint while the thread ran
    assert _scheduler.hint is not seen[0]
    assert _scheduler.get_scheduler() is not seen[0]


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
    import pytest

    with pytest.raises(TypeError, match="callable or None, got 3"):
        _watch.set_schedule_callback(3)  # type: ignore[arg-type]
