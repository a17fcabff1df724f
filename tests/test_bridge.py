"""Bridges: wait_future, to_thread, await_, and awaiting a tasklet from asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import re
import threading
import time

import pytest

import shoal
from shoal._hub import get_hub

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def _ticker(ticks: list[int], stop: list[bool]) -> None:
    while not stop:
        ticks.append(1)
        shoal.sleep(0.002)


def test_wait_future_from_another_thread_while_others_run() -> None:
    """Only the waiting tasklet waits; a thread's result wakes it."""
    ticks: list[int] = []
    stop: list[bool] = []

    def main() -> str:
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        shoal.spawn(_ticker, ticks, stop)
        threading.Timer(0.05, future.set_result, ("done",)).start()
        value = shoal.wait_future(future)
        stop.append(True)
        return value

    assert shoal.run(main) == "done"
    assert len(ticks) >= 3


def test_wait_future_raises_the_futures_exception() -> None:
    """A failed future raises its exception in the waiting tasklet."""

    def main() -> None:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        threading.Timer(0.01, future.set_exception, (KeyError("lost"),)).start()
        with pytest.raises(KeyError, match="lost"):
            shoal.wait_future(future)

    shoal.run(main)


def test_wait_future_already_done_does_not_switch() -> None:
    """A done future's result comes back at once."""
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    future.set_result(7)
    log: list[str] = []
    t = shoal.spawn(log.append, "other")
    assert shoal.wait_future(future) == 7
    assert log == []
    t.join()


def test_wait_future_timeout_leaves_the_future_and_ignores_it_later() -> None:
    """A timeout raises shoal.TimeoutError; the late result wakes nobody."""

    def main() -> None:
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        start = time.monotonic()
        with pytest.raises(shoal.TimeoutError) as info:
            shoal.wait_future(future, timeout=0.02)
        assert isinstance(info.value, TimeoutError)
        assert time.monotonic() - start >= 0.018
        assert get_hub().waiting == 0
        future.set_result("late")
        shoal.sleep(0.01)  # the late callback arrives and is ignored
        assert get_hub().waiting == 0
        assert not future.cancelled()

    shoal.run(main)


def test_wait_future_on_an_asyncio_future() -> None:
    """An asyncio future of the hub's loop, completed by another tasklet."""

    def main() -> int:
        future = get_hub().loop.create_future()
        shoal.spawn(lambda: (shoal.sleep(0.005), future.set_result(41)))
        return shoal.wait_future(future) + 1

    assert shoal.run(main) == 42


def test_wait_future_rejects_other_loops_and_non_futures() -> None:
    """A future of another loop, or not a future at all, is refused clearly."""

    def main() -> None:
        other = asyncio.new_event_loop()
        try:
            with pytest.raises(ValueError, match="another event loop"):
                shoal.wait_future(other.create_future())
        finally:
            other.close()
        with pytest.raises(TypeError, match="got 3"):
            shoal.wait_future(3)  # type: ignore[arg-type]

    shoal.run(main)


def test_kill_while_waiting_for_a_future() -> None:
    """A killed waiter stops waiting; the future's completion is ignored."""

    def main() -> None:
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        t = shoal.spawn(shoal.wait_future, future)
        shoal.schedule()
        assert "waiting for" in repr(t)
        t.kill()
        assert get_hub().waiting == 0
        future.set_result("nobody")
        shoal.sleep(0.01)
        assert isinstance(t.exception, shoal.TaskletExit)

    shoal.run(main)


def test_to_thread_runs_elsewhere_with_the_context() -> None:
    """to_thread runs in a pool thread, with this tasklet's context vars."""

    def where() -> tuple[int, str]:
        return threading.get_ident(), VAR.get()

    def main() -> tuple[int, str]:
        VAR.set("from tasklet")
        return shoal.to_thread(where)

    ident, value = shoal.run(main)
    assert ident != threading.get_ident()
    assert value == "from tasklet"


def test_to_thread_blocking_call_lets_others_run() -> None:
    """A blocking call in a thread: other tasklets keep running."""
    ticks: list[int] = []
    stop: list[bool] = []

    def main() -> str:
        shoal.spawn(_ticker, ticks, stop)
        value = shoal.to_thread(lambda: (time.sleep(0.05), "slept")[1])
        stop.append(True)
        return value

    assert shoal.run(main) == "slept"
    assert len(ticks) >= 3


def test_to_thread_raises_the_functions_exception() -> None:
    """An exception in the thread comes out of to_thread."""

    def boom() -> None:
        raise ValueError("in thread")

    with pytest.raises(ValueError, match="in thread"):
        shoal.run(shoal.to_thread, boom)


def test_await_a_coroutine() -> None:
    """await_ runs a coroutine on the hub loop and returns its result."""

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0.005)
        return a + b

    assert shoal.run(shoal.await_, add(2, 3)) == 5


def test_await_raises_and_times_out_and_cancels() -> None:
    """Exceptions come through; a timeout cancels the asyncio task."""
    cancelled: list[bool] = []

    async def fail() -> None:
        raise LookupError("async")

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def main() -> None:
        with pytest.raises(LookupError, match="async"):
            shoal.await_(fail())
        with pytest.raises(shoal.TimeoutError):
            shoal.await_(forever(), timeout=0.01)
        shoal.sleep(0.005)  # the cancellation is delivered
        assert cancelled == [True]

    shoal.run(main)


def test_killing_the_tasklet_cancels_its_asyncio_task() -> None:
    """A tasklet killed in await_ cancels the coroutine it was awaiting."""
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def main() -> None:
        t = shoal.spawn(shoal.await_, forever())
        shoal.sleep(0.005)
        t.kill()
        assert cancelled == [True]  # kill() waited for the task to end

    shoal.run(main)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("how", ["kill", "timeout", "scope", "oneof"])
def test_await_returns_only_once_its_cancelled_task_has_finished(
    loop: str, how: str
) -> None:
    """As asyncio.wait_for: a kill, a timeout or a scope around await_ (or a
    oneof whose losing branch awaits) cancels the task and waits for it to
    end, so its cleanup has run when that returns."""
    log: list[str] = []
    started = shoal.Event()

    async def slow_cleanup() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            log.append("cleanup starts")
            await asyncio.sleep(0.01)
            log.append("cleanup done")
        return "never"

    def main() -> None:
        if how == "kill":
            t = shoal.spawn(shoal.await_, slow_cleanup())
            shoal.sleep(0.005)
            t.kill()
        elif how == "timeout":
            with pytest.raises(shoal.TimeoutError):
                shoal.await_(slow_cleanup(), timeout=0.005)
        elif how == "scope":
            with shoal.move_on_after(0.005):
                shoal.await_(slow_cleanup())
        else:
            won = shoal.oneof(
                lambda: shoal.await_(slow_cleanup()),
                lambda: (started.wait(timeout=5), "fast")[1],  # once it runs
            )
            assert won == "fast"
        log.append(f"{how} returned")

    shoal.run(main, loop=loop)
    assert log == ["cleanup starts", "cleanup done", f"{how} returned"]


def test_a_task_that_finishes_despite_the_cancel_gives_its_value_to_a_timeout() -> None:
    """As asyncio.wait_for: when the time runs out but the cancelled task
    returns a value anyway, await_ returns it (nothing is lost)."""

    async def stubborn() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0.005)
            return "finished anyway"
        return "never"

    assert shoal.run(shoal.await_, stubborn(), timeout=0.005) == "finished anyway"


def test_a_cleanup_failure_of_a_cancelled_task_is_raised_not_lost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A cancelled task whose cleanup raises: that exception comes out of
    await_ (in the killed tasklet: it ends with it), as a finally block's
    would; asyncio has nothing left to report as never retrieved."""

    async def failing_cleanup() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise LookupError("cleanup failed")

    def main() -> BaseException | None:
        t = shoal.spawn(shoal.await_, failing_cleanup())
        shoal.sleep(0.005)
        t.kill()
        return t.exception

    exc = shoal.run(main)
    assert isinstance(exc, LookupError)
    assert isinstance(exc.__context__, shoal.TaskletExit)
    err = capsys.readouterr().err
    assert "failed with LookupError" in err  # printed as any failure is
    assert "never retrieved" not in err


def test_asyncio_code_awaits_a_tasklet() -> None:
    """From a coroutine on the hub loop, ``await tasklet`` gives its value."""

    async def wait_for(t: shoal.Tasklet) -> object:
        return await t

    def main() -> tuple[object, object]:
        ok = shoal.spawn(lambda: (shoal.sleep(0.005), "tasklet value")[1])
        bad = shoal.spawn(lambda: 1 / 0)
        value = shoal.await_(wait_for(ok))
        with pytest.raises(ZeroDivisionError):
            shoal.await_(wait_for(bad))
        return value, shoal.await_(wait_for(ok))  # done already

    assert shoal.run(main) == ("tasklet value", "tasklet value")


@pytest.mark.parametrize("finished", [False, True])
def test_asyncio_code_awaiting_a_tasklet_that_raised_stop_iteration(
    finished: bool,
) -> None:
    """A StopIteration cannot go into an asyncio future: asyncio code gets
    a RuntimeError caused by it, as from a coroutine that raised it (the
    relay failed on the future, and the await hung for ever)."""

    async def wait_for(t: shoal.Tasklet) -> object:
        return await t

    def raises() -> None:
        shoal.sleep(0.005)
        raise StopIteration("stopped")

    def main() -> BaseException:
        t = shoal.spawn(raises)
        if finished:
            t.join()
        with pytest.raises(RuntimeError, match="StopIteration") as info:
            shoal.await_(wait_for(t), timeout=5)
        return info.value

    error = shoal.run(main)
    assert isinstance(error.__cause__, StopIteration)
    assert error.__cause__.args == ("stopped",)


def test_to_thread_raises_a_stop_iteration_of_the_function() -> None:
    """A StopIteration from the thread comes out of to_thread as itself,
    as gevent's thread pool gives it (asyncio's future refused it in a loop
    callback, and to_thread waited for ever)."""
    stop = StopIteration("from the thread")

    def raises() -> None:
        raise stop

    def main() -> BaseException:
        with shoal.timeout(5), pytest.raises(StopIteration) as info:
            shoal.to_thread(raises)
        return info.value

    assert shoal.run(main) is stop


def test_asyncio_streams_on_loopback_from_tasklets() -> None:
    """asyncio's streams (server and client) used from tasklet code."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    async def ask(port: int, line: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(line)
        await writer.drain()
        answer = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return answer

    def main() -> list[bytes]:
        server = shoal.await_(asyncio.start_server(echo, "127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        try:
            clients = [
                shoal.spawn(shoal.await_, ask(port, f"hello {i}\n".encode()), timeout=5)
                for i in range(5)
            ]
            return [c.get() for c in clients]
        finally:
            server.close()
            shoal.await_(server.wait_closed(), timeout=5)

    assert shoal.run(main) == [f"hello {i}\n".encode() for i in range(5)]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_run_ends_the_asyncio_work_left_on_its_loop(loop: str) -> None:
    """As asyncio.run does: a task asyncio code started and left running,
    and the task of a leftover tasklet's await_, are cancelled and run
    their finally blocks in the loop before shoal.run returns."""
    import asyncio

    log: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            log.append(f"{name} finally, loop running: {_loop_running()}")

    def _loop_running() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    async def starter() -> None:
        asyncio.get_running_loop().create_task(forever("started"))
        await asyncio.sleep(0)

    def main() -> None:
        shoal.await_(starter())
        shoal.spawn(shoal.await_, forever("awaited"))
        shoal.sleep(0.01)

    shoal.run(main, loop=loop)
    assert sorted(log) == [
        "awaited finally, loop running: True",
        "started finally, loop running: True",
    ]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_pending_asyncio_task_is_no_deadlock_and_one_after_it_is(loop: str) -> None:
    """A tasklet waits on an Event that an asyncio task sets later: not a
    deadlock. Once no asyncio task is left to wake it, a wait is one."""
    import asyncio

    def main() -> list[str]:
        log: list[str] = []
        ev = shoal.Event()

        async def producer() -> None:
            await asyncio.sleep(0.01)
            ev.set()

        async def start() -> None:
            asyncio.get_running_loop().create_task(producer())

        shoal.await_(start())
        ev.wait()
        log.append("set by the asyncio task")

        async def idle() -> None:
            await asyncio.sleep(0.01)  # ends without waking anyone

        async def start_idle() -> None:
            asyncio.get_running_loop().create_task(idle())

        shoal.await_(start_idle())
        with pytest.raises(shoal.DeadlockError):
            shoal.Channel().receive()
        log.append("deadlock once the task is done")
        return log

    assert shoal.run(main, loop=loop) == [
        "set by the asyncio task",
        "deadlock once the task is done",
    ]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("how", ["kill", "timeout"])
def test_to_thread_calls_given_up_before_they_started_never_run(
    loop: str, how: str
) -> None:
    """The pool (two threads here) has started two calls and holds 38 in
    its queue when their tasklets give up (killed, or timed out): those 38
    never run (shoal ran them anyway, after shoal.run had returned); the two
    that started run on to their end, and shoal.run waits for them and ends
    the pool's threads, as asyncio.run does."""
    started: list[int] = []
    finished: list[int] = []
    threads: set[threading.Thread] = set()
    gate = threading.Event()

    def work(i: int) -> None:
        threads.add(threading.current_thread())
        started.append(i)
        gate.wait(10)
        time.sleep(0.01)
        finished.append(i)

    def call(i: int) -> None:
        if how == "timeout":
            with shoal.move_on_after(0.05):
                shoal.to_thread(work, i)
        else:
            shoal.to_thread(work, i)

    def main() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(2)
        asyncio.get_running_loop().set_default_executor(pool)
        tasklets = [shoal.spawn(call, i) for i in range(40)]
        while len(started) < 2:
            shoal.sleep(0.001)
        for t in tasklets:
            if how == "kill":
                t.kill()
            else:
                t.join()
        gate.set()

    shoal.run(main, loop=loop)
    assert len(started) == 2
    assert sorted(finished) == sorted(started)
    assert [t for t in threads if t.is_alive()] == []


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_run_waits_for_a_started_to_thread_call_and_ends_the_pool(loop: str) -> None:
    """The loop's own pool: a call whose tasklet was killed after it started
    runs on to its end, and shoal.run returns only then, the pool's threads
    ended (they outlived the run)."""
    threads: list[threading.Thread] = []
    finished: list[bool] = []

    def work() -> None:
        threads.append(threading.current_thread())
        time.sleep(0.1)
        finished.append(True)

    def main() -> None:
        t = shoal.spawn(shoal.to_thread, work)
        while not threads:
            shoal.sleep(0.001)
        t.kill()

    shoal.run(main, loop=loop)
    assert finished == [True]
    assert not threads[0].is_alive()


def test_await_of_something_not_awaitable_names_it() -> None:
    """await_(3) is a TypeError naming 3 and what was expected (asyncio's
    own message named neither)."""
    with pytest.raises(
        TypeError, match=r"await_\(\) needs an asyncio awaitable.*got 3"
    ):
        shoal.run(shoal.await_, 3)


def test_await_of_a_future_of_another_loop_names_it() -> None:
    """await_ of a future (or task) of another event loop is a ValueError
    naming it and the hub's loop, as wait_future's is (asyncio's own
    message, from ensure_future, named neither); the future is left alone."""
    other = asyncio.new_event_loop()
    future = other.create_future()
    task = other.create_task(asyncio.sleep(0, "slept"))

    def main() -> None:
        message = (
            f"await_() got {future!r}, which belongs to another event loop "
            "than this thread's hub"
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            shoal.await_(future)
        with pytest.raises(ValueError, match=r"^await_\(\) got <Task pending"):
            shoal.await_(task, timeout=5)

    try:
        shoal.run(main)
        assert not future.done()
        assert other.run_until_complete(task) == "slept"
    finally:
        other.close()
