"""Event, Lock, Semaphore and Queue used from a second OS thread: a call that
would wake (or wait for) a tasklet of another thread is refused, before it
changes anything, as a channel's hand-off is (test_channel.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import shoal
from _threads import FOREIGN, in_another_thread


class _Case:
    """A primitive with one tasklet waiting on it, made in the calling
    thread: ``wake`` would wake that tasklet, ``state`` shows what ``wake``
    changes, ``finish`` wakes it from the tasklet's own thread and checks
    what it and the waiter got."""

    def __init__(
        self,
        primitive: object,
        waiter: shoal.Tasklet,
        wake: Callable[[], object],
        state: Callable[[], object],
        finish: Callable[[], None],
    ) -> None:
        self.primitive = primitive
        self.waiter = waiter
        self.wake = wake
        self.state = state
        self.finish = finish


def _event_set() -> _Case:
    ev = shoal.Event()
    w = shoal.spawn(ev.wait)

    def finish() -> None:
        ev.set()
        assert w.get() is True

    return _Case(ev, w, ev.set, lambda: (repr(ev), ev.is_set()), finish)


def _semaphore_release() -> _Case:
    sem = shoal.Semaphore(0)
    w = shoal.spawn(sem.acquire)

    def finish() -> None:
        sem.release()
        assert w.get() is True
        assert sem.value == 0  # the unit went to the waiter

    return _Case(sem, w, sem.release, lambda: repr(sem), finish)


def _lock_release() -> _Case:
    lock = shoal.Lock()
    lock.acquire()  # held by this thread's running tasklet

    def takes_it() -> None:
        lock.acquire()
        lock.release()

    w = shoal.spawn(takes_it)

    def finish() -> None:
        lock.release()
        w.join()
        assert w.exception is None
        assert not lock.locked()

    return _Case(lock, w, lock.release, lambda: repr(lock), finish)


def _queue_put(nowait: bool) -> Callable[[], _Case]:
    def make() -> _Case:
        q = shoal.Queue()
        w = shoal.spawn(q.get)
        put = q.put_nowait if nowait else q.put

        def finish() -> None:
            put("mine")
            assert w.get() == "mine"
            assert q.empty()
            q.task_done()
            q.join()  # exactly one item was counted

        return _Case(q, w, lambda: put("foreign"), lambda: repr(q), finish)

    return make


def _queue_get(nowait: bool) -> Callable[[], _Case]:
    def make() -> _Case:
        q = shoal.Queue(1)
        q.put_nowait("first")
        w = shoal.spawn(q.put, "second")  # waits: the queue is full
        get = q.get_nowait if nowait else q.get

        def finish() -> None:
            assert get() == "first"  # and the waiting put happened
            assert w.get() is None
            assert q.get_nowait() == "second"
            assert q.empty()

        return _Case(q, w, get, lambda: repr(q), finish)

    return make


def _queue_task_done() -> _Case:
    q = shoal.Queue()
    q.put_nowait("item")
    q.get_nowait()
    w = shoal.spawn(q.join)

    def finish() -> None:
        q.task_done()
        assert w.get() is None

    return _Case(q, w, q.task_done, lambda: repr(q), finish)


CASES: dict[str, Callable[[], _Case]] = {
    "Event.set": _event_set,
    "Semaphore.release": _semaphore_release,
    "Lock.release": _lock_release,
    "Queue.put": _queue_put(nowait=False),
    "Queue.put_nowait": _queue_put(nowait=True),
    "Queue.get": _queue_get(nowait=False),
    "Queue.get_nowait": _queue_get(nowait=True),
    "Queue.task_done": _queue_task_done,
}


def _assert_refusal(err: object, primitive: object, waiting: int, calling: int) -> None:
    """``err`` is the RuntimeError of a call from thread ``calling`` that
    would have reached a tasklet of thread ``waiting``: it says so, naming
    the primitive and both threads."""
    assert type(err) is RuntimeError, repr(err)
    text = str(err)
    assert FOREIGN in text
    assert repr(primitive) in text
    assert f"thread {waiting}" in text
    assert f"thread {calling}" in text
    assert "cannot be shared between threads" in text
    assert "shoal.to_thread" in text


@pytest.mark.parametrize("op", list(CASES))
def test_waking_a_waiter_from_another_thread_is_refused(op: str) -> None:
    """Another thread's call would wake a tasklet of this one (from the wrong
    thread, into a run queue it does not lock, with this thread's hub left
    asleep: it woke late or never): RuntimeError naming the primitive and
    both threads; nothing changed and the waiter still waits. Woken from its
    own thread, it then gets what it would have."""
    case = CASES[op]()
    shoal.schedule()  # the waiter waits
    before = (case.state(), repr(case.waiter))
    assert not case.waiter.dead
    caller: list[int] = []

    def foreign() -> None:
        caller.append(threading.get_ident())
        case.wake()

    err = in_another_thread(foreign)
    _assert_refusal(err, case.primitive, threading.get_ident(), caller[0])
    assert (case.state(), repr(case.waiter)) == before
    shoal.schedule()  # nothing was queued for it: it still waits
    assert (case.state(), repr(case.waiter)) == before
    case.finish()


@pytest.mark.parametrize("op", list(CASES))
def test_waking_a_waiter_of_another_thread_is_refused(op: str) -> None:
    """The other way round: a tasklet of another thread waits on the
    primitive, and this thread's call would wake it. RuntimeError here,
    nothing changed; that thread then wakes its tasklet itself."""
    made: list[_Case] = []
    waiting, resume = threading.Event(), threading.Event()
    other: list[int] = []
    failed: list[BaseException] = []

    def other_thread() -> None:
        try:
            other.append(threading.get_ident())
            made.append(CASES[op]())
            shoal.schedule()
            waiting.set()
            assert resume.wait(timeout=10)
            made[0].finish()
        except BaseException as e:
            failed.append(e)
            waiting.set()

    th = threading.Thread(target=other_thread)
    th.start()
    try:
        assert waiting.wait(timeout=10)
        assert not failed, failed
        case = made[0]
        before = (case.state(), repr(case.waiter))
        with pytest.raises(RuntimeError) as info:
            case.wake()
        _assert_refusal(info.value, case.primitive, other[0], threading.get_ident())
        assert (case.state(), repr(case.waiter)) == before
    finally:
        resume.set()
        th.join(timeout=10)
    assert not th.is_alive()
    assert not failed, failed


def test_event_set_checks_every_waiter_before_it_sets() -> None:
    """set() wakes every waiter: one of another thread among them and it is
    refused, with the flag still unset and this thread's waiter not woken."""
    ev = shoal.Event()
    waiting, resume = threading.Event(), threading.Event()
    other: list[int] = []
    failed: list[BaseException] = []

    def other_thread() -> None:
        try:
            other.append(threading.get_ident())
            w = shoal.spawn(ev.wait)
            shoal.schedule()
            waiting.set()
            assert resume.wait(timeout=10)
            ev.set()  # every waiter left is this thread's now
            assert w.get() is True
        except BaseException as e:
            failed.append(e)
            waiting.set()

    mine = shoal.spawn(ev.wait)
    shoal.schedule()
    th = threading.Thread(target=other_thread)
    th.start()
    try:
        assert waiting.wait(timeout=10)
        assert not failed, failed
        with pytest.raises(RuntimeError) as info:
            ev.set()
        _assert_refusal(info.value, ev, other[0], threading.get_ident())
        assert not ev.is_set()
        shoal.schedule()
        assert not mine.dead  # not woken
        mine.kill()
    finally:
        resume.set()
        th.join(timeout=10)
    assert not th.is_alive()
    assert not failed, failed


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_waiting_for_a_lock_held_in_another_thread_is_refused(
    timeout: float | None,
) -> None:
    """A tasklet that would wait for a lock held by a tasklet of another
    thread could only be handed it from there, which is refused: its acquire
    is refused at once, adding no waiter; the holder releases as usual."""
    lock = shoal.Lock()
    lock.acquire()
    before = repr(lock)
    caller: list[int] = []

    def foreign() -> None:
        caller.append(threading.get_ident())
        lock.acquire(timeout=timeout)

    err = in_another_thread(foreign)
    _assert_refusal(err, lock, threading.get_ident(), caller[0])
    assert repr(lock) == before
    lock.release()
    assert not lock.locked()  # no waiter took it


def test_releasing_a_lock_held_in_another_thread_is_refused() -> None:
    """Nobody waits: release from another thread is still refused (it does
    not hold the lock), and says that the holder is another thread's."""
    lock = shoal.Lock()
    lock.acquire()
    caller: list[int] = []

    def foreign() -> None:
        caller.append(threading.get_ident())
        lock.release()

    err = in_another_thread(foreign)
    _assert_refusal(err, lock, threading.get_ident(), caller[0])
    assert lock.locked()
    lock.release()


def _no_waiter_calls() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """For each call that wakes nobody here, the call and what then shows it
    happened."""
    ev = shoal.Event()
    sem = shoal.Semaphore(0)
    q = shoal.Queue()
    return {
        "Event.set": (ev.set, ev.is_set),
        "Semaphore.release": (sem.release, lambda: sem.value),
        "Queue.put_nowait": (lambda: q.put_nowait("x"), q.get_nowait),
    }


@pytest.mark.parametrize("op", sorted(_no_waiter_calls()))
def test_a_call_from_another_thread_that_wakes_nobody_is_not_checked(op: str) -> None:
    """As documented (and as asyncio's primitives): a call from another
    thread that finds no waiter is not checked; it changes the state as it
    would here. It is not a way to signal between threads (it is racy)."""
    call, shows = _no_waiter_calls()[op]
    assert in_another_thread(call) is None
    assert shows()
