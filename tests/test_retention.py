"""A finished tasklet is not kept alive by the scheduler: not by the worker
greenlet that ran it, nor by the tasklet that switched to it and is still
parked, nor by a cancelled timer. What it holds (its exception, whose
traceback holds its frames, and their locals: sockets, buffers) is freed as
soon as user code drops it, as a finished thread's would be."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import greenlet
import pytest

import shoal
from shoal import socket


class Big:
    """A stand-in for what a frame holds."""


def _held(box: list[weakref.ref[Big]]) -> Big:
    """A ``Big`` for the caller's frame to hold, watched through ``box``."""
    big = Big()
    box.append(weakref.ref(big))
    return big


def _fails(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    raise ValueError("on purpose")


def _blocks_on_socket(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    a, b = socket.socketpair()
    with a, b:
        a.recv(10)


def _sleeps(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    shoal.sleep(30)


def _receives(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    shoal.Channel().receive()


def _receives_within_a_scope(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    with shoal.timeout(30):
        shoal.Channel().receive()


def _receives_with_a_timeout(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    shoal.Channel().receive(timeout=30)


def _blocks_on_socket_with_a_timeout(box: list[weakref.ref[Big]]) -> None:
    big = _held(box)  # noqa: F841 - a local of the frame, on purpose
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(30)
        a.recv(10)


def _freed(tasklet: weakref.ref[shoal.Tasklet], box: list[weakref.ref[Big]]) -> bool:
    gc.collect()
    return tasklet() is None and all(r() is None for r in box)


# Each: (what the victim runs, how it ends: None if it ends by itself).
SCENARIOS: dict[str, tuple[Callable[[list[weakref.ref[Big]]], None], bool]] = {
    "fails": (_fails, False),
    "killed on a socket": (_blocks_on_socket, True),
    "killed asleep": (_sleeps, True),
    "killed on a channel": (_receives, True),
    "killed in a timeout scope": (_receives_within_a_scope, True),
    "killed in a receive with a timeout": (_receives_with_a_timeout, True),
    "killed on a socket with a timeout": (_blocks_on_socket_with_a_timeout, True),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("main_waits", ["on a channel", "asleep"])
def test_a_finished_tasklet_is_freed_while_the_one_that_ran_it_is_parked(
    name: str, main_waits: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The main tasklet spawns the victim and parks (so its park started the
    victim); the victim ends; a checker, run while main is still parked,
    finds the victim and what its frames held freed."""
    fn, killed = SCENARIOS[name]

    def main() -> bool:
        box: list[weakref.ref[Big]] = []
        ch = shoal.Channel()
        victim = weakref.ref(shoal.spawn(fn, box))

        def checker() -> None:
            shoal.sleep(0.01)  # the victim has started and waits (or ended)
            if killed:
                t = victim()
                assert t is not None
                t.kill()
                del t
            ch.send(_freed(victim, box))

        shoal.spawn(checker)
        if main_waits == "asleep":
            shoal.sleep(0.05)
        return bool(ch.receive())

    assert shoal.run(main)
    capsys.readouterr()  # the failure's traceback, printed as it should be


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_finished_tasklet_is_freed_once_its_caller_drops_it(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The main tasklet kills (or joins) the victim, drops it and checks."""
    fn, killed = SCENARIOS[name]

    def main() -> bool:
        box: list[weakref.ref[Big]] = []
        t = shoal.spawn(fn, box)
        shoal.sleep(0.01)
        if killed:
            t.kill()
        else:
            t.join()
        victim = weakref.ref(t)
        del t
        return _freed(victim, box)

    assert shoal.run(main)
    capsys.readouterr()


@pytest.mark.parametrize("ends", ["completed", "timed out"])
def test_a_tasklet_that_waited_on_a_concurrent_future_is_freed(ends: str) -> None:
    """A concurrent.futures.Future keeps its done-callbacks for as long as
    it lives (it cannot remove one): the callback of a wait must not hold
    the tasklet once the wait is over, or a long-lived future (a shared
    result, one that never completes) holds every tasklet that waited."""
    import concurrent.futures

    future: concurrent.futures.Future[int] = concurrent.futures.Future()

    def waits(box: list[weakref.ref[Big]]) -> None:
        big = Big()
        box.append(weakref.ref(big))
        if ends == "timed out":
            with pytest.raises(shoal.TimeoutError):
                shoal.wait_future(future, timeout=0.01)
        else:
            assert shoal.wait_future(future) == 7

    def main() -> bool:
        box: list[weakref.ref[Big]] = []
        waiters = [shoal.spawn(waits, box) for _ in range(3)]
        shoal.sleep(0.001)
        if ends == "completed":
            future.set_result(7)
        for t in waiters:
            t.get()
        refs = [weakref.ref(t) for t in waiters]
        del waiters, t
        shoal.sleep(0.02)  # the wake-ups the loop was handed have run
        gc.collect()
        return all(r() is None for r in refs) and all(r() is None for r in box)

    assert shoal.run(main)


@pytest.mark.parametrize("nested", [False, True])
def test_a_thread_that_ran_shoal_leaves_no_scheduler_behind(nested: bool) -> None:
    """Threads each run shoal (spawning, parking, sleeping) and end: their
    schedulers are freed. Idle worker greenlets and the starter stayed
    suspended when the thread ended, holding the scheduler on their stacks,
    and a greenlet of an ended thread is never freed: every such thread
    leaked its scheduler and three greenlets."""
    from shoal._scheduler import Scheduler

    def job() -> None:
        def main() -> None:
            shoal.spawn(lambda: None)
            shoal.schedule()
            shoal.spawn(shoal.sleep, 0.001).join()

        if nested:  # run from a greenlet of the thread's own
            greenlet.greenlet(shoal.run).switch(main)
        else:
            shoal.run(main)

    def schedulers() -> int:
        gc.collect()
        return sum(type(o) is Scheduler for o in gc.get_objects())

    before = schedulers()
    for _ in range(10):
        thread = threading.Thread(target=job)
        thread.start()
        thread.join(10)
    assert schedulers() == before


def test_a_tasklet_a_worker_started_in_place_is_freed_once_the_worker_idles() -> None:
    """A worker whose tasklet ends starts the next one, not yet started, in
    place; when that one ends with nothing runnable, the worker parks in the
    pool: it must not keep that tasklet, nor the value it returned."""
    from shoal import stackless

    box: list[weakref.ref[Big]] = []
    first = stackless.tasklet(lambda: None)()
    second = stackless.tasklet(_held)(box)  # run in place by first's worker
    stackless.run()  # both run and end; the worker parks, main resumes
    assert not first.alive
    assert not second.alive
    victim = weakref.ref(second)
    del first, second
    assert _freed(victim, box)
