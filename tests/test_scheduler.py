"""The per-thread scheduler: greenlet reuse, start depth, threads."""

from __future__ import annotations

import sys
import threading

import greenlet

import shoal
from shoal import _scheduler


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
