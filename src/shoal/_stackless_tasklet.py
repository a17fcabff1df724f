"""The Stackless ``tasklet`` class over shoal's scheduler, and this
thread's scheduler with a ``tasklet`` as its main tasklet; re-exported by
``shoal.stackless``, whose docstring gives the design.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from ._delivery import deliver, forget
from ._errors import TaskletExit, bomb, is_exception_class
from ._handoff import own_truth
from ._scheduler import DEAD, NOWAKE, Scheduler, Task, get_scheduler
from ._stackless_channel import (
    chain_of,
    install_channel_callback,
    is_trapped,
    make_bomb,
    trapped,
)
from ._task import (
    HUB_TURN,
    NO_VALUE,
    drop,
    holds,
    index_of,
    init_task,
    own_eq,
    remember,
)
from ._tasklet import PublicConstructor, Tasklet

__all__ = ["claim", "make_main", "sched", "tasklet"]


def claim(value: Any) -> Any:
    """What a resumed tasklet returns: its wake value; a bomb explodes."""
    if value.__class__ is bomb:
        value.raise_()
    if value is NOWAKE or value is HUB_TURN or value is NO_VALUE:
        return None
    return value


def _wants_value(cur: Task) -> None:
    """``cur`` is about to wait in the run queue and return the value it is
    resumed with: with no tempval set, it waits with ``NO_VALUE``, so that a
    bare switch (``shoal.schedule()``) cannot resume it with ``()``. Does not
    switch."""
    if cur._temp is NOWAKE:
        cur._temp = NO_VALUE


def _head(runq: deque[Task], t: Task) -> None:
    """Rotate ``runq`` so that ``t`` is first: the ring's head moves to it."""
    runq.rotate(-index_of(runq, t))


def _foreign(t: Task, verb: str) -> RuntimeError:
    """The error for an operation, ``verb``, on tasklet ``t`` of another
    thread: greenlets are bound to their thread, and each thread has its
    own scheduler. Each operation that changes a tasklet's place or state
    tests first that its scheduler is the calling thread's
    (``get_scheduler()``, which its ``hint`` makes cheap). Does not
    switch."""
    return RuntimeError(
        f"cannot {verb} {t!r} from another thread: tasklets never move "
        "between threads, and only the owning thread can schedule them"
    )


def _boot(t: Task, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Start a tasklet whose tempval was set before its first run: a bomb
    there kills it before ``fn`` is entered, as in Stackless."""
    value, t._temp = t._temp, NOWAKE
    claim(value)
    return fn(*args, **kwargs) if kwargs else fn(*args)


#: The methods of a tasklet class that shoal checks (see ``check_class``).
_CHECKED = frozenset({"__eq__", "__hash__", "__bool__", "__len__"})
_MISSING = object()


def check_class(cls: type) -> None:
    """Check tasklet class ``cls``, as it is made and whenever one of its
    ``__eq__``, ``__hash__``, ``__bool__`` or ``__len__`` is set or deleted
    afterwards (a class decorator such as ``dataclass`` does). shoal tells
    tasklets apart by identity, as C Stackless does by address, and never
    asks their ``__eq__``, ``__len__`` or ``__bool__``; but it keeps them in
    dicts and sets, which ask ``__hash__``. A class whose ``__hash__`` is
    None (one that defines ``__eq__`` alone) gets object's back, which
    hashes by identity; one with a ``__hash__`` of its own is refused with
    TypeError, since two tasklets equal by ``==`` and ``hash`` would be
    taken for one. While a class with an ``__eq__`` of its own exists,
    shoal looks tasklets up in its queues by id (``shoal._task.holds``);
    while one with a truth value of its own exists, every channel action
    takes the general paths (``shoal._handoff.own_truth``). Does not
    switch."""
    own_hash: object = cls.__hash__  # None too, whatever typeshed says
    if own_hash is None:
        type.__setattr__(cls, "__hash__", object.__hash__)
    elif own_hash is not object.__hash__:
        name = getattr(own_hash, "__qualname__", repr(own_hash))
        raise TypeError(
            f"tasklet class {cls.__qualname__} has a __hash__ of its own "
            f"({name}): shoal keeps tasklets in dicts and sets and tells "
            "them apart by identity, as C Stackless does by address, so a "
            "tasklet must hash by identity, as object does (two tasklets "
            "equal by == and hash would be taken for one); drop __hash__, "
            "or set it to stackless.tasklet.__hash__ (__eq__ may stay: "
            "shoal never calls it)"
        )
    eq: object = cls.__eq__
    if eq is not object.__eq__:
        remember(own_eq, cls)
    if hasattr(cls, "__bool__") or hasattr(cls, "__len__"):
        own_truth(cls)


class TaskletClass(PublicConstructor):
    """The metaclass of ``stackless.tasklet``: it checks each tasklet class
    as it is made (after its ``__init_subclass__``, which a subclass may
    override without calling ours) and again whenever one of the methods
    shoal cares about is set on it or deleted (see :func:`check_class`); a
    ``__hash__`` refused so is put back as it was."""

    def __init__(cls, *args: Any, **kwargs: Any) -> None:  # noqa: N805 - a metaclass
        super().__init__(*args, **kwargs)
        check_class(cls)

    def __setattr__(cls, name: str, value: Any) -> None:  # noqa: N805 - a metaclass
        if name not in _CHECKED:
            super().__setattr__(name, value)
            return
        old = cls.__dict__.get(name, _MISSING)
        super().__setattr__(name, value)
        try:
            check_class(cls)
        except TypeError:
            if old is _MISSING:
                super().__delattr__(name)
            else:
                super().__setattr__(name, old)
            raise

    def __delattr__(cls, name: str) -> None:  # noqa: N805 - a metaclass
        super().__delattr__(name)
        if name in _CHECKED:
            check_class(cls)


class tasklet(Tasklet, metaclass=TaskletClass):  # noqa: N801 - Stackless's
    """A Stackless tasklet: ``tasklet(func)(*args)`` makes a runnable one.

    ``tasklet(func)`` only binds ``func``; ``tasklet(func, args, kwargs)``
    makes it alive but paused. An exception escaping it is raised in the main
    tasklet (out of ``run()``), as in Stackless. Does not switch.
    """

    __slots__ = ("_atomic",)
    _atomic: bool

    _kind = "tasklet"
    _propagate = True

    def __new__(cls, *args: Any, **kwargs: Any) -> tasklet:
        # As C's tp_new: set up, ignoring the arguments (a subclass may take
        # its own); tp_init binds. A subclass whose __init__ does not call
        # this class's gets a whole tasklet, unbound.
        self = super().__new__(cls)
        init_task(self, sched(), None, None, None)
        self._atomic = False
        self._gr = DEAD
        return self

    def __init__(self, func: Any = None, args: Any = None, kwargs: Any = None) -> None:
        """:meth:`bind`, as C's ``tasklet_init`` is ``tasklet_bind``: with its
        checks (called again on a scheduled, running or started tasklet,
        it raises ``RuntimeError``)."""
        self.bind(func, args, kwargs)

    def bind(self, func: Any = None, args: Any = None, kwargs: Any = None) -> tasklet:
        """Bind ``func``; with ``args`` or ``kwargs`` too, make the tasklet alive
        but paused. All None unbinds it. From another thread than the
        owning one, RuntimeError. Does not switch."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "bind")
        _check_binding(func, args, kwargs)
        if s.current is self:
            raise RuntimeError("can't (re)bind the current tasklet")
        # A dead tasklet (one just made, too) is never scheduled: no scan
        # of the run queue for it.
        if self._gr is not DEAD and self.scheduled:
            raise RuntimeError("tasklet is scheduled")
        if self is s.main or (self._gr is not None and self._gr is not DEAD):
            raise RuntimeError("tasklet has C state on its stack")
        self._bind(func, args, kwargs)
        return self

    def _bind(self, func: Any, args: Any, kwargs: Any) -> None:
        if self._gr is None:  # set up but never run: forget the call
            self._args = self._kwargs = None
            self._gr = DEAD
            self._sched.alive.pop(self, None)
        if args is None and kwargs is None:
            self._temp = self._fn = func
            return
        if func is not None:
            self._temp = func
        self._setup(args or (), kwargs or {})

    def _setup(self, args: Iterable[Any], kwargs: dict[str, Any]) -> None:
        func = self._temp
        if not callable(func):
            raise RuntimeError("the tasklet was not bound to a function")
        self._fn, self._args, self._kwargs = func, tuple(args), dict(kwargs) or None
        self._temp = NO_VALUE  # not started (see shoal._task.NO_VALUE)
        self._gr = None
        self._sched.alive[self] = None

    def setup(self, *args: Any, **kwargs: Any) -> tasklet:
        """Supply the arguments and insert the tasklet at the end of the ring.
        From another thread than the owning one, RuntimeError. Does not
        switch."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "set up")
        if self.alive:
            raise RuntimeError("tasklet is alive")
        self._setup(args, kwargs)
        s.runq.append(self)
        return self

    __call__ = setup

    @property
    def tempval(self) -> Any:
        """The value it resumes with (a blocked sender: the value it sends)."""
        value = self._temp
        return None if value is NOWAKE or value is NO_VALUE else value

    @tempval.setter
    def tempval(self, value: Any) -> None:
        self._temp = value
        if value.__class__ is bomb:
            self._arm()

    def _arm(self) -> None:
        """If it has not started, make it claim its tempval when it does."""
        if self._gr is None and self._fn is not _boot and self is not self._sched.main:
            self._args = (self, self._fn, self._args, self._kwargs)
            self._fn, self._kwargs = _boot, None

    @property
    def atomic(self) -> bool:
        """The atomic flag; shoal never preempts, so it is only bookkeeping."""
        return self._atomic

    def set_atomic(self, flag: bool) -> bool:
        """Set the atomic flag; return the previous one. Does not switch."""
        if not isinstance(flag, int):
            raise TypeError(
                f"set_atomic needs exactly one bool or integer, got {flag!r}"
            )
        old, self._atomic = self._atomic, bool(flag)
        return old

    @property
    def block_trap(self) -> bool:
        """When true, a channel action that would block raises RuntimeError."""
        return is_trapped(self)

    @block_trap.setter
    def block_trap(self, value: bool) -> None:
        if not isinstance(value, int):
            raise TypeError(
                f"block_trap must be set to a bool or integer, got {value!r}"
            )
        if value:
            trapped[id(self)] = self
        elif is_trapped(self):
            del trapped[id(self)]
        install_channel_callback()

    @property
    def scheduled(self) -> bool:
        """In the runnables ring, or blocked on a channel."""
        s = self._sched
        if self._blocked_on is not None or s.current is self:
            return True
        # holds(), inlined while it would use ``in``: every bind() asks this.
        return self in s.runq if not own_eq else holds(s.runq, self)

    @property
    def blocked(self) -> bool:
        """Waiting on a channel."""
        return self._blocked_on is not None

    @property
    def paused(self) -> bool:
        """Alive, but neither runnable nor blocked."""
        return self.alive and not self.scheduled

    def _state(self) -> str:
        """In words, for ``repr``, with Stackless's states: not bound, bound
        (``setup()`` would start it), paused (alive, out of the ring: main
        inside ``run()`` too), runnable, blocked, running or dead. Does not
        switch."""
        if self._gr is DEAD:  # not alive
            if callable(self.tempval):
                return "bound, not started"
            return "not bound" if self._fn is None else "dead"
        state = super()._state()
        if self._blocked_on is None and not self.scheduled:
            return "paused" if self._gr is not None else "paused, not started"
        return state

    @property
    def is_main(self) -> bool:
        return self._sched.main is self

    @property
    def is_current(self) -> bool:
        return self._sched.current is self

    @property
    def thread_id(self) -> int:
        """The owning thread's id, or -1 once that thread has ended."""
        tid = self._sched.thread_id
        alive = tid == threading.get_ident() or any(
            th.ident == tid for th in threading.enumerate()
        )
        return tid if alive else -1

    @property
    def next(self) -> Any:
        """The next tasklet in its ring or channel queue (for a tasklet in
        ``select``, its first case's queue), or None. Does not switch."""
        return self._neighbour(1)

    @property
    def prev(self) -> Any:
        """The previous tasklet in its ring or channel queue (for a tasklet in
        ``select``, its first case's queue), or None. Does not switch."""
        return self._neighbour(-1)

    def _neighbour(self, step: int) -> Any:
        if self._blocked_on is not None:
            # A channel's waiters, or those of its first case's channel for
            # a tasklet in select; None if it waits on no channel (a sleep).
            chain = chain_of(self)
            if chain is None:
                return None
            i = index_of(chain, self) + step
            return chain[i] if 0 <= i < len(chain) else None
        s = self._sched
        # The hub's turn in the run queue is shoal's, not a tasklet's.
        hub = s.hubtask
        ring = [t for t in (s.current, *s.runq) if t is not hub]
        if not holds(ring, self):
            return None
        return ring[(index_of(ring, self) + step) % len(ring)]

    def insert(self) -> tasklet:
        """Insert at the end of the ring; no-op if already there. From another
        thread than the owning one, RuntimeError (so :meth:`run` and
        :meth:`switch` too). Does not switch."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "insert")
        self._insert(s)
        return self

    def _insert(self, s: Scheduler) -> None:
        """:meth:`insert` into ``s``, the calling thread's scheduler, once
        that is checked. Does not switch."""
        if self._blocked_on is not None:
            raise RuntimeError("You cannot run a blocked tasklet")
        if s.current is not self and not holds(s.runq, self):
            if not self.alive:
                raise RuntimeError("You cannot run an unbound(dead) tasklet")
            s.runq.append(self)

    def remove(self) -> tasklet:
        """Take it out of the ring: it is paused. From another thread than
        the owning one, RuntimeError. Does not switch."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "remove")
        if self._blocked_on is not None:
            raise RuntimeError("You cannot remove a blocked tasklet.")
        if s.current is self:
            raise RuntimeError("The current tasklet cannot be removed.")
        drop(s.runq, self)
        return self

    def run(self) -> Any:
        """Run it now: the head of the ring moves to it, so the caller runs
        right after its turn. Returns the caller's tempval. From another
        thread than the owning one, RuntimeError. Switches."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "run")
        self._insert(s)
        cur = s.current
        if cur is self:
            return claim(self._take_temp())
        s.runq.append(cur)
        _head(s.runq, self)
        _wants_value(cur)
        return claim(s.park(cur))

    def switch(self) -> Any:
        """Like :meth:`run`, but the caller leaves the ring (it is paused).
        From another thread than the owning one, RuntimeError. Switches."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, "switch to")
        self._insert(s)
        cur = s.current
        if cur is self:
            return claim(self._take_temp())
        _head(s.runq, self)
        _wants_value(cur)
        return claim(s.park(cur))

    def throw(
        self, exc: Any = None, val: Any = None, tb: Any = None, pending: bool = False
    ) -> Any:
        """Raise ``exc`` in the tasklet, with the semantics of ``raise``. It is
        unblocked, inserted if not in the ring, and (unless ``pending``) run at
        once, as by :meth:`run`. From another thread than the owning one,
        RuntimeError, before the tasklet is touched. Switches unless pending
        or dead."""
        return self._throw(make_bomb(exc, val, tb), pending, "throw to")

    def raise_exception(self, exc_class: type[BaseException], *args: Any) -> Any:
        """Raise ``exc_class(*args)`` in the tasklet at once (see throw).
        Anything but an exception class raises TypeError here, before the
        tasklet is touched; so does another thread than the owning one,
        RuntimeError. Switches."""
        if not is_exception_class(exc_class):
            raise TypeError(
                f"raise_exception() needs an exception class, got {exc_class!r}"
            )
        return self._throw(bomb(exc_class, exc_class(*args)), False, "raise in")

    def kill(self, pending: bool = False) -> Any:  # type: ignore[override]
        """Raise TaskletExit in the tasklet (see throw); a no-op if it is not
        alive. From another thread than the owning one, RuntimeError, dead
        or alive. Switches unless pending or not alive."""
        return self._throw(bomb(TaskletExit, TaskletExit()), pending, "kill")

    def _throw(self, b: bomb, pending: bool, verb: str) -> Any:
        """:meth:`throw` of bomb ``b``; ``verb`` names the operation for the
        error raised in another thread than the owning one. What is no
        ``Exception`` (a kill's ``TaskletExit``) is delivered as shoal's
        ``Tasklet.kill`` delivers it (see ``shoal._timeouts``)."""
        s = self._sched
        if s is not get_scheduler():
            raise _foreign(self, verb)
        cur = s.current
        # Raised as it resumes, or before it starts (and then it runs no
        # code of its own, and the main tasklet, if it gets the exception,
        # counts it: Scheduler.wake_main).
        interrupts = not isinstance(b.value, Exception)
        if cur is self:
            if interrupts:
                deliver(self, b.value)
            return b.raise_()
        if not self.alive:
            if isinstance(b.value, TaskletExit):
                return None
            raise RuntimeError("You cannot throw to a dead tasklet")
        if interrupts and self._gr is not None:
            deliver(self, b.value)
        runq = s.runq
        on = self._blocked_on
        if on is not None:
            on._unpark(self)
            self._blocked_on = None
            runq.append(self)
        elif not holds(runq, self):
            runq.append(self)
        started = self._gr is not None
        if pending or not started:
            self.tempval = b  # explodes when it resumes, or before it starts
            if pending:
                return None
        runq.append(cur)
        _head(runq, self)
        _wants_value(cur)
        if not started:
            return claim(s.park(cur))
        runq.popleft()
        self._temp = NOWAKE
        value = s.throw_to(cur, self, b.value)
        if interrupts and self._gr is DEAD:
            forget(self)
        return claim(value)

    def bind_thread(self, thread_id: int | None = None) -> None:
        """Tasklets cannot change threads: greenlets are bound to theirs."""
        if thread_id in (None, -1, self._sched.thread_id) and self.thread_id == (
            threading.get_ident()
        ):
            return
        raise NotImplementedError("greenlet cannot move a tasklet to another thread")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise NotImplementedError(
            "greenlet cannot pickle a tasklet: its suspended stack is C state"
        )

    def __reduce__(self) -> NoReturn:
        self.__reduce_ex__(2)

    def __setstate__(self, state: Any) -> NoReturn:
        self.__reduce_ex__(2)


def _check_binding(func: Any, args: Any, kwargs: Any) -> None:
    """What ``bind`` checks first, with C's messages (``PyTasklet_BindEx``):
    a callable, a tuple of arguments, a dict of keyword arguments, each or
    None. Does not switch."""
    if func is not None and not callable(func):
        raise TypeError(f"tasklet function must be a callable or None, got {func!r}")
    if args is not None and not isinstance(args, tuple):
        raise TypeError(f"tasklet args must be a tuple or None, got {args!r}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"tasklet kwargs must be a dictionary or None, got {kwargs!r}")


def make_main() -> Task:
    """A thread's main tasklet, as a ``tasklet`` (``shoal.stackless`` makes
    this the scheduler's ``make_main``). Does not switch."""
    main = object.__new__(tasklet)  # not tasklet.__new__: it sets up and binds
    init_task(main, None, None, (), None)  # type: ignore[arg-type]
    main._name = "main"
    main._atomic = False
    return main


def sched() -> Scheduler:
    """This thread's scheduler, with a ``tasklet`` as its main tasklet."""
    s = get_scheduler()
    if s.main.__class__ is not tasklet:
        # The thread used shoal before this module was imported.
        old = s.main
        if s.current is not old:
            raise RuntimeError(
                "shoal.stackless must be first used from the main tasklet "
                "in a thread that already runs shoal tasklets"
            )
        new = make_main()
        for name in Task.__slots__:
            if not name.startswith("__") and hasattr(old, name):
                setattr(new, name, getattr(old, name))
        s.main = s.current = new
    return s
