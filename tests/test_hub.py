"""The hub: sleeping, waking, deadlocks that are not, loops per run."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import shoal
from shoal._hub import get_hub
from shoal._scheduler import get_scheduler

LOOPS = ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
def test_sleepers_wake_in_deadline_order(loop: str) -> None:
    """Tasklets sleeping different times wake shortest first, not before."""
    log: list[str] = []

    def sleeper(name: str, seconds: float) -> None:
        start = time.monotonic()
        shoal.sleep(seconds)
        assert time.monotonic() - start >= seconds - 0.002
        log.append(name)

    def main() -> None:
        ts = [
            shoal.spawn(sleeper, "c", 0.06),
            shoal.spawn(sleeper, "a", 0.02),
            shoal.spawn(sleeper, "b", 0.04),
        ]
        for t in ts:
            t.get()

    shoal.run(main, loop=loop)
    assert log == ["a", "b", "c"]


def test_sleep_zero_yields_like_schedule() -> None:
    """sleep(0) lets the other runnable tasklets run once."""
    log: list[str] = []
    t = shoal.spawn(log.append, "other")
    shoal.sleep(0)
    log.append("back")
    t.join()
    assert log == ["other", "back"]


def test_waiting_on_a_channel_while_another_sleeps_is_no_deadlock() -> None:
    """Main blocks on a channel; a sleeper will send: that is a wait."""

    def main() -> str:
        ch = shoal.Channel()
        shoal.spawn(lambda: (shoal.sleep(0.01), ch.send("woke")))
        return ch.receive()

    assert shoal.run(main) == "woke"


def test_last_tasklet_ending_while_another_sleeps_is_no_deadlock() -> None:
    """A tasklet ends with nothing runnable; a sleeper still will wake main."""

    def main() -> str:
        ch = shoal.Channel()
        shoal.spawn(lambda: None)
        shoal.spawn(lambda: (shoal.sleep(0.01), ch.send("late")))
        return ch.receive()

    assert shoal.run(main) == "late"


def test_deadlock_still_raised_when_nobody_waits_in_the_hub() -> None:
    """A hub with nothing registered cannot wake anyone: still a deadlock."""

    def main() -> None:
        shoal.sleep(0.001)  # the hub exists and ran
        with pytest.raises(shoal.DeadlockError):
            shoal.Channel().receive()

    shoal.run(main)


def test_kill_a_sleeper_cancels_its_timer() -> None:
    """A killed sleeper ends at once; the hub no longer counts it."""
    log: list[str] = []

    def sleeper() -> None:
        try:
            shoal.sleep(60)
        finally:
            log.append("finally")

    def main() -> None:
        t = shoal.spawn(sleeper)
        shoal.schedule()
        assert "waiting for sleep" in repr(t)
        assert get_hub().waiting == 1
        start = time.monotonic()
        t.kill()
        assert time.monotonic() - start < 1
        assert get_hub().waiting == 0

    shoal.run(main)
    assert log == ["finally"]


def test_throw_into_a_sleeper() -> None:
    """throw() wakes a sleeper with the exception."""

    def sleeper() -> str:
        try:
            shoal.sleep(60)
        except KeyError:
            return "woken"
        return "slept"

    def main() -> str:
        t = shoal.spawn(sleeper)
        shoal.schedule()
        t.throw(KeyError("now"))
        return t.get()

    assert shoal.run(main) == "woken"


def test_waiting_count_stays_exact() -> None:
    """After many sleeps, kills and wakes the hub counts no one."""

    def main() -> None:
        ts = [shoal.spawn(shoal.sleep, 0.001 * (i % 5)) for i in range(200)]
        shoal.schedule()
        for t in ts[::3]:
            t.kill()
        for t in ts:
            t.join()
        assert get_hub().waiting == 0

    shoal.run(main)


@pytest.mark.parametrize("loop", LOOPS)
def test_each_run_has_a_fresh_hub_with_the_loop_it_names(loop: str) -> None:
    """run(loop=...) picks the loop; the hub is closed when run returns."""

    def main() -> tuple[str, object]:
        shoal.sleep(0.001)
        return type(get_hub().loop).__module__, get_hub().loop

    module, used = shoal.run(main, loop=loop)
    assert module.split(".")[0] == loop
    assert used.is_closed()  # type: ignore[attr-defined]
    assert get_scheduler().hub is None


def test_tasklets_run_inside_the_hubs_loop() -> None:
    """After the hub woke it, a tasklet sees the hub's loop as running."""

    def main() -> bool:
        shoal.sleep(0.001)
        return asyncio.get_running_loop() is get_hub().loop

    assert shoal.run(main) is True


@pytest.mark.parametrize("loop", LOOPS)
def test_the_running_loop_is_the_hubs_from_the_start_of_a_run(loop: str) -> None:
    """Before any wait, in main and in a tasklet run by schedule(), asyncio
    sees the hub's loop as running: asyncio.ensure_future() at the top of
    the main job makes its task there, where await_ and wait_future can
    wait for it."""

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    def main() -> int:
        hub_loop = get_hub().loop
        assert asyncio.get_running_loop() is hub_loop
        seen = shoal.spawn(asyncio.get_running_loop)
        shoal.schedule()
        assert seen.get() is hub_loop
        return shoal.wait_future(asyncio.ensure_future(answer()), timeout=5)

    assert shoal.run(main, loop=loop) == 42


def test_the_hubs_stand_in_is_a_tasklet_that_cannot_be_killed_or_joined() -> None:
    """In a loop callback, shoal.current() is the hub's stand-in: a Tasklet
    (the class of every tasklet, so the hot paths see one class), named
    "hub", which refuses to be killed, thrown into or joined."""

    def main() -> None:
        shoal.sleep(0.001)  # the hub's loop runs this tasklet now
        seen: list[shoal.Tasklet] = []
        asyncio.get_running_loop().call_soon(lambda: seen.append(shoal.current()))
        shoal.sleep(0.001)
        hub = get_hub().task
        assert seen == [hub]
        spawned = shoal.spawn(lambda: None)
        assert type(hub) is type(spawned) is shoal.Tasklet
        spawned.join()
        assert hub.name == "hub"
        assert hub.alive
        attempts = [  # get() joins
            ("kill", hub.kill),
            ("throw", lambda: hub.throw(ValueError)),
            ("join", hub.join),
            ("join", hub.get),
        ]
        for verb, attempt in attempts:
            with pytest.raises(RuntimeError, match=f"cannot {verb} <Tasklet 'hub'"):
                attempt()
        assert hub.alive
        shoal.sleep(0.001)  # and the hub still works

    shoal.run(main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_finished_run_leaves_no_cyclic_garbage(loop: str) -> None:
    """The hub, its loop and its tasks go when the run ends, with no help
    from the collector."""
    import gc

    shoal.run(shoal.sleep, 0.001, loop=loop)  # imports and caches made
    gc.collect()
    gc.disable()
    try:
        shoal.run(shoal.sleep, 0.001, loop=loop)
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("bad", ["uvlop", "trio", ""])
def test_unknown_loop_name_is_rejected(bad: str) -> None:
    """A loop name that is not asyncio or uvloop is a ValueError naming it."""
    with pytest.raises(ValueError, match=f"loop={bad!r}"):
        shoal.run(lambda: None, loop=bad)


@pytest.mark.parametrize("bad", [3, b"asyncio", asyncio])
def test_a_loop_that_is_no_name_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=r"loop=.*: expected a str, one of asyncio"):
        shoal.run(lambda: None, loop=bad)  # type: ignore[arg-type]


def test_shoal_loop_environment_variable() -> None:
    """SHOAL_LOOP chooses the loop of a fresh process; a bad one is refused."""
    code = (
        "import shoal\n"
        "from shoal._hub import get_hub\n"
        "def main():\n"
        "    shoal.sleep(0.001)\n"
        "    return type(get_hub().loop).__module__\n"
        "print(shoal.run(main))\n"
    )
    for name, expected in [("asyncio", "asyncio"), ("uvloop", "uvloop")]:
        env = {**os.environ, "SHOAL_LOOP": name}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().split(".")[0] == expected
    env = {**os.environ, "SHOAL_LOOP": "nope"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "SHOAL_LOOP='nope'" in out.stderr


@pytest.mark.parametrize(
    ("bad", "error"), [("1", TypeError), (None, TypeError), (math.nan, ValueError)]
)
def test_sleep_rejects_bad_durations(bad: object, error: type[Exception]) -> None:
    """sleep() needs a number; NaN is refused; the message names the value."""
    with pytest.raises(error, match="sleep"):
        shoal.sleep(bad)  # type: ignore[arg-type]


def test_negative_sleep_yields() -> None:
    """A negative duration is already over: it only yields."""
    shoal.sleep(-1)


def test_current_time_is_monotonic() -> None:
    """current_time() never goes back, and counts seconds."""
    a = shoal.current_time()
    b = shoal.current_time()
    assert b >= a
    assert abs(shoal.current_time() - time.monotonic()) < 1


def test_busy_yielding_tasklets_do_not_starve_timers() -> None:
    """Tasklets that only ever schedule() still let a sleeper wake on time."""
    spins = [0]

    def spinner(done: list[bool]) -> None:
        for _ in range(2_000_000):  # bounded: stops when the sleeper is back
            if done:
                return
            spins[0] += 1
            shoal.schedule()

    def main() -> float:
        done: list[bool] = []
        ts = [shoal.spawn(spinner, done) for _ in range(2)]
        start = time.monotonic()
        shoal.sleep(0.02)
        took = time.monotonic() - start
        done.append(True)
        for t in ts:
            t.join()
        return took

    took = shoal.run(main)
    assert took < 1.0
    assert spins[0] > 0


def _asyncio_work(kind: str) -> Callable[[], Callable[[], bool]]:
    """Start asyncio work on the hub's loop that no tasklet waits for;
    return a test of whether it is done."""

    def start() -> Callable[[], bool]:
        loop = asyncio.get_running_loop()
        if kind == "call_later":
            fired: list[bool] = []
            loop.call_later(0.01, fired.append, True)
            return lambda: bool(fired)
        if kind == "task":
            task = loop.create_task(asyncio.sleep(0.01))
            return task.done

        async def starts_a_background_task() -> asyncio.Task[None]:
            return asyncio.get_running_loop().create_task(asyncio.sleep(0.01))

        return shoal.await_(starts_a_background_task()).done

    return start


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("spinners", [1, 2])
@pytest.mark.parametrize("kind", ["call_later", "task", "background_task"])
def test_tasklets_polling_with_sleep_zero_let_asyncio_work_run(
    kind: str, spinners: int, loop: str
) -> None:
    """Asyncio work on the hub's loop that no tasklet waits in the hub for
    (a callback, a task, a task a library left running) while tasklets
    only poll with ``sleep(0)``: it must still run, as gevent's
    ``sleep(0)`` runs its loop. The hub got turns only while a tasklet
    waited in it, and the polling loops spun for ever."""

    def main() -> int:
        done = _asyncio_work(kind)()
        polls = [0]

        def poll() -> None:
            while not done() and polls[0] < 2_000_000:
                polls[0] += 1
                shoal.sleep(0)

        others = [shoal.spawn(poll) for _ in range(spinners - 1)]
        poll()
        for t in others:
            t.join()
        assert done(), f"still not done after {polls[0]} polls"
        return polls[0]

    shoal.run(main, loop=loop)


def test_sleep_zero_polls_the_loop_while_a_schedule_callback_is_set() -> None:
    """With a Stackless schedule callback set there is no hint (every
    switch goes the slow way, to be told): ``sleep(0)`` still gives the
    loop its turns."""
    from shoal import _scheduler, stackless

    def main() -> None:
        assert _scheduler.hint is _scheduler.NO_HINT
        done = _asyncio_work("call_later")()
        polls = 0
        while not done() and polls < 2_000_000:
            polls += 1
            shoal.sleep(0)
        assert done(), f"still not done after {polls} polls"

    stackless.set_schedule_callback(lambda prev, nxt: None)
    try:
        shoal.run(main)
    finally:
        stackless.set_schedule_callback(None)


def test_busy_channel_hand_offs_do_not_starve_timers() -> None:
    """Two tasklets ping-ponging on channels still let a sleeper wake."""

    def main() -> float:
        a, b = shoal.Channel(), shoal.Channel()
        done: list[bool] = []

        def ping() -> None:
            for i in range(2_000_000):
                if done:
                    a.close()
                    return
                a.send(i)
                b.receive()

        def pong() -> None:
            for x in a:
                b.send(x)

        ts = [shoal.spawn(ping), shoal.spawn(pong)]
        shoal.schedule()
        start = time.monotonic()
        shoal.sleep(0.02)
        took = time.monotonic() - start
        done.append(True)
        for t in ts:
            t.join()
        return took

    assert shoal.run(main) < 1.0


def test_busy_tasklets_do_not_starve_a_thread_future() -> None:
    """A future completed by a thread wakes its waiter amid busy tasklets."""

    def main() -> str:
        done: list[bool] = []

        def spinner() -> None:
            for _ in range(2_000_000):
                if done:
                    return
                shoal.schedule()

        t = shoal.spawn(spinner)
        value = shoal.to_thread(lambda: (time.sleep(0.02), "thread done")[1])
        done.append(True)
        t.join()
        return value

    assert shoal.run(main) == "thread done"


def test_deadlock_after_the_last_sleeper_is_still_reported() -> None:
    """Busy tasklets gave the hub a turn; once the last sleeper is gone, the
    tasklet that blocks with nothing else runnable, then main, get
    DeadlockError."""

    def main() -> None:
        never = shoal.Channel()
        sleeper = shoal.spawn(shoal.sleep, 0.005)

        def busy_then_stuck() -> None:
            for _ in range(2_000_000):  # bounded: until the sleeper is gone
                if sleeper.dead:
                    break
                shoal.schedule()
            never.receive()

        b = shoal.spawn(busy_then_stuck)
        with pytest.raises(shoal.DeadlockError):
            shoal.Channel().receive()
        assert sleeper.dead
        assert isinstance(b.exception, shoal.DeadlockError)

    shoal.run(main)


@pytest.mark.parametrize(
    ("what", "blocks"),
    [
        ("sleep", lambda ch, t, ev: shoal.sleep(0.01)),
        ("receive, nothing runnable", lambda ch, t, ev: ch.receive()),
        (
            "receive, a tasklet runnable",
            lambda ch, t, ev: (shoal.spawn(print), ch.receive()),
        ),
        (
            "send, a tasklet runnable",
            lambda ch, t, ev: (shoal.spawn(print), ch.send(1)),
        ),
        ("join", lambda ch, t, ev: t.join()),
        ("event", lambda ch, t, ev: ev.wait()),
        ("select", lambda ch, t, ev: shoal.select(ch.receive_case())),
    ],
)
def test_code_in_the_hub_that_would_block_gets_a_clear_error(what: str, blocks) -> None:  # type: ignore[no-untyped-def]
    """An asyncio coroutine on the hub's loop calling a shoal operation that
    would wait raises BlockingInHubError, and leaves nothing registered."""

    async def coroutine(ch: shoal.Channel, t: shoal.Tasklet, ev: shoal.Event) -> None:
        blocks(ch, t, ev)

    def main() -> None:
        ch = shoal.Channel()
        ev = shoal.Event()
        sleeper = shoal.spawn(shoal.sleep, 0.05)
        with pytest.raises(shoal.BlockingInHubError, match="the hub must never wait"):
            shoal.await_(coroutine(ch, sleeper, ev), timeout=5)
        assert ch.balance == 0
        sleeper.join()
        assert get_hub().waiting == 0
        # The hub works on: tasklets still sleep and hand off.
        receiver = shoal.spawn(ch.receive)
        shoal.sleep(0.001)
        ch.send("after")
        assert receiver.get() == "after"

    shoal.run(main)
    assert issubclass(shoal.BlockingInHubError, RuntimeError)


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_socket_read_in_the_hub_gets_a_clear_error_and_the_socket_works_on(
    timeout: float | None,
) -> None:
    """A read that would wait, from asyncio code on the hub's loop, raises
    BlockingInHubError; the hub counts no wait for it, and a tasklet then
    reads from the same socket."""

    def main() -> None:
        a, b = shoal.socket.socketpair()
        with a, b:
            a.settimeout(timeout)

            async def coroutine() -> None:
                a.recv(1)

            with pytest.raises(shoal.BlockingInHubError, match="must never wait"):
                shoal.await_(coroutine(), timeout=5)
            assert get_hub().waiting == 0
            reader = shoal.spawn(a.recv, 1)
            shoal.sleep(0.001)
            b.sendall(b"y")
            assert reader.get() == b"y"

    shoal.run(main)


def test_code_in_the_hub_may_complete_channel_operations_that_need_no_wait() -> None:
    """Handing a value to a waiting receiver, or taking one from a waiting
    sender, does not wait: from the hub both work."""

    async def coroutine(inbox: shoal.Channel, outbox: shoal.Channel) -> str:
        got = inbox.receive()  # a sender waits
        outbox.send(got.upper())  # a receiver waits
        return got

    def main() -> None:
        inbox, outbox = shoal.Channel(), shoal.Channel()
        sender = shoal.spawn(inbox.send, "ping")
        receiver = shoal.spawn(outbox.receive)
        shoal.sleep(0.001)
        assert shoal.await_(coroutine(inbox, outbox), timeout=5) == "ping"
        assert receiver.get(timeout=5) == "PING"
        sender.get(timeout=5)

    shoal.run(main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_tasklet_spawned_by_code_in_the_hub_runs_soon(loop: str) -> None:
    """An asyncio task spawns a tasklet and goes on with its own work: the
    tasklet runs at the loop's next round, not when some wait next ends."""
    import asyncio

    def main() -> list[str]:
        log: list[str] = []
        ch = shoal.Channel()

        async def on_event() -> None:
            await asyncio.sleep(0.001)
            shoal.spawn(ch.send, "spawned")
            log.append("spawned")
            await asyncio.sleep(10)  # goes on with its own work

        async def start() -> None:
            asyncio.get_running_loop().create_task(on_event())

        shoal.await_(start())
        log.append(ch.receive(timeout=5))
        return log

    assert shoal.run(main, loop=loop) == ["spawned", "spawned"]


# -- a hub made outside shoal.run ---------------------------------------------


def _sleep_then(word: str) -> str:
    shoal.sleep(0.001)
    return word


@pytest.mark.parametrize("loop", LOOPS)
def test_a_hub_made_outside_run_is_closed_when_a_run_starts(
    loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait outside shoal.run makes the thread's hub, whose loop then runs
    (suspended in its greenlet); the next run closes it before starting its
    own, so sleeping outside, running, sleeping outside again and running
    again all work."""
    monkeypatch.setenv("SHOAL_LOOP", loop)  # the hub made outside run
    s = get_scheduler()
    made = get_hub()  # a hub whose loop never ran is closed too
    assert shoal.run(lambda: "first", loop=loop) == "first"
    assert made.loop.is_closed()
    for word in ["second", "third"]:
        shoal.sleep(0.001)
        outside = get_hub()
        assert asyncio.get_running_loop() is outside.loop  # suspended, running
        assert shoal.run(_sleep_then, word, loop=loop) == word
        assert outside.loop.is_closed()
        assert s.hub is None
        assert shoal.current() is s.main
        assert not s.runq
        assert asyncio._get_running_loop() is None


def test_tasklets_waiting_in_a_hub_made_outside_run_are_killed_when_a_run_starts() -> (
    None
):
    """Their waits are on a loop that will not run again: the run kills them
    first (their finally blocks may still wait, in that hub). Tasklets that
    wait on anything else live on into the run."""
    log: list[str] = []
    ch = shoal.Channel()

    def sleeper() -> None:
        try:
            shoal.sleep(10)
        except shoal.TaskletExit:
            shoal.sleep(0.001)  # the old hub still runs while it is killed
            log.append("sleeper killed")
            raise

    sleepy = shoal.spawn(sleeper)
    receiver = shoal.spawn(lambda: log.append(ch.receive()))
    shoal.sleep(0.001)  # both have started: this made the thread's hub
    shoal.spawn(log.append, "late starter")

    def main() -> str:
        log.append("run")
        ch.send("received in the run")
        shoal.sleep(0.001)
        return "done"

    start = time.monotonic()
    assert shoal.run(main) == "done"
    assert time.monotonic() - start < 5
    # The kill switched: the runnable one ran then.
    assert log == ["late starter", "sleeper killed", "run", "received in the run"]
    assert isinstance(sleepy.exception, shoal.TaskletExit)
    assert receiver.dead
    assert receiver.exception is None


def test_run_refuses_to_start_inside_a_timeout_scope_entered_outside_it() -> None:
    """The scope's deadline is on the thread's hub, which a run replaces: a
    RuntimeError, and the hub and the scope stay as they were."""
    s = get_scheduler()
    with shoal.move_on_after(0.05) as scope:
        shoal.sleep(0.001)
        with pytest.raises(RuntimeError, match="inside a timeout scope entered"):
            shoal.run(lambda: None)
        assert shoal.current() is s.main
        assert s.hub is not None
        shoal.sleep(5)  # the scope still fires
    assert scope.cancelled_caught
    assert shoal.run(lambda: "ok") == "ok"  # and closes the thread's hub
    assert s.hub is None


# -- exceptions escaping the hub's loop ------------------------------------------


@pytest.fixture
def sigint() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt (Python's default) during the test."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _sigint_soon() -> None:
    """Have the hub's loop raise SIGINT in a callback, 10 ms from now."""
    get_hub().loop.call_later(0.01, signal.raise_signal, signal.SIGINT)


def _blocks(how: str, log: list[str]) -> None:
    """Main waits in the hub, directly or while a tasklet sleeps in it."""

    def sleeper() -> None:
        try:
            shoal.sleep(5)
        finally:
            log.append("sleeper finally")

    if how == "sleep":
        shoal.sleep(5)
    elif how == "join":
        shoal.spawn(sleeper).join()
    else:
        shoal.spawn(sleeper)
        shoal.Channel().receive()


def _check_run_ended(s: Any, loop: str) -> None:
    assert shoal.current() is s.main
    assert s.hub is None
    assert not s.runq
    assert not s.alive
    assert s.main._blocked_on is None
    assert shoal.run(_sleep_then, "again", loop=loop) == "again"


@pytest.mark.parametrize("how", ["sleep", "join", "channel"])
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.usefixtures("sigint")
def test_an_interrupt_in_the_hub_goes_to_main_and_run_cleans_up(
    loop: str, how: str
) -> None:
    """A KeyboardInterrupt raised in the hub's loop (a signal while it
    polls) is raised in the main tasklet, wherever it waits, with the
    scheduler's state whole; shoal.run kills the rest, closes the hub and
    raises it."""
    log: list[str] = []
    s = get_scheduler()

    def main() -> None:
        _sigint_soon()
        _blocks(how, log)

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shoal.run(main, loop=loop)
    assert time.monotonic() - start < 2
    assert log == ([] if how == "sleep" else ["sleeper finally"])
    _check_run_ended(s, loop)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.usefixtures("sigint")
def test_a_real_sigint_while_main_waits_in_the_hub(loop: str) -> None:
    """SIGINT sent by another thread while main joins a sleeping tasklet."""
    log: list[str] = []
    s = get_scheduler()
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))

    def main() -> None:
        timer.start()
        _blocks("join", log)

    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            shoal.run(main, loop=loop)
    finally:
        timer.cancel()
        timer.join()
    assert time.monotonic() - start < 2
    assert log == ["sleeper finally"]
    _check_run_ended(s, loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_system_exit_from_a_loop_callback_goes_to_main(loop: str) -> None:
    """Any exception escaping the hub's loop does the same: SystemExit."""
    log: list[str] = []
    s = get_scheduler()

    def main() -> None:
        get_hub().loop.call_later(0.01, sys.exit, 3)
        _blocks("channel", log)

    with pytest.raises(SystemExit) as caught:
        shoal.run(main, loop=loop)
    assert caught.value.code == 3
    assert log == ["sleeper finally"]
    _check_run_ended(s, loop)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.usefixtures("sigint")
def test_an_interrupt_in_a_hub_made_outside_run(
    loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside shoal.run too: main gets it, and the hub's loop runs again at
    the next wait, in a new greenlet; the next run closes it."""
    monkeypatch.setenv("SHOAL_LOOP", loop)
    s = get_scheduler()
    _sigint_soon()
    with pytest.raises(KeyboardInterrupt):
        shoal.sleep(5)
    assert shoal.current() is s.main
    assert not s.runq
    hub = get_hub()
    assert hub.waiting == 0
    shoal.sleep(0.001)
    assert get_hub() is hub
    assert shoal.run(lambda: "ok", loop=loop) == "ok"
    assert hub.loop.is_closed()
    assert s.hub is None


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("how", ["kill", "throw"])
def test_a_kill_or_throw_from_code_in_the_hub_wakes_what_the_victim_wakes(
    loop: str, how: str
) -> None:
    """An asyncio callback kills (throws into) a tasklet: its joiner, and
    what its finally block wakes, run at the loop's next round, not at some
    later, unrelated wake-up of the hub (a sleeper's, an hour later here)."""

    def main() -> list[str]:
        log: list[str] = []
        done = shoal.Event()

        def victim() -> None:
            try:
                shoal.Channel().receive()
            finally:
                done.set()

        t = shoal.spawn(victim)
        sleeper = shoal.spawn(shoal.sleep, 3600)  # something else waits
        shoal.sleep(0.001)
        loop_ = asyncio.get_running_loop()
        if how == "kill":
            loop_.call_soon(t.kill)
        else:
            loop_.call_soon(t.throw, LookupError("from the hub"))
        waiter = shoal.spawn(lambda: (done.wait(), log.append("finally woke me")))
        with shoal.timeout(5):
            t.join()
            log.append("joined")
            waiter.join()
        sleeper.kill()
        return log

    # The finally block's set() comes before the tasklet's end wakes main.
    assert shoal.run(main, loop=loop) == ["finally woke me", "joined"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_kill_from_code_in_the_hub_does_not_wait_for_a_cleanup_that_waits(
    loop: str,
) -> None:
    """Code in the hub cannot wait, so its kill does not wait for the
    tasklet to finish: a victim in await_ (which waits for its cancelled
    task) or with a finally block that sleeps ends a little later, and the
    asyncio caller gets no BlockingInHubError."""

    def main() -> list[str]:
        log: list[str] = []

        def slow_finally() -> None:
            try:
                shoal.Channel().receive()
            finally:
                shoal.sleep(0.01)
                log.append("cleaned up")

        async def forever() -> None:
            await asyncio.sleep(3600)

        victims = [shoal.spawn(slow_finally), shoal.spawn(shoal.await_, forever())]
        shoal.sleep(0.001)
        errors: list[BaseException] = []

        def kill_all() -> None:
            for t in victims:
                try:
                    t.kill()
                except BaseException as e:  # recorded, asserted below
                    errors.append(e)

        asyncio.get_running_loop().call_soon(kill_all)
        with shoal.timeout(5):
            for t in victims:
                t.join()
        assert errors == []
        assert all(isinstance(t.exception, shoal.TaskletExit) for t in victims)
        return log

    assert shoal.run(main, loop=loop) == ["cleaned up"]
