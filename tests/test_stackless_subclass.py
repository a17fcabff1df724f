"""Subclasses of ``stackless.tasklet`` with ``__eq__``, ``__hash__``,
``__len__`` or ``__bool__`` of their own: C Stackless compares tasklets by
address throughout, so shoal must never ask those methods anything.

The classes here record each call of their ``__eq__``, ``__len__`` or
``__bool__`` in a list, which each test checks is empty at the end. Most tests run one scenario twice, with
plain ``stackless.tasklet`` (pinned to C by tests/test_stackless.py) and with
the subclass, and compare the whole recorded sequences of events. Classes
are made inside the tests: while a class with a truth value of its own
exists, every channel action takes the general paths (docs/stackless.md,
section 2), and a class made at import would do that to every test that
runs after this module is collected.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import shoal
from shoal import _handoff, _task, stackless
from shoal._scheduler import get_scheduler

Factory = Callable[..., Any]
TaskletExit = stackless.TaskletExit


@pytest.fixture(autouse=True)
def only_main_runnable() -> Iterator[None]:
    """The scheduler is clean before and after each test, and once the
    test's classes are collected the channel fast paths are back, and
    queues are scanned with ``in`` again.

    The idle worker greenlets are ended first: one parked in the pool keeps
    the last tasklet it started in place (``nxt`` in ``_workers._worker``),
    and so that tasklet's class."""
    assert stackless.getcurrent() is stackless.getmain()
    assert stackless.getruncount() == 1
    yield
    assert stackless.getcurrent() is stackless.getmain()
    assert stackless.getruncount() == 1
    get_scheduler().release_greenlets()
    gc.collect()
    assert _handoff._watched is None
    assert not _task.own_eq


def finish(*tasklets: Any) -> None:
    """Kill whatever is still alive among ``tasklets`` (test cleanup)."""
    for t in tasklets:
        if t.alive:
            t.kill()


def bystander() -> Any:
    """A plain tasklet that does nothing. Made right after one that will
    wait, it is runnable when that one waits, so that a channel's fast path
    may keep it as the queue itself, a lone waiter: the case that broke
    (with nothing else runnable, the general path waits, in a deque)."""
    return stackless.tasklet(lambda: None)()


def falsy_class(dunder: str, consulted: list[str]) -> Factory:
    """A tasklet class that is false: its ``dunder`` (``__len__`` or
    ``__bool__``) says so, and records each call in ``consulted``."""

    def falsy(self: Any) -> Any:
        consulted.append(dunder)
        return 0 if dunder == "__len__" else False

    return type("Falsy", (stackless.tasklet,), {dunder: falsy})


def same_class(consulted: list[str], *, always: bool = False) -> Factory:
    """A tasklet class whose instances all compare equal to one another
    (``always``: to anything), recording each ``==`` in ``consulted``; it
    keeps hashing by identity, as the base class does."""

    class Same(stackless.tasklet):
        def __eq__(self, other: object) -> bool:
            consulted.append("__eq__")
            return always or isinstance(other, Same)

        __hash__ = stackless.tasklet.__hash__

    return Same


def odd_class(consulted: list[str]) -> Factory:
    """Everything at once: false by ``__len__`` and ``__bool__``, equal to
    every other tasklet of its class."""

    class Odd(stackless.tasklet):
        def __eq__(self, other: object) -> bool:
            consulted.append("__eq__")
            return isinstance(other, Odd)

        __hash__ = stackless.tasklet.__hash__

        def __len__(self) -> int:
            consulted.append("__len__")
            return 0

        def __bool__(self) -> bool:
            consulted.append("__bool__")
            return False

    return Odd


def both(scenario: Callable[[Factory], list[Any]], odd: Factory) -> list[Any]:
    """Run ``scenario`` with plain tasklets and with ``odd`` ones; they must
    record the same events. Returns them."""
    plain = scenario(stackless.tasklet)
    assert scenario(odd) == plain
    return plain


# -- a truth value of their own: channels -----------------------------------


@pytest.mark.parametrize("dunder", ["__len__", "__bool__"])
@pytest.mark.parametrize(
    "order", ["receiver first", "sender first", "main sends", "main receives"]
)
def test_a_false_tasklet_hands_off_on_a_channel(dunder: str, order: str) -> None:
    """Audit case a: a waiting tasklet was tested for emptiness by its truth
    value, so a false one was taken for nobody waiting: both ends blocked
    and run() returned."""
    consulted: list[str] = []
    falsy = falsy_class(dunder, consulted)
    ch = stackless.channel()
    out: list[Any] = []

    def recv() -> None:
        out.append(ch.receive())

    def send() -> None:
        ch.send("hello")
        out.append("sent")

    made: list[Any] = []
    try:
        if order == "receiver first":
            made = [falsy(recv)(), falsy(send)()]
            stackless.run()
        elif order == "sender first":
            made = [falsy(send)(), falsy(recv)()]
            stackless.run()
        elif order == "main sends":
            made = [falsy(recv)(), bystander()]
            stackless.run()  # it waits to receive
            send()
        else:
            made = [falsy(send)(), bystander()]
            stackless.run()  # it waits to send
            recv()
            stackless.run()  # the sender ends
        assert sorted(out) == ["hello", "sent"]
        assert ch.balance == 0
        assert not any(t.alive for t in made)
    finally:
        finish(*made)
    assert consulted == []


def test_send_sequence_to_a_false_receiver() -> None:
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        log: list[Any] = []

        def recv() -> None:
            for _ in range(3):
                log.append(("got", ch.receive()))

        t = cls(recv)()
        bystander()
        try:
            stackless.run()  # it waits
            log.append(("sent", ch.send_sequence("abc")))
            stackless.run()
            log.append(ch.balance)
        finally:
            finish(t)
        return log

    log = both(scenario, falsy_class("__len__", consulted))
    assert log == [("got", "a"), ("got", "b"), ("got", "c"), ("sent", 3), 0]
    assert consulted == []


@pytest.mark.parametrize(("preference", "schedule_all"), [(1, 0), (0, 0), (-1, 1)])
def test_a_false_waiter_is_served_by_the_general_paths(
    preference: int, schedule_all: int
) -> None:
    """A false tasklet waits on a default channel; the preference or
    schedule_all changes; then a sender (and a receiver) come: the general
    paths must see it waiting."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        log: list[Any] = []

        def recv(name: str) -> None:
            log.append((name, "got", ch.receive()))

        def send(name: str, value: Any) -> None:
            ch.send(value)
            log.append((name, "sent"))

        made = [cls(recv)("r1"), bystander()]
        try:
            stackless.run()  # r1 waits
            ch.preference = preference
            ch.schedule_all = schedule_all
            made += [cls(send)("s1", 1), cls(send)("s2", 2), cls(recv)("r2")]
            stackless.run()
            log.append(ch.balance)
        finally:
            finish(*made)
        return log

    log = both(scenario, falsy_class("__bool__", consulted))
    assert sorted(e for e in log if e != 0) == [
        ("r1", "got", 1),
        ("r2", "got", 2),
        ("s1", "sent"),
        ("s2", "sent"),
    ]
    assert consulted == []


def test_select_with_a_false_tasklet_on_the_other_end() -> None:
    """select's ready cases go through the general paths: a send case to a
    false receiver that waits alone was taken as done, and the value lost;
    a receive case from a false sender returned shoal's no-value marker."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        log: list[Any] = []

        def recv() -> None:
            log.append(("got", ch.receive()))

        def send() -> None:
            ch.send("from sender")
            log.append("sent")

        made = [cls(recv)(), bystander()]
        try:
            stackless.run()  # it waits to receive
            case, value = shoal.select(ch.send_case("by select"))
            log.append(("select sent", case.is_send, value))
            stackless.run()
            made += [cls(send)(), bystander()]
            stackless.run()  # it waits to send
            case, value = shoal.select(ch.receive_case())
            log.append(("select got", case.is_send, value))
            stackless.run()
            log.append(ch.balance)
        finally:
            finish(*made)
        return log

    log = both(scenario, falsy_class("__bool__", consulted))
    assert log == [
        ("got", "by select"),
        ("select sent", True, None),
        ("select got", False, "from sender"),
        "sent",
        0,
    ]
    assert consulted == []


def test_a_false_tasklet_waiting_in_select() -> None:
    """A false tasklet blocked in select is served, and survives the
    compaction of stale select waiters, which tested each select's tasklet
    for truth and dropped a false one as stale."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch, never = stackless.channel(), stackless.channel()
        log: list[Any] = []

        def waiter() -> None:
            case, value = shoal.select(never.receive_case(), ch.receive_case())
            log.append(("waiter got", case.channel is ch, value))

        def stale(own: Any) -> None:
            # Leaves a stale waiter on ``ch`` when ``own`` fires it.
            shoal.select(ch.receive_case(), own.receive_case())

        made = [cls(waiter)()]
        owns = [stackless.channel() for _ in range(40)]
        made += [stackless.tasklet(stale)(own) for own in owns]
        try:
            stackless.run()  # all 41 wait
            for own in owns:
                own.send(None)  # stale waiters pile up; ch is compacted
            log.append(ch.balance)
            ch.send("x")
            stackless.run()
            log.append(ch.balance)
        finally:
            finish(*made)
        return log

    log = both(scenario, falsy_class("__len__", consulted))
    assert log == [-1, ("waiter got", True, "x"), 0]
    assert consulted == []


# -- __eq__ of their own: the ring -------------------------------------------


def test_eq_without_hash_tasklets_run_as_in_c() -> None:
    """Audit case b: ``__eq__`` without ``__hash__`` made the class
    unhashable, and setting a tasklet up failed with a bare TypeError.
    shoal keeps hashing such a tasklet by identity (C would make
    ``hash(t)`` raise; nothing else differs)."""
    consulted: list[str] = []

    class Named(stackless.tasklet):
        def __init__(self, func: Any = None, name: str = "x") -> None:
            super().__init__(func)
            self.label = name

        def __eq__(self, other: object) -> bool:
            consulted.append("__eq__")
            return isinstance(other, Named) and other.label == self.label

    log: list[Any] = []

    def f(n: str) -> None:
        for i in range(2):
            log.append((n, i))
            stackless.schedule()

    a = Named(f, "same")("a")
    b = Named(f, "same")("b")
    stackless.run()
    assert log == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert hash(a) == object.__hash__(a)
    assert hash(a) != hash(b)
    assert consulted == []
    assert a == b  # the class's own comparison still works for its users
    assert consulted == ["__eq__"]


def test_insert_puts_an_equal_tasklet_in_the_ring() -> None:
    """Audit case c: ``b.insert()`` found ``a``, equal to it, in the ring and
    did nothing; ``b.scheduled`` said True, and b never ran."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        log: list[Any] = []
        a = cls(log.append).setup("a")
        b = cls(log.append, ("b",))  # alive, paused
        try:
            log.append(("b", b.scheduled, b.paused))
            b.insert()
            log.append(("b", b.scheduled, b.paused, b.prev is a))
            b.insert()  # already there: nothing
            stackless.run()
            log.append((a.alive, b.alive))
        finally:
            finish(a, b)
        return log

    log = both(scenario, same_class(consulted))
    assert log == [
        ("b", False, True),
        ("b", True, False, True),
        "a",
        "b",
        (False, False),
    ]
    assert consulted == []


def test_remove_takes_out_the_tasklet_itself() -> None:
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        log: list[Any] = []
        a = cls(log.append)("a")
        b = cls(log.append)("b")
        try:
            b.remove()
            log.append((a.scheduled, b.scheduled, b.paused))
            stackless.run()
            b.insert()
            stackless.run()
        finally:
            finish(a, b)
        return log

    log = both(scenario, same_class(consulted))
    assert log == [(True, False, True), "a", "b"]
    assert consulted == []


@pytest.mark.parametrize("how", ["run", "switch"])
def test_run_and_switch_go_to_the_tasklet_itself(how: str) -> None:
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        log: list[Any] = []
        a = cls(log.append)("a")
        b = cls(log.append)("b")
        try:
            getattr(b, how)()
            log.append(("back", a.scheduled))
            stackless.run()
        finally:
            finish(a, b)
        return log

    log = both(scenario, same_class(consulted))
    assert log[0] == "b"
    assert consulted == []


def test_next_and_prev_find_the_tasklet_itself() -> None:
    """In the ring and in a channel's queue, among tasklets all equal."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        main = stackless.getmain()
        made = [cls(lambda: None)() for _ in range(3)]
        a, b, c = made
        log: list[Any] = [[(t.prev, t.next) for t in made]]
        try:
            stackless.run()
            made += [cls(ch.receive)() for _ in range(3)]
            x, y, z = made[3:]
            stackless.run()
            log.append([(t.prev, t.next) for t in (x, y, z)])
            for _ in range(3):
                ch.send(None)
        finally:
            finish(*made)
        assert log == [
            [(main, b), (a, c), (b, main)],
            [(None, y), (x, z), (y, None)],
        ]
        return [len(log)]

    both(scenario, same_class(consulted))
    assert consulted == []


@pytest.mark.parametrize("started", [False, True])
def test_kill_of_a_tasklet_beside_an_equal_one(started: bool) -> None:
    """stackless kill of ``b``, paused (not started) or runnable (started),
    while ``a``, equal to it, is in the ring before it."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        log: list[Any] = []

        def body(name: str) -> None:
            try:
                log.append((name, "start"))
                stackless.schedule()
                log.append((name, "end"))
            except TaskletExit:
                log.append((name, "killed"))
                raise

        a = cls(body)("a")
        try:
            if started:
                b = cls(body)("b")
                stackless.schedule()  # both start: [main, a, b]
            else:
                b = cls(body, ("b",))  # paused, not started
            b.kill()
            log.append((a.scheduled, b.alive))
            stackless.run()
            log.append((a.alive, b.alive))
        finally:
            finish(a, b)
        return log

    log = both(scenario, same_class(consulted))
    assert log[-1] == (False, False)
    assert consulted == []


@pytest.mark.parametrize("state", ["not started", "runnable", "woken"])
def test_shoal_kill_of_a_runnable_tasklet_beside_an_equal_one(state: str) -> None:
    """shoal's ``Tasklet.kill`` (what timeout scopes and task groups use)
    on a stackless tasklet ``b`` in the ring behind ``a``, equal to it: ``b``
    not started, runnable, or woken with a value it has not taken yet."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        ch.preference = 0  # a send makes the receiver runnable, no more
        log: list[Any] = []

        def body(name: str) -> None:
            try:
                log.append((name, "start"))
                if name == "b" and state == "woken":
                    log.append((name, "got", ch.receive()))
                # stackless.schedule() leaves a value to return in tempval,
                # which a shoal kill lets it take first: not so shoal's.
                shoal.schedule()
                log.append((name, "end"))
            except TaskletExit:
                log.append((name, "killed"))
                raise

        a = cls(body)("a")
        b = cls(body)("b")
        try:
            if state != "not started":
                stackless.schedule()  # both start: [main, a, b], or b waits
            if state == "woken":
                ch.send("v")  # [main, a, b], b to return "v"
            shoal.Tasklet.kill(b)
            log.append((a.scheduled, b.alive))
            stackless.run()
            log.append((a.alive, b.alive))
        finally:
            finish(a, b)
        return log

    log = both(scenario, same_class(consulted))
    assert log[-1] == (False, False)
    assert ("a", "end") in log
    assert ("b", "end") not in log
    assert consulted == []


def test_getruncount_does_not_ask_eq() -> None:
    consulted: list[str] = []
    assert runcount_beside_equal_tasklets(consulted) == 3
    assert consulted == []


def runcount_beside_equal_tasklets(consulted: list[str]) -> int:
    """``getruncount()`` with two equal tasklets in the ring (the class is
    gone once this returns, even if the test fails)."""
    same = same_class(consulted)
    made = [same(lambda: None)() for _ in range(2)]
    try:
        return stackless.getruncount()
    finally:
        finish(*made)


# -- __eq__ of their own: channels, joins, block_trap -------------------------


@pytest.mark.parametrize("victim", [0, 1, 2])
def test_kill_of_a_waiter_takes_it_out_of_the_channel_queue(victim: int) -> None:
    """Three equal tasklets wait on a channel; one is killed (the middle one
    is looked for by a scan): the other two are served, in order."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        log: list[Any] = []

        def recv(name: str) -> None:
            log.append((name, ch.receive()))

        waiters = [cls(recv)(name) for name in "xyz"]
        try:
            stackless.run()
            waiters[victim].kill()
            log.append((ch.balance, [t.blocked for t in waiters]))
            ch.send(1)
            ch.send(2)
            log.append(ch.balance)
        finally:
            finish(*waiters)
        return log

    log = both(scenario, same_class(consulted))
    assert log[-1] == 0
    assert consulted == []


def test_waiting_senders_are_described_without_asking_eq() -> None:
    """Which way a waiter waits, and its neighbours, are found by identity:
    ``t in queue`` asked each waiter before it whether it equals ``t``."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        ch = stackless.channel()
        senders = [cls(ch.send)(name) for name in "xyz"]
        x, y, z = senders
        log: list[Any] = []
        try:
            stackless.run()
            log.append(["sending on" in repr(t) for t in senders])
            assert [(t.prev, t.next) for t in senders] == [
                (None, y),
                (x, z),
                (y, None),
            ]
            log.append([ch.receive() for _ in senders])
            stackless.run()
        finally:
            finish(*senders)
        return log

    log = both(scenario, same_class(consulted, always=True))
    assert log == [[True, True, True], ["x", "y", "z"]]
    assert consulted == []


def test_killing_one_of_two_equal_joiners() -> None:
    """Two equal tasklets join a third; one is killed: the other still
    wakes when the third ends (the kill took its equal out instead)."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        gate = stackless.channel()
        log: list[Any] = []
        target = stackless.tasklet(gate.receive)()

        def joiner(name: str) -> None:
            target.join()
            log.append((name, "joined"))

        j1, j2 = cls(joiner)("j1"), cls(joiner)("j2")
        try:
            stackless.run()  # target waits on gate; j1 and j2 join it
            j2.kill()
            gate.send(None)
            stackless.run()
            log.append((j1.alive, j2.alive, target.alive))
        finally:
            finish(target, j1, j2)
        return log

    log = both(scenario, same_class(consulted))
    assert log == [("j1", "joined"), (False, False, False)]
    assert consulted == []


def test_joining_a_false_tasklet() -> None:
    """shoal's ``join`` of stackless tasklets with a truth value and an
    ``==`` of their own, by others of their kind."""
    consulted: list[str] = []

    def scenario(cls: Factory) -> list[Any]:
        gate = stackless.channel()
        log: list[Any] = []
        target = cls(gate.receive)()
        bystander()

        def joiner(name: str) -> None:
            target.join()
            log.append((name, "joined", target.alive))

        joiners = [cls(joiner)(name) for name in ("j1", "j2")]
        try:
            stackless.run()
            gate.send(None)
            stackless.run()
        finally:
            finish(target, *joiners)
        return log

    log = both(scenario, odd_class(consulted))
    assert log == [("j1", "joined", False), ("j2", "joined", False)]
    assert consulted == []


def test_block_trap_is_kept_by_identity() -> None:
    """``block_trap`` was kept in a weak set, which compares the tasklet
    with ``==``: one unequal even to itself was never trapped."""
    consulted: list[str] = []

    class Nan(stackless.tasklet):
        def __eq__(self, other: object) -> bool:
            consulted.append("__eq__")
            return False

        __hash__ = stackless.tasklet.__hash__

    ch = stackless.channel()
    seen: list[Any] = []

    def body() -> None:
        try:
            ch.receive()
        except RuntimeError as exc:
            seen.append(str(exc))

    t = Nan(body)
    t.block_trap = True
    try:
        assert t.block_trap is True
        t()
        stackless.run()
    finally:
        t.block_trap = False
        finish(t)
    assert t.block_trap is False
    assert seen == ["this tasklet does not like to be blocked."]
    assert consulted == []


# -- __hash__ of their own ------------------------------------------------------


def test_a_tasklet_class_may_not_hash_by_anything_but_identity() -> None:
    """shoal keeps tasklets in dicts and sets, where two tasklets equal by
    ``==`` and ``hash`` would be taken for one: a class that defines a
    ``__hash__`` of its own (or inherits one) is refused when it is made,
    with the reason."""
    match = r"tasklet class .*Labelled has a __hash__ of its own \(.*Labelled.__hash__\).*identity"
    with pytest.raises(TypeError, match=match):

        class Labelled(stackless.tasklet):
            label = "x"

            def __eq__(self, other: object) -> bool:
                return getattr(other, "label", None) == self.label

            def __hash__(self) -> int:
                return hash(self.label)

    class Mixin:
        def __hash__(self) -> int:
            return 0

    with pytest.raises(
        TypeError, match=r"Mixed has a __hash__ of its own \(.*Mixin.__hash__\)"
    ):

        class Mixed(Mixin, stackless.tasklet):
            pass

    class Identity(stackless.tasklet):
        __hash__ = stackless.tasklet.__hash__

    class Unhashable(stackless.tasklet):
        __hash__ = None  # type: ignore[assignment]

    t, u = Identity(), Unhashable()
    assert hash(t) == object.__hash__(t)
    assert hash(u) == object.__hash__(u)


def test_the_fast_paths_come_back_once_such_a_class_is_gone() -> None:
    """While a class with a truth value of its own exists, every channel
    action takes the general paths; once it is collected, they do not."""
    consulted: list[str] = []
    falsy = falsy_class("__len__", consulted)
    gc.collect()
    assert _handoff._watched is not None
    stackless.set_channel_callback(lambda *args: None)
    stackless.set_channel_callback(None)  # the class still exists
    assert _handoff._watched is not None
    del falsy
    gc.collect()
    assert _handoff._watched is None
    assert consulted == []


# -- methods set on a tasklet class after it is made ------------------------


def test_a_truth_value_set_on_the_class_later_still_hands_off() -> None:
    """``__bool__`` assigned to a tasklet class after it was made is seen
    (the fast paths step aside), so a false lone receiver still gets the
    value, as in C."""

    class Later(stackless.tasklet):
        pass

    Later.__bool__ = lambda self: False  # type: ignore[attr-defined]
    ch = stackless.channel()
    got: list[Any] = []
    r = Later(lambda: got.append(ch.receive()))()
    s = stackless.tasklet(lambda: (ch.send("v"), got.append("sent")))()
    try:
        stackless.run()
        assert got == ["v", "sent"]
        assert not r.blocked
        assert not s.blocked
    finally:
        finish(r, s)


def test_an_eq_set_on_the_class_later_is_never_asked() -> None:
    """``__eq__`` assigned later: ``remove`` takes out the tasklet itself,
    not the first equal one."""
    consulted: list[str] = []

    class Later(stackless.tasklet):
        pass

    def eq(self: Any, other: object) -> bool:
        consulted.append("__eq__")
        return isinstance(other, Later)

    Later.__eq__ = eq  # type: ignore[method-assign,assignment]
    log: list[str] = []
    a, b = Later(log.append)("a"), Later(log.append)("b")
    try:
        b.remove()
        assert (a.scheduled, b.scheduled) == (True, False)
        stackless.run()
        assert log == ["a"]
    finally:
        finish(a, b)
    assert consulted == []


def test_a_dataclass_tasklet_hashes_by_identity() -> None:
    """``@dataclass`` sets ``__eq__`` and ``__hash__ = None`` after the class
    is made: the class gets identity hashing back, and works."""

    @dataclasses.dataclass(eq=True)
    class Job(stackless.tasklet):
        label: str = "x"

    log: list[str] = []
    a = Job().bind(log.append, ("a",))  # bound with its arguments: paused
    b = Job().bind(log.append, ("b",))
    a.insert()
    b.insert()
    try:
        assert a == b  # the dataclass's __eq__, for the user
        assert hash(a) != hash(b)
        stackless.run()
        assert log == ["a", "b"]
    finally:
        finish(a, b)


def test_a_hash_set_on_the_class_later_is_refused_and_undone() -> None:
    """A ``__hash__`` of its own, set later, is refused as in the class body,
    and the class keeps the one it had."""

    class Later(stackless.tasklet):
        pass

    with pytest.raises(TypeError, match="has a __hash__ of its own"):
        Later.__hash__ = lambda self: 0  # type: ignore[method-assign,assignment]
    assert "__hash__" not in vars(Later)
    t = Later(lambda: None)
    assert hash(t) == object.__hash__(t)


def test_a_subclass_that_skips_init_subclass_is_still_checked() -> None:
    """A base whose ``__init_subclass__`` does not call ours: the metaclass
    checks its subclasses all the same."""

    class Base(stackless.tasklet):
        def __init_subclass__(cls, **kwargs: Any) -> None:
            pass  # no super(): C Stackless would not care either

    with pytest.raises(TypeError, match="has a __hash__ of its own"):

        class Hashed(Base):
            def __hash__(self) -> int:
                return 0
