"""Scoped timeouts and timeout= on blocking calls, at the edges."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import pytest

import shoal


def _run(fn: object) -> object:
    return shoal.run(fn)  # type: ignore[arg-type]


def test_timeout_expires_during_a_receive_and_leaves_nothing_behind() -> None:
    """The receive is abandoned: the channel has no waiter, nothing taken."""

    def main() -> None:
        ch = shoal.Channel()
        start = time.monotonic()
        with pytest.raises(shoal.TimeoutError, match="timed out"), shoal.timeout(0.02):
            ch.receive()
        assert time.monotonic() - start >= 0.018
        assert ch.balance == 0

    _run(main)


def test_timeout_error_types() -> None:
    """shoal.TimeoutError is the builtin TimeoutError and a shoal.Error."""
    assert issubclass(shoal.TimeoutError, TimeoutError)
    assert issubclass(shoal.TimeoutError, shoal.Error)


def test_move_on_after_leaves_the_block_silently() -> None:
    """The rest of the block is skipped; cancelled_caught tells."""
    log: list[str] = []

    def main() -> None:
        with shoal.move_on_after(0.01) as scope:
            shoal.sleep(5)
            log.append("not reached")
        log.append(f"after, caught={scope.cancelled_caught}")

    _run(main)
    assert log == ["after, caught=True"]


def test_a_scope_that_exited_never_fires_later() -> None:
    """A block that finished in time: no exception then, nor afterwards."""

    def main() -> bool:
        with shoal.timeout(0.01) as scope:
            pass
        shoal.sleep(0.03)  # well past the deadline
        return scope.cancelled_caught

    assert _run(main) is False


@pytest.mark.parametrize("after", ["sleep", "channel"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_scope_whose_read_completed_as_it_expired_never_fires_later(
    loop: str, after: str
) -> None:
    """The data and the deadline are both due in one round of the loop (the
    thread was blocked past both). Either the read wins, the block ends,
    and nothing is raised later; or the timeout wins, the read has not
    happened, and the data is still there to read."""
    log: list[object] = []

    def main() -> None:
        a, b = shoal.socket.socketpair()
        with a, b:

            def reader() -> None:
                try:
                    with shoal.timeout(0.02):
                        log.append(("got", a.recv(10)))
                except shoal.TimeoutError:
                    log.append(("timed out, then read", a.recv(10)))
                # Past the deadline, outside the scope: its next switch point,
                # or its next channel action.
                if after == "sleep":
                    shoal.sleep(0.05)
                else:
                    ch = shoal.Channel(1)
                    ch.send("x")
                    ch.receive()
                log.append("after sleep")

            r = shoal.spawn(reader)
            shoal.sleep(0)  # the reader waits for data
            b.sendall(b"data")
            time.sleep(0.05)  # blocks the thread, and so the hub
            r.get(timeout=5)

    shoal.run(main, loop=loop)
    assert log in (
        [("got", b"data"), "after sleep"],
        [("timed out, then read", b"data"), "after sleep"],
    )


def test_operation_done_just_in_time_is_not_reported_failed() -> None:
    """A receive that completes before the deadline returns its value."""

    def main() -> object:
        ch = shoal.Channel()
        shoal.spawn(lambda: (shoal.sleep(0.005), ch.send("in time")))
        with shoal.timeout(0.5):
            return ch.receive()

    assert _run(main) == "in time"


def test_inner_scope_expiring_first_wins() -> None:
    """Nested: the inner, shorter scope catches its own expiry."""
    log: list[str] = []

    def main() -> None:
        with shoal.move_on_after(1.0) as outer:
            with shoal.move_on_after(0.01) as inner:
                shoal.sleep(5)
            log.append(f"inner caught={inner.cancelled_caught}")
        log.append(f"outer caught={outer.cancelled_caught}")

    _run(main)
    assert log == ["inner caught=True", "outer caught=False"]


def test_outer_scope_expiring_first_passes_through_the_inner() -> None:
    """Nested: the outer, shorter scope's expiry runs the inner's cleanup
    but is not caught by it."""
    log: list[str] = []

    def main() -> None:
        with shoal.move_on_after(0.01) as outer:
            try:
                with shoal.move_on_after(1.0) as inner:
                    shoal.sleep(5)
            finally:
                log.append(f"inner finally, caught={inner.cancelled_caught}")
            log.append("not reached")
        log.append(f"outer caught={outer.cancelled_caught}")

    _run(main)
    assert log == ["inner finally, caught=False", "outer caught=True"]


def test_except_exception_does_not_swallow_an_expiry() -> None:
    """The expiry is a BaseException until its scope turns it into a result."""
    log: list[str] = []

    def main() -> None:
        with shoal.move_on_after(0.01):
            try:
                shoal.sleep(5)
            except Exception:  # pragma: no cover - must not happen
                log.append("swallowed")

    _run(main)
    assert log == []


def test_timeout_fires_while_busy_yielding() -> None:
    """A tasklet that only yields (never blocks) still times out."""

    def main() -> int:
        spins = 0
        other = shoal.spawn(lambda: [shoal.schedule() for _ in range(200_000)])
        with shoal.move_on_after(0.02):
            for _ in range(2_000_000):
                spins += 1
                shoal.schedule()
        other.kill()
        return spins

    assert 0 < _run(main) < 2_000_000  # type: ignore[operator]


def test_kill_inside_a_scope_is_not_turned_into_a_timeout() -> None:
    """A kill passes through the scope; its timer is cancelled."""

    def victim() -> None:
        with shoal.timeout(0.05):
            shoal.sleep(5)

    def main() -> object:
        t = shoal.spawn(victim)
        shoal.schedule()
        t.kill()
        shoal.sleep(0.08)  # past the deadline: nothing fires
        return t.exception

    assert isinstance(_run(main), shoal.TaskletExit)


def test_timeout_keyword_on_send_receive_select_join_get() -> None:
    """Every blocking call takes timeout=; a timed-out one did not happen."""

    def main() -> None:
        ch = shoal.Channel()
        with pytest.raises(shoal.TimeoutError):
            ch.send("lost", timeout=0.01)
        with pytest.raises(shoal.WouldBlock):
            ch.receive_nowait()  # nothing was left in the channel
        with pytest.raises(shoal.TimeoutError):
            ch.receive(timeout=0.01)
        with pytest.raises(shoal.TimeoutError):
            shoal.select(ch.receive_case(), ch.send_case(1), timeout=0.01)
        assert ch.balance == 0
        slow = shoal.spawn(shoal.sleep, 5)
        with pytest.raises(shoal.TimeoutError):
            slow.join(timeout=0.01)
        with pytest.raises(shoal.TimeoutError):
            slow.get(timeout=0.01)
        assert slow.alive
        slow.kill()
        quick = shoal.spawn(lambda: 3)
        assert quick.get(timeout=1) == 3
        shoal.spawn(ch.send, "ok")
        assert ch.receive(timeout=1) == "ok"

    _run(main)


def test_timeouts_on_a_buffered_channel() -> None:
    """A send that waits for buffer room times out and leaves the buffer."""

    def main() -> None:
        ch = shoal.Channel(1)
        ch.send("first", timeout=0.01)  # room: no wait
        with pytest.raises(shoal.TimeoutError):
            ch.send("second", timeout=0.01)
        assert ch.receive_nowait() == "first"
        with pytest.raises(shoal.WouldBlock):
            ch.receive_nowait()

    _run(main)


@pytest.mark.parametrize(("bad", "error"), [("1", TypeError), (math.nan, ValueError)])
def test_bad_durations_are_refused(bad: object, error: type[Exception]) -> None:
    """A timeout needs a number; NaN is refused."""
    with pytest.raises(error, match="timeout needs a number"):
        shoal.timeout(bad)  # type: ignore[arg-type]


def test_a_scope_cannot_be_entered_twice() -> None:
    """Reusing a scope object is an error, not a silent second timer."""

    def main() -> None:
        scope = shoal.move_on_after(1)
        with scope:
            pass
        with pytest.raises(RuntimeError, match="entered twice"), scope:
            pass  # pragma: no cover

    _run(main)


def test_many_scopes_come_and_go_and_the_live_ones_still_fire() -> None:
    """Thousands of scopes that end early leave nothing behind, and the
    deadlines of the scopes still open fire in order: a later, shorter
    scope first."""
    from shoal._hub import get_hub

    fired: list[str] = []

    def sleeper(name: str, limit: float) -> None:
        with shoal.move_on_after(limit) as scope:
            shoal.sleep(10)
        assert scope.cancelled_caught
        fired.append(name)

    def main() -> None:
        for _ in range(5000):
            with shoal.timeout(60):
                pass
        timers = get_hub().timers
        assert len(timers.heap) < 200  # compacted as scopes ended
        slow = shoal.spawn(sleeper, "slow", 0.2)
        shoal.sleep(0)
        fast = shoal.spawn(sleeper, "fast", 0.05)  # later, but due sooner
        slow.join(timeout=5)
        fast.join(timeout=5)
        assert len(timers.heap) < 200

    shoal.run(main)
    assert fired == ["fast", "slow"]


@pytest.mark.parametrize("how", ["move_on_after", "receive_timeout", "event_timeout"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_deadlock_after_a_timeout_fired_is_still_reported(
    how: str, loop: str
) -> None:
    """A timeout fires (its throw runs from the hub), then the tasklet
    blocks with nothing left to wake it: DeadlockError, not a hang. Run in
    a thread, so that a hang fails the test instead of the suite."""
    import threading

    outcome: list[str] = []

    def main() -> None:
        ch = shoal.Channel()
        if how == "move_on_after":
            with shoal.move_on_after(0.01):
                ch.receive()
        elif how == "receive_timeout":
            with pytest.raises(shoal.TimeoutError):
                ch.receive(timeout=0.01)
        else:
            with pytest.raises(shoal.TimeoutError):
                shoal.Event().wait(timeout=0.01)
        try:
            ch.receive()
        except shoal.DeadlockError:
            outcome.append("deadlock reported")

    th = threading.Thread(target=shoal.run, args=(main,), kwargs={"loop": loop})
    th.daemon = True  # should it hang, it must not hold the test run
    th.start()
    th.join(timeout=10)
    assert not th.is_alive(), "the deadlock hung"
    assert outcome == ["deadlock reported"]


_FOREVER = {
    "timeout": lambda: _in(shoal.timeout(math.inf), shoal.Channel().receive),
    "move_on_after": lambda: _in(shoal.move_on_after(math.inf), shoal.Event().wait),
    "receive": lambda: shoal.Channel().receive(timeout=math.inf),
    "event": lambda: shoal.Event().wait(timeout=math.inf),
    "queue": lambda: shoal.Queue().get(timeout=math.inf),
    "select": lambda: shoal.select(shoal.Channel().receive_case(), timeout=math.inf),
    "sleep": lambda: shoal.sleep(math.inf),
}


def _in(scope: shoal.CancelScope, wait: Callable[[], object]) -> None:
    with scope:
        wait()


@pytest.mark.parametrize("how", sorted(_FOREVER))
def test_an_infinite_timeout_is_no_waker(how: str) -> None:
    """A wait whose only limit is an infinite timeout, with nothing else to
    wake it, waits for ever: a deadlock, reported as any other (the hub's
    count of waiters is left as it was, so a second one is reported too)."""
    import threading

    outcome: list[str] = []

    def main() -> None:
        for _ in range(2):
            try:
                _FOREVER[how]()
            except shoal.DeadlockError:
                outcome.append("deadlock reported")

    th = threading.Thread(target=shoal.run, args=(main,))
    th.daemon = True  # should it hang, it must not hold the test run
    th.start()
    th.join(timeout=10)
    assert not th.is_alive(), "the deadlock hung"
    assert outcome == ["deadlock reported"] * 2


def test_an_infinite_timeout_lets_its_wait_end_as_usual() -> None:
    def main() -> list[object]:
        ch = shoal.Channel()
        shoal.spawn(lambda: (shoal.sleep(0.01), ch.send(1), ch.send(2)))
        got: list[object] = [ch.receive(timeout=math.inf)]
        with shoal.timeout(math.inf) as scope:
            got.append(ch.receive())
        got.append(scope.cancelled_caught)
        return got

    assert shoal.run(main) == [1, 2, False]


_NAN_WAITS = {
    "wait_future": lambda: shoal.wait_future(
        __import__("concurrent.futures").futures.Future(), timeout=float("nan")
    ),
    "await_": lambda: shoal.await_(
        __import__("asyncio").sleep(100), timeout=float("nan")
    ),
}


@pytest.mark.parametrize("kind", sorted(_NAN_WAITS))
def test_a_nan_timeout_of_a_wait_in_the_hub_is_refused_and_harms_no_other(
    kind: str,
) -> None:
    """timeout=nan is a ValueError, as the stdlib's sleep and waits say; it
    used to be taken, and a NaN deadline stopped every other timer of the
    hub (another tasklet's sleep never ended)."""

    import concurrent.futures

    def attempt() -> str:
        try:
            _NAN_WAITS[kind]()
        except ValueError as e:
            return f"refused: {e}"
        return "returned"

    def main() -> tuple[str, str]:
        # Each bound is a thread's, which no hub timer can stop.
        pool = concurrent.futures.ThreadPoolExecutor(2)
        try:
            waited = "waited for the bound"
            first = shoal.oneof(
                attempt,
                lambda: (shoal.wait_future(pool.submit(time.sleep, 2)), waited)[1],
            )
            second = shoal.oneof(
                lambda: (shoal.sleep(0.01), "slept")[1],
                lambda: (shoal.wait_future(pool.submit(time.sleep, 2)), waited)[1],
            )
            return first, second
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    first, second = shoal.run(main)
    assert first.startswith("refused")
    assert "nan" in first
    assert second == "slept"


def _future_wait(seconds: float) -> None:
    import concurrent.futures

    shoal.wait_future(concurrent.futures.Future(), timeout=seconds)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize(
    "wait", [shoal.sleep, _future_wait], ids=["sleep", "wait_future"]
)
def test_deadlines_due_together_where_one_expiry_cancels_another(
    wait: Callable[[float], object], loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A scope and the wait inside it, of the same length, and a bystander
    sleeping as long: all three are due in one firing of the hub's timer.
    The scope expires first and its tasklet leaves the wait, cancelling
    that wait's entry, already among the due ones: it must be skipped, and
    the bystander must wake (the firing crashed, and it slept for ever)."""

    def main() -> object:
        other = shoal.spawn(lambda: (shoal.sleep(0.05), "woke")[1])
        # (the wait's own timeout may come first: suppressed)
        with shoal.move_on_after(0.05), contextlib.suppress(shoal.TimeoutError):
            wait(0.05)
        return other.get(timeout=2)

    assert shoal.run(main, loop=loop) == "woke"
    assert "Exception in callback" not in caplog.text


def _ready_waits() -> dict[str, Callable[[object], object]]:
    """Each: a blocking call that would not wait, given ``timeout``."""
    event, lock, sem, queue = (
        shoal.Event(),
        shoal.Lock(),
        shoal.Semaphore(1),
        shoal.Queue(),
    )
    event.set()
    queue.put(1)
    done = shoal.spawn(lambda: None)
    done.join()
    import asyncio
    import concurrent.futures

    finished: concurrent.futures.Future[int] = concurrent.futures.Future()
    finished.set_result(1)
    ready = asyncio.get_running_loop().create_future()
    ready.set_result(1)
    return {
        "wait_future": lambda t: shoal.wait_future(finished, timeout=t),  # type: ignore[arg-type]
        "await_": lambda t: shoal.await_(ready, timeout=t),  # type: ignore[arg-type]
        "Event.wait": lambda t: event.wait(timeout=t),
        "Lock.acquire": lambda t: lock.acquire(timeout=t),
        "Semaphore.acquire": lambda t: sem.acquire(timeout=t),
        "Queue.get": lambda t: queue.get(timeout=t),
        "Queue.put": lambda t: shoal.Queue().put(1, timeout=t),
        "Queue.join": lambda t: shoal.Queue().join(timeout=t),
        "Tasklet.join": lambda t: done.join(timeout=t),
        "Tasklet.get": lambda t: done.get(timeout=t),
    }


_NAMES = sorted(shoal.run(lambda: list(_ready_waits())))


@pytest.mark.parametrize("name", _NAMES)
@pytest.mark.parametrize(
    ("bad", "error"),
    [("x", TypeError), ([1], TypeError), (math.nan, ValueError)],
)
def test_a_bad_timeout_is_refused_even_when_the_call_would_not_wait(
    name: str, bad: object, error: type[Exception]
) -> None:
    """As threading.Lock.acquire(timeout="x"): the argument is checked
    whether or not the call waits (it was only when it waited)."""

    def main() -> None:
        with pytest.raises(error, match="timeout"):
            _ready_waits()[name](bad)

    shoal.run(main)


def _completions() -> dict[str, tuple[Callable[[], object], ...]]:
    """Each: (what the waker does first, a wait with ``timeout=0.05``,
    what the waker does to complete it)."""
    event, lock, sem = shoal.Event(), shoal.Lock(), shoal.Semaphore(0)
    queue, full = shoal.Queue(), shoal.Queue(1)
    ch, gate = shoal.Channel(), shoal.Channel()
    full.put("old")
    worker = shoal.spawn(gate.receive)  # ends with what it is sent
    nothing = lambda: None  # noqa: E731
    return {
        "Tasklet.join": (
            nothing,
            lambda: worker.join(timeout=0.05),
            lambda: gate.send(None),
        ),
        "Tasklet.get": (
            nothing,
            lambda: worker.get(timeout=0.05),
            lambda: gate.send("result"),
        ),
        "Event.wait": (nothing, lambda: event.wait(timeout=0.05), event.set),
        "Lock.acquire": (
            lock.acquire,
            lambda: lock.acquire(timeout=0.05),
            lock.release,
        ),
        "Semaphore.acquire": (nothing, lambda: sem.acquire(timeout=0.05), sem.release),
        "Queue.get": (
            nothing,
            lambda: queue.get(timeout=0.05),
            lambda: queue.put("item"),
        ),
        "Queue.put": (nothing, lambda: full.put("new", timeout=0.05), full.get),
        "Channel.receive": (
            nothing,
            lambda: ch.receive(timeout=0.05),
            lambda: ch.send("v"),
        ),
    }


_COMPLETED = {
    "Tasklet.get": "result",
    "Queue.get": "item",
    "Channel.receive": "v",
    "Event.wait": True,
    "Lock.acquire": True,
    "Semaphore.acquire": True,
}


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("name", sorted(shoal.run(lambda: list(_completions()))))
def test_a_wait_completed_as_its_timeout_expires_has_happened(
    name: str, loop: str
) -> None:
    """The waker holds the thread past the waiter's deadline, then
    completes the wait: the hub fires the expired deadline before the
    waiter runs again. The wait happened, so it returns its result rather
    than raise ``TimeoutError`` (a join or get raised it, over a tasklet
    that had finished: get lost its value); gevent's join and get return
    too."""

    def main() -> object:
        prepare, wait, complete = _completions()[name]

        def waker() -> None:
            prepare()
            shoal.schedule()  # main starts its wait
            time.sleep(0.1)  # blocks the thread past the deadline
            complete()

        shoal.spawn(waker)
        shoal.schedule()
        return wait()

    assert shoal.run(main, loop=loop) == _COMPLETED.get(name)


def _lock_held_elsewhere() -> None:
    lock = shoal.Lock()
    holder = shoal.spawn(lambda: (lock.acquire(), shoal.sleep(1)))
    shoal.schedule()
    try:
        lock.acquire(timeout=0.01)
    finally:
        holder.kill()


def _put_into_a_full_queue() -> None:
    queue = shoal.Queue(1)
    queue.put_nowait(0)
    queue.put(1, timeout=0.01)


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: shoal.Queue().get(timeout=0.01), "getting from <Queue "),
        (_put_into_a_full_queue, "putting into <Queue "),
        (lambda: shoal.Event().wait(timeout=0.01), "waiting for <Event "),
        (lambda: shoal.Semaphore(0).acquire(timeout=0.01), "acquiring <Semaphore "),
        (_lock_held_elsewhere, "acquiring <Lock "),
        (lambda: shoal.Channel().receive(timeout=0.01), "receive() on <Channel "),
        (lambda: shoal.Channel().send(1, timeout=0.01), "send() on <Channel "),
        (lambda: shoal.spawn(shoal.sleep, 1).join(timeout=0.01), "join() on <Tasklet "),
        (lambda: shoal.spawn(shoal.sleep, 1).get(timeout=0.01), "join() on <Tasklet "),
        (lambda: shoal.oneof(lambda: shoal.sleep(1), timeout=0.01), "oneof(): "),
        (lambda: shoal.allof(lambda: shoal.sleep(1), timeout=0.01), "allof(): "),
        (
            lambda: shoal.select(shoal.Channel().receive_case(), timeout=0.01),
            "select(): ",
        ),
    ],
)
def test_the_timeout_of_a_call_names_what_timed_out(
    call: Callable[[], object], says: str
) -> None:
    """The ``shoal.TimeoutError`` of a ``timeout=`` says what the call was
    doing, as those of sockets, ``wait_future`` and ``await_`` do."""

    def main() -> str:
        with pytest.raises(shoal.TimeoutError) as info:
            call()
        return str(info.value)

    message = shoal.run(main)
    assert message.startswith(says)
    assert message.endswith(": timed out after 0.01 s")


def test_an_inner_scope_keeps_its_own_message() -> None:
    """A scope inside a call's own timeout that expires first raises its
    plain message: only the call's own expiry is named after the call."""

    def inner() -> None:
        with shoal.timeout(0.01):
            shoal.sleep(1)

    def main() -> str:
        with pytest.raises(shoal.TimeoutError) as info:
            shoal.oneof(inner, timeout=5)
        return str(info.value)

    assert shoal.run(main) == "timed out after 0.01 s"
