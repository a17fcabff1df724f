"""dump_tasklets and the monitor of tasklets that keep the thread."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import greenlet
import pytest

import shoal
from shoal import stackless


def test_dump_tasklets_shows_each_tasklet_its_state_and_stack() -> None:
    """Running, blocked on a channel, sleeping in the hub, not started."""

    def waits_for_a_value(ch: shoal.Channel) -> None:
        ch.receive()

    def naps() -> None:
        shoal.sleep(30)

    def main() -> str:
        ch = shoal.Channel()
        blocked = shoal.spawn(waits_for_a_value, ch)
        blocked.name = "blocked-one"
        sleeper = shoal.spawn(naps)
        sleeper.name = "sleepy"
        shoal.schedule()
        fresh = shoal.spawn(print)
        fresh.name = "fresh"
        out = io.StringIO()
        shoal.dump_tasklets(out)
        for t in (blocked, sleeper, fresh):
            t.kill()
        return out.getvalue()

    text = shoal.run(main)
    assert "4 live tasklets" in text
    blocks = text.split("\n<")
    main_block = next(b for b in blocks if "'main' running" in b)
    assert "in main" in main_block  # the caller's own frame, this test's main()
    assert "shoal/_introspect.py" not in main_block  # dump_tasklets is left out
    blocked_block = next(b for b in blocks if "'blocked-one'" in b)
    assert "Channel" in blocked_block.splitlines()[0]
    assert "in waits_for_a_value" in blocked_block
    assert "ch.receive()" in blocked_block
    sleepy_block = next(b for b in blocks if "'sleepy'" in b)
    assert "waiting for sleep" in sleepy_block.splitlines()[0]
    assert "in naps" in sleepy_block
    fresh_block = next(b for b in blocks if "'fresh'" in b)
    assert "not started" in fresh_block
    assert "hub: <Hub" in text


def test_dump_tasklets_shows_a_stack_of_only_shoal_frames() -> None:
    """A tasklet spawned with shoal's own function (shoal.sleep, Queue.get, a
    TaskGroup child) and blocked in it has started: it shows that function
    and what it waits in, not "not started", and not the worker greenlet's
    base frame."""

    def main() -> str:
        q = shoal.Queue()
        with shoal.TaskGroup() as g:
            sleeper = shoal.spawn(shoal.sleep, 30)
            sleeper.name = "sleeper"
            getter = shoal.spawn(q.get)
            getter.name = "getter"
            child = g.spawn(shoal.sleep, 30)
            child.name = "child"
            shoal.sleep(0.01)
            fresh = shoal.spawn(print)
            fresh.name = "fresh"
            out = io.StringIO()
            shoal.dump_tasklets(out)
            for t in (sleeper, getter, child, fresh):
                t.kill()
        return out.getvalue()

    text = shoal.run(main)
    blocks = text.split("\n<")
    for name, frame in (
        ("sleeper", "in sleep"),
        ("getter", "in get"),
        ("child", "in sleep"),
    ):
        block = next(b for b in blocks if f"'{name}'" in b)
        assert "not started" not in block, block
        assert frame in block, block
        assert "shoal/_hub.py" in block or "shoal/_sync.py" in block, block
        assert "in _worker" not in block, block
    child_block = next(b for b in blocks if "'child'" in b)
    assert "in _child" in child_block  # the outermost frame: what it was spawned with
    fresh_block = next(b for b in blocks if "'fresh'" in b)
    assert "(no stack: not started)" in fresh_block


def test_dump_tasklets_follows_a_tasklet_into_its_nested_greenlets() -> None:
    """A tasklet parked inside a greenlet it made (two deep), and the
    main tasklet calling dump_tasklets from one: each stack runs from the
    tasklet's function through every greenlet down to where it is (it
    showed only the innermost greenlet's frames)."""

    def innermost() -> None:
        shoal.sleep(30)

    def middle() -> None:
        greenlet.greenlet(innermost).switch()

    def outer_fn() -> None:
        greenlet.greenlet(middle).switch()

    def main() -> str:
        t = shoal.spawn(outer_fn)
        t.name = "nested"
        shoal.schedule()
        out = io.StringIO()

        def dumps() -> None:
            shoal.dump_tasklets(out)

        greenlet.greenlet(dumps).switch()
        t.kill()
        return out.getvalue()

    text = shoal.run(main)
    blocks = text.split("\n<")
    nested = next(b for b in blocks if "'nested'" in b)
    order = [nested.index(f"in {name}") for name in ("outer_fn", "middle", "innermost")]
    assert order == sorted(order), nested
    main_block = next(b for b in blocks if "'main' running" in b)
    assert main_block.index("in main") < main_block.index("in dumps"), main_block


def test_dump_tasklets_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    shoal.dump_tasklets()
    assert "'main' running" in capsys.readouterr().err


def test_monitor_reports_a_tasklet_that_blocks_the_thread() -> None:
    """A tasklet in time.sleep (which blocks the thread) is reported once,
    with its stack; a ticker tasklet that switches every millisecond and the
    hub waiting for a timer are not."""
    out = io.StringIO()

    def hog() -> None:
        time.sleep(0.8)  # a blocking call: nobody else runs meanwhile

    def ticker(stop: list[bool]) -> None:
        while not stop:
            shoal.sleep(0.001)

    def main() -> None:
        # A threshold well above what a loaded machine may deschedule us for.
        with shoal.monitor(250, file=out) as mon:
            stop: list[bool] = []
            tick = shoal.spawn(ticker, stop)
            shoal.sleep(0.3)  # ticks and a sleeping hub: nothing to report
            assert mon.reports == []
            culprit = shoal.spawn(hog)
            culprit.name = "culprit"
            culprit.join()
            stop.append(True)
            tick.join()
            shoal.sleep(0.2)  # idle in the hub afterwards: still one report
        assert len(mon.reports) == 1, mon.reports

    shoal.run(main)
    report = out.getvalue()
    assert "'culprit'" in report
    assert "has kept thread 'MainThread'" in report
    assert "in hog" in report
    assert "time.sleep(0.8)" in report


@pytest.mark.parametrize("api", ["shoal", "stackless"])
def test_monitor_does_not_report_a_lone_tasklet_that_yields(api: str) -> None:
    """A tasklet alone in a loop of schedule() yields every time; with nobody
    else to run, it keeps no one from running: no report."""
    yield_ = shoal.schedule if api == "shoal" else stackless.schedule

    def main() -> int:
        yields = 0
        with shoal.monitor(30, file=io.StringIO()) as mon:
            start = time.monotonic()
            while time.monotonic() - start < 0.3 and yields < 10_000_000:
                yield_()
                yields += 1
        assert mon.reports == [], mon.reports
        return yields

    assert shoal.run(main) > 0


@pytest.mark.parametrize("parked_inside_first", [False, True])
def test_monitor_follows_a_hog_into_its_nested_greenlets(
    parked_inside_first: bool,
) -> None:
    """A tasklet keeps the thread inside a greenlet it made, two deep,
    having parked in the inner one first or not: the report's stack runs
    from the tasklet's function through every greenlet (it showed only the
    innermost greenlet's frames)."""
    out = io.StringIO()

    def innermost() -> None:
        if parked_inside_first:
            shoal.sleep(0.001)  # the tasklet resumes here: its greenlet now
        time.sleep(0.8)  # a blocking call: nobody else runs meanwhile

    def middle() -> None:
        greenlet.greenlet(innermost).switch()

    def hog() -> None:
        greenlet.greenlet(middle).switch()

    def main() -> None:
        with shoal.monitor(250, file=out) as mon:
            culprit = shoal.spawn(hog)
            culprit.name = "culprit"
            culprit.join()
        assert len(mon.reports) == 1, mon.reports

    shoal.run(main)
    report = out.getvalue()
    order = [report.index(f"in {name}") for name in ("hog", "middle", "innermost")]
    assert order == sorted(order), report


def test_monitor_reports_asyncio_code_that_blocks_the_hub() -> None:
    """A coroutine on the hub's loop that blocks is reported as the hub."""
    out = io.StringIO()

    async def blocking_coroutine() -> None:
        time.sleep(0.6)
        await asyncio.sleep(0)

    def main() -> None:
        with shoal.monitor(200, file=out) as mon:
            shoal.await_(blocking_coroutine())
        assert len(mon.reports) == 1, mon.reports

    shoal.run(main)
    assert "the hub (asyncio code on its loop)" in out.getvalue()
    assert "in blocking_coroutine" in out.getvalue()


def test_monitor_and_a_schedule_callback_both_see_switches() -> None:
    """Counting switches for a monitor keeps the user's callback working,
    and closing the monitor keeps it installed."""
    from shoal import stackless

    seen: list[object] = []
    stackless.set_schedule_callback(lambda prev, nxt: seen.append(nxt))
    try:

        def main() -> None:
            with shoal.monitor(1000):
                shoal.spawn(lambda: None)
                shoal.schedule()
                assert len(seen) >= 2
            shoal.spawn(lambda: None)
            before = len(seen)
            shoal.schedule()
            assert len(seen) > before

        shoal.run(main)
        assert stackless.get_schedule_callback() is not None
    finally:
        stackless.set_schedule_callback(None)


def test_closing_one_monitor_leaves_another_of_the_thread_counting() -> None:
    """Two monitors of one thread (SHOAL_MONITOR's and a user's, say):
    closing one stopped the switch count for both, and the other then
    took a busy thread for one that never switches."""
    from shoal._scheduler import get_scheduler

    def main() -> int:
        s = get_scheduler()
        with shoal.monitor(1000):
            with shoal.monitor(1000):
                pass
            before = s.switches
            shoal.spawn(lambda: None)
            shoal.schedule()
            return s.switches - before

    assert shoal.run(main) > 0


def test_shoal_monitor_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SHOAL_MONITOR=<ms> monitors every shoal.run, reporting to stderr."""
    monkeypatch.setenv("SHOAL_MONITOR", "50")

    def main() -> None:
        time.sleep(0.3)

    shoal.run(main)
    assert "'main' running> has kept thread" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("abc", "expected a number of milliseconds"),
        ("0", "expected milliseconds > 0"),
        ("inf", "at most 86400000"),
        ("1e300", "at most 86400000"),
    ],
)
def test_bad_shoal_monitor_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    monkeypatch.setenv("SHOAL_MONITOR", value)
    with pytest.raises(ValueError, match=error):
        shoal.run(lambda: None)


def test_bad_monitor_arguments() -> None:
    with pytest.raises(TypeError, match="milliseconds as a number"):
        shoal.monitor("100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="milliseconds > 0"):
        shoal.monitor(-1)
    with pytest.raises(ValueError, match="at most 86400000"):
        shoal.monitor(float("inf"))


def test_a_monitor_made_in_a_run_is_closed_when_the_run_ends() -> None:
    """A monitor left open inside a run stops with it: what the thread does
    afterwards, outside any run, is no tasklet's to report (it reported a
    plain time.sleep as the main tasklet's, and its thread lived on)."""
    out = io.StringIO()
    made: list[shoal.Monitor] = []

    def main() -> None:
        made.append(shoal.monitor(50, file=out))  # never closed

    shoal.run(main)
    time.sleep(0.3)  # outside any run
    assert made[0].reports == []
    assert out.getvalue() == ""
    assert not any(t.name.startswith("shoal monitor") for t in threading.enumerate())
