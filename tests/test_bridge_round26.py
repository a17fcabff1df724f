"""Bridges, audit round 26: a wait done as its timeout runs out, ``await
tasklet`` from the wrong place and cancelled, ``shoal.run`` inside a running
asyncio loop, and a ``to_thread`` call that waited through shoal."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shoal
import shoal.socket
import shoal.subprocess
from shoal._scheduler import get_scheduler

if sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import ExceptionGroup

LOOPS = ["asyncio", "uvloop"]


# 1. A wait done as its timeout runs out has happened.


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("timeout", [0, -1, 0.0])
def test_await_with_no_time_never_runs_the_coroutine(loop: str, timeout: float) -> None:
    """As asyncio.wait_for(coro, 0): the coroutine never runs, and the
    timeout names it (await_ ran it, then raised TimeoutError: the side
    effect was done and the caller was told it had not happened). It is
    closed, never "never awaited"."""
    log: list[str] = []

    async def insert() -> str:
        log.append("row inserted")
        return "row id 7"

    def main() -> str:
        with pytest.raises(shoal.TimeoutError, match="insert") as info:
            shoal.await_(insert(), timeout=timeout)
        return str(info.value)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited"
        message = shoal.run(main, loop=loop)
        gc.collect()
    assert log == []
    assert "before it started" in message


@pytest.mark.parametrize("loop", LOOPS)
def test_await_with_no_time_of_a_done_future_gives_its_result(loop: str) -> None:
    """As asyncio.wait_for(future, 0): a future already done is no timeout."""

    def main() -> object:
        future = asyncio.get_running_loop().create_future()
        future.set_result("ready")
        return shoal.await_(future, timeout=0)

    assert shoal.run(main, loop=loop) == "ready"


async def _holds_the_loop_past(seconds: float, outcome: str) -> str:
    """Holds the loop past the caller's deadline, then ends in the loop's
    next round: the one where the deadline fires (uvloop runs its timers
    first, the stdlib loop after the callbacks already queued)."""
    time.sleep(seconds)
    await asyncio.sleep(0)
    if outcome == "raises":
        raise KeyError("its own failure")
    return "value"


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("outcome", ["returns", "raises"])
def test_await_of_a_task_done_as_its_timeout_runs_out_gives_its_outcome(
    loop: str, outcome: str
) -> None:
    """The task ends in the loop round where the deadline fires: it has
    happened, so await_ returns its value or raises its exception, as
    asyncio.wait_for does (await_ raised TimeoutError: the value was lost)."""

    def main() -> object:
        try:
            return shoal.await_(_holds_the_loop_past(0.05, outcome), timeout=0.01)
        except KeyError as exc:
            return f"raised {exc}"

    expected = "value" if outcome == "returns" else "raised 'its own failure'"
    assert shoal.run(main, loop=loop) == expected


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", ["asyncio", "concurrent"])
def test_wait_future_done_as_its_timeout_runs_out_gives_its_result(
    loop: str, kind: str
) -> None:
    """The future is completed in the loop round where the deadline fires
    (a callback held the loop past it): wait_future returns its result
    (it raised TimeoutError over a done future)."""

    def main() -> object:
        hub_loop = asyncio.get_running_loop()
        future: Any = (
            hub_loop.create_future()
            if kind == "asyncio"
            else concurrent.futures.Future()
        )

        def hold() -> None:
            time.sleep(0.05)
            hub_loop.call_soon(future.set_result, "value")

        hub_loop.call_soon(hold)
        return shoal.wait_future(future, timeout=0.01)

    assert shoal.run(main, loop=loop) == "value"


@pytest.mark.parametrize("loop", LOOPS)
def test_wait_future_still_times_out_when_the_future_is_not_done(loop: str) -> None:
    """The timeout of a future nobody completes: TimeoutError, the future
    left alone."""

    def main() -> bool:
        future = asyncio.get_running_loop().create_future()
        with pytest.raises(shoal.TimeoutError):
            shoal.wait_future(future, timeout=0.01)
        return future.cancelled()

    assert shoal.run(main, loop=loop) is False


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["kill", "throw"])
def test_an_interruption_during_await_wins_over_a_task_that_is_done(
    loop: str, how: str
) -> None:
    """Only the wait's own timeout turns into the outcome: a kill, or a
    TimeoutError thrown in, that comes in the round where the task ends
    (before its done callback) still interrupts the wait."""
    log: list[str] = []
    victim: list[shoal.Tasklet] = []

    def interrupt() -> None:
        if how == "kill":
            victim[0].kill()
        else:
            victim[0].throw(shoal.TimeoutError("thrown in"))

    async def ends_with_an_interruption() -> str:
        asyncio.get_running_loop().call_soon(interrupt)
        return "value"

    def waiter() -> None:
        try:
            shoal.await_(ends_with_an_interruption(), timeout=5)
            log.append("returned")
        except shoal.TaskletExit:
            log.append("killed")
            raise
        except shoal.TimeoutError as exc:
            log.append(str(exc))

    def main() -> None:
        victim.append(shoal.spawn(waiter))
        victim[0].join()

    shoal.run(main, loop=loop)
    assert log == ["killed" if how == "kill" else "thrown in"]


# 2. ``await tasklet`` from where it cannot be awaited.


def test_awaiting_a_tasklet_of_another_thread_is_refused_at_once() -> None:
    """The tasklet belongs to the main thread's run: asyncio code of another
    thread gets a RuntimeError naming it, and that thread is left with no
    stray relay tasklet (asyncio's "attached to a different loop" named
    neither, and the relay stayed there unstarted)."""
    found: dict[str, object] = {}

    def other(t: shoal.Tasklet) -> None:
        async def awaits() -> object:
            return await t

        try:
            asyncio.run(awaits())
        except RuntimeError as exc:
            found["error"] = str(exc)
        found["stray"] = list(get_scheduler().alive)
        found["hub"] = get_scheduler().hub

    def main() -> None:
        t = shoal.spawn(shoal.sleep, 0.2)
        th = threading.Thread(target=other, args=(t,))
        th.start()
        shoal.to_thread(th.join, 10)
        t.kill()

    shoal.run(main)
    assert "from another thread: tasklets never move between threads" in str(
        found["error"]
    )
    assert "Tasklet" in str(found["error"])
    assert found["stray"] == []
    assert found["hub"] is None


def test_awaiting_a_tasklet_from_another_loop_than_the_hubs_is_refused() -> None:
    """asyncio.run's own loop, in the tasklet's thread: a RuntimeError
    naming the tasklet and the loop, and no hub made for the thread
    (asyncio's "attached to a different loop" named neither, after a hub
    had been made, whose loop could never start in that thread)."""
    t = shoal.spawn(lambda: None)

    async def awaits() -> object:
        return await t

    with pytest.raises(RuntimeError, match="only on its thread's hub loop") as info:
        asyncio.run(awaits())
    assert "Tasklet" in str(info.value)
    assert "EventLoop" in str(info.value)
    assert get_scheduler().hub is None
    assert t.alive
    shoal.run(t.join)


@pytest.mark.parametrize("loop", LOOPS)
def test_asyncio_code_awaiting_the_hubs_stand_in_is_refused(
    loop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``await shoal.current()`` in asyncio code: current() is the hub's
    stand-in, which runs until the run ends; a RuntimeError naming it at
    once (the relay's join failed, was only printed, and the await hung)."""

    async def awaits_current() -> object:
        return await shoal.current()

    def main() -> None:
        with pytest.raises(RuntimeError, match="it stands for the hub"):
            shoal.await_(awaits_current(), timeout=2)

    shoal.run(main, loop=loop)
    assert "failed with" not in capsys.readouterr().err


@pytest.mark.parametrize("loop", LOOPS)
def test_asyncio_code_awaiting_the_tasklet_that_waits_for_it_is_refused(
    loop: str,
) -> None:
    """A tasklet in await_(coro), where coro awaits that very tasklet: each
    waits for the other; a RuntimeError naming the tasklet at once, as
    asyncio refuses a task awaiting itself (it waited out the timeout)."""

    def main() -> str:
        me = shoal.current()

        async def awaits_me() -> object:
            return await me

        with pytest.raises(RuntimeError, match="waits for this asyncio task") as info:
            shoal.await_(awaits_me(), timeout=2)
        return str(info.value)

    assert "main" in shoal.run(main, loop=loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_killed_relay_fails_the_await_rather_than_hang(loop: str) -> None:
    """The tasklet that relays the end of an awaited tasklet to the asyncio
    future is killed (code killing every tasklet of the thread): the
    awaiter gets its TaskletExit, rather than wait for ever."""

    async def awaits(t: shoal.Tasklet) -> object:
        return await t

    def main() -> str:
        t = shoal.spawn(shoal.sleep, 5)
        waiter = shoal.spawn(shoal.await_, awaits(t), timeout=2)
        shoal.sleep(0.01)  # the asyncio code awaits, the relay joins
        relays = [r for r in get_scheduler().alive if "relay" in r.name]
        assert len(relays) == 1
        relays[0].kill()
        waiter.join()
        t.kill()
        return type(waiter.exception).__name__

    assert shoal.run(main, loop=loop) == "TaskletExit"


# 3. Cancelling the asyncio code that awaits a tasklet kills the tasklet.


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["wait_for", "timeout", "cancel"])
def test_cancelling_the_asyncio_awaiter_of_a_tasklet_kills_it(
    loop: str, how: str
) -> None:
    """As cancelling an asyncio task that awaits another task cancels that
    one: the tasklet is killed, its finally block runs (it ran on, and
    did its work, after asyncio code had given up on it)."""
    log: list[str] = []

    def job() -> None:
        try:
            shoal.sleep(0.3)
            log.append("job finished its work")
        finally:
            log.append("job ended")

    async def wait_for(t: shoal.Tasklet) -> None:
        await asyncio.wait_for(t, 0.02)

    async def timeout(t: shoal.Tasklet) -> None:
        async with asyncio.timeout(0.02):
            await t

    async def cancel(t: shoal.Tasklet) -> None:
        async def awaits() -> None:
            await t

        task = asyncio.ensure_future(awaits())
        await asyncio.sleep(0.02)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            raise TimeoutError from None

    if how == "timeout" and sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout is new in Python 3.11")
    waiters = {"wait_for": wait_for, "timeout": timeout, "cancel": cancel}

    def main() -> tuple[bool, object]:
        t = shoal.spawn(job)
        with pytest.raises(TimeoutError):
            shoal.await_(waiters[how](t))
        t.join(timeout=1)
        return t.alive, type(t.exception).__name__

    assert shoal.run(main, loop=loop) == (False, "TaskletExit")
    assert log == ["job ended"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_shielded_tasklet_runs_on_when_its_awaiter_is_cancelled(loop: str) -> None:
    """asyncio.shield(tasklet) is the way not to kill it, as for a task."""
    log: list[str] = []

    def job() -> str:
        shoal.sleep(0.05)
        log.append("job finished its work")
        return "value"

    async def waiter(t: shoal.Tasklet) -> None:
        await asyncio.wait_for(asyncio.shield(t), 0.01)

    def main() -> object:
        t = shoal.spawn(job)
        with pytest.raises(TimeoutError):
            shoal.await_(waiter(t))
        return t.get(timeout=1)

    assert shoal.run(main, loop=loop) == "value"
    assert log == ["job finished its work"]


@pytest.mark.parametrize("loop", LOOPS)
def test_an_awaiter_that_ends_normally_kills_nothing(loop: str) -> None:
    """Only a cancelled await kills: two awaiters, one gets the value, and
    the tasklet is not touched by the other's end either."""

    async def awaits(t: shoal.Tasklet) -> object:
        return await t

    def main() -> tuple[object, object]:
        t = shoal.spawn(lambda: (shoal.sleep(0.01), "value")[1])
        first = shoal.await_(awaits(t))
        return first, t.exception

    assert shoal.run(main, loop=loop) == ("value", None)


# 4. shoal.run inside a running asyncio loop.


@pytest.mark.parametrize("loop", LOOPS)
def test_run_inside_a_running_asyncio_loop_is_refused_cleanly(
    loop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """asyncio code calling shoal.run: a RuntimeError naming shoal.run and
    what to do, as asyncio.run gives, before anything is made (the loop
    failed to start, and a shutdown task was left pending: "Task was
    destroyed", "never awaited" on stderr, two descriptors lost a call on
    uvloop; the conftest checks the descriptors)."""

    async def inside() -> list[str]:
        errors = []
        for _ in range(3):
            with pytest.raises(RuntimeError) as info:
                shoal.run(lambda: 1, loop=loop)
            errors.append(str(info.value))
        return errors

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = asyncio.run(inside())
        gc.collect()
    assert len(set(errors)) == 1
    assert "shoal.run() cannot be called from a running event loop" in errors[0]
    assert "to_thread" in errors[0]
    err = capsys.readouterr().err
    assert "Task was destroyed" not in err
    assert "never awaited" not in err
    assert get_scheduler().hub is None
    assert shoal.run(lambda: (shoal.sleep(0.001), "ok")[1], loop=loop) == "ok"


def test_run_inside_a_running_loop_leaves_tasklets_spawned_before_alone() -> None:
    """Refused before anything is touched: a tasklet spawned before the call
    is still there, and runs in the next run."""
    log: list[str] = []

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="running event loop"):
            shoal.run(lambda: None)

    t = shoal.spawn(log.append, "ran")
    asyncio.run(inside())
    assert t.alive
    shoal.run(t.join)
    assert log == ["ran"]


def test_a_run_whose_loop_fails_to_start_only_closes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loop's run_forever fails at once (as when another loop runs in
    the thread): shoal.run raises that, closes the loop, and leaves no
    shutdown task pending on it (it made one, which never ran: "Task was
    destroyed", "never awaited"), nor kills the tasklets spawned before."""
    import shoal._tasklet

    loops: list[asyncio.AbstractEventLoop] = []

    def broken_loop(name: str | None = None) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()

        def run_forever() -> None:
            raise RuntimeError("this loop cannot start")

        loop.run_forever = run_forever  # type: ignore[method-assign]
        loops.append(loop)
        return loop

    log: list[str] = []
    t = shoal.spawn(log.append, "ran")
    monkeypatch.setattr(shoal._tasklet, "new_loop", broken_loop)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="this loop cannot start"):
            shoal.run(lambda: None)
        gc.collect()
    monkeypatch.undo()
    assert loops[0].is_closed()
    assert asyncio.all_tasks(loops[0]) == set()
    err = capsys.readouterr().err
    assert "Task was destroyed" not in err
    assert "never awaited" not in err
    assert t.alive
    shoal.run(t.join)
    assert log == ["ran"]


# 5. A to_thread call that waited through shoal in the pool's thread.


def _running_loop() -> object:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@pytest.mark.parametrize("loop", LOOPS)
def test_a_to_thread_call_that_waited_through_shoal_leaves_its_thread_clean(
    loop: str,
) -> None:
    """The call sleeps through shoal in the pool's one thread, which makes
    a hub there: it is closed when the call returns, so no loop is left
    running in that thread, and asyncio.run works there next (it failed,
    every time, for good)."""

    async def name() -> str:
        return threading.current_thread().name

    def waits() -> str:
        shoal.sleep(0.001)
        return threading.current_thread().name

    def main() -> tuple[list[str], list[object], object]:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(1)
        )
        names = [shoal.to_thread(waits)]
        names += [shoal.to_thread(asyncio.run, name()) for _ in range(3)]
        loops = [shoal.to_thread(_running_loop)]
        hub = shoal.to_thread(lambda: get_scheduler().hub)
        return names, loops, hub

    names, loops, hub = shoal.run(main, loop=loop)
    assert len(set(names)) == 1
    assert loops == [None]
    assert hub is None


@pytest.mark.parametrize("loop", LOOPS)
def test_a_to_thread_calls_leftovers_end_with_it(loop: str) -> None:
    """What the call left in its thread ends when it returns, as at the end
    of shoal.run: a tasklet waiting there and one never started are killed
    (their finally blocks run), an asyncio task pending on that thread's
    loop is cancelled and awaited."""
    log: list[str] = []

    def sleeper() -> None:
        try:
            shoal.sleep(5)
        finally:
            log.append("sleeper ended")

    async def pending() -> None:
        try:
            await asyncio.sleep(5)
        finally:
            log.append("asyncio task ended")

    async def start() -> None:
        asyncio.get_running_loop().create_task(pending())

    def leaves_work() -> str:
        shoal.spawn(sleeper)
        shoal.await_(start())  # the sleeper waits too, now
        shoal.spawn(log.append, "never started")
        return "returned"

    def main() -> object:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(1)
        )
        return shoal.to_thread(leaves_work)

    assert shoal.run(main, loop=loop) == "returned"
    assert sorted(log) == ["asyncio task ended", "sleeper ended"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_to_thread_call_that_runs_shoal_run_is_left_alone(loop: str) -> None:
    """shoal.run in the pool's thread closes its own hub: the call returns
    its value, and the thread is reused."""

    def main() -> list[object]:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(1)
        )
        first = shoal.to_thread(shoal.run, lambda: (shoal.sleep(0.001), 1)[1])
        return [first, shoal.to_thread(_running_loop)]

    assert shoal.run(main, loop=loop) == [1, None]


# Audit round 27.

# 6. A to_thread call's tasklets end with it, hub or not.


def _one_thread_pool() -> None:
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(1)
    )


def _blocked(ch: shoal.Channel, log: list[str], name: str) -> None:
    try:
        ch.receive()
        log.append(f"{name} received")
    finally:
        log.append(f"{name} ended")


@pytest.mark.parametrize("loop", LOOPS)
def test_a_to_thread_calls_tasklets_end_with_it_though_it_made_no_hub(
    loop: str,
) -> None:
    """The call spawns tasklets and returns without waiting through shoal,
    so it makes no hub in its thread: they end when it returns all the
    same, as at the end of shoal.run. One blocked on a channel is killed
    (its finally runs), one never started never runs, not even inside a
    later call that waits on that thread (both were left alive for good,
    and the one never started ran inside the next call that waited)."""
    log: list[str] = []

    def call_a() -> bool:
        shoal.spawn(_blocked, shoal.Channel(), log, "blocked")
        shoal.schedule()  # it runs, and blocks on the channel
        shoal.spawn(log.append, "never started")
        return get_scheduler().hub is None

    def call_b() -> int:
        shoal.sleep(0.001)
        return len(get_scheduler().alive)

    def main() -> tuple[bool, list[str], int]:
        _one_thread_pool()
        made_no_hub = shoal.to_thread(call_a)
        ended = list(log)
        return made_no_hub, ended, shoal.to_thread(call_b)

    assert shoal.run(main, loop=loop) == (True, ["blocked ended"], 0)
    assert log == ["blocked ended"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_to_thread_calls_tasklet_whose_cleanup_waits_ends_with_its_hub(
    loop: str,
) -> None:
    """The call made no hub, but the cleanup of the tasklet it left waits
    through shoal, which makes one: the cleanup runs to its end, and that
    hub is ended too (no loop left running in the pool's thread)."""
    log: list[str] = []

    def waits_in_cleanup(ch: shoal.Channel) -> None:
        try:
            ch.receive()
        finally:
            shoal.sleep(0.001)
            log.append("cleanup done")

    def call() -> None:
        shoal.spawn(waits_in_cleanup, shoal.Channel())
        shoal.schedule()

    def main() -> tuple[list[str], object, object]:
        _one_thread_pool()
        shoal.to_thread(call)
        ended = list(log)
        hub = shoal.to_thread(lambda: get_scheduler().hub)
        return ended, hub, shoal.to_thread(_running_loop)

    assert shoal.run(main, loop=loop) == (["cleanup done"], None, None)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("waits", [False, True])
def test_a_to_thread_call_leaves_the_tasklets_that_were_there_before_alone(
    loop: str, waits: bool
) -> None:
    """A tasklet that code given to the pool some other way left in the
    thread (run_in_executor) is not the call's: it stays, blocked where it
    was, whether or not the call made a hub; the call's own is killed
    (before, the call's stayed too; one that made a hub killed both)."""
    log: list[str] = []

    def plant() -> shoal.Tasklet:
        t = shoal.spawn(_blocked, shoal.Channel(), log, "planted")
        shoal.schedule()
        return t

    def call() -> list[str]:
        shoal.spawn(_blocked, shoal.Channel(), log, "the call's")
        shoal.schedule()
        if waits:
            shoal.sleep(0.001)
        return list(log)

    def main() -> tuple[list[str], bool, list[str], list[str]]:
        _one_thread_pool()
        loop = asyncio.get_running_loop()
        planted = shoal.wait_future(loop.run_in_executor(None, plant))
        during = shoal.to_thread(call)
        after = list(log)
        alive = planted.alive
        shoal.wait_future(loop.run_in_executor(None, planted.kill))
        return during, alive, after, list(log)

    assert shoal.run(main, loop=loop) == (
        [],
        True,
        ["the call's ended"],
        ["the call's ended", "planted ended"],
    )


# 7. await_ in the hub is refused, whatever the timeout.


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("timeout", [None, 0, -1, 1])
def test_await_in_the_hub_is_refused_whatever_the_timeout(
    loop: str, timeout: float | None
) -> None:
    """Asyncio code calling await_: BlockingInHubError naming await_ and
    the coroutine, before anything starts, with no time too (it was a
    TimeoutError then, as if waiting had been possible); the coroutine is
    closed, never "never awaited"."""
    log: list[str] = []

    async def inner() -> int:
        log.append("inner ran")
        return 1

    async def in_hub() -> str:
        with pytest.raises(shoal.BlockingInHubError, match="inner") as info:
            shoal.await_(inner(), timeout=timeout)
        return str(info.value)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = shoal.run(shoal.await_, in_hub(), loop=loop)
        gc.collect()
    assert "await_(" in message
    assert log == []


@pytest.mark.parametrize("loop", LOOPS)
def test_await_in_the_hub_of_a_future_already_done_gives_its_result(
    loop: str,
) -> None:
    """Nothing to wait for: the hub may have its result, as before."""

    async def in_hub() -> object:
        future = asyncio.get_running_loop().create_future()
        future.set_result("ready")
        return shoal.await_(future, timeout=0), shoal.await_(future)

    assert shoal.run(shoal.await_, in_hub(), loop=loop) == ("ready", "ready")


# 8. Waits of shoal in asyncio code outside any run.


#: Each call, and how the refusal names it.
_OUTSIDE = {
    "sleep": "shoal.sleep()",
    "to_thread": "shoal.to_thread()",
    "await_": "shoal.await_()",
    "recv": "socket.recv()",
    "timeout": "CancelScope.__enter__()",
    "subprocess.run": "shoal.subprocess.run()",
    "check_output": "shoal.subprocess.check_output()",
    "serve_tcp": "shoal.serve_tcp()",
}


@pytest.mark.parametrize("call", sorted(_OUTSIDE))
def test_a_wait_in_asyncio_code_outside_a_run_is_refused_cleanly(
    call: str, tmp_path: Path
) -> None:
    """asyncio.run's loop runs in the thread, and shoal's wait would need
    its own: a RuntimeError naming the shoal call and saying what to do,
    as shoal.run gives there, and no hub made (asyncio's bare "Cannot run
    the event loop while another loop is running", and a hub left whose
    loop never started)."""
    a, b = shoal.socket.socketpair()

    async def nothing() -> None:
        pass

    def enter_a_scope() -> None:
        with shoal.timeout(1):
            pass

    mark = tmp_path / "child-started"
    child = [sys.executable, "-c", f"open({str(mark)!r}, 'w').close()"]
    calls: dict[str, Callable[[], object]] = {
        "sleep": lambda: shoal.sleep(0.01),
        "to_thread": lambda: shoal.to_thread(lambda: 1),
        "await_": lambda: shoal.await_(nothing()),
        "recv": lambda: a.recv(1),
        "timeout": enter_a_scope,
        # Refused before the child is started (and before binding).
        "subprocess.run": lambda: shoal.subprocess.run(child),
        "check_output": lambda: shoal.subprocess.check_output(child),
        "serve_tcp": lambda: shoal.serve_tcp(lambda sock, address: None),
    }

    async def waits() -> str:
        with pytest.raises(RuntimeError) as info:
            calls[call]()
        return str(info.value)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            message = asyncio.run(waits())
            gc.collect()
    finally:
        a.close()
        b.close()
    assert message.startswith(f"{_OUTSIDE[call]} cannot run in asyncio code")
    time.sleep(0.2)  # a child started anyway would have made its mark
    assert not mark.exists()
    assert "running event loop" in message
    assert "await asyncio.to_thread(shoal.run, fn)" in message
    assert "await tasklet" in message
    assert get_scheduler().hub is None
    assert shoal.run(lambda: (shoal.sleep(0.001), "ok")[1]) == "ok"


# 9. A cancelled ``await tasklet`` returns once the tasklet has ended.


def _cleanup_waits(log: list[str], fails: bool = False) -> None:
    try:
        shoal.sleep(5)
    finally:
        log.append("cleanup start")
        shoal.sleep(0.02)
        log.append("cleanup done")
        if fails:
            raise KeyError("its cleanup failed")


async def _awaits(t: shoal.Tasklet) -> object:
    return await t


async def _give_up_on(how: str, *tasklets: shoal.Tasklet) -> object:
    """Await the tasklets, cancelled after 20 ms the way ``how`` says."""
    if how == "wait_for":
        return await asyncio.wait_for(tasklets[0], 0.02)
    if how == "timeout":
        async with asyncio.timeout(0.02):
            return await tasklets[0]
    if how == "gather":
        async with asyncio.timeout(0.02):
            return await asyncio.gather(*tasklets)
    if how == "task_group":

        async def fails() -> None:
            await asyncio.sleep(0.02)
            raise OSError("a sibling failed")

        try:
            async with asyncio.TaskGroup() as tg:
                for t in tasklets:
                    tg.create_task(_awaits(t))
                tg.create_task(fails())
        except ExceptionGroup as group:
            if group.subgroup(OSError) is None:  # not the sibling's failure
                raise
            raise TimeoutError from None
        return None
    task = asyncio.ensure_future(_awaits(tasklets[0]))  # "cancel"
    await asyncio.sleep(0.02)
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        raise TimeoutError from None


HOWS = ["wait_for", "timeout", "gather", "task_group", "cancel"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup, timeout")
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", HOWS)
def test_a_cancelled_await_of_a_tasklet_ends_once_its_cleanup_has_run(
    loop: str, how: str
) -> None:
    """As an asyncio task awaiting a task that it cancels: the awaiter's
    cancellation (and so wait_for's or timeout's TimeoutError, a task
    group's failure) comes once the tasklet's cleanup has run (it came at
    once, and code after the block ran while the cleanup went on)."""
    log: list[str] = []

    async def coro() -> None:
        tasklets = [shoal.spawn(_cleanup_waits, log)]
        if how in ("gather", "task_group"):
            tasklets.append(shoal.spawn(_cleanup_waits, log))
        try:
            await _give_up_on(how, *tasklets)
        except TimeoutError:
            alive = [t.alive for t in tasklets]
            log.append(f"awaiter gave up; alive={alive}")

    def main() -> None:
        shoal.await_(coro())
        log.append("await_ returned")

    shoal.run(main, loop=loop)
    n = 2 if how in ("gather", "task_group") else 1
    assert sorted(log[:-2]) == ["cleanup done"] * n + ["cleanup start"] * n
    assert log[-2:] == [f"awaiter gave up; alive={[False] * n}", "await_ returned"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout")
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["wait_for", "timeout", "cancel"])
def test_an_error_of_a_cancelled_tasklets_cleanup_reaches_its_awaiter(
    loop: str, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """As for a task whose cleanup raises: the awaiter gets that error
    rather than its cancellation (it was only printed, the awaiter long
    gone)."""
    log: list[str] = []

    async def coro() -> str:
        t = shoal.spawn(_cleanup_waits, log, True)
        try:
            await _give_up_on(how, t)
        except KeyError as exc:
            return f"awaiter got {exc}"
        return "no error"

    assert shoal.run(shoal.await_, coro(), loop=loop) == (
        "awaiter got 'its cleanup failed'"
    )
    assert log == ["cleanup start", "cleanup done"]
    capsys.readouterr()  # the tasklet's failure is printed, as any


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout")
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["wait_for", "timeout", "cancel"])
def test_a_tasklet_that_ignores_the_kill_is_like_a_task_that_ignores_cancel(
    loop: str, how: str
) -> None:
    """The tasklet catches the kill and returns a value: the awaiter gets
    that value, as from a task that swallows its CancelledError (asyncio's
    own outcome is checked alongside)."""

    def stubborn() -> str:
        try:
            shoal.sleep(5)
        except shoal.TaskletExit:
            shoal.sleep(0.01)
            return "kept going"
        return "slept"

    async def stubborn_task() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)
            return "kept going"
        return "slept"

    async def with_task() -> object:
        return await _give_up_on(how, asyncio.ensure_future(stubborn_task()))  # type: ignore[arg-type]

    async def with_tasklet() -> object:
        return await _give_up_on(how, shoal.spawn(stubborn))

    assert asyncio.run(with_task()) == "kept going"
    assert shoal.run(shoal.await_, with_tasklet(), loop=loop) == "kept going"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancel_after_the_tasklet_ended_cancels_its_awaiter(
    loop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tasklet has ended (killed from asyncio code, its cleanup raised)
    but its outcome has not reached the awaiter yet when the awaiter is
    cancelled: the awaiter is cancelled, as an asyncio task awaiting a task
    that is done is; it does not get the tasklet's error instead."""

    def fails_when_killed() -> None:
        try:
            shoal.sleep(5)
        except shoal.TaskletExit:
            raise KeyError("killed") from None

    async def coro() -> str:
        t = shoal.spawn(fails_when_killed)
        task = asyncio.ensure_future(_awaits(t))
        await asyncio.sleep(0.01)  # the task awaits, the tasklet sleeps
        t.kill()  # from the hub: it ends now, its relay runs next round
        assert t.dead
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        except KeyError:
            return "KeyError"
        return "no error"

    assert shoal.run(shoal.await_, coro(), loop=loop) == "cancelled"
    capsys.readouterr()  # the tasklet's failure is printed, as any
