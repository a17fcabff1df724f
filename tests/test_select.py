"""select: atomic choice among channel operations, fairness, close, kill, stale waiters."""

from __future__ import annotations

import gc
import weakref

import pytest

import shoal


def _registrations(ch: shoal.Channel) -> int:
    """White-box: how many waiter entries (live or stale) the channel holds."""
    return len(ch._senders) + len(ch._receivers)


# -- cases that are ready at once ------------------------------------------------


def test_ready_receive_returns_its_case_and_value() -> None:
    """A receive case with a blocked sender returns (that case, the value)."""
    a, b = shoal.Channel(), shoal.Channel()
    s = shoal.spawn(b.send, "hello")
    shoal.schedule()
    case_a, case_b = a.receive_case(), b.receive_case()
    case, value = shoal.select(case_a, case_b)
    assert case is case_b
    assert value == "hello"
    assert b.balance == 0
    assert a.balance == 0
    s.join()


def test_ready_send_returns_its_case_and_none() -> None:
    """A send case with a blocked receiver returns (that case, None)."""
    a, b = shoal.Channel(), shoal.Channel()
    r = shoal.spawn(a.receive)
    shoal.schedule()
    send_a = a.send_case("x")
    case, value = shoal.select(b.receive_case(), send_a)
    assert case is send_a
    assert value is None
    assert r.get() == "x"


def test_ready_send_hands_off_like_send() -> None:
    """A ready send case switches to the waiting receiver under preference -1."""
    ch = shoal.Channel()
    log: list[str] = []
    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    shoal.schedule()
    shoal.select(ch.send_case(1))
    log.append("main")
    assert log == ["got 1", "main"]
    r.join()


def test_ready_receive_does_not_switch() -> None:
    """A ready receive case takes the value; the sender is queued, not run."""
    ch = shoal.Channel()
    log: list[str] = []

    def sender() -> None:
        ch.send("v")
        log.append("sender resumed")

    s = shoal.spawn(sender)
    shoal.schedule()
    assert shoal.select(ch.receive_case())[1] == "v"
    assert log == []
    s.join()
    assert log == ["sender resumed"]


def test_default_when_nothing_is_ready() -> None:
    """With default, select returns (None, default) at once and registers nothing."""
    a, b = shoal.Channel(), shoal.Channel(1)
    b.send("fill")
    marker = object()
    case, value = shoal.select(a.receive_case(), b.send_case(2), default=marker)
    assert case is None
    assert value is marker
    for ch in (a, b):
        assert ch.balance == 0
        assert _registrations(ch) == 0
    assert b.receive() == "fill"


def test_default_none_is_a_real_default() -> None:
    """default=None is honoured, not mistaken for 'no default'."""
    ch = shoal.Channel()
    assert shoal.select(ch.receive_case(), default=None) == (None, None)


def test_default_is_ignored_when_a_case_is_ready() -> None:
    """A ready case wins over the default."""
    ch = shoal.Channel(1)
    ch.send(5)
    rc = ch.receive_case()
    assert shoal.select(rc, default="d") == (rc, 5)


def test_no_cases() -> None:
    """No cases: the default comes back at once; without one, ValueError."""
    assert shoal.select(default=3) == (None, 3)
    with pytest.raises(ValueError, match="at least one case"):
        shoal.select()


def test_non_case_arguments_are_rejected() -> None:
    """Anything but a Case is a TypeError naming it."""
    ch = shoal.Channel()
    with pytest.raises(TypeError, match="got <Channel"):
        shoal.select(ch)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got 1"):
        shoal.select(ch.receive_case(), 1)  # type: ignore[arg-type]
    assert _registrations(ch) == 0


def test_case_repr() -> None:
    """Cases say what they do and on which channel."""
    ch = shoal.Channel()
    assert repr(ch.send_case(7)) == f"<Case send 7 on {ch!r}>"
    assert repr(ch.receive_case()) == f"<Case receive from {ch!r}>"


# -- fairness -------------------------------------------------------------------------


def test_two_always_ready_receive_cases_are_both_chosen() -> None:
    """Over 1,000 selects with two ready receive cases, neither starves."""
    a, b = shoal.Channel(1), shoal.Channel(1)
    ra, rb = a.receive_case(), b.receive_case()
    counts = {"a": 0, "b": 0}
    for _ in range(1000):
        for ch in (a, b):
            if not len(ch):
                ch.send(1)
        case, _ = shoal.select(ra, rb)
        counts["a" if case is ra else "b"] += 1
    assert counts["a"] > 400
    assert counts["b"] > 400


def test_two_always_ready_send_cases_are_both_chosen() -> None:
    """Over 1,000 selects with two ready send cases, neither starves."""
    a, b = shoal.Channel(1), shoal.Channel(1)
    sa, sb = a.send_case("a"), b.send_case("b")
    counts = {"a": 0, "b": 0}
    for _ in range(1000):
        case, _ = shoal.select(sa, sb)
        counts["a" if case is sa else "b"] += 1
        (a if case is sa else b).receive()
    assert counts["a"] > 400
    assert counts["b"] > 400


def test_three_ready_cases_each_get_a_fair_share() -> None:
    """With three ready cases, each is chosen about a third of the time."""
    chans = [shoal.Channel(1) for _ in range(3)]
    cases = [ch.receive_case() for ch in chans]
    counts = [0, 0, 0]
    for _ in range(1500):
        for ch in chans:
            if not len(ch):
                ch.send(1)
        case, _ = shoal.select(*cases)
        counts[cases.index(case)] += 1
    assert min(counts) > 400


def test_ready_cases_are_chosen_fairly_whatever_their_position() -> None:
    """Two ready cases share the choices evenly, idle cases between them or not."""
    a, b = shoal.Channel(1), shoal.Channel(1)
    idle = [shoal.Channel() for _ in range(8)]
    ra, rb = a.receive_case(), b.receive_case()
    cases = [ra, *(ch.receive_case() for ch in idle), rb]
    counts = {"a": 0, "b": 0}
    for _ in range(1000):
        for ch in (a, b):
            if not len(ch):
                ch.send(1)
        case, _ = shoal.select(*cases)
        counts["a" if case is ra else "b"] += 1
    assert counts["a"] > 250
    assert counts["b"] > 250


# -- atomicity ----------------------------------------------------------------------------


def test_exactly_one_of_several_ready_receives_happens() -> None:
    """With two buffered values ready, one is taken and the other stays."""
    for _ in range(50):
        a, b = shoal.Channel(1), shoal.Channel(1)
        a.send("a")
        b.send("b")
        case, value = shoal.select(a.receive_case(), b.receive_case())
        taken, kept = (a, b) if case.channel is a else (b, a)
        assert value == ("a" if taken is a else "b")
        assert len(taken) == 0
        assert len(kept) == 1


def test_exactly_one_blocked_sender_is_released() -> None:
    """With two blocked senders ready, exactly one is released; one stays blocked."""
    for _ in range(20):
        a, b = shoal.Channel(), shoal.Channel()
        sa, sb = shoal.spawn(a.send, "a"), shoal.spawn(b.send, "b")
        shoal.schedule()
        case, value = shoal.select(a.receive_case(), b.receive_case())
        other, other_sender = (b, sb) if case.channel is a else (a, sa)
        assert value == ("a" if case.channel is a else "b")
        assert case.channel.balance == 0
        assert other.balance == 1
        assert other.receive() in ("a", "b")
        sa.join()
        sb.join()
        assert other_sender.dead


def test_exactly_one_waiting_receiver_gets_a_send() -> None:
    """With two waiting receivers, one select send reaches exactly one of them."""
    for _ in range(20):
        a, b = shoal.Channel(), shoal.Channel()
        ra, rb = shoal.spawn(a.receive), shoal.spawn(b.receive)
        shoal.schedule()
        case, _ = shoal.select(a.send_case(1), b.send_case(2))
        waiting = b if case.channel is a else a
        assert case.channel.balance == 0
        assert waiting.balance == -1
        waiting.send(0)
        assert sorted([ra.get(), rb.get()]) == sorted([case.value, 0])


def test_no_value_lost_or_duplicated_between_selects() -> None:
    """Many selectors and plain peers pass every value exactly once."""
    a, b = shoal.Channel(), shoal.Channel(2)
    got: list[int] = []

    def selector() -> None:
        for _ in range(50):
            _, value = shoal.select(a.receive_case(), b.receive_case())
            got.append(value)

    def sender(ch: shoal.Channel, base: int) -> None:
        for i in range(50):
            ch.send(base + i)

    ts = [
        shoal.spawn(selector),
        shoal.spawn(selector),
        shoal.spawn(sender, a, 0),
        shoal.spawn(sender, b, 1000),
    ]
    for t in ts:
        t.join()
        assert t.exception is None
    assert sorted(got) == list(range(50)) + list(range(1000, 1050))
    assert a.balance == 0
    assert b.balance == 0


# -- closed channels --------------------------------------------------------------------------


def test_send_case_on_closed_channel_raises_and_does_nothing_else() -> None:
    """A send case on a closed channel raises, and no other ready case happens."""
    for _ in range(20):
        ready = shoal.Channel(1)
        ready.send("stay")
        closed = shoal.Channel()
        closed.close()
        for cases in (
            (ready.receive_case(), closed.send_case(1)),
            (closed.send_case(1), ready.receive_case()),
        ):
            with pytest.raises(shoal.ChannelClosed, match="select: send on closed"):
                shoal.select(*cases)
            assert len(ready) == 1


def test_receive_case_on_closed_drained_channel_raises() -> None:
    """A receive case on a closed, drained channel raises; a ready send stays undone."""
    for _ in range(20):
        r = shoal.spawn(lambda ch: ch.receive(), shoal.Channel())
        closed = shoal.Channel()
        closed.close()
        live = shoal.Channel(1)
        with pytest.raises(shoal.ChannelClosed, match="select: receive on closed"):
            shoal.select(live.send_case(1), closed.receive_case())
        assert len(live) == 0
        r.kill()


def test_receive_case_on_closed_channel_still_drains_buffer() -> None:
    """A closed channel's buffered values are still received by select."""
    ch = shoal.Channel(2)
    ch.send(1)
    ch.send(2)
    ch.close()
    rc = ch.receive_case()
    assert shoal.select(rc) == (rc, 1)
    assert shoal.select(rc, default="d") == (rc, 2)
    with pytest.raises(shoal.ChannelClosed):
        shoal.select(rc, default="d")


def test_closed_channel_beats_default() -> None:
    """A closed case raises even when a default is given."""
    ch = shoal.Channel()
    ch.close()
    with pytest.raises(shoal.ChannelClosed):
        shoal.select(ch.receive_case(), default=None)


def test_blocked_select_raises_when_its_channel_is_closed() -> None:
    """Closing a channel a select waits on wakes it with ChannelClosed."""
    a, b = shoal.Channel(), shoal.Channel()

    def selector() -> str:
        try:
            shoal.select(a.receive_case(), b.send_case("b"))
        except shoal.ChannelClosed:
            return "closed"
        return "no"

    t = shoal.spawn(selector)
    shoal.schedule()
    assert a.balance == -1
    assert b.balance == 1
    a.close()
    assert t.get() == "closed"
    assert a.balance == 0
    assert b.balance == 0
    with pytest.raises(shoal.WouldBlock):
        b.receive_nowait()  # the stale send registration is not taken


def test_blocked_select_send_case_closed() -> None:
    """Closing the channel of a blocked send case raises ChannelClosed in the select."""
    ch = shoal.Channel()
    t = shoal.spawn(shoal.select, ch.send_case(1))
    shoal.schedule()
    assert ch.balance == 1
    ch.close()
    t.join()
    assert isinstance(t.exception, shoal.ChannelClosed)
    assert ch.balance == 0


# -- blocking ------------------------------------------------------------------------


def test_blocked_select_woken_by_a_sender() -> None:
    """A select blocked on receives is woken by a send on one of them."""
    a, b = shoal.Channel(), shoal.Channel()
    ra, rb = a.receive_case(), b.receive_case()
    log: list[object] = []

    def selector() -> None:
        log.append(shoal.select(ra, rb))

    t = shoal.spawn(selector)
    shoal.schedule()
    assert a.balance == -1
    assert b.balance == -1
    assert "selecting on" in repr(t)
    b.send("to b")  # preference -1: the selector runs at once
    log.append("main")
    assert log == [(rb, "to b"), "main"]
    assert a.balance == 0
    assert b.balance == 0
    t.join()


def test_blocked_select_woken_by_a_receiver() -> None:
    """A select blocked on sends is woken by a receive on one of them."""
    a, b = shoal.Channel(), shoal.Channel()
    sa, sb = a.send_case("A"), b.send_case("B")
    t = shoal.spawn(shoal.select, sa, sb)
    shoal.schedule()
    assert a.balance == 1
    assert b.balance == 1
    assert a.receive() == "A"
    assert t.get() == (sa, None)
    assert b.balance == 0
    with pytest.raises(shoal.WouldBlock):
        b.receive_nowait()


def test_main_blocked_in_select() -> None:
    """Main can block in select; a tasklet wakes it."""
    ch = shoal.Channel()
    t = shoal.spawn(ch.send, 42)
    rc = ch.receive_case()
    assert shoal.select(rc) == (rc, 42)
    t.join()


def test_select_meets_select() -> None:
    """A sending select and a receiving select on one channel match each other."""
    ch, idle_a, idle_b = shoal.Channel(), shoal.Channel(), shoal.Channel()
    sc = ch.send_case("x")
    rc = ch.receive_case()
    sender = shoal.spawn(shoal.select, idle_a.send_case("never"), sc)
    shoal.schedule()
    assert shoal.select(rc, idle_b.receive_case()) == (rc, "x")
    assert sender.get() == (sc, None)
    for c in (ch, idle_a, idle_b):
        assert c.balance == 0


def test_select_deadlock_leaves_channels_clean() -> None:
    """A select nothing can satisfy raises DeadlockError and unregisters."""
    a, b = shoal.Channel(), shoal.Channel()
    with pytest.raises(shoal.DeadlockError, match="selecting on"):
        shoal.select(a.receive_case(), b.send_case(1))
    for ch in (a, b):
        assert ch.balance == 0
        assert _registrations(ch) == 0


def test_select_receives_a_sent_exception() -> None:
    """send_exception to a blocked select raises in the selector."""
    ch = shoal.Channel()
    t = shoal.spawn(shoal.select, ch.receive_case())
    shoal.schedule()
    ch.send_exception(KeyError, "k")
    t.join()
    assert isinstance(t.exception, KeyError)
    assert ch.balance == 0


def test_ready_select_receives_a_sent_exception() -> None:
    """A buffered exception taken by select raises in the selector."""
    ch = shoal.Channel(1)
    ch.send_exception(IndexError, "i")
    with pytest.raises(IndexError, match="i"):
        shoal.select(ch.receive_case())


# -- kill -------------------------------------------------------------------------


def test_kill_blocked_select_removes_every_registration() -> None:
    """Killing a tasklet blocked in select leaves every channel's balance at 0."""
    a, b, c = shoal.Channel(), shoal.Channel(), shoal.Channel(1)
    c.send("full")
    t = shoal.spawn(shoal.select, a.receive_case(), b.send_case(1), c.send_case(2))
    shoal.schedule()
    assert [a.balance, b.balance, c.balance] == [-1, 1, 1]
    t.kill()
    assert t.dead
    for ch in (a, b, c):
        assert ch.balance == 0
        assert _registrations(ch) == 0
    assert c.receive() == "full"
    assert len(c) == 0


def test_kill_select_after_it_was_chosen_keeps_the_value() -> None:
    """A select whose case fired (preference 0) sees its value before the kill."""
    ch = shoal.Channel()
    ch.preference = 0
    log: list[object] = []

    def selector() -> None:
        try:
            log.append(shoal.select(ch.receive_case())[1])
            shoal.schedule()
        except shoal.TaskletExit:
            log.append("killed")
            raise

    t = shoal.spawn(selector)
    shoal.schedule()
    ch.send("v")
    assert log == []
    t.kill()
    assert log == ["v", "killed"]


def test_kill_select_after_its_send_was_delivered() -> None:
    """A select whose send case was delivered (receiver ran first) is not told it failed."""
    ch = shoal.Channel()
    log: list[object] = []

    def selector() -> None:
        try:
            shoal.select(ch.send_case("v"))
            log.append("select returned")
            shoal.schedule()
        except shoal.TaskletExit:
            log.append("killed")
            raise

    r = shoal.spawn(lambda: log.append(f"got {ch.receive()}"))
    shoal.schedule()
    t = shoal.spawn(selector)
    shoal.schedule()  # the select hands off and the receiver runs first
    assert log == ["got v"]
    t.kill()
    r.join()
    assert log == ["got v", "select returned", "killed"]


# -- several cases on one channel ----------------------------------------------------


def test_two_receive_cases_on_one_channel() -> None:
    """Two receive cases on one channel: one send fires one case, the other goes."""
    ch = shoal.Channel()
    c1, c2 = ch.receive_case(), ch.receive_case()
    t = shoal.spawn(shoal.select, c1, c2)
    shoal.schedule()
    assert ch.balance == -2
    ch.send("only")
    assert t.get() == (c1, "only")  # the first registration is at the head
    assert ch.balance == 0
    with pytest.raises(shoal.WouldBlock):
        ch.send_nowait("nobody")


def test_send_and_receive_case_on_one_channel_do_not_match_each_other() -> None:
    """A select sending and receiving on one channel waits for a peer."""
    ch = shoal.Channel()
    assert shoal.select(ch.send_case(1), ch.receive_case(), default="d") == (None, "d")
    with pytest.raises(shoal.DeadlockError):
        shoal.select(ch.send_case(1), ch.receive_case())
    assert ch.balance == 0
    assert _registrations(ch) == 0


def test_send_and_receive_case_on_one_channel_peer_receives() -> None:
    """A peer receive takes the select's send case; its receive case goes stale."""
    ch = shoal.Channel()
    sc, rc = ch.send_case("out"), ch.receive_case()
    t = shoal.spawn(shoal.select, sc, rc)
    shoal.schedule()
    assert ch.balance == 0  # one sender and one receiver registered
    assert ch.receive() == "out"
    assert t.get() == (sc, None)
    assert ch.balance == 0
    with pytest.raises(shoal.WouldBlock):
        ch.send_nowait("nobody")


def test_send_and_receive_case_on_one_channel_peer_sends() -> None:
    """A peer send fires the select's receive case; its send case goes stale."""
    ch = shoal.Channel()
    sc, rc = ch.send_case("out"), ch.receive_case()
    t = shoal.spawn(shoal.select, sc, rc)
    shoal.schedule()
    ch.send("in")
    assert t.get() == (rc, "in")
    assert ch.balance == 0
    with pytest.raises(shoal.WouldBlock):
        ch.receive_nowait()


# -- buffered channels ----------------------------------------------------------------


def test_select_send_into_buffer_room_does_not_switch() -> None:
    """A send case with buffer room completes at once, without a switch."""
    ch = shoal.Channel(2)
    log: list[str] = []
    t = shoal.spawn(log.append, "other")
    sc = ch.send_case("b")
    assert shoal.select(sc) == (sc, None)
    assert log == []
    assert len(ch) == 1
    t.join()


def test_select_send_blocks_on_full_buffer_then_refills_it() -> None:
    """A blocked send case moves its value into the buffer when a slot frees."""
    ch = shoal.Channel(1)
    ch.send("first")
    sc = ch.send_case("second")
    t = shoal.spawn(shoal.select, sc, shoal.Channel().receive_case())
    shoal.schedule()
    assert ch.balance == 1
    assert ch.receive() == "first"
    assert len(ch) == 1
    assert ch.balance == 0
    assert t.get() == (sc, None)
    assert ch.receive() == "second"


def test_select_receive_from_buffer_refills_from_blocked_sender() -> None:
    """A receive case takes the buffer head; the blocked sender's value moves in."""
    ch = shoal.Channel(1)
    ch.send(1)
    s = shoal.spawn(ch.send, 2)
    shoal.schedule()
    rc = ch.receive_case()
    assert shoal.select(rc) == (rc, 1)
    assert len(ch) == 1
    assert ch.balance == 0
    assert shoal.select(rc) == (rc, 2)
    s.join()


def test_select_on_empty_buffered_channel_woken_by_send() -> None:
    """A receive case on an empty buffered channel waits; a send goes straight to it."""
    ch = shoal.Channel(3)
    rc = ch.receive_case()
    t = shoal.spawn(shoal.select, rc)
    shoal.schedule()
    assert ch.balance == -1
    ch.send("x")
    assert len(ch) == 0
    assert t.get() == (rc, "x")


# -- stale registrations -----------------------------------------------------------------


def test_stale_registration_is_skipped() -> None:
    """After a select fires elsewhere, its waiter on another channel is ignored."""
    a, b = shoal.Channel(), shoal.Channel()
    t = shoal.spawn(shoal.select, a.receive_case(), b.receive_case())
    shoal.schedule()
    b.send(1)
    t.join()
    assert a.balance == 0
    with pytest.raises(shoal.WouldBlock):
        a.send_nowait("nobody")
    s = shoal.spawn(a.send, "plain")
    shoal.schedule()
    assert a.balance == 1  # the stale receiver did not take it
    assert a.receive() == "plain"
    s.join()
    assert a.balance == 0


def test_send_skips_a_stale_registration_at_the_head() -> None:
    """A plain send passes over a stale select waiter to the receiver behind it."""
    a, b = shoal.Channel(), shoal.Channel()
    log: list[str] = []
    t = shoal.spawn(shoal.select, a.receive_case(), b.receive_case())
    r = shoal.spawn(lambda: log.append(f"got {a.receive()}"))
    shoal.schedule()
    assert a.balance == -2
    b.send("to select")
    assert a.balance == -1
    a.send("to r")
    assert log == ["got to r"]
    assert a.balance == 0
    t.join()
    r.join()


def test_receive_skips_a_stale_registration_at_the_head() -> None:
    """A plain receive passes over a stale select waiter to the sender behind it."""
    a, b = shoal.Channel(), shoal.Channel()
    t = shoal.spawn(shoal.select, a.send_case("stale"), b.receive_case())
    s = shoal.spawn(a.send, "live")
    shoal.schedule()
    assert a.balance == 2
    b.send("fire")
    assert a.balance == 1
    assert a.receive() == "live"
    assert a.balance == 0
    t.join()
    s.join()


def test_stale_registrations_are_compacted() -> None:
    """Completed selects on a never-firing channel use bounded memory (white-box count)."""
    idle, busy = shoal.Channel(), shoal.Channel()
    most = 0
    for i in range(1000):
        t = shoal.spawn(shoal.select, idle.receive_case(), busy.receive_case())
        shoal.schedule()
        busy.send(i)
        t.join()
        assert idle.balance == 0
        most = max(most, _registrations(idle))
    assert most < 100


def test_stale_send_registrations_are_compacted() -> None:
    """Stale send registrations are compacted too; live waiters survive (white-box count)."""
    idle, busy = shoal.Channel(), shoal.Channel()
    plain = shoal.spawn(idle.send, "plain")
    shoal.schedule()
    most = 0
    for i in range(500):
        t = shoal.spawn(shoal.select, idle.send_case(i), busy.receive_case())
        shoal.schedule()
        busy.send(i)
        t.join()
        assert idle.balance == 1
        most = max(most, _registrations(idle))
    assert most < 100
    assert idle.receive() == "plain"
    plain.join()
    assert idle.balance == 0


def test_compaction_with_two_stale_cases_on_one_channel_keeps_balance() -> None:
    """Selects with two cases on a never-firing channel keep its balance at 0 (white-box)."""
    idle, busy = shoal.Channel(), shoal.Channel()
    for i in range(100):
        t = shoal.spawn(
            shoal.select, idle.receive_case(), idle.receive_case(), busy.receive_case()
        )
        shoal.schedule()
        busy.send(i)
        t.join()
        assert idle.balance == 0, f"after {i + 1} selects"
    assert _registrations(idle) < 100


def test_compaction_with_send_and_receive_cases_on_one_channel() -> None:
    """Selects sending and receiving on an idle channel leave its balance at 0."""
    idle, busy = shoal.Channel(), shoal.Channel()
    for i in range(100):
        t = shoal.spawn(
            shoal.select, idle.send_case(i), idle.receive_case(), busy.receive_case()
        )
        shoal.schedule()
        busy.send(i)
        t.join()
        assert idle.balance == 0, f"after {i + 1} selects"
    r = shoal.spawn(idle.receive)
    shoal.schedule()
    assert idle.balance == -1
    r.kill()


@pytest.mark.parametrize(
    "args", [(None, False, None), ("not a channel", True, 1), (None, "yes", 1)]
)
def test_a_case_made_by_hand_is_checked(args: tuple[object, object, object]) -> None:
    """shoal.Case is public: one made by hand with no channel, or a send
    flag that is not a bool, is a TypeError saying what it needs, not an
    AttributeError inside select() or a silent send."""
    if args[0] is None and args[1] == "yes":
        args = (shoal.Channel(), "yes", 1)
    with pytest.raises(TypeError, match="needs a Channel and a bool"):
        shoal.Case(*args)  # type: ignore[arg-type]


def test_a_select_that_took_another_case_keeps_no_value_it_would_have_sent() -> None:
    """select(out.send_case(big), cancel.receive_case()) woken by cancel:
    the stale send waiter left in ``out`` keeps ``big`` alive no longer."""

    class Big:
        pass

    def main() -> list[weakref.ref[Big]]:
        out, cancel = shoal.Channel(), shoal.Channel()
        refs: list[weakref.ref[Big]] = []
        for _ in range(5):
            big = Big()
            refs.append(weakref.ref(big))
            t = shoal.spawn(shoal.select, out.send_case(big), cancel.receive_case())
            del big
            shoal.schedule()
            cancel.send("stop")
            assert t.get()[1] == "stop"
            del t
        gc.collect()
        assert out.balance == 0
        return refs

    assert [r() for r in shoal.run(main)] == [None] * 5
