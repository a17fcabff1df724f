"""The scheduling state of a tasklet, and the sentinels the scheduler uses.

``Task`` holds what the scheduler needs; ``shoal.Tasklet`` adds the public
API. Blocking objects (channels, selects, tasklets being joined) implement
the ``Waitable`` protocol: ``_unpark(t)`` forgets a waiter, ``_describe(t)``
says in words what it waits for, for ``repr`` and deadlock reports.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, MutableSequence, Sequence
from operator import indexOf
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = [
    "DEAD",
    "HUB_TURN",
    "NOWAKE",
    "NO_VALUE",
    "Task",
    "Waitable",
    "drop",
    "holds",
    "index_of",
    "init_task",
    "named",
    "own_eq",
    "remember",
]

#: ``_temp`` of a tasklet with no value waiting for it.
NOWAKE: Any = object()
#: ``_temp`` of the hub's stand-in task while it waits in the run queue for
#: its turn (``Scheduler.queue_hub``): ``schedule()`` may let it keep its
#: place, when the hub polled moments ago. The hub ignores it, as NOWAKE.
HUB_TURN: Any = object()
#: ``_temp`` of a tasklet that has no wake value but must not be resumed
#: with a bare switch. ``schedule()`` resumes a tasklet whose ``_temp`` is
#: NOWAKE with a bare ``switch()`` (an argument costs a tuple: ~10% of a
#: yield); the resumed code then sees ``()``, which it cannot tell from a
#: ``()`` received. So code that parks runnable and uses the value it is
#: resumed with (Stackless's ``run()``, ``switch()``, ``throw()``) parks
#: with this instead. A new tasklet has it too, so that ``schedule()`` need
#: not test whether the next tasklet has started: one with NOWAKE has. It
#: reads as None, counts as no value (a kill does not wait for it), and is
#: left in place when the tasklet starts: its first resumption from the run
#: queue then takes the general path, which clears it.
NO_VALUE: Any = object()


class Waitable(Protocol):
    """What a tasklet can be blocked on.

    It may also define ``_deadlock_message(t, stranded)``, the text of the
    ``DeadlockError`` for ``t`` waiting on it (``stranded``: the last runnable
    tasklet ended, rather than ``t`` being the last to block); the
    ``shoal.stackless`` channel uses it to word the error as Stackless does.
    """

    def _unpark(self, t: Task) -> None: ...

    def _describe(self, t: Task) -> str: ...


class _Dead:
    """The ``_gr`` of a finished tasklet."""

    def __repr__(self) -> str:
        return "DEAD"


DEAD: Any = _Dead()


class Task:
    """The scheduling state of one tasklet; ``Tasklet`` adds the public API.

    ``_gr`` is None before the first run, ``DEAD`` after the last, and the
    greenlet to resume in between. ``_temp`` is the wake value: NOWAKE for
    none, NO_VALUE before the first run. ``_value``, ``_exception`` and
    ``_name`` are set only once known: every slot set at a spawn costs it.
    So are ``_killed`` and ``_interrupts``, what was delivered to the
    tasklet that may still be live (see ``shoal._delivery.deliver``):
    unset (or None) until the first; kept on the tasklet, which nothing
    else holds for them, so that they go with it.

    No ``__init__``: a class whose ``__init__`` is written in Python costs
    every instantiation a call from C into a new interpreter frame (~50 ns;
    11% of a spawn's instructions). ``shoal._tasklet.new_tasklet()`` (the
    public ``Tasklet()`` is refused) runs object's, in C, and
    :func:`init_task` (inlined by ``spawn``) sets the slots.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_blocked_on",
        "_exception",
        "_fn",
        "_gr",
        "_interrupts",
        "_joiners",
        "_killed",
        "_kwargs",
        "_name",
        "_sched",
        "_temp",
        "_value",
    )

    # Set by init_task (or spawn, which inlines it) ...
    _sched: Scheduler
    _fn: Any
    _args: Any
    _kwargs: Any
    _gr: Any
    _temp: Any
    _blocked_on: Waitable | None
    _joiners: list[Task] | None
    # ... and only once known.
    _value: Any
    _exception: BaseException | None
    _name: str
    _killed: tuple[int, BaseException] | None
    _interrupts: list[Any] | None

    #: Stackless tasklets hand an escaping exception to the main tasklet.
    _propagate = False

    def _finish(self) -> None:
        """Mark this tasklet finished; wake the tasklets joining it."""
        self._gr = DEAD
        self._args = self._kwargs = None
        self._sched.alive.pop(self, None)
        if self._joiners:
            self._sched.wake_joiners(self)

    def _report(self, exc: BaseException) -> None:
        """Say that ``exc`` escaped this tasklet (overridden by Tasklet)."""

    # The Waitable protocol, for tasklets joining this one.
    def _unpark(self, t: Task) -> None:
        joiners = self._joiners
        if joiners:
            drop(joiners, t)

    def _describe(self, t: Task) -> str:
        return f"joining {named(self)}"


def named(t: Task) -> str:
    """``t`` by kind and name, ``<Tasklet 'name'>``, for saying what a
    tasklet waits for: not its repr, which says what ``t`` waits for in
    turn, so that two tasklets waiting for each other (joining, or each
    holding the lock the other wants) would recurse for ever. Does not
    switch."""
    kind = getattr(t, "_kind", "Task")
    name = getattr(t, "name", "?")
    return f"<{kind} {name!r}>"


def init_task(t: Task, sched: Scheduler, fn: Any, args: Any, kwargs: Any) -> None:
    """Set the slots of ``t``, a task just made, to run ``fn(*args,
    **kwargs)`` in ``sched``; ``shoal.spawn`` inlines this: keep in step.
    Does not switch."""
    t._sched = sched
    t._fn = fn
    t._args = args
    t._kwargs = kwargs
    t._gr = None
    t._temp = NO_VALUE  # not started (see NO_VALUE)
    t._blocked_on = None
    t._joiners = None


# Tasklets are told apart by identity, never by ``==``, which a subclass of
# ``stackless.tasklet`` may define (C Stackless compares their addresses):
# ``t in q``, ``q.index(t)`` and ``q.remove(t)`` ask each element before
# ``t`` whether it equals ``t`` (or ``t`` first, if its class is a subclass
# of the element's). They are exact while no tasklet class has an ``==`` of
# its own, and the helpers below use them then; otherwise they compare ids,
# also at C speed, but each id is a new int.

#: The tasklet classes with an ``__eq__`` of their own, by id, each held
#: weakly (see ``remember``): while there is one, the helpers compare ids.
own_eq: dict[int, weakref.ref[type]] = {}


def remember(
    classes: dict[int, weakref.ref[type]],
    cls: type,
    changed: Callable[[], object] | None = None,
) -> None:
    """Keep ``cls`` in ``classes`` until it is collected (its instances
    keep it alive); call ``changed`` now and when it is forgotten. Does not
    switch."""
    key = id(cls)

    def forget(_: object) -> None:
        if classes.get(key) is ref:
            del classes[key]
            if changed is not None:
                changed()

    ref = weakref.ref(cls, forget)
    classes[key] = ref
    if changed is not None:
        changed()


def holds(seq: Collection[Any], x: object) -> bool:
    """Whether ``x`` itself is in ``seq`` (by identity). Does not switch."""
    if not own_eq:
        return x in seq
    return id(x) in map(id, seq)


def index_of(seq: Sequence[Any], x: object) -> int:
    """The index of ``x`` itself in ``seq`` (by identity); ValueError if it
    is not there. Does not switch."""
    if not own_eq:
        return seq.index(x)
    return indexOf(map(id, seq), id(x))


def drop(seq: MutableSequence[Any], x: object) -> bool:
    """Remove ``x`` itself from ``seq`` (by identity, the first time it
    occurs); False if it is not there. Does not switch."""
    if not own_eq:
        if x in seq:
            seq.remove(x)
            return True
        return False
    try:
        i = indexOf(map(id, seq), id(x))
    except ValueError:
        return False
    del seq[i]
    return True
