"""Transparent proxies: objects whose every operation goes to a controller.

As in PyPy: ``tproxy(type, controller)`` makes an object that claims to be
an instance of ``type`` and calls ``controller(opname, *args, **kwargs)``
for every operation on it (``__getattribute__``, ``__len__``, ``__add__``,
``__radd__``, ``__iadd__``, ``__call__``, ...), returning what the
controller returns. ``make_proxy(controller, type=None, obj=None)`` is the
friendlier form of PyPy's ``tputil``: the controller receives one
:class:`ProxyOperation`, whose ``delegate()`` performs the operation on
``obj``.

``isinstance(p, T)`` is true and ``p.__class__ is T``; only ``type(p)``
tells a proxy from a real instance (CPython cannot hide it), so code that
must tell them apart uses :func:`get_controller`, and code that must accept
proxies uses ``isinstance`` or ``p.__class__``, never ``type(p) is T``. C
code that insists on a real list, dict or str (``json``'s C encoder, say)
refuses a proxy as a foreign object; code that goes through the protocols
(iteration, operators, ``len``) works. See docs/proxy.md for examples.
"""

from __future__ import annotations

import math
import operator
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from ._forward import delegate
from ._tproxy import (
    BINARY_OPERATORS,
    NO_KWARGS,
    _slot,
    get_controller,
    new_proxy,
    proxied_type,
    proxy_class,
    tproxy,
)

__all__ = [
    "ProxyOperation",
    "get_controller",
    "get_tproxy_controller",
    "make_proxy",
    "tproxy",
]

#: PyPy's name for :func:`get_controller`.
get_tproxy_controller = get_controller


def _special(name: str) -> Callable[..., Any]:
    """``obj.<name>(*args)`` looked up on the type, as Python does."""

    def call(obj: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(type(obj), name)(obj, *args, **kwargs)

    return call


def _reflected(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda obj, other: op(other, obj)


def _pow(obj: Any, other: Any, mod: Any = None) -> Any:
    return pow(obj, other) if mod is None else pow(obj, other, mod)


def _rpow(obj: Any, other: Any, mod: Any = None) -> Any:
    return pow(other, obj) if mod is None else pow(other, obj, mod)


# How delegate() performs each operation: as Python would on the object,
# operators with their reflected fallback (operator.add, not obj.__add__).
_DELEGATE: dict[str, Callable[..., Any]] = {
    "__getattribute__": getattr,
    "__setattr__": setattr,
    "__delattr__": delattr,
    "__dir__": _special("__dir__"),
    "__call__": lambda obj, *args, **kwargs: obj(*args, **kwargs),
    "__repr__": repr,
    "__str__": str,
    "__format__": format,
    "__bytes__": bytes,
    "__hash__": hash,
    "__bool__": bool,
    "__len__": len,
    "__length_hint__": _special("__length_hint__"),
    "__iter__": iter,
    "__next__": next,
    "__reversed__": reversed,
    "__contains__": lambda obj, item: item in obj,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
    "__lt__": operator.lt,
    "__le__": operator.le,
    "__eq__": operator.eq,
    "__ne__": operator.ne,
    "__gt__": operator.gt,
    "__ge__": operator.ge,
    "__divmod__": divmod,
    "__rdivmod__": _reflected(divmod),
    "__pow__": _pow,
    "__rpow__": _rpow,
    "__neg__": operator.neg,
    "__pos__": operator.pos,
    "__abs__": abs,
    "__invert__": operator.invert,
    "__index__": operator.index,
    "__int__": int,
    "__float__": float,
    "__complex__": complex,
    "__round__": round,
    "__trunc__": math.trunc,
    "__floor__": math.floor,
    "__ceil__": math.ceil,
    "__fspath__": os.fspath,
}


def _object_of(value: Any) -> Any:
    """The object that ``value``, if a proxy made by :func:`make_proxy`,
    stands for, or None."""
    cls = type(value)
    if proxied_type(cls) is None:
        return None
    pair = _slot(cls, "_shoal_obj").__get__(value)
    return None if pair is None else pair[1]


def _in_place(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``x op= y`` on the object: with the object itself for a proxy of it.
    ``p += p`` is ``l += l``, where a list's in-place concatenation extends
    it with a copy of itself; the proxy would have CPython ask it for
    ``__radd__`` first (see docs/proxy.md, "In-place operators with a proxy
    on the right"), and leave ``l`` as it was."""

    def perform(obj: Any, other: Any) -> Any:
        inner = other
        while inner is not obj and (inner := _object_of(inner)) is not None:
            if inner is obj:  # a proxy of it, maybe through proxies of proxies
                other = obj
        return op(obj, other)

    return perform


for _op in (op for op in BINARY_OPERATORS if op not in ("divmod", "pow")):
    _plain = getattr(operator, f"{_op}_" if _op in ("and", "or") else _op)
    _DELEGATE[f"__{_op}__"] = _plain
    _DELEGATE[f"__r{_op}__"] = _reflected(_plain)
    _DELEGATE[f"__i{_op}__"] = _in_place(getattr(operator, f"i{_op}"))
_DELEGATE["__ipow__"] = _in_place(operator.ipow)  # pow's others take a modulo

# These return an awaitable: what it gives when awaited, if the object
# itself, becomes the proxy (``async with p as v``, as ``with`` does).
_AWAITED = frozenset(["__aenter__", "__anext__"])


async def _awaited_as_proxy(awaitable: Any, obj: Any, proxy: Any) -> Any:
    """Await ``awaitable``; give ``proxy`` if that gives ``obj`` (and
    ``obj`` is no value: see :func:`_has_identity`)."""
    result = await awaitable
    return proxy if result is obj and _has_identity(obj) else result


# Types whose instances are values: immutable, so CPython may give back
# one itself or an equal new one as it pleases.
_VALUE_TYPES = frozenset(
    [
        int,
        bool,
        float,
        complex,
        str,
        bytes,
        tuple,
        frozenset,
        range,
        slice,
        type(None),
        type(Ellipsis),
        type(NotImplemented),
    ]
)
# And those of the standard library, by module and name (not imported:
# while a module is not, no object is an instance of its types).
_STDLIB_VALUES = {
    "decimal": ("Decimal",),
    "fractions": ("Fraction",),
    "datetime": ("date", "datetime", "time", "timedelta", "timezone"),
}


def _stdlib_value_bases() -> tuple[type, ...]:
    return tuple(
        getattr(sys.modules[module], name)
        for module, names in _STDLIB_VALUES.items()
        if module in sys.modules
        for name in names
    )


def _has_identity(obj: Any) -> bool:
    """Whether a result that is ``obj`` itself stands for the object, and so
    comes back as the proxy: not when ``obj`` is a value, whose identity
    means nothing (CPython returns the same value or an equal new one as it
    pleases: ``7 * 1`` is that 7, ``1000 * 1`` a new int). A value is an
    instance of an immutable builtin type itself (int, str, bytes, tuple,
    frozenset, range, None, ...) or of Decimal, Fraction or datetime's
    types. Anything else keeps the proxy, whatever its ``__hash__`` (a
    writable memoryview's, one by identity or by a key, one that raises):
    CPython never swaps an instance of a subclass, an enum member or a
    dataclass for an equal one, so a method of one that returns ``self``
    is a fluent interface, even when the class calls itself immutable (a
    frozen dataclass may hold a list it appends to)."""
    t = type(obj)  # not __class__: a test double may claim to be an int
    if t in _VALUE_TYPES:
        return False
    return not (t.__module__ in _STDLIB_VALUES and t in _stdlib_value_bases())


_SLOT_WRAPPER = type(object.__setattr__)


def _rebinds(t: type) -> bool:
    """Whether a method written in Python of a proxy of type ``t`` comes
    back bound to the proxy, so that what it does to ``self`` goes through
    the controller. Not for two kinds of class, whose methods reach their
    state around the attribute access a proxy forwards, and so would act on
    the proxy's own: an exception (``super().__str__()``,
    ``BaseException.__getattribute__(self, "args")``: a proxied exception
    derives from its type, and they would read the proxy's empty ``args``),
    and a class with its own ``__setattr__``, ``__delattr__`` or
    ``__getattribute__``, which its methods bypass with ``object``'s
    (``object.__setattr__(self, ...)``, as a frozen dataclass does). Nor
    for a class (``t`` is a metaclass): what is bound to a class is a
    classmethod, whose ``super()`` and ``object.__new__(cls)`` need a real
    class. Their methods run on the object (see :class:`_MethodOfObject`)."""
    return not issubclass(t, (BaseException, type)) and all(
        type(getattr(t, name)) is _SLOT_WRAPPER
        for name in ("__getattribute__", "__setattr__", "__delattr__")
    )


# A method of a proxy's object that runs on the object (see _rebinds): what
# it returns, if the object itself (and no value, see _has_identity), is the
# proxy, as for a method bound to the proxy that returns ``self``. Otherwise
# it looks like the bound method: its ``__self__`` is the proxy, its
# ``__func__``, ``__name__`` and ``__doc__`` are the method's. Calling it
# does not switch (the method may).
class _MethodOfObject:
    __slots__ = ("__self__", "__wrapped__")

    def __init__(self, method: types.MethodType, proxy: Any) -> None:
        self.__wrapped__ = method
        self.__self__ = proxy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        method = self.__wrapped__
        result = method(*args, **kwargs)
        if result is method.__self__ and _has_identity(result):
            return self.__self__
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MethodOfObject):
            return NotImplemented
        return self.__wrapped__ == other.__wrapped__

    def __hash__(self) -> int:
        return hash(self.__wrapped__)

    def __repr__(self) -> str:
        name = self.__wrapped__.__func__.__qualname__
        return f"<bound method {name} of a proxy, run on its object>"


# Python insists on the exact type these return: never swap in the proxy.
# (Not ``round``, ``math.floor``/``trunc``/``ceil``: they return whatever
# the method does, so a method returning self gives the proxy.)
_CONVERSIONS = frozenset(
    [
        "__repr__",
        "__str__",
        "__format__",
        "__bytes__",
        "__hash__",
        "__bool__",
        "__len__",
        "__length_hint__",
        "__index__",
        "__int__",
        "__float__",
        "__complex__",
        "__fspath__",
        "__dir__",
    ]
)


class ProxyOperation:
    """One operation on a proxy made by :func:`make_proxy`: ``opname`` (the
    special method's name) with ``args`` and ``kwargs``, on ``proxyobj``,
    whose underlying object is ``obj``."""

    __slots__ = ("args", "kwargs", "obj", "opname", "proxyobj")

    def __init__(
        self,
        proxyobj: Any,
        opname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        obj: Any,
    ) -> None:
        self.proxyobj = proxyobj
        self.opname = opname
        self.args = args
        self.kwargs = kwargs
        self.obj = obj

    def delegate(self) -> Any:
        """Perform the operation on ``obj`` exactly as Python would on the
        real object, and return the result, with ``obj`` itself replaced by
        the proxy (so ``p += [1]`` and methods returning ``self`` keep the
        proxy; for ``__aenter__`` and ``__anext__``, what their awaitable
        gives), except for conversions, which return the real value, and
        when ``obj`` is a value (``7``, ``"text"``: see
        :func:`_has_identity`), which CPython gives back itself or as an
        equal new one as it pleases. A method of ``obj`` written in Python
        comes back bound to the proxy (but for an exception or a class with
        its own attribute access, see :func:`_rebinds`: run on ``obj``); a
        builtin one (``list.append``) cannot be, and stays bound to ``obj``.
        Does not switch (the operation may)."""
        obj = self.obj
        opname = self.opname
        perform = _DELEGATE.get(opname)
        if perform is None or obj is None:
            perform = self._uncommon()
        kwargs = self.kwargs
        result = (
            perform(obj, *self.args, **kwargs) if kwargs else perform(obj, *self.args)
        )
        if result is obj:
            if opname in _CONVERSIONS or not _has_identity(obj):
                return result
            return self.proxyobj
        if opname in _AWAITED:
            return _awaited_as_proxy(result, obj, self.proxyobj)
        if (
            opname == "__getattribute__"
            and type(result) is types.MethodType
            and result.__self__ is obj
        ):
            if _rebinds(self.proxyobj.__class__):
                return types.MethodType(result.__func__, self.proxyobj)
            return _MethodOfObject(result, self.proxyobj)
        return result

    def _uncommon(self) -> Callable[..., Any]:
        """How to perform an operation missing from the table, or on None."""
        if self.obj is None and self.proxyobj.__class__ is not type(None):
            raise TypeError(
                f"{self!r}: this proxy has no underlying object to delegate to"
                " (make_proxy was given a type and no obj)"
            )
        return _DELEGATE.get(self.opname) or _special(self.opname)

    def __repr__(self) -> str:
        shown = [
            *map(_show, self.args),
            *(f"{k}={_show(v)}" for k, v in self.kwargs.items()),
        ]
        cls = self.proxyobj.__class__
        return f"<ProxyOperation {cls.__qualname__}.{self.opname}({', '.join(['<proxy>', *shown])})>"


def _operation_class(name: str, arity: int | None, t: type) -> type[ProxyOperation]:
    """The ``ProxyOperation`` subclass for operation ``name`` on a proxy of
    type ``t`` when its forwarder takes ``arity`` arguments (None: any, and
    keyword arguments): its ``opname`` is a class attribute and its
    ``delegate`` is specialised (no table lookup, no tests for other
    operations). An operation with a fixed arity never has keyword
    arguments (``p[k]``, ``p + x``; not calls): its ``kwargs`` is a class
    attribute too, always empty. With one argument, the forwarder puts it in
    slot ``_arg``, and ``args`` is made from it when asked for (see
    :func:`_one_arg_class`). Made at the first use; attribute reads have
    two, as ``t``'s methods run on the proxy or the object (see
    :func:`_rebinds`)."""
    key = (name, arity, name != "__getattribute__" or _rebinds(t))
    cls = _OPERATION_CLASSES.get(key)
    if cls is None:
        ns: dict[str, Any] = {
            "__slots__": (),
            "__module__": __name__,
            "__qualname__": "ProxyOperation",
            "opname": name,
            "delegate": _specialised_delegate(name, arity, t),
            # Made bare by the proxy's forwarders, which fill the slots:
            # object's __init__, in C, is the cheapest way to make one.
            "__init__": object.__init__,
        }
        if arity is not None:
            ns["kwargs"] = NO_KWARGS
        cls = _one_arg_class(ns) if arity == 1 else _subclass(ns)
        _OPERATION_CLASSES[key] = cls
    return cls


_OPERATION_CLASSES: dict[tuple[str, int | None, bool], type[ProxyOperation]] = {}
#: The ``args`` slot of every ProxyOperation, under the one-argument
#: classes' ``args`` property.
_ARGS_SLOT: Any = ProxyOperation.__dict__["args"]


def _subclass(ns: dict[str, Any]) -> type[ProxyOperation]:
    return type("ProxyOperation", (ProxyOperation,), ns)


def _one_arg_class(ns: dict[str, Any]) -> type[ProxyOperation]:
    """The class of a one-argument operation: its argument is in slot
    ``_arg`` and ``args`` is a property. A controller that sets ``args``
    turns the operation into an instance of a twin class (same slots) with
    a plain ``args`` and the general ``delegate``."""
    ns["__slots__"] = ("_arg",)
    twin = _subclass({**ns, "delegate": ProxyOperation.delegate})

    def get_args(self: Any) -> tuple[Any, ...]:
        return (self._arg,)

    def set_args(self: Any, args: tuple[Any, ...]) -> None:
        _ARGS_SLOT.__set__(self, args)
        self._arg = None
        self.__class__ = twin

    ns["args"] = property(get_args, set_args, doc="The operation's arguments.")
    return _subclass(ns)


def _specialised_delegate(
    name: str, arity: int | None, t: type
) -> Callable[[ProxyOperation], Any]:
    """``ProxyOperation.delegate`` for one operation on a proxy of type
    ``t``; anything unusual (no object, changed ``args``) takes the general
    path. Operations that take keyword arguments (calls, which are rare) are
    not specialised."""
    general = ProxyOperation.delegate
    perform = _DELEGATE.get(name)
    if perform is None or arity is None:
        return general
    names: dict[str, Any] = {
        "perform": perform,
        "general": general,
        "has_identity": _has_identity,
    }
    if name == "__getattribute__" and not _rebinds(t):
        names["on_object"] = _MethodOfObject
    return delegate(name, arity, name in _CONVERSIONS, names)


def _show(value: Any) -> str:
    """repr of an argument, without asking a proxy's controller."""
    return "<proxy>" if get_controller(value) is not None else repr(value)


def make_proxy(
    controller: Callable[[ProxyOperation], Any], type: Any = None, obj: Any = None
) -> Any:
    """A proxy of ``obj`` (or of an instance of ``type``) whose every
    operation calls ``controller(operation)`` with a :class:`ProxyOperation`
    and returns its result; ``operation.delegate()`` performs it on ``obj``.
    ``type`` defaults to ``obj``'s (for a proxy, its ``__class__``); obj
    None is no object, so a proxy of None needs ``type=type(None)``. Does
    not switch (the controller may)."""
    if not callable(controller):
        raise TypeError(f"make_proxy() needs a callable controller, got {controller!r}")
    if type is None:
        if obj is None:
            # None is also obj's default, "no object": proxying None takes
            # its type, as a proxy of a type with no object does.
            raise TypeError(
                "make_proxy() needs a type or an obj (or both), got obj=None"
                " and no type: to proxy None, pass type=type(None)"
            )
        type = obj.__class__
    cls = proxy_class(type, _operation_class)
    return new_proxy(cls, controller, (controller, obj), obj)
