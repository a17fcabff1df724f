"""The exceptions shoal raises.

The hierarchy::

    BaseException
    ├── TaskletExit            a tasklet is being killed; ``except Exception``
    │                          does not swallow it (like ``GreenletExit``)
    └── Exception
        └── Error              base of every failure of the library
            ├── ClosedError    you closed it (not: the peer broke it)
            │   ├── ChannelClosed
            │   └── ClosedFileError  also ``OSError(EBADF)``: another tasklet
            │                      closed the socket or file this one waited on
            ├── WouldBlock     a ``*_nowait`` operation would have to wait
            ├── BusyError      another tasklet already reads (or writes) it
            ├── BlockingInHubError  also a ``RuntimeError``: code running in
            │                  the hub (asyncio code on its loop) would wait
            ├── TimeoutError   also the builtin ``TimeoutError``: time ran out
            └── DeadlockError  also a ``RuntimeError``, as in Stackless: a
                               tasklet would block and nothing can ever wake it

``TaskletExit`` deliberately does not derive from ``greenlet.GreenletExit``:
greenlet treats a ``GreenletExit`` that escapes a greenlet as a normal return,
which would stop a kill at the first nested greenlet it passes through.

``bomb`` is Stackless's exception in transit: a tasklet that receives one from
a channel raises the exception it carries.
"""

from __future__ import annotations

import builtins
from typing import Any, TypeGuard

__all__ = [
    "BlockingInHubError",
    "BusyError",
    "ChannelClosed",
    "ClosedError",
    "ClosedFileError",
    "DeadlockError",
    "Error",
    "Interruption",
    "TaskletExit",
    "TimeoutError",
    "WouldBlock",
    "bomb",
    "is_exception_class",
]


def is_exception_class(x: object) -> TypeGuard[type[BaseException]]:
    """Whether ``x`` is an exception class (what ``send_exception`` and
    ``raise_exception`` take). Does not switch."""
    return isinstance(x, type) and issubclass(x, BaseException)


class TaskletExit(BaseException):
    """Raised inside a tasklet to kill it; ends it silently if not caught."""


class Interruption(BaseException):
    """Private: thrown into a tasklet by a construct of shoal to end a block
    of its code early (a timeout scope's expiry, a task group's failed
    child), and caught by that construct alone. ``Tasklet.throw`` first
    lets a tasklet whose operation just completed return from it and run
    until it switches away; if it has left the block by then, :meth:`aimed`
    is false and the interruption is dropped."""

    def aimed(self) -> bool:
        """Whether the block it would end is still running. Does not switch."""
        return True


class Error(Exception):
    """Base class of shoal's failures."""


class ClosedError(Error):
    """The object was closed by this side, so the operation cannot proceed."""


class ChannelClosed(ClosedError):  # noqa: N818 - the name the API promises
    """The channel is closed (and, for a receive, drained)."""


class ClosedFileError(ClosedError, OSError):
    """Another tasklet closed the socket or file this one was waiting on.

    Also an ``OSError`` with ``errno.EBADF``, what the stdlib raises for an
    operation on a closed socket.
    """


class WouldBlock(Error):  # noqa: N818 - trio's name for the same thing
    """A non-blocking operation would have had to wait."""


class TimeoutError(Error, builtins.TimeoutError):
    """The time given to an operation ran out; the operation did not happen."""


class BusyError(Error):
    """Another tasklet is already waiting to read (or write) this object."""


class BlockingInHubError(Error, RuntimeError):
    """Code running in the hub (a callback or coroutine on its asyncio loop)
    called a shoal operation that would have to wait. The hub must never
    wait: the waiting belongs in a tasklet (``shoal.spawn``), or the
    operation's ``_nowait`` form fits."""


class DeadlockError(Error, RuntimeError):
    """A tasklet would block, and no tasklet could ever wake it."""


class bomb:  # noqa: N801 - the Stackless name
    """An exception in transit: a tasklet that receives it raises it.

    ``bomb(type, value, traceback)``, or as in C Stackless a single tuple of
    up to three items: ``bomb(sys.exc_info())``."""

    __slots__ = ("traceback", "type", "value")

    def __init__(
        self,
        type: Any = None,  # C Stackless's keyword names (shadows the builtin)
        value: Any = None,
        traceback: Any = None,
    ) -> None:
        if value is None and traceback is None and isinstance(type, tuple):
            if len(type) > 3:
                raise TypeError(f"bomb() takes at most 3 arguments ({len(type)} given)")
            type, value, traceback = (*type, None, None, None)[:3]
        self.type = type
        self.value = value
        self.traceback = traceback

    def raise_(self) -> Any:
        """Raise the exception this bomb carries: ``value`` if it is an
        instance of ``type``, else what CPython's normalisation makes of the
        pair (as C Stackless raises it): ``type()`` for None, ``type(*value)``
        for a tuple, ``type(value)`` for anything else. A ``type`` that is not
        an exception class raises TypeError (a None ``type`` raises an
        exception ``value`` as it is).

        The bomb lets go of the exception: the frame that holds the bomb is
        in the exception's traceback, and the two would otherwise keep each
        other alive (cyclic garbage at every kill or timeout). A bomb raised
        again raises a new exception made from ``type`` alone. Does not
        switch."""
        exc = self.value
        if type(exc) is not self.type:  # not the usual bomb(type(e), e)
            exc = self._normalised()
        self.value = None
        if self.traceback is not None:
            exc = exc.with_traceback(self.traceback)
        try:
            raise exc
        finally:
            exc = None  # this frame is in its traceback: no cycle

    def _normalised(self) -> BaseException:
        """The exception :meth:`raise_` raises, made as CPython's
        ``PyErr_NormalizeException`` makes it. Does not switch."""
        cls, value = self.type, self.value
        if cls is None and isinstance(value, BaseException):
            return value
        if not is_exception_class(cls):
            raise TypeError(
                f"cannot raise {self!r}: its type must be an exception class, "
                f"got {cls!r}"
            )
        exc: BaseException
        if isinstance(value, cls):
            exc = value
        elif value is None:
            exc = cls()
        elif isinstance(value, tuple):
            exc = cls(*value)
        else:
            exc = cls(value)
        return exc

    def __repr__(self) -> str:
        return f"<bomb {self.value!r}>"
