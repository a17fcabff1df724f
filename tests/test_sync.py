"""Event, Lock, Semaphore and Queue: orderings, hand-offs, timeouts, misuse."""

from __future__ import annotations

import copy
import io
import pickle
from typing import Any

import pytest

import shoal
from shoal._hub import get_hub


def test_event_wakes_every_waiter_in_order() -> None:
    """set() wakes all waiters, first come first served; later waits pass."""
    ev = shoal.Event()
    log: list[str] = []

    def waiter(name: str) -> None:
        ev.wait()
        log.append(name)

    ts = [shoal.spawn(waiter, n) for n in "abc"]
    shoal.schedule()
    assert log == []
    ev.set()
    for t in ts:
        t.join()
    assert log == ["a", "b", "c"]
    ev.wait()  # set: returns at once
    ev.clear()
    assert not ev.is_set()


def test_event_wait_times_out() -> None:
    """wait(timeout) raises shoal.TimeoutError rather than returning False."""

    def main() -> None:
        with pytest.raises(shoal.TimeoutError):
            shoal.Event().wait(timeout=0.01)

    shoal.run(main)


def test_event_set_from_an_asyncio_callback() -> None:
    """Code in the hub (a loop callback) that sets an event wakes the waiter."""

    def main() -> str:
        ev = shoal.Event()
        get_hub().loop.call_later(0.01, ev.set)
        ev.wait(timeout=5)
        return "woken"

    assert shoal.run(main) == "woken"


def test_lock_is_handed_over_in_order_without_barging() -> None:
    """Releasing gives the lock to the first waiter; the releaser, trying
    again at once, queues behind the others."""
    lock = shoal.Lock()
    log: list[str] = []

    def worker(name: str) -> None:
        for i in range(2):
            with lock:
                log.append(f"{name}{i}")
                shoal.schedule()

    ts = [shoal.spawn(worker, n) for n in "abc"]
    for t in ts:
        t.join()
    assert log == ["a0", "b0", "c0", "a1", "b1", "c1"]
    assert not lock.locked()


def test_lock_misuse_is_an_error() -> None:
    """Not reentrant; only the holder releases; nowait raises WouldBlock."""
    lock = shoal.Lock()
    lock.acquire()
    with pytest.raises(RuntimeError, match="not reentrant"):
        lock.acquire()
    t = shoal.spawn(lock.release)
    t.join()
    assert isinstance(t.exception, RuntimeError)
    assert "does not hold it" in str(t.exception)
    other = shoal.spawn(lock.acquire_nowait)
    other.join()
    assert isinstance(other.exception, shoal.WouldBlock)
    lock.release()


def test_lock_acquire_timeout_and_kill_leave_no_waiter() -> None:
    """A waiter that times out or is killed is gone; the lock goes on."""

    def main() -> None:
        lock = shoal.Lock()
        lock.acquire()
        with pytest.raises(shoal.TimeoutError):
            shoal.spawn(lock.acquire, timeout=0.01).get()
        killed = shoal.spawn(lock.acquire)
        shoal.schedule()
        killed.kill()
        winner = shoal.spawn(lambda: lock.acquire() and lock.release())
        lock.release()
        winner.get()
        assert not lock.locked()

    shoal.run(main)


def test_semaphore_counts_and_serves_in_order() -> None:
    """Two units, four tasklets: the first two go at once; a released unit
    goes to the first waiter, which runs at its turn in the round robin."""
    sem = shoal.Semaphore(2)
    log: list[str] = []

    def worker(name: str) -> None:
        with sem:
            log.append(f"in {name}")
            shoal.schedule()
            log.append(f"out {name}")

    ts = [shoal.spawn(worker, n) for n in "abcd"]
    for t in ts:
        t.join()
    assert log == [
        "in a",
        "in b",
        "out a",  # the unit goes to c, which queues behind b
        "out b",  # the unit goes to d
        "in c",
        "in d",
        "out c",
        "out d",
    ]
    assert sem.value == 2


def test_semaphore_nowait_timeout_and_bad_values() -> None:
    """acquire_nowait raises WouldBlock; acquire(timeout) TimeoutError."""

    def main() -> None:
        sem = shoal.Semaphore(0)
        with pytest.raises(shoal.WouldBlock):
            sem.acquire_nowait()
        with pytest.raises(shoal.TimeoutError):
            sem.acquire(timeout=0.01)
        sem.release()
        sem.acquire_nowait()
        assert sem.value == 0

    shoal.run(main)
    with pytest.raises(ValueError, match="must be >= 0"):
        shoal.Semaphore(-1)
    with pytest.raises(TypeError, match="must be an int"):
        shoal.Semaphore("1")  # type: ignore[arg-type]


def test_queue_fifo_and_blocking_get() -> None:
    """Items come out in order; a waiting getter gets the next item put."""
    q = shoal.Queue()
    got: list[object] = []
    t = shoal.spawn(lambda: got.append(q.get()))
    shoal.schedule()
    q.put("direct")
    t.join()
    for i in range(3):
        q.put(i)
    assert [q.get() for _ in range(3)] == [0, 1, 2]
    assert got == ["direct"]
    assert q.empty()


def test_bounded_queue_refills_from_waiting_putters_in_order() -> None:
    """A full queue makes puts wait; each get lets the oldest put in."""
    q = shoal.Queue(2)
    q.put("a")
    q.put("b")
    assert q.full()
    putters = [shoal.spawn(q.put, x) for x in "cde"]
    shoal.schedule()
    assert q.qsize() == 2
    assert [q.get() for _ in range(5)] == list("abcde")
    for t in putters:
        t.join()
    with pytest.raises(shoal.WouldBlock):
        q.get_nowait()


def test_queue_timeouts_leave_nothing_behind() -> None:
    """A put or get that timed out did not happen."""

    def main() -> None:
        q = shoal.Queue(1)
        q.put_nowait("x")
        with pytest.raises(shoal.TimeoutError):
            q.put("y", timeout=0.01)
        with pytest.raises(shoal.WouldBlock):
            q.put_nowait("z")
        assert q.get(timeout=1) == "x"
        with pytest.raises(shoal.TimeoutError):
            q.get(timeout=0.01)
        assert q.qsize() == 0

    shoal.run(main)


def test_killed_getter_does_not_take_an_item() -> None:
    """A getter killed while waiting is gone: the next item goes elsewhere."""
    q = shoal.Queue()
    t = shoal.spawn(q.get)
    shoal.schedule()
    t.kill()
    q.put("kept")
    assert q.get_nowait() == "kept"


def test_queue_join_and_task_done() -> None:
    """join() waits until every item put is marked done."""
    q = shoal.Queue()
    log: list[str] = []

    def worker() -> None:
        while True:
            item = q.get()
            log.append(f"did {item}")
            q.task_done()

    for i in range(3):
        q.put(i)
    w = shoal.spawn(worker)
    q.join()
    log.append("joined")
    assert log == ["did 0", "did 1", "did 2", "joined"]
    w.kill()
    with pytest.raises(ValueError, match="task_done"):
        q.task_done()


def test_reprs_say_state() -> None:
    """Each primitive's repr shows its state."""
    assert "unset" in repr(shoal.Event())
    assert "free" in repr(shoal.Lock())
    assert "value=3" in repr(shoal.Semaphore(3))
    assert "0/5" in repr(shoal.Queue(5))


def _next_actions() -> dict[str, tuple[object, object]]:
    """For each operation that takes (or waits), a primitive on which it
    would succeed at once, and the operation."""
    ev = shoal.Event()
    ev.set()
    q = shoal.Queue()
    q.put_nowait("item")
    full = shoal.Queue()
    return {
        "Event.wait": (ev, ev.wait),
        "Semaphore.acquire": (s := shoal.Semaphore(1), s.acquire),
        "Semaphore.acquire_nowait": (s2 := shoal.Semaphore(1), s2.acquire_nowait),
        "Lock.acquire": (lk := shoal.Lock(), lk.acquire),
        "Lock.acquire_nowait": (lk2 := shoal.Lock(), lk2.acquire_nowait),
        "Queue.get": (q, q.get),
        "Queue.get_nowait": (q, q.get_nowait),
        "Queue.put": (full, lambda: full.put("x")),
        "Queue.put_nowait": (full, lambda: full.put_nowait("x")),
    }


@pytest.mark.parametrize("op", sorted(_next_actions()))
def test_a_kill_after_a_completed_operation_comes_before_the_next_one(op: str) -> None:
    """As with channels: the victim's get completed as it was killed; it
    returns from it, then raises at its next operation, before it, however
    that operation would end (it would not wait here): nothing more is
    taken or put."""
    inbox = shoal.Queue()
    seen: list[object] = []
    primitive, action = _next_actions()[op]

    def victim() -> None:
        seen.append(inbox.get())
        try:
            action()  # type: ignore[operator]
        except shoal.TaskletExit:
            seen.append("killed before it")
            raise
        seen.append("did it")

    def state() -> object:
        return repr(primitive)  # each repr shows what the operation changes

    t = shoal.spawn(victim)
    shoal.schedule()  # the victim waits in get()
    inbox.put("first")  # it is runnable, its get done
    before = state()
    t.kill()
    assert seen == ["first", "killed before it"]
    assert state() == before  # nothing taken, put or acquired


def test_event_wait_returns_true_as_the_stdlibs_does() -> None:
    """threading.Event.wait and asyncio's return True once the flag is set:
    so does shoal's, set already or set while it waits, with a timeout or
    without one."""

    def main() -> None:
        ev = shoal.Event()
        get_hub().loop.call_later(0.005, ev.set)
        assert ev.wait(timeout=5) is True  # waited
        assert ev.wait() is True  # set already
        assert ev.wait(timeout=0) is True
        ev.clear()
        shoal.spawn(ev.set)
        assert ev.wait() is True  # waited, no timeout

    shoal.run(main)


def test_lock_and_semaphore_acquire_return_true_as_the_stdlibs_do() -> None:
    """threading's and asyncio's acquire return True: shoal's do too, at
    once or after waiting, with a timeout or without one."""

    def main() -> None:
        for held in (shoal.Lock(), shoal.Semaphore(1)):

            def take(
                timeout: float | None, held: shoal.Lock | shoal.Semaphore = held
            ) -> bool:
                got = held.acquire(timeout=timeout)
                held.release()
                return got

            assert held.acquire() is True, held  # at once
            waiters = [shoal.spawn(take, 5), shoal.spawn(take, None)]
            shoal.schedule()  # both wait
            held.release()  # to the first, which gives it to the second
            assert [w.get() for w in waiters] == [True, True], held
            assert held.acquire(timeout=5) is True, held  # at once, timeout
            held.release()

    shoal.run(main)


def _cycle_of_locks(n: int) -> tuple[list[shoal.Lock], list[shoal.Tasklet]]:
    """``n`` tasklets t0..t(n-1), each holding lock i and waiting for lock
    i+1 (mod n): a deadlock, with main still running."""
    locks = [shoal.Lock() for _ in range(n)]

    def take(i: int) -> None:
        with locks[i]:
            shoal.schedule()  # the others take theirs
            with locks[(i + 1) % n]:
                pass

    ts = [shoal.spawn(take, i) for i in range(n)]
    for i, t in enumerate(ts):
        t.name = f"t{i}"
    shoal.schedule()  # each takes its own lock
    shoal.schedule()  # each waits for the next one's
    return locks, ts


@pytest.mark.parametrize("n", [2, 3])
def test_tasklets_waiting_for_each_others_locks_are_a_deadlock_told_by_name(
    n: int,
) -> None:
    """t0 holds lock 0 and waits for lock 1, ..., the last holds its lock and
    waits for lock 0: each repr names the holder by name, not by its repr
    (which says what it waits for in turn: the reprs recursed until
    RecursionError, and the deadlock report and dump_tasklets with them)."""
    locks, ts = _cycle_of_locks(n)
    for i in range(n):
        assert repr(locks[i]) == f"<Lock held by <Tasklet 't{i}'>>"
        nxt = (i + 1) % n
        assert repr(ts[i]) == (
            f"<Tasklet 't{i}' acquiring <Lock held by <Tasklet 't{nxt}'>>>"
        )
    out = io.StringIO()
    shoal.dump_tasklets(file=out)
    for t in ts:
        assert repr(t) in out.getvalue()
    with pytest.raises(shoal.DeadlockError) as info:
        ts[0].join()  # main blocks too: nobody can run
    for t in ts:
        assert repr(t) in str(info.value)
    for t in ts:
        t.kill()


def test_a_lock_held_by_a_joiner_of_its_waiter_is_a_deadlock_told_by_name() -> None:
    """a holds the lock and joins b; b waits for the lock: a join and a lock
    in one cycle, each told by name."""
    lock = shoal.Lock()
    ts: list[shoal.Tasklet] = []

    def a() -> None:
        with lock:
            ts[1].join()

    ts.extend([shoal.spawn(a), shoal.spawn(lock.acquire)])
    ts[0].name, ts[1].name = "a", "b"
    shoal.schedule()
    assert repr(lock) == "<Lock held by <Tasklet 'a'>>"
    assert repr(ts[0]) == "<Tasklet 'a' joining <Tasklet 'b'>>"
    assert repr(ts[1]) == "<Tasklet 'b' acquiring <Lock held by <Tasklet 'a'>>>"
    with pytest.raises(shoal.DeadlockError) as info:
        ts[0].join()
    assert repr(ts[0]) in str(info.value)
    assert repr(ts[1]) in str(info.value)
    for t in ts:
        t.kill()


def test_run_raises_deadlock_error_for_two_tasklets_on_two_locks() -> None:
    """The audit's case, in shoal.run: main holds lock a and waits for b,
    other holds b and waits for a. run raises DeadlockError (it raised
    RecursionError) naming both tasklets and both locks."""
    a, b = shoal.Lock(), shoal.Lock()

    def other() -> None:
        with b:
            shoal.sleep(0.01)
            with a:
                pass

    kinds: list[str] = []

    def main() -> None:
        # "tasklet" once shoal.stackless is imported: its main is one
        kinds.append(repr(shoal.current()).split()[0].lstrip("<"))
        shoal.spawn(other).name = "other"
        with a:
            shoal.sleep(0.02)
            with b:
                pass

    with pytest.raises(shoal.DeadlockError) as info:
        shoal.run(main)
    message = str(info.value)
    main_ = f"<{kinds[0]} 'main'"
    assert f"{main_} acquiring <Lock held by <Tasklet 'other'>>>" in message
    assert f"<Tasklet 'other' acquiring <Lock held by {main_}>>>" in message


@pytest.mark.parametrize(
    "make", [shoal.Event, shoal.Lock, lambda: shoal.Semaphore(2), shoal.Queue]
)
@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_primitives_cannot_be_copied_or_pickled(make: Any, how: str) -> None:
    """A copy would share the original's waiters: refused, as threading's
    primitives and shoal's channels refuse."""

    dup = pickle.dumps if how == "pickle" else getattr(copy, how)

    def main() -> None:
        prim = make()
        with pytest.raises(TypeError, match="cannot copy or pickle <"):
            dup(prim)

    shoal.run(main)
