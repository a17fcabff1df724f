"""Tasklets: spawn, join, get, kill, throw, run, schedule, current, nesting."""

from __future__ import annotations

import sys

import greenlet
import pytest

import shoal


def test_spawn_runs_only_when_the_spawner_yields() -> None:
    """A spawned tasklet waits until the current tasklet blocks or yields."""
    log: list[str] = []
    t = shoal.spawn(log.append, "child")
    log.append("parent")
    t.join()
    assert log == ["parent", "child"]


def test_round_robin_schedule_order() -> None:
    """schedule() runs every other runnable tasklet once, in spawn order."""
    log: list[str] = []

    def worker(name: str) -> None:
        for i in range(3):
            log.append(f"{name}{i}")
            shoal.schedule()

    ts = [shoal.spawn(worker, n) for n in "abc"]
    for t in ts:
        t.join()
    assert log == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_schedule_alone_returns_at_once() -> None:
    """With nothing else runnable, schedule() is a no-op."""
    shoal.schedule()
    assert shoal.current() is shoal.current()


def test_schedule_alone_in_a_new_tasklet_and_in_main_returns() -> None:
    """With nothing else runnable, schedule() returns at once both in a
    tasklet just started (while main waits to join it) and in main, and
    leaves the caller current."""
    log: list[str] = []
    seen: list[shoal.Tasklet] = []

    def alone(name: str) -> str:
        for i in range(3):
            shoal.schedule()
            log.append(f"{name}{i}")
            seen.append(shoal.current())
        return name

    def main() -> str:
        alone("main")
        return shoal.spawn(alone, "u").get()

    t = shoal.spawn(alone, "t")
    assert t.get() == "t"
    assert log == ["t0", "t1", "t2"]
    assert seen == [t] * 3
    del log[:], seen[:]
    assert shoal.run(main) == "u"
    assert log == ["main0", "main1", "main2", "u0", "u1", "u2"]
    assert seen[:3] == [seen[0]] * 3
    assert seen[3:] == [seen[3]] * 3
    assert seen[0] is not seen[3]


def test_get_returns_value_and_reraises() -> None:
    """get() returns the result or re-raises the tasklet's exception."""
    ok = shoal.spawn(lambda: 42)
    bad = shoal.spawn(lambda: 1 / 0)
    assert ok.get() == 42
    with pytest.raises(ZeroDivisionError):
        bad.get()
    assert isinstance(bad.exception, ZeroDivisionError)
    assert ok.exception is None
    assert ok.value == 42


def test_join_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    """join() waits and swallows; the failure is printed to stderr."""
    t = shoal.spawn(lambda: 1 / 0)
    t.join()
    assert t.dead
    assert not t.alive
    err = capsys.readouterr().err
    assert "failed with ZeroDivisionError" in err
    assert "Traceback" in err


def test_an_escaping_taskletexit_is_not_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exceptions escaping a tasklet are printed, unless it is TaskletExit:
    from a kill, raised by the tasklet itself, or a subclass of it."""

    class Quit(shoal.TaskletExit):
        pass

    def raises(exc: BaseException) -> None:
        raise exc

    ch = shoal.Channel()
    killed = shoal.spawn(ch.receive)
    shoal.schedule()
    killed.kill()
    own = shoal.spawn(raises, shoal.TaskletExit("done"))
    sub = shoal.spawn(raises, Quit())
    for t in (own, sub):
        t.join()
    assert isinstance(killed.exception, shoal.TaskletExit)
    assert isinstance(own.exception, shoal.TaskletExit)
    assert isinstance(sub.exception, Quit)
    # The same way, an exception that is not TaskletExit is printed.
    shoal.spawn(raises, KeyError("printed")).join()
    err = capsys.readouterr().err
    assert "TaskletExit" not in err
    assert "Quit" not in err
    assert "failed with KeyError" in err


def test_exception_does_not_propagate_to_others() -> None:
    """An exception escaping one tasklet leaves the others running."""
    log: list[str] = []

    def bad() -> None:
        raise ValueError("boom")

    b = shoal.spawn(bad)
    g = shoal.spawn(log.append, "good ran")
    g.join()
    b.join()
    assert log == ["good ran"]
    assert isinstance(b.exception, ValueError)


def test_kill_never_started_tasklet_never_runs() -> None:
    """Killing a tasklet that never ran means its function never runs."""
    log: list[str] = []
    t = shoal.spawn(log.append, "ran")
    t.kill()
    shoal.schedule()
    assert log == []
    assert t.dead
    assert isinstance(t.exception, shoal.TaskletExit)


def test_kill_blocked_tasklet_leaves_channel_clean() -> None:
    """A sender killed while blocked is removed; its value is not delivered."""
    ch = shoal.Channel()
    log: list[str] = []

    def sender() -> None:
        try:
            ch.send("lost?")
        finally:
            log.append("sender finally")

    t = shoal.spawn(sender)
    shoal.schedule()
    assert ch.balance == 1
    t.kill()
    assert log == ["sender finally"]
    assert ch.balance == 0
    assert t.dead
    with pytest.raises(shoal.WouldBlock):
        ch.receive_nowait()


def test_kill_runs_target_then_returns_to_killer() -> None:
    """kill() raises in the target at once and returns when it has ended."""
    log: list[str] = []

    def victim() -> None:
        try:
            while True:
                shoal.schedule()
        except shoal.TaskletExit:
            log.append("victim caught")
            raise

    t = shoal.spawn(victim)
    shoal.schedule()
    t.kill()
    log.append("killer back")
    assert log == ["victim caught", "killer back"]


def test_kill_waits_for_a_tasklet_that_catches() -> None:
    """A tasklet that swallows TaskletExit and blocks again is waited for."""
    ch = shoal.Channel()
    log: list[str] = []

    def stubborn() -> None:
        try:
            ch.receive()
        except shoal.TaskletExit:
            log.append("caught")
        log.append(f"got {ch.receive()}")

    t = shoal.spawn(stubborn)
    shoal.schedule()
    helper = shoal.spawn(ch.send, "late")
    t.kill()
    assert log == ["caught", "got late"]
    helper.join()


def test_taskletexit_is_not_an_exception() -> None:
    """except Exception does not swallow a kill."""
    assert not issubclass(shoal.TaskletExit, Exception)
    log: list[str] = []

    def worker() -> None:
        try:
            shoal.schedule()
            shoal.schedule()
        except Exception:  # pragma: no cover - must not happen
            log.append("swallowed")

    t = shoal.spawn(worker)
    shoal.schedule()
    t.kill()
    assert log == []


def test_throw_custom_exception_into_blocked_tasklet() -> None:
    """throw() unblocks the target with any exception."""
    ch = shoal.Channel()

    def waiter() -> str:
        try:
            ch.receive()
        except KeyError as e:
            return f"woken by {e.args[0]}"
        return "no"

    t = shoal.spawn(waiter)
    shoal.schedule()
    t.throw(KeyError("throw"))
    assert t.get() == "woken by throw"
    assert ch.balance == 0


def test_kill_after_completed_receive_keeps_the_value() -> None:
    """A receiver woken with a value, then killed, still sees the value."""
    ch = shoal.Channel()
    ch.preference = 0
    log: list[object] = []

    def receiver() -> None:
        try:
            log.append(ch.receive())
            shoal.schedule()
        except shoal.TaskletExit:
            log.append("killed")
            raise

    t = shoal.spawn(receiver)
    shoal.schedule()
    ch.send("kept")  # preference 0: receiver is made runnable, not run
    assert log == []
    t.kill()
    assert log == ["kept", "killed"]


@pytest.mark.parametrize("how", ["kill", "throw", "run"])
def test_a_sender_whose_sends_always_complete_is_still_killed(how: str) -> None:
    """A producer sending to a consumer that always waits: at each of its
    switch points its last send has completed. The kill (throw, or
    shoal.run's end) lets it see that once, then interrupts it at its next
    switch point: it does not run on until it has nothing left to send."""
    total = 200_000  # bounded: a kill that waited would let all of them go
    sent: list[int] = []

    def main() -> None:
        ch = shoal.Channel()

        def producer() -> None:
            for i in range(total):
                ch.send(i)
                sent.append(i)

        def consumer() -> None:
            for _ in range(total):
                ch.receive()

        p = shoal.spawn(producer)  # first: shoal.run kills it first
        c = shoal.spawn(consumer)
        for _ in range(10):
            shoal.schedule()
        assert sent  # it runs
        if how == "kill":
            p.kill()
        elif how == "throw":
            p.throw(LookupError("stop"))
            p.join()
            assert isinstance(p.exception, LookupError)
        if how != "run":
            assert p.dead
            c.kill()

    shoal.run(main)
    assert 0 < len(sent) < 100


_SEND_ACTIONS = {
    "send": lambda ch: ch.send("second"),
    "select": lambda ch: shoal.select(ch.send_case("second")),
    "send_nowait": lambda ch: ch.send_nowait("second"),
}
_RECEIVE_ACTIONS = {
    "receive": lambda ch: ch.receive(),
    "select": lambda ch: shoal.select(ch.receive_case())[1],
    "receive_nowait": lambda ch: ch.receive_nowait(),
}


@pytest.mark.parametrize("action", sorted(_SEND_ACTIONS))
def test_a_kill_after_a_completed_send_comes_before_the_next_send(action: str) -> None:
    """The victim's send completed as it was killed: it returns from it, then
    raises at its next channel action, before it. Whichever form that action
    takes, a receiver waiting there gets nothing: a value is never delivered
    and then reported as failed."""
    ch, out = shoal.Channel(), shoal.Channel()
    seen: list[str] = []

    def victim() -> None:
        ch.send("first")
        seen.append("first sent")
        try:
            _SEND_ACTIONS[action](out)
        except shoal.TaskletExit:
            seen.append("killed before the second")
            raise
        seen.append("second sent")

    receiver = shoal.spawn(out.receive)
    t = shoal.spawn(victim)
    shoal.schedule()  # the receiver waits on out, the victim to send on ch
    assert ch.receive() == "first"  # the victim is runnable, its send done
    t.kill()
    assert seen == ["first sent", "killed before the second"]
    assert out.balance == -1  # the receiver still waits, with nothing
    receiver.kill()


@pytest.mark.parametrize("action", sorted(_RECEIVE_ACTIONS))
def test_a_kill_after_a_completed_receive_comes_before_the_next_receive(
    action: str,
) -> None:
    """As above for receiving: the value of a sender waiting at the victim's
    next action stays with that sender; nothing is taken and then lost."""
    inbox = shoal.Channel()
    inbox.preference = 0  # a send to a waiting receiver makes it runnable
    src = shoal.Channel()
    src.preference = 1  # a take switches to the sender
    seen: list[object] = []

    def victim() -> None:
        seen.append(inbox.receive())
        try:
            seen.append(_RECEIVE_ACTIONS[action](src))
        except shoal.TaskletExit:
            seen.append("killed before taking")
            raise

    sender = shoal.spawn(src.send, "value")
    t = shoal.spawn(victim)
    shoal.schedule()  # the sender waits on src, the victim on inbox
    inbox.send("go")  # the victim is runnable with its value
    t.kill()
    assert seen == ["go", "killed before taking"]
    assert src.balance == 1
    assert not sender.dead
    assert src.receive() == "value"
    sender.get()


_WAITS = {
    "send": lambda: shoal.Channel().send("payload"),
    "receive": lambda: shoal.Channel().receive(),
    "select": lambda: shoal.select(shoal.Channel().send_case("payload")),
    "event": lambda: shoal.Event().wait(),
    "queue": lambda: shoal.Queue().get(),
    "sleep": lambda: shoal.sleep(3600),
}


@pytest.mark.parametrize("wait", sorted(_WAITS))
@pytest.mark.parametrize("how", ["throw", "scope"])
def test_a_tasklet_that_survived_a_throw_out_of_a_wait_is_killed_at_once(
    wait: str, how: str
) -> None:
    """A throw (or a timeout scope) ends a wait; the tasklet catches it and
    goes on. A later kill raises at its very next switch point: the ended
    wait left nothing that looks like an operation completed."""
    steps_after_kill: list[int] = []
    killing = False

    def main() -> None:
        nonlocal killing
        caught = shoal.Event()

        def victim() -> None:
            try:
                if how == "scope":
                    with shoal.timeout(0.01):
                        _WAITS[wait]()
                else:
                    _WAITS[wait]()
            except (ValueError, shoal.TimeoutError):
                caught.set()
            for _ in range(1000):
                shoal.schedule()  # killed at the first
                if killing:
                    steps_after_kill.append(1)

        t = shoal.spawn(victim)
        shoal.schedule()  # it waits
        if how == "throw":
            t.throw(ValueError("stop waiting"))  # back here at its schedule()
        else:
            caught.wait(timeout=5)  # the scope expired; back at its schedule()
        assert not t.dead
        killing = True
        t.kill()
        assert t.dead

    shoal.run(main)
    assert steps_after_kill == []


@pytest.mark.parametrize("wait", sorted(set(_WAITS) - {"sleep"}))
def test_a_tasklet_that_survived_a_deadlock_error_is_killed_at_once(wait: str) -> None:
    """As above, when the wait ended with DeadlockError (main is blocked
    and nothing can wake it): the tasklet catches it and has another kill
    it; the kill raises at its next switch point."""
    log: list[str] = []
    done = shoal.Channel()

    def victim() -> None:
        try:
            _WAITS[wait]()
        except shoal.DeadlockError:
            log.append("deadlock")
        me = shoal.current()
        shoal.spawn(lambda: (me.kill(), done.send("killed")))
        for _ in range(1000):
            shoal.schedule()  # killed at the first
            log.append("ran on after the kill")

    shoal.spawn(victim)
    assert done.receive() == "killed"
    shoal.schedule()  # the killer ends
    assert log == ["deadlock"]


def test_current_in_main_and_tasklets() -> None:
    """current() is the main tasklet outside, the running tasklet inside."""
    main = shoal.current()
    assert "main" in repr(main)
    t = shoal.spawn(shoal.current)
    assert t.get() is t
    assert shoal.current() is main


def test_repr_says_state_and_wait() -> None:
    """The repr names the tasklet, its state and what it waits on."""
    ch = shoal.Channel()

    def named() -> None:
        ch.receive()

    t = shoal.spawn(named)
    assert "not started" in repr(t)
    assert "named" in repr(t)
    shoal.schedule()
    assert f"receiving on <Channel at {id(ch):#x} balance=-1" in repr(t)
    t.kill()
    assert "dead" in repr(t)


def test_join_self_is_an_error() -> None:
    """A tasklet joining itself gets a clear error, not a hang."""

    def selfish() -> None:
        shoal.current().join()

    t = shoal.spawn(selfish)
    t.join()
    assert isinstance(t.exception, RuntimeError)
    assert "cannot join itself" in str(t.exception)


def test_spawn_needs_callable() -> None:
    """spawn() rejects a non-callable with a TypeError naming it."""
    with pytest.raises(TypeError, match="needs a callable, got 42"):
        shoal.spawn(42)  # type: ignore[arg-type]


def test_run_returns_and_kills_leftovers() -> None:
    """run() returns fn's result after killing tasklets still alive."""
    log: list[str] = []

    def forever() -> None:
        try:
            while True:
                shoal.schedule()
        finally:
            log.append("cleaned up")

    def main() -> int:
        shoal.spawn(forever)
        shoal.schedule()
        return 7

    assert shoal.run(main) == 7
    assert log == ["cleaned up"]


def test_run_reraises() -> None:
    """run() re-raises fn's exception, after the cleanup."""
    ch = shoal.Channel()

    def main() -> None:
        shoal.spawn(ch.receive)
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        shoal.run(main)


def test_run_from_a_tasklet_is_an_error() -> None:
    """run() belongs to the main tasklet."""
    t = shoal.spawn(shoal.run, lambda: None)
    t.join()
    assert isinstance(t.exception, RuntimeError)


def test_many_tasklets_reuse_greenlets() -> None:
    """Finished tasklets' greenlets run later tasklets (bounded pool)."""
    results = [shoal.spawn(lambda i=i: i * 2) for i in range(1000)]
    assert [t.get() for t in results] == [i * 2 for i in range(1000)]


def test_nested_greenlet_blocks_whole_tasklet() -> None:
    """Blocking in a nested greenlet blocks the tasklet and resumes there."""
    ch = shoal.Channel()
    log: list[object] = []

    def inner() -> str:
        log.append(("inner current is outer", shoal.current() is outer))
        value = ch.receive()  # blocks the whole tasklet, from a nested greenlet
        log.append(("inner got", value))
        return "inner done"

    def outer_fn() -> None:
        g = greenlet.greenlet(inner)
        log.append(("switch result", g.switch()))

    outer = shoal.spawn(outer_fn)
    other = shoal.spawn(log.append, "other tasklet ran")
    shoal.schedule()
    ch.send("hello")
    outer.join()
    other.join()
    assert log == [
        ("inner current is outer", True),
        "other tasklet ran",
        ("inner got", "hello"),
        ("switch result", "inner done"),
    ]


def test_greenlet_generator_inside_tasklet() -> None:
    """A greenlet-based generator that blocks on a channel still works."""
    ch = shoal.Channel()

    def produce() -> None:
        for _i in range(3):
            greenlet.getcurrent().parent.switch(ch.receive())

    def consumer() -> list[object]:
        gen = greenlet.greenlet(produce)
        return [gen.switch() for _ in range(3)]

    c = shoal.spawn(consumer)
    for i in range(3):
        ch.send(i)
    assert c.get() == [0, 1, 2]


def test_spawn_from_nested_greenlet() -> None:
    """A tasklet spawned from a nested greenlet behaves like any other."""

    def inner() -> int:
        t = shoal.spawn(lambda: "child")
        return t.get() == "child"

    def outer() -> object:
        return greenlet.greenlet(inner).switch()

    assert shoal.spawn(outer).get() is True


def test_deadlock_is_an_error_and_state_is_clean() -> None:
    """Blocking with nothing else able to run raises DeadlockError."""
    ch = shoal.Channel()
    with pytest.raises(shoal.DeadlockError) as info:
        ch.receive()
    assert isinstance(info.value, RuntimeError)
    assert "receiving on <Channel" in str(info.value)
    assert ch.balance == 0
    # the program can go on
    t = shoal.spawn(ch.send, 1)
    assert ch.receive() == 1
    t.join()


def test_deadlock_lists_every_blocked_tasklet() -> None:
    """The report names each blocked tasklet and its channel."""
    a, b = shoal.Channel(), shoal.Channel()

    def wait_a() -> None:
        a.receive()

    def send_b() -> None:
        b.send("x")

    ts = [shoal.spawn(wait_a), shoal.spawn(send_b)]
    shoal.schedule()
    c = shoal.Channel()
    with pytest.raises(shoal.DeadlockError) as info:
        c.receive()
    msg = str(info.value)
    assert f"<Tasklet '{ts[0].name}' receiving on {a!r}>" in msg
    assert f"<Tasklet '{ts[1].name}' sending on {b!r}>" in msg
    # (main's repr says "tasklet" once shoal.stackless has been imported)
    assert f"'main' receiving on <Channel at {id(c):#x} balance=-1" in msg
    assert "wait_a" in ts[0].name
    assert "3 blocked" in msg
    assert len({repr(a), repr(b), repr(c)}) == 3  # each channel is told apart
    for t in ts:
        t.kill()


def test_deadlock_report_lists_at_most_1000_blocked_tasklets() -> None:
    """With more than 1,000 blocked tasklets the report lists the first 1,000
    (main first, then in spawn order) and says how many more there are."""
    ch = shoal.Channel()

    def waits() -> None:
        ch.receive()

    ts = [shoal.spawn(waits) for _ in range(1005)]
    shoal.schedule()
    try:
        with pytest.raises(shoal.DeadlockError) as info:
            shoal.Channel().receive()
        lines = str(info.value).splitlines()
        assert "1006 blocked:" in lines[0]
        listed = lines[1:]
        assert len(listed) == 1001
        assert "'main' receiving on" in listed[0]
        assert all("waits-" in line for line in listed[1:1000])
        assert listed[999] == f"  {ts[998]!r}"
        assert listed[-1] == "  ... and 6 more"
    finally:
        for t in ts:
            t.kill()
    assert ch.balance == 0


def test_deadlock_when_last_tasklet_ends() -> None:
    """Main blocked forever gets DeadlockError when the last tasklet dies."""
    ch = shoal.Channel()
    shoal.spawn(lambda: None)
    with pytest.raises(shoal.DeadlockError, match="every tasklet is blocked"):
        ch.receive()
    assert ch.balance == 0


def test_raising_schedule_callback_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A schedule callback that raises is printed, and the switch completes."""
    from shoal import _watch

    def bad(prev: object, nxt: object) -> None:
        raise ValueError("callback broke")

    old = _watch.set_schedule_callback(bad)
    try:
        t = shoal.spawn(lambda: 5)
        assert t.get() == 5
    finally:
        _watch.set_schedule_callback(old)
    err = capsys.readouterr().err
    assert "Exception ignored in shoal callback" in err
    assert "callback broke" in err
    assert shoal.current() is not t


def test_nested_run_is_an_error() -> None:
    """run() inside run() would kill the outer run's tasklets: refused."""

    def inner() -> None:
        shoal.run(lambda: None)

    with pytest.raises(RuntimeError, match="already running"):
        shoal.run(inner)
    assert shoal.run(lambda: "again") == "again"


def test_tasklets_of_another_thread_are_refused() -> None:
    """kill/throw/join from another thread raise instead of corrupting state."""
    import threading

    ch = shoal.Channel()
    t = shoal.spawn(ch.receive)
    shoal.schedule()
    errors: list[BaseException] = []

    def other_thread() -> None:
        for op in (t.kill, t.join, lambda: t.throw(ValueError)):
            try:
                op()
            except RuntimeError as e:
                errors.append(e)

    th = threading.Thread(target=other_thread)
    th.start()
    th.join(timeout=10)
    assert len(errors) == 3
    assert all("from another thread" in str(e) for e in errors)
    assert [str(e).split()[1] for e in errors] == ["kill", "join", "throw"]
    ch.send("done")
    assert t.get() == "done"


def test_killing_tasklets_leaves_no_cyclic_garbage() -> None:
    """A killed tasklet's TaskletExit keeps no traceback, whose frames would
    hold the tasklet in a reference cycle, and bombs, timeouts and selects
    leave no cycles either: none of them creates work for the cycle
    collector (timeouts and oneof kill all the time)."""
    import gc

    def main() -> None:
        ch = shoal.Channel()
        gc.collect()
        gc.disable()
        try:
            for _ in range(200):
                t = shoal.spawn(ch.receive)
                shoal.schedule()
                t.kill()
                assert isinstance(t.exception, shoal.TaskletExit)
                s = shoal.spawn(shoal.sleep, 3600)
                shoal.schedule()
                s.kill()
                shoal.oneof(lambda: 1, ch.receive)
                with shoal.move_on_after(0.0001):
                    ch.receive()
                with pytest.raises(shoal.TimeoutError):
                    ch.receive(timeout=0.0001)
                shoal.spawn(ch.send, 1)
                shoal.select(ch.receive_case())
            assert gc.collect() == 0
        finally:
            gc.enable()

    shoal.run(main)


def test_run_kills_every_leftover_even_when_one_fails_as_it_is_killed() -> None:
    """A Stackless tasklet's failure goes to main, so killing one whose
    finally raises raises in run's cleanup: the cleanup still kills the
    rest (their finally blocks run), then run raises that failure."""
    from shoal import stackless

    log: list[str] = []

    def main() -> str:
        ch = stackless.channel()

        def a() -> None:
            try:
                ch.receive()
            finally:
                raise ValueError("from a's finally")

        def b() -> None:
            try:
                ch.receive()
            finally:
                log.append("b finally")

        stackless.tasklet(a)()
        stackless.tasklet(b)()
        stackless.run()
        return "result"

    with pytest.raises(ValueError, match="from a's finally"):
        shoal.run(main)
    assert log == ["b finally"]
    assert not shoal.current()._sched.alive


@pytest.mark.parametrize("method", ["throw", "kill"])
@pytest.mark.parametrize("bad", [int, list, 3, "boom"])
def test_throw_and_kill_refuse_what_is_not_an_exception(
    method: str, bad: object
) -> None:
    """throw(int) or kill(list) is a TypeError naming the method called and
    what it was given; the class is never called, and the tasklet is
    untouched."""
    ch = shoal.Channel()
    t = shoal.spawn(ch.receive)
    shoal.schedule()
    with pytest.raises(
        TypeError,
        match=rf"^{method}\(\) needs an exception class or instance, got {bad!r}$",
    ):
        getattr(t, method)(bad)
    assert t.alive
    ch.send("still there")
    assert t.get() == "still there"


def test_throw_never_calls_a_class_that_is_not_an_exception() -> None:
    """A class that is not an exception is refused before it is called."""
    made: list[str] = []

    class NotAnException:
        def __init__(self) -> None:
            made.append("called")  # pragma: no cover - must not happen

    t = shoal.spawn(lambda: None)
    for method in (t.throw, t.kill):
        with pytest.raises(TypeError, match="needs an exception class or instance"):
            method(NotAnException)  # type: ignore[arg-type]
    assert made == []
    t.join()


def test_run_needs_a_callable() -> None:
    """shoal.run(3) says what is wrong, before any hub is made."""
    with pytest.raises(TypeError, match=r"^shoal\.run\(\) needs a callable, got 3$"):
        shoal.run(3)  # type: ignore[arg-type]
    assert shoal.run(lambda: "fine") == "fine"


def test_tasklet_cannot_be_made_directly() -> None:
    """shoal.Tasklet() would be a half-made tasklet that never runs: it is
    a TypeError pointing to shoal.spawn; Tasklet stays the type of every
    tasklet spawn makes."""
    with pytest.raises(TypeError, match=r"shoal\.spawn\(fn, \*args\)"):
        shoal.Tasklet()
    with pytest.raises(TypeError, match=r"shoal\.spawn\(fn, \*args\)"):
        shoal.Tasklet(print)  # type: ignore[call-arg]
    t = shoal.spawn(lambda: 1)
    assert type(t) is shoal.Tasklet
    assert isinstance(shoal.current(), shoal.Tasklet)
    assert isinstance(t, shoal.Tasklet)
    assert t.get() == 1


def test_repr_says_runnable_running_and_joining() -> None:
    """The repr's other states: runnable (yielded, in the run queue),
    running (the current tasklet) and joining (what it joins)."""
    seen: list[str] = []
    ch = shoal.Channel()
    yielder = shoal.spawn(shoal.schedule)
    shoal.schedule()  # it runs and yields back
    assert repr(yielder) == f"<Tasklet {yielder.name!r} runnable>"
    reporter = shoal.spawn(lambda: seen.append(repr(shoal.current())))
    waiter = shoal.spawn(ch.receive)
    joiner = shoal.spawn(waiter.join)
    shoal.schedule()
    assert seen == [f"<Tasklet {reporter.name!r} running>"]
    assert repr(shoal.current()).endswith(" 'main' running>")  # any main
    # The joined tasklet by name: its own wait is in its own repr.
    assert (
        repr(joiner) == f"<Tasklet {joiner.name!r} joining <Tasklet {waiter.name!r}>>"
    )
    ch.send(None)
    joiner.join()
    yielder.join()


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt()])
def test_systemexit_and_keyboardinterrupt_of_a_tasklet_reach_main(
    exc: BaseException,
) -> None:
    """A SystemExit or KeyboardInterrupt escaping a tasklet is raised in the
    main tasklet, out of what it waits in, join() included (as gevent does;
    the docstrings of join and spawn say so)."""

    def body() -> None:
        raise exc

    t = shoal.spawn(body)
    with pytest.raises(type(exc)) as info:
        t.join()
    assert info.value is exc
    assert t.dead
    assert t.exception is exc
    u = shoal.spawn(body)
    with pytest.raises(type(exc)):
        shoal.schedule()
    assert u.dead


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_tasklet_spawned_while_run_ends_its_asyncio_work_does_not_outlive_it(
    loop: str,
) -> None:
    """run() ends the asyncio work left on its loop after killing the
    leftover tasklets; an asyncio task's finally block that spawns a
    tasklet then is no exception: that tasklet is killed before run()
    returns, instead of waiting on the closed loop until the next run."""
    import asyncio

    from shoal.testing import check_no_leftovers

    log: list[str] = []

    def job() -> None:
        try:
            shoal.sleep(10)
        finally:
            log.append("job finally")

    async def task() -> None:
        try:
            await asyncio.sleep(100)
        finally:
            shoal.spawn(job)
            await asyncio.sleep(0.001)

    def main() -> None:
        asyncio.get_running_loop().create_task(task())
        shoal.sleep(0.001)

    shoal.run(main, loop=loop)
    check_no_leftovers()
    # It ran while the task's finally awaited, and was killed after.
    assert log == ["job finally"]


def test_tasklets_spawned_before_run_run_when_its_job_first_yields() -> None:
    """shoal.run starts its hub's loop before the job; tasklets spawned
    before run still run only when the job first blocks or yields, as any
    spawned tasklet does, not before its first line."""
    log: list[str] = []
    early = shoal.spawn(log.append, "spawned before run")

    def main() -> None:
        log.append("the job's first line")
        shoal.schedule()
        log.append("the job after yielding")

    shoal.run(main)
    assert early.dead
    assert log == [
        "the job's first line",
        "spawned before run",
        "the job after yielding",
    ]


def test_a_tasklet_cannot_be_copied_or_pickled() -> None:
    """A copy was a tasklet that never runs, and whose get() waits for ever;
    as gevent and asyncio refuse, copying or pickling one is a TypeError."""
    import copy
    import pickle

    t = shoal.spawn(lambda: 42)
    for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="cannot copy or pickle <Tasklet"):
            attempt(t)
    assert t.get() == 42


class _Counter:
    def tick(self) -> None:
        pass


def test_a_tasklet_is_named_after_its_function_and_bound_methods_their_class() -> None:
    """``<qualname>-<n>``; a bound method is named after the class of its
    object (``ch.receive`` gives ``Channel.receive``, not the class that
    defines it), and a name can be set."""
    ch = shoal.Channel()
    ts = [
        shoal.spawn(_Counter().tick),
        shoal.spawn(ch.receive),
        shoal.spawn(len, ()),
        shoal.spawn(
            test_a_tasklet_is_named_after_its_function_and_bound_methods_their_class
        ),
    ]
    names = [t.name.rpartition("-")[0] for t in ts]
    assert names == [
        "_Counter.tick",
        "Channel.receive",
        "len",
        "test_a_tasklet_is_named_after_its_function_and_bound_methods_their_class",
    ]
    assert all(t.name.rpartition("-")[2].isdigit() for t in ts)
    ts[0].name = 7  # type: ignore[assignment]
    assert ts[0].name == "7"
    for t in ts:
        t.kill()


def test_tasklets_joining_each_other_are_a_deadlock_told_by_name() -> None:
    """A joins B and B joins A: the one that blocks last gets DeadlockError
    naming both (each repr said what the other waits for, and recursed)."""
    ts: list[shoal.Tasklet] = []

    def a() -> None:
        ts[1].join()

    def b() -> None:
        ts[0].join()

    ts.extend([shoal.spawn(a), shoal.spawn(b)])
    ts[0].name, ts[1].name = "a", "b"
    shoal.schedule()
    assert repr(ts[0]) == "<Tasklet 'a' joining <Tasklet 'b'>>"
    with pytest.raises(shoal.DeadlockError) as info:
        ts[0].join()  # main blocks too: nobody can run
    assert "<Tasklet 'a' joining <Tasklet 'b'>>" in str(info.value)
    assert "<Tasklet 'b' joining <Tasklet 'a'>>" in str(info.value)
    for t in ts:
        t.kill()


class _BrokenStream:
    """A stderr whose writes fail."""

    def write(self, text: str) -> int:
        raise OSError("stderr broken")

    def flush(self) -> None:
        raise OSError("stderr broken")


def test_a_failure_report_that_cannot_be_written_leaves_the_scheduler_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Printing a tasklet's failure raises (a broken stderr): the tasklet
    still ends with its exception kept, its joiners wake, and the others
    run (the error escaped into main mid-switch, the tasklet was never
    marked dead, and a later get() hung)."""
    failure = ValueError("kept")

    def fails() -> None:
        raise failure

    def main() -> tuple[object, object]:
        monkeypatch.setattr(sys, "stderr", _BrokenStream())
        t = shoal.spawn(fails)
        other = shoal.spawn(lambda: 42)
        t.join()
        return t.exception, other.get()

    assert shoal.run(main) == (failure, 42)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("thrower", ["main", "tasklet", "tasklet_while_main_joins"])
def test_an_interrupt_thrown_into_an_unstarted_tasklet_reaches_main_at_once(
    error: type[BaseException], thrower: str
) -> None:
    """As from a tasklet that ran: a KeyboardInterrupt or SystemExit thrown
    into one that never started goes to the main tasklet at once, out of
    the throw in main, or out of what main waits in (it stayed pending and
    came out later, even in the next run)."""
    interrupt = error()
    log: list[str] = []

    def main() -> None:
        victims: list[shoal.Tasklet] = []
        if thrower == "main":
            victim = shoal.spawn(log.append, "victim ran")
            victim.throw(interrupt)
        else:
            shoal.spawn(lambda: victims[0].throw(interrupt))  # runs first
            victims.append(shoal.spawn(log.append, "victim ran"))
            if thrower == "tasklet":
                shoal.sleep(5)
            else:
                # The victim's end wakes main's join, an operation done:
                # the interrupt must not wait behind it on the thrower.
                victims[0].join()
        log.append("main went on")

    with pytest.raises(error) as info:
        shoal.run(main)
    assert info.value is interrupt
    assert log == []
    assert shoal.run(lambda: "a later run is not disturbed") == (
        "a later run is not disturbed"
    )


def test_spawning_an_async_function_fails_the_tasklet_with_a_type_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Its coroutine would never run: the work was silently lost (the
    tasklet "succeeded" with an unawaited coroutine for its value)."""
    ran: list[int] = []

    async def work(i: int) -> None:
        ran.append(i)

    def main() -> list[BaseException | None]:
        tasklets = [shoal.spawn(work, i) for i in range(2)]
        for t in tasklets:
            t.join()
        return [t.exception for t in tasklets]

    errors = shoal.run(main)
    assert ran == []
    assert all(isinstance(e, TypeError) for e in errors), errors
    assert "returned a coroutine of " in str(errors[0])
    assert "test_spawning_an_async_function_fails_the_tasklet_with_a_type_error" in (
        str(errors[0])
    )
    assert "failed with TypeError" in capsys.readouterr().err


def test_run_refuses_an_async_function_and_a_coroutine_it_returns() -> None:
    async def work() -> int:
        return 1

    with pytest.raises(TypeError, match="an async function"):
        shoal.run(work)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="returned a coroutine, which never ran"):
        shoal.run(lambda: work())
