"""Channels: rendezvous and buffered hand-off, preference, close, nowait forms."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import greenlet
import pytest

import shoal
from _threads import FOREIGN, in_another_thread


def _hand_off_log(ch: shoal.Channel, *, sender_first: bool) -> list[str]:
    """Run one send and one receive, plus a bystander, and log what happens.

    The two peers and the bystander are spawned in that order and started by
    one ``schedule()`` from main; main then joins every tasklet.
    """
    log: list[str] = []

    def sender() -> None:
        log.append("s: send")
        ch.send("v")
        log.append("s: sent")

    def receiver() -> None:
        log.append("r: receive")
        log.append(f"r: got {ch.receive()}")

    def bystander() -> None:
        log.append("other")

    first, second = (sender, receiver) if sender_first else (receiver, sender)
    tasklets = [shoal.spawn(first), shoal.spawn(second), shoal.spawn(bystander)]
    shoal.schedule()
    log.append("main")
    for t in tasklets:
        t.join()
    return log


# receiver first: the receiver blocks, then the sender finds it waiting.
RECEIVER_FIRST = {
    # The sender switches to the receiver at once and goes to the end.
    -1: ["r: receive", "s: send", "r: got v", "other", "main", "s: sent"],
    # The receiver goes to the end of the run queue; the sender goes on.
    0: ["r: receive", "s: send", "s: sent", "other", "main", "r: got v"],
    1: ["r: receive", "s: send", "s: sent", "other", "main", "r: got v"],
}

# sender first: the sender blocks, then the receiver finds it waiting.
SENDER_FIRST = {
    # The receiver takes the value and goes on; the sender goes to the end.
    -1: ["s: send", "r: receive", "r: got v", "other", "main", "s: sent"],
    0: ["s: send", "r: receive", "r: got v", "other", "main", "s: sent"],
    # The receiver switches to the sender at once and goes to the end.
    1: ["s: send", "r: receive", "s: sent", "other", "main", "r: got v"],
}


@pytest.mark.parametrize("preference", [-1, 0, 1])
def test_receiver_first_order_by_preference(preference: int) -> None:
    """A send to a waiting receiver runs whom the preference says, in this order."""
    ch = shoal.Channel()
    ch.preference = preference
    assert ch.preference == preference
    assert _hand_off_log(ch, sender_first=False) == RECEIVER_FIRST[preference]
    assert ch.balance == 0


@pytest.mark.parametrize("preference", [-1, 0, 1])
def test_sender_first_order_by_preference(preference: int) -> None:
    """A receive from a waiting sender runs whom the preference says, in this order."""
    ch = shoal.Channel()
    ch.preference = preference
    assert _hand_off_log(ch, sender_first=True) == SENDER_FIRST[preference]
    assert ch.balance == 0


@pytest.mark.parametrize("preference", [-1, 0, 1])
def test_schedule_all_receiver_first_yields_after_hand_off(preference: int) -> None:
    """With schedule_all the sender yields after handing off; both go to the end."""
    ch = shoal.Channel()
    ch.preference = preference
    ch.schedule_all = True
    assert ch.schedule_all
    assert _hand_off_log(ch, sender_first=False) == [
        "r: receive",
        "s: send",
        "other",
        "main",
        "r: got v",
        "s: sent",
    ]


@pytest.mark.parametrize("preference", [-1, 0, 1])
def test_schedule_all_sender_first_yields_after_hand_off(preference: int) -> None:
    """With schedule_all the receiver yields after taking; the sender runs first."""
    ch = shoal.Channel()
    ch.preference = preference
    ch.schedule_all = True
    assert _hand_off_log(ch, sender_first=True) == [
        "s: send",
        "r: receive",
        "other",
        "main",
        "s: sent",
        "r: got v",
    ]


def test_default_flags() -> None:
    """A new channel prefers the receiver, does not schedule_all, is open."""
    ch = shoal.Channel()
    assert ch.preference == -1
    assert not ch.schedule_all
    assert not ch.closed
    assert ch.capacity == 0
    assert len(ch) == 0
    assert ch.balance == 0


def test_main_send_to_waiting_receiver_runs_it_first() -> None:
    """Main sending to a waiting receiver is itself queued behind the others."""
    ch = shoal.Channel()
    log: list[str] = []
    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    o = shoal.spawn(lambda: log.append("other"))
    shoal.schedule()  # r blocks, o runs: log ["other"]
    p = shoal.spawn(lambda: log.append("spawned before send"))
    ch.send(1)
    log.append("main sent")
    for t in (r, o, p):
        t.join()
    assert log == ["other", "got 1", "spawned before send", "main sent"]


def test_balance_counts_waiting_receivers() -> None:
    """Each blocked receiver lowers the balance by one; each send raises it."""
    ch = shoal.Channel()
    got: list[int] = []
    receivers = [shoal.spawn(lambda: got.append(ch.receive())) for _ in range(3)]
    assert ch.balance == 0  # not started yet
    shoal.schedule()
    assert ch.balance == -3
    ch.send(10)
    assert ch.balance == -2
    ch.send(11)
    assert ch.balance == -1
    ch.send(12)
    assert ch.balance == 0
    for t in receivers:
        t.join()
    assert got == [10, 11, 12]


def test_balance_counts_waiting_senders() -> None:
    """Each blocked sender raises the balance by one; each receive lowers it."""
    ch = shoal.Channel()
    senders = [shoal.spawn(ch.send, i) for i in range(3)]
    shoal.schedule()
    assert ch.balance == 3
    assert ch.receive() == 0
    assert ch.balance == 2
    assert ch.receive() == 1
    assert ch.balance == 1
    assert ch.receive() == 2
    assert ch.balance == 0
    for t in senders:
        t.join()


@pytest.mark.parametrize("preference", [0, 1])
def test_balance_drops_at_hand_off_before_the_peer_runs(preference: int) -> None:
    """The balance changes at the hand-off, not when the woken tasklet runs."""
    ch = shoal.Channel()
    ch.preference = preference
    log: list[str] = []
    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    shoal.schedule()
    assert ch.balance == -1
    ch.send("x")  # no switch under preference 0 or 1
    assert ch.balance == 0
    assert log == []
    r.join()
    assert log == ["got x"]


def test_waiters_are_served_in_fifo_order() -> None:
    """Blocked receivers get values in the order they started waiting."""
    ch = shoal.Channel()
    log: list[str] = []

    def receiver(name: str) -> None:
        log.append(f"{name} {ch.receive()}")

    ts = [shoal.spawn(receiver, n) for n in "abc"]
    shoal.schedule()
    for i in range(3):
        ch.send(i)
    for t in ts:
        t.join()
    assert log == ["a 0", "b 1", "c 2"]


@pytest.mark.parametrize("first", ["one waiter", "two waiters", "select", "timeout"])
def test_a_channel_keeps_order_whatever_its_queues_held_before(first: str) -> None:
    """A channel's waiter queues take several forms (nobody, one tasklet, a
    deque from the second waiter or a select on), and the fast paths rely
    on knowing which: after each kind of first use, waiters in both
    directions, one and then several at a time, are served in order and
    nothing is lost."""
    ch = shoal.Channel()
    log: list[str] = []

    def receiver(name: str) -> None:
        log.append(f"{name} got {ch.receive()}")

    def sender(name: str) -> None:
        ch.send(name)
        log.append(f"{name} sent")

    def run(fn: Callable[[str], None], names: str) -> None:
        ts = [shoal.spawn(fn, n) for n in names]
        shoal.schedule()  # they all wait now
        assert ch.balance == (len(names) if fn is sender else -len(names))
        for _ in names:
            if fn is sender:
                log.append(f"main got {ch.receive()}")
            else:
                ch.send("v")
        for t in ts:
            t.join()

    if first == "two waiters":
        run(receiver, "xy")
    elif first == "select":
        other = shoal.Channel()
        t = shoal.spawn(shoal.select, ch.receive_case(), other.receive_case())
        shoal.schedule()
        ch.send("s")
        assert t.get()[1] == "s"
    elif first == "timeout":

        def time_out() -> None:
            with pytest.raises(shoal.TimeoutError):
                ch.receive(timeout=0.001)

        shoal.run(time_out)  # with a hub, closed at the end
    else:
        run(receiver, "x")
    # The queues' form the rest starts from (white-box: so that each form
    # is known to be covered).
    assert ch._single is (first in ("one waiter", "timeout"))
    log.clear()
    run(receiver, "a")
    run(sender, "b")
    run(receiver, "cd")
    run(sender, "ef")
    run(sender, "g")
    assert log == [
        *["a got v", "main got b", "b sent"],
        *["c got v", "d got v", "main got e", "main got f", "e sent", "f sent"],
        *["main got g", "g sent"],
    ]
    assert ch.balance == 0


def test_send_and_receive_many_values_between_two_tasklets() -> None:
    """A producer and a consumer exchange values in order."""
    ch = shoal.Channel()
    got: list[int] = []

    def consumer() -> None:
        for _ in range(100):
            got.append(ch.receive())

    c = shoal.spawn(consumer)
    for i in range(100):
        ch.send(i)
    c.join()
    assert got == list(range(100))


def test_values_are_passed_by_identity() -> None:
    """The receiver gets the very object sent, None included."""
    ch = shoal.Channel()
    obj = object()
    t = shoal.spawn(lambda: [ch.receive(), ch.receive()])
    ch.send(obj)
    ch.send(None)
    first, second = t.get()
    assert first is obj
    assert second is None


# -- deadlock -----------------------------------------------------------------


def test_send_deadlock_leaves_channel_clean() -> None:
    """A send nobody can take raises DeadlockError and unregisters the sender."""
    ch = shoal.Channel()
    with pytest.raises(shoal.DeadlockError, match="sending on <Channel"):
        ch.send("nobody")
    assert ch.balance == 0
    with pytest.raises(shoal.WouldBlock):
        ch.receive_nowait()


def test_deadlock_in_a_tasklet_raises_there() -> None:
    """The tasklet that would block forever gets the DeadlockError."""
    ch = shoal.Channel()

    def lonely() -> str:
        try:
            ch.receive()
        except shoal.DeadlockError:
            return "deadlock"
        return "no"

    t = shoal.spawn(lonely)
    assert t.get() == "deadlock"
    assert ch.balance == 0


def test_buffered_send_deadlock_keeps_value_out_of_the_buffer() -> None:
    """A send on a full buffer that can never complete leaves the buffer as it was."""
    ch = shoal.Channel(1)
    ch.send("in")
    with pytest.raises(shoal.DeadlockError):
        ch.send("out")
    assert ch.balance == 0
    assert len(ch) == 1
    assert ch.receive() == "in"
    with pytest.raises(shoal.WouldBlock):
        ch.receive_nowait()


# -- buffered channels ----------------------------------------------------------


def test_buffered_send_does_not_block_until_full() -> None:
    """Sends fill the buffer without switching; the next one blocks."""
    ch = shoal.Channel(2)
    log: list[str] = []
    other = shoal.spawn(log.append, "other ran")
    ch.send(1)
    ch.send(2)
    assert log == []  # no switch
    assert len(ch) == 2
    assert ch.balance == 0
    assert ch.capacity == 2
    with pytest.raises(shoal.WouldBlock):
        ch.send_nowait(3)
    blocked = shoal.spawn(ch.send, 3)
    shoal.schedule()
    assert log == ["other ran"]
    assert ch.balance == 1
    assert len(ch) == 2
    assert ch.receive() == 1
    assert len(ch) == 2  # the blocked sender's value moved in
    assert ch.balance == 0
    assert ch.receive() == 2
    assert ch.receive() == 3
    assert len(ch) == 0
    other.join()
    blocked.join()


def test_buffered_receive_does_not_switch() -> None:
    """Taking a buffered value never switches, whatever the preference."""
    for preference in (-1, 0, 1):
        ch = shoal.Channel(1)
        ch.preference = preference
        ch.send("a")
        log: list[str] = []
        t = shoal.spawn(log.append, "other")
        assert ch.receive() == "a"
        assert log == []
        t.join()


def test_buffered_refill_from_blocked_senders_in_fifo_order() -> None:
    """Each receive moves the first blocked sender's value in; senders wake in order."""
    ch = shoal.Channel(2)
    log: list[str] = []

    def sender(name: str, value: int) -> None:
        ch.send(value)
        log.append(f"{name} done")

    ch.send(0)
    ch.send(1)
    ts = [shoal.spawn(sender, n, v) for n, v in (("a", 2), ("b", 3), ("c", 4))]
    shoal.schedule()
    assert ch.balance == 3
    assert log == []
    received = []
    for expected_balance in (2, 1, 0, 0, 0):
        received.append(ch.receive())
        assert ch.balance == expected_balance
    assert received == [0, 1, 2, 3, 4]
    assert len(ch) == 0
    assert log == []  # woken senders were queued, not run
    shoal.schedule()
    assert log == ["a done", "b done", "c done"]
    for t in ts:
        t.join()


def test_buffered_receiver_first_gets_value_directly() -> None:
    """A send to a waiting receiver on a buffered channel bypasses the buffer."""
    ch = shoal.Channel(3)
    log: list[str] = []
    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    shoal.schedule()
    assert ch.balance == -1
    ch.send("direct")
    log.append("main")  # preference -1: the receiver ran first
    assert len(ch) == 0
    assert ch.balance == 0
    assert log == ["got direct", "main"]
    r.join()


def test_buffered_receivers_block_when_empty_in_fifo_order() -> None:
    """Receivers wait on an empty buffered channel and are served in order."""
    ch = shoal.Channel(2)
    ch.preference = 0
    log: list[str] = []

    def receiver(name: str) -> None:
        log.append(f"{name} {ch.receive()}")

    ts = [shoal.spawn(receiver, n) for n in "ab"]
    shoal.schedule()
    assert ch.balance == -2
    ch.send(1)
    ch.send(2)
    ch.send(3)  # into the buffer: nobody is waiting any more
    assert ch.balance == 0
    assert len(ch) == 1
    for t in ts:
        t.join()
    assert log == ["a 1", "b 2"]
    assert ch.receive() == 3


def test_buffered_close_then_drain() -> None:
    """A closed buffered channel still delivers what it holds, then raises."""
    ch = shoal.Channel(3)
    ch.send(1)
    ch.send(2)
    ch.close()
    assert ch.closed
    with pytest.raises(shoal.ChannelClosed):
        ch.send(3)
    assert len(ch) == 2
    assert ch.receive() == 1
    assert ch.receive_nowait() == 2
    with pytest.raises(shoal.ChannelClosed):
        ch.receive()
    with pytest.raises(shoal.ChannelClosed):
        ch.receive_nowait()


def test_buffered_close_fails_blocked_senders_and_drops_their_values() -> None:
    """Blocked senders get ChannelClosed in order; their values never enter the buffer."""
    ch = shoal.Channel(1)
    ch.send("kept")
    log: list[str] = []

    def sender(value: str) -> None:
        try:
            ch.send(value)
        except shoal.ChannelClosed:
            log.append(f"{value} closed")
        else:
            log.append(f"{value} sent")

    ts = [shoal.spawn(sender, v) for v in ("x", "y")]
    shoal.schedule()
    assert ch.balance == 2
    ch.close()
    assert ch.balance == 0
    assert log == []  # close does not switch
    for t in ts:
        t.join()
    assert log == ["x closed", "y closed"]
    assert len(ch) == 1
    assert list(ch) == ["kept"]


def test_capacity_one_is_a_one_slot_queue() -> None:
    """Capacity 1 holds one value; the second sender blocks."""
    ch = shoal.Channel(1)
    ch.send("a")
    t = shoal.spawn(ch.send, "b")
    shoal.schedule()
    assert ch.balance == 1
    assert [ch.receive(), ch.receive()] == ["a", "b"]
    t.join()
    assert ch.balance == 0


# -- send_exception -----------------------------------------------------------


def test_send_exception_raises_in_receiver() -> None:
    """The receiver raises exc_type(*args); the sender goes on normally."""
    ch = shoal.Channel()

    def receiver() -> object:
        try:
            ch.receive()
        except KeyError as e:
            return e.args
        return "no"

    t = shoal.spawn(receiver)
    shoal.schedule()
    ch.send_exception(KeyError, "a", 2)
    assert t.get() == ("a", 2)
    assert ch.balance == 0


def test_send_exception_sender_first() -> None:
    """A blocked send_exception makes the later receive raise."""
    ch = shoal.Channel()
    s = shoal.spawn(ch.send_exception, ValueError, "bad")
    shoal.schedule()
    assert ch.balance == 1
    with pytest.raises(ValueError, match="bad"):
        ch.receive()
    s.join()
    assert s.exception is None


def test_send_exception_through_buffer_keeps_its_place() -> None:
    """A buffered exception raises when its turn comes, not before."""
    ch = shoal.Channel(3)
    ch.send(1)
    ch.send_exception(LookupError, "second")
    ch.send(3)
    assert ch.receive() == 1
    with pytest.raises(LookupError, match="second"):
        ch.receive()
    assert ch.receive() == 3


def test_send_exception_propagates_out_of_iteration() -> None:
    """Other exceptions sent into a loop propagate out of the for statement."""
    ch = shoal.Channel(2)
    ch.send(1)
    ch.send_exception(RuntimeError, "stop")
    it = iter(ch)
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="stop"):
        next(it)


# -- iteration ------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, 5])
def test_iteration_ends_when_closed(capacity: int) -> None:
    """for x in ch yields every value sent, then stops at close."""
    ch = shoal.Channel(capacity)

    def producer() -> None:
        for i in range(10):
            ch.send(i)
        ch.close()

    p = shoal.spawn(producer)
    assert list(ch) == list(range(10))
    p.join()
    assert ch.closed
    assert iter(ch) is ch


def test_iteration_of_a_closed_empty_channel_is_empty() -> None:
    """Iterating a closed, drained channel stops at once."""
    ch = shoal.Channel()
    ch.close()
    assert list(ch) == []


# -- nowait forms -----------------------------------------------------------------


def test_receive_nowait_with_nothing_ready() -> None:
    """receive_nowait raises WouldBlock and registers nothing."""
    ch = shoal.Channel()
    with pytest.raises(shoal.WouldBlock, match="receive_nowait"):
        ch.receive_nowait()
    assert ch.balance == 0


def test_receive_nowait_takes_from_blocked_sender() -> None:
    """receive_nowait takes a waiting sender's value; the sender is queued."""
    ch = shoal.Channel()
    log: list[str] = []

    def sender() -> None:
        ch.send("v")
        log.append("sent")

    s = shoal.spawn(sender)
    shoal.schedule()
    assert ch.receive_nowait() == "v"
    assert log == []
    assert ch.balance == 0
    s.join()
    assert log == ["sent"]


def test_send_nowait_with_nobody_waiting() -> None:
    """send_nowait raises WouldBlock on a rendezvous channel with no receiver."""
    ch = shoal.Channel()
    with pytest.raises(shoal.WouldBlock, match="send_nowait"):
        ch.send_nowait(1)
    assert ch.balance == 0


def test_send_nowait_to_waiting_receiver_follows_preference() -> None:
    """send_nowait hands off like send: the receiver runs at once by default."""
    ch = shoal.Channel()
    log: list[str] = []
    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    shoal.schedule()
    ch.send_nowait("v")
    log.append("main")
    assert log == ["got v", "main"]
    r.join()


def test_send_nowait_buffered() -> None:
    """send_nowait fills a buffer and raises WouldBlock once it is full."""
    ch = shoal.Channel(2)
    ch.send_nowait(1)
    ch.send_nowait(2)
    with pytest.raises(shoal.WouldBlock):
        ch.send_nowait(3)
    assert [ch.receive_nowait() for _ in range(2)] == [1, 2]


def test_nowait_on_closed_channel() -> None:
    """On a closed channel both nowait forms raise ChannelClosed, not WouldBlock."""
    ch = shoal.Channel()
    ch.close()
    with pytest.raises(shoal.ChannelClosed):
        ch.send_nowait(1)
    with pytest.raises(shoal.ChannelClosed):
        ch.receive_nowait()


def test_channel_closed_is_a_closed_error() -> None:
    """ChannelClosed and WouldBlock are shoal.Error subclasses."""
    assert issubclass(shoal.ChannelClosed, shoal.ClosedError)
    assert issubclass(shoal.ChannelClosed, shoal.Error)
    assert issubclass(shoal.WouldBlock, shoal.Error)


# -- close ------------------------------------------------------------------------


def test_close_wakes_blocked_receivers_in_order() -> None:
    """close() wakes every blocked receiver with ChannelClosed, oldest first."""
    ch = shoal.Channel()
    log: list[str] = []

    def receiver(name: str) -> None:
        try:
            ch.receive()
        except shoal.ChannelClosed:
            log.append(f"{name} closed")

    ts = [shoal.spawn(receiver, n) for n in "abc"]
    shoal.schedule()
    assert ch.balance == -3
    ch.close()
    log.append("main after close")  # close does not switch
    assert ch.balance == 0
    for t in ts:
        t.join()
    assert log == ["main after close", "a closed", "b closed", "c closed"]


def test_close_wakes_blocked_senders_in_order() -> None:
    """close() wakes every blocked sender with ChannelClosed, oldest first."""
    ch = shoal.Channel()
    log: list[str] = []

    def sender(name: str) -> None:
        try:
            ch.send(name)
        except shoal.ChannelClosed:
            log.append(f"{name} closed")

    ts = [shoal.spawn(sender, n) for n in "abc"]
    shoal.schedule()
    assert ch.balance == 3
    ch.close()
    assert ch.balance == 0
    for t in ts:
        t.join()
    assert log == ["a closed", "b closed", "c closed"]
    with pytest.raises(shoal.ChannelClosed):
        ch.receive()


def test_close_wakes_behind_other_runnables() -> None:
    """Tasklets woken by close() go to the end of the run queue."""
    ch = shoal.Channel()
    log: list[str] = []

    def receiver() -> None:
        try:
            ch.receive()
        except shoal.ChannelClosed:
            log.append("receiver closed")

    r = shoal.spawn(receiver)
    shoal.schedule()
    o = shoal.spawn(log.append, "spawned before close")
    ch.close()
    r.join()
    o.join()
    assert log == ["spawned before close", "receiver closed"]


def test_close_is_idempotent_and_send_fails() -> None:
    """close() twice is harmless; every send afterwards raises ChannelClosed."""
    ch = shoal.Channel()
    ch.close()
    ch.close()
    assert ch.closed
    with pytest.raises(shoal.ChannelClosed, match="send on closed"):
        ch.send(1)
    with pytest.raises(shoal.ChannelClosed):
        ch.send_exception(ValueError)
    with pytest.raises(shoal.ChannelClosed, match="receive on closed"):
        ch.receive()


def test_close_from_a_tasklet_wakes_main() -> None:
    """Main blocked in receive is woken with ChannelClosed by a closing tasklet."""
    ch = shoal.Channel()
    t = shoal.spawn(ch.close)
    with pytest.raises(shoal.ChannelClosed):
        ch.receive()
    t.join()
    assert ch.balance == 0


def test_kill_blocked_receiver_restores_balance() -> None:
    """Killing a blocked receiver removes it; the next send does not reach it."""
    ch = shoal.Channel()
    a = shoal.spawn(ch.receive)
    b = shoal.spawn(ch.receive)
    shoal.schedule()
    assert ch.balance == -2
    a.kill()
    assert ch.balance == -1
    ch.send("to b")
    assert b.get() == "to b"
    assert a.dead
    assert ch.balance == 0


# -- kill after a completed hand-off ------------------------------------------------
#
# docs/design.md: "A tasklet whose operation has completed but which has not run
# yet first runs to its next switch point, so a value is never delivered and
# then reported as failed."


def _logging_sender(ch: shoal.Channel, log: list[str]) -> None:
    try:
        ch.send("v")
        log.append("send returned")
        shoal.schedule()
    except shoal.TaskletExit:
        log.append("sender killed")
        raise


def _logging_receiver(ch: shoal.Channel, log: list[str]) -> None:
    try:
        log.append(f"got {ch.receive()}")
        shoal.schedule()
    except shoal.TaskletExit:
        log.append("receiver killed")
        raise


def test_kill_sender_after_direct_hand_off_lets_send_return() -> None:
    """Preference -1: a sender killed after the receiver ran with its value sees send return."""
    ch = shoal.Channel()
    log: list[str] = []
    r = shoal.spawn(_logging_receiver, ch, log)
    s = shoal.spawn(_logging_sender, ch, log)
    shoal.schedule()  # r blocks; s hands off, r runs, s is queued
    assert log == ["got v"]
    s.kill()
    r.join()
    assert log == ["got v", "send returned", "sender killed"]


def test_kill_receiver_after_preference_1_take_keeps_the_value() -> None:
    """Preference 1: a receiver killed after it took a value (and the sender ran) keeps it."""
    ch = shoal.Channel()
    ch.preference = 1
    log: list[str] = []
    s = shoal.spawn(_logging_sender, ch, log)
    shoal.schedule()  # s blocks
    r = shoal.spawn(_logging_receiver, ch, log)
    shoal.schedule()  # r takes "v" and switches to s; r is queued
    assert log == ["send returned"]
    r.kill()
    s.join()
    assert log == ["send returned", "got v", "receiver killed"]


def test_kill_receiver_after_schedule_all_take_keeps_the_value() -> None:
    """schedule_all: a receiver killed while it yields after a take keeps the value."""
    ch = shoal.Channel()
    ch.schedule_all = True
    log: list[str] = []
    s = shoal.spawn(_logging_sender, ch, log)
    shoal.schedule()
    r = shoal.spawn(_logging_receiver, ch, log)
    shoal.schedule()  # r takes "v" and yields; main runs before s and r
    assert log == []
    r.kill()
    s.join()
    assert log == ["got v", "receiver killed", "send returned"]


def test_kill_sender_after_schedule_all_give_lets_send_return() -> None:
    """schedule_all: a sender killed while it yields after a give sees send return."""
    ch = shoal.Channel()
    ch.schedule_all = True
    log: list[str] = []
    r = shoal.spawn(_logging_receiver, ch, log)
    shoal.schedule()
    s = shoal.spawn(_logging_sender, ch, log)
    shoal.schedule()  # s gives "v" and yields; main runs before r and s
    assert log == []
    s.kill()
    r.join()
    assert log == ["send returned", "sender killed", "got v"]


def test_kill_after_preference_1_hand_off_raises_at_the_current_switch_point() -> None:
    """Preference 1: a sender resumed by the receiver, now in schedule(), dies right there."""
    ch = shoal.Channel()
    ch.preference = 1
    log: list[str] = []

    def sender() -> None:
        try:
            ch.send("v")
            log.append("sent")
            shoal.schedule()
            log.append("after first schedule")
            shoal.schedule()
        except shoal.TaskletExit:
            log.append("killed")
            raise

    s = shoal.spawn(sender)
    shoal.schedule()
    assert ch.receive() == "v"  # switches to s, which runs into schedule()
    assert log == ["sent"]
    s.kill()
    assert log == ["sent", "killed"]


def test_delivered_value_is_not_kept_alive_by_the_sender() -> None:
    """Preference 1: after the hand-off shoal holds no reference to the value."""

    class Payload:
        pass

    ch = shoal.Channel()
    ch.preference = 1
    payload = Payload()
    ref = weakref.ref(payload)
    s = shoal.spawn(ch.send, payload)
    del payload
    shoal.schedule()
    assert ch.receive() is ref()
    s.join()
    gc.collect()
    assert ref() is None


# -- repr, statistics, bad input ----------------------------------------------------


def test_repr_shows_balance_and_state() -> None:
    """repr says which channel it is (its id, as object's repr does), the
    balance, the buffer fill for buffered channels, and the state."""
    ch = shoal.Channel()
    assert repr(ch) == f"<Channel at {id(ch):#x} balance=0 open>"
    r = shoal.spawn(ch.receive)
    shoal.schedule()
    assert repr(ch) == f"<Channel at {id(ch):#x} balance=-1 open>"
    r.kill()
    ch.close()
    assert repr(ch) == f"<Channel at {id(ch):#x} balance=0 closed>"
    b = shoal.Channel(2)
    b.send(1)
    assert repr(b) == f"<Channel at {id(b):#x} balance=0 buffered=1/2 open>"
    b.send(2)
    s = shoal.spawn(b.send, 3)
    shoal.schedule()
    assert repr(b) == f"<Channel at {id(b):#x} balance=1 buffered=2/2 open>"
    s.kill()


def test_statistics() -> None:
    """statistics() reports balance, buffered count, capacity and closed."""
    ch = shoal.Channel(3)
    assert ch.statistics() == {
        "balance": 0,
        "buffered": 0,
        "capacity": 3,
        "closed": False,
    }
    ch.send("a")
    ch.send("b")
    ch.close()
    assert ch.statistics() == {
        "balance": 0,
        "buffered": 2,
        "capacity": 3,
        "closed": True,
    }
    rv = shoal.Channel()
    r = shoal.spawn(rv.receive)
    shoal.schedule()
    assert rv.statistics()["balance"] == -1
    r.kill()


def test_len_is_buffered_count() -> None:
    """len() is the number of buffered values, always 0 for rendezvous."""
    ch = shoal.Channel(4)
    for i in range(3):
        ch.send(i)
    assert len(ch) == 3
    ch.receive()
    assert len(ch) == 2
    rv = shoal.Channel()
    s = shoal.spawn(rv.send, 1)
    shoal.schedule()
    assert len(rv) == 0
    assert rv.balance == 1
    s.kill()


def test_negative_capacity_is_a_value_error() -> None:
    """Channel(-1) raises ValueError naming the capacity."""
    with pytest.raises(ValueError, match="-1"):
        shoal.Channel(-1)


@pytest.mark.parametrize("bad", ["x", 1.5, None, [1]])
def test_non_int_capacity_is_a_type_error(bad: object) -> None:
    """A capacity that is not an int raises TypeError."""
    with pytest.raises(TypeError, match="capacity must be an int"):
        shoal.Channel(bad)  # type: ignore[arg-type]


def test_preference_must_be_an_int() -> None:
    """Setting preference to a non-int raises TypeError."""
    ch = shoal.Channel()
    with pytest.raises(TypeError, match="preference"):
        ch.preference = "high"  # type: ignore[assignment]
    assert ch.preference == -1


# -- a pipeline -----------------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "preference"), [(0, -1), (0, 0), (0, 1), (8, -1)])
def test_three_stage_pipeline_preserves_order(capacity: int, preference: int) -> None:
    """1,000 items flow through three stages in order, and close propagates."""
    n = 1000
    chans = [shoal.Channel(capacity) for _ in range(3)]
    for ch in chans:
        ch.preference = preference

    def source() -> None:
        for i in range(n):
            chans[0].send(i)
        chans[0].close()

    def stage(inp: shoal.Channel, out: shoal.Channel, fn: Callable[[int], int]) -> None:
        for x in inp:
            out.send(fn(x))
        out.close()

    ts = [
        shoal.spawn(source),
        shoal.spawn(stage, chans[0], chans[1], lambda x: x * 2),
        shoal.spawn(stage, chans[1], chans[2], lambda x: x + 1),
    ]
    assert list(chans[2]) == [2 * i + 1 for i in range(n)]
    for t in ts:
        t.join()
        assert t.exception is None
    for ch in chans:
        assert ch.closed
        assert ch.balance == 0


# -- channels belong to one thread ----------------------------------------------------
#
# docs/design.md: "Channels belong to one thread". An operation from another
# thread that would hand a value to a waiting tasklet, or take one from it, raises
# RuntimeError before anything changes: the tasklet keeps waiting.


def _channel_of_layout(layout: str, sender_waits: bool) -> shoal.Channel:
    """A channel on the fast path (fresh, its queues deques, or the queue
    of the peer that is to wait single in a channel that has had a deque),
    or on the general one (preference, schedule_all, a buffer)."""
    if layout == "buffered":
        return shoal.Channel(1)
    ch = shoal.Channel()
    if layout == "deque":  # both waiter queues are deques
        ch._queue(True)
        ch._queue(False)
    elif layout == "not single":
        ch._queue(not sender_waits)
    elif layout == "preference 1":
        ch.preference = 1
    elif layout == "preference 0":
        ch.preference = 0
    elif layout == "schedule_all":
        ch.schedule_all = True
    return ch


LAYOUTS = [
    "fresh",
    "deque",
    "not single",
    "preference 1",
    "preference 0",
    "schedule_all",
    "buffered",
]

SENDS: dict[str, Callable[[shoal.Channel], object]] = {
    "send": lambda ch: ch.send("foreign"),
    # In shoal.run(), which closes the thread's hub (a timeout needs one).
    "send with timeout": lambda ch: shoal.run(ch.send, "foreign", timeout=5),
    "send_nowait": lambda ch: ch.send_nowait("foreign"),
    "send_exception": lambda ch: ch.send_exception(ValueError, "foreign"),
    "select": lambda ch: shoal.select(ch.send_case("foreign")),
    "select with default": lambda ch: shoal.select(ch.send_case("x"), default=None),
}

RECEIVES: dict[str, Callable[[shoal.Channel], object]] = {
    "receive": lambda ch: ch.receive(),
    "receive with timeout": lambda ch: shoal.run(ch.receive, timeout=5),
    "receive_nowait": lambda ch: ch.receive_nowait(),
    "next": lambda ch: next(ch),
    "select": lambda ch: shoal.select(ch.receive_case()),
    "select with default": lambda ch: shoal.select(ch.receive_case(), default=None),
}


def _assert_scheduler_intact(main: shoal.Tasklet) -> None:
    assert shoal.current() is main
    other = shoal.Channel()
    t = shoal.spawn(other.receive)
    shoal.schedule()
    t.kill()
    assert t.dead
    assert shoal.spawn(lambda: "spawned").get() == "spawned"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", list(SENDS))
def test_send_from_another_thread_to_a_waiting_receiver_is_refused(
    layout: str, op: str
) -> None:
    """A send from another thread would hand the value to a tasklet of this
    one: RuntimeError, and the receiver still waits, then gets a value sent
    from its own thread."""
    main = shoal.current()
    ch = _channel_of_layout(layout, sender_waits=False)
    r = shoal.spawn(ch.receive)
    shoal.schedule()
    before = repr(r)
    assert ch.balance == -1
    err = in_another_thread(lambda: SENDS[op](ch))
    assert type(err) is RuntimeError, err
    assert FOREIGN in str(err)
    assert repr(ch) in str(err)
    assert "shoal.to_thread" in str(err)
    assert ch.balance == -1
    assert repr(r) == before
    assert "receiving on" in before
    _assert_scheduler_intact(main)
    ch.send("mine")
    assert r.get() == "mine"
    assert ch.balance == 0


#: The one gap: ``receive()`` on the fast path (a default channel, no
#: callback) takes a plain waiting sender without asking which thread calls;
#: a sound test would cost a ping-pong message 7% (docs/design.md, Channels).
UNCHECKED = pytest.mark.xfail(
    strict=True, reason="the receive fast path does not check the thread"
)


def _receive_cases() -> list[object]:
    cases: list[object] = []
    for layout in LAYOUTS:
        for op in RECEIVES:
            fast = layout in ("fresh", "deque", "not single")
            unchecked = fast and op in ("receive", "receive with timeout", "next")
            marks = [UNCHECKED] if unchecked else []
            cases.append(pytest.param(layout, op, marks=marks, id=f"{op}-{layout}"))
    return cases


@pytest.mark.parametrize(("layout", "op"), _receive_cases())
def test_receive_from_another_thread_from_a_waiting_sender_is_refused(
    layout: str, op: str
) -> None:
    """A receive from another thread would take a waiting sender's value (or,
    buffered, refill from it): RuntimeError; the sender still waits. Except
    on the receive fast path (UNCHECKED)."""
    main = shoal.current()
    ch = _channel_of_layout(layout, sender_waits=True)
    if layout == "buffered":
        ch.send("buffered")
    s = shoal.spawn(ch.send, "waiting")
    shoal.schedule()
    before = repr(s)
    assert ch.balance == 1
    err = in_another_thread(lambda: RECEIVES[op](ch))
    if not (type(err) is RuntimeError and FOREIGN in str(err)):
        s.join()  # taken from the other thread: let the sender finish first
    assert type(err) is RuntimeError, err
    assert FOREIGN in str(err)
    assert repr(ch) in str(err)
    assert ch.balance == 1
    assert len(ch) == (1 if layout == "buffered" else 0)
    assert repr(s) == before
    assert "sending on" in before
    _assert_scheduler_intact(main)
    if layout == "buffered":
        assert ch.receive() == "buffered"
    assert ch.receive() == "waiting"
    s.join()
    assert s.exception is None
    assert ch.balance == 0


def test_a_waiting_select_of_another_thread_is_refused() -> None:
    """A select in this thread waits on a channel; another thread's send
    would fire it: RuntimeError, and the select still waits."""
    ch, other = shoal.Channel(), shoal.Channel()
    sel = shoal.spawn(shoal.select, ch.receive_case(), other.receive_case())
    shoal.schedule()
    assert ch.balance == other.balance == -1
    err = in_another_thread(lambda: ch.send("foreign"))
    assert type(err) is RuntimeError
    assert FOREIGN in str(err)
    assert ch.balance == other.balance == -1
    assert "selecting on" in repr(sel)
    other.send("mine")
    case, value = sel.get()
    assert case.channel is other
    assert value == "mine"


@pytest.mark.parametrize("waits", ["receive", "send", "select"])
def test_a_tasklet_of_another_thread_waiting_here_is_refused(waits: str) -> None:
    """The other way round: a tasklet of another thread waits on a channel,
    and this thread's send or receive would reach it. RuntimeError here; the
    other thread's tasklet keeps waiting and then completes in its thread."""
    main = shoal.current()
    ch = shoal.Channel()
    waiting, resume = threading.Event(), threading.Event()
    got: list[object] = []

    def other_thread() -> None:
        if waits == "receive":
            t = shoal.spawn(ch.receive)
        elif waits == "send":
            t = shoal.spawn(ch.send, "theirs")
        else:
            t = shoal.spawn(shoal.select, ch.receive_case())
        shoal.schedule()
        waiting.set()
        assert resume.wait(timeout=10)
        if waits == "send":
            got.append(ch.receive())
        else:
            ch.send("theirs")
        result = t.get()
        got.append(result[1] if waits == "select" else result)

    th = threading.Thread(target=other_thread)
    th.start()
    try:
        assert waiting.wait(timeout=10)
        balance = ch.balance
        # (Not receive(): its fast path does not check; see UNCHECKED.)
        if waits == "send":
            ops = [lambda: shoal.select(ch.receive_case()), ch.receive_nowait]
        else:
            ops = [lambda: ch.send("mine"), lambda: ch.send_nowait("mine")]
        for op in ops:
            with pytest.raises(RuntimeError, match=FOREIGN):
                op()
        assert ch.balance == balance
        _assert_scheduler_intact(main)
    finally:
        resume.set()
        th.join(timeout=10)
    assert not th.is_alive()
    assert got == (["theirs", None] if waits == "send" else ["theirs"])


def test_close_with_a_waiter_of_another_thread_is_refused() -> None:
    """close() would wake a tasklet of this thread from another: RuntimeError,
    and the channel stays open with its waiter."""
    ch = shoal.Channel()
    r = shoal.spawn(ch.receive)
    shoal.schedule()
    err = in_another_thread(ch.close)
    assert type(err) is RuntimeError
    assert FOREIGN in str(err)
    assert not ch.closed
    assert ch.balance == -1
    ch.close()
    with pytest.raises(shoal.ChannelClosed):
        r.get()


@pytest.mark.parametrize("single", [True, False])
def test_hand_offs_from_a_nested_greenlet_of_this_thread(single: bool) -> None:
    """A tasklet running in a greenlet of its own (not the one it last
    switched from) takes a waiting sender's value and hands one to a waiting
    receiver: the fast paths leave both to the general ones, which tell this
    from another thread's call. It works."""
    a, b = shoal.Channel(), shoal.Channel()
    if not single:
        a._queue(True)
        b._queue(False)
    log: list[object] = []

    def nested() -> None:
        log.append(a.receive())  # a sender waits: the receive's take path
        b.send("to receiver")  # a receiver waits: the send's take path

    s = shoal.spawn(a.send, "from sender")
    r = shoal.spawn(lambda: log.append(b.receive()))
    shoal.schedule()
    assert (a.balance, b.balance) == (1, -1)
    t = shoal.spawn(lambda: greenlet.greenlet(nested).switch())
    t.join()
    r.join()
    s.join()
    assert log == ["from sender", "to receiver"]
    assert (a.balance, b.balance) == (0, 0)


@pytest.mark.parametrize("bad", [int, 1, "x", ValueError("an instance"), None])
def test_send_exception_of_anything_but_an_exception_class_is_refused(
    bad: object,
) -> None:
    """The sender gets TypeError, naming what it gave; nothing is sent and
    the waiting receiver still waits."""

    def main() -> None:
        ch = shoal.Channel()
        receiver = shoal.spawn(ch.receive)
        shoal.schedule()
        with pytest.raises(TypeError, match="needs an exception class, got"):
            ch.send_exception(bad)  # type: ignore[arg-type]
        assert ch.balance == -1
        ch.send("after")
        assert receiver.get() == "after"

    shoal.run(main)


def test_a_channel_cannot_be_copied_or_pickled() -> None:
    """A copy shared the channel's queues and buffer (a value taken twice,
    the scheduler broken); like gevent's channels, copying or pickling
    one is a TypeError naming it."""
    import copy
    import pickle

    for ch in (shoal.Channel(), shoal.Channel(3)):
        for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="cannot copy or pickle <Channel"):
                attempt(ch)


def test_iteration_ends_only_when_the_channel_is_closed() -> None:
    """A ChannelClosed sent with send_exception, or thrown into the
    consumer, while the channel is open, is raised out of the for loop;
    only the channel's own end stops it."""
    ch = shoal.Channel()

    def consume() -> list[object]:
        return list(ch)

    t = shoal.spawn(consume)
    shoal.schedule()
    ch.send(1)
    ch.send_exception(shoal.ChannelClosed, "sent, not closed")
    t.join()
    assert isinstance(t.exception, shoal.ChannelClosed)
    assert not ch.closed
    t2 = shoal.spawn(consume)
    shoal.schedule()
    ch.send(2)
    ch.close()
    assert t2.get() == [2]
    # Sent, then the channel closed before the consumer took it: still a
    # value, not the end; nor is what follows it in the buffer lost.
    buffered = shoal.Channel(3)
    buffered.send(1)
    buffered.send_exception(shoal.ChannelClosed, "sent")
    buffered.send(2)
    buffered.close()
    got: list[object] = []

    def drain() -> None:
        for x in buffered:
            got.append(x)

    with pytest.raises(shoal.ChannelClosed, match="sent"):
        drain()
    assert got == [1]
    assert list(buffered) == [2]


@pytest.mark.parametrize("sending", [False, True], ids=["receivers", "senders"])
def test_killing_waiters_at_either_end_or_in_the_middle_keeps_the_rest_in_order(
    sending: bool,
) -> None:
    """A waiter leaving the queue (a kill) is taken out at the back, the
    front (each at once) or in the middle; the others keep their order."""
    ch = shoal.Channel()
    got: list[int] = []

    def receive(i: int) -> None:
        got.append(i + 100 * ch.receive())

    def send(i: int) -> None:
        ch.send(i)

    ts = [shoal.spawn(send if sending else receive, i) for i in range(7)]
    shoal.schedule()
    for i in (6, 0, 3, 5, 1):  # back, front, middle, back, front
        ts[i].kill()
    assert ch.balance == (2 if sending else -2)
    if sending:
        assert [ch.receive(), ch.receive()] == [2, 4]
    else:
        ch.send(1)
        ch.send(2)
        assert got == [102, 204]
    assert ch.balance == 0
    for t in ts:
        t.join()
