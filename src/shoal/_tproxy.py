"""``tproxy``: an object that claims a type and hands every operation to a
controller, as PyPy's transparent proxies do.

Design
------
For each proxied type ``T`` we build one proxy class, cached. Its instances
hold the controller in a slot, and every special method that ``T`` supports
is defined on it as "call the controller with my name and arguments":
CPython looks special methods up on the type, so an instance cannot fake
them. ``__getattribute__`` sends every attribute read to the controller too,
except ``__class__``, which answers ``T``: so ``p.__class__ is T``, and
``isinstance(p, T)`` is true (``isinstance`` consults ``__class__`` when the
real type does not match, and so do ABCs and ``super()``).

A special method that ``T`` lacks is left out, so the operation fails with
the ``TypeError`` Python raises for a real instance; the class is named like
``T`` so those messages read the same. Binary operators come in threes: when
``T`` supports ``+`` at all, ``__add__``, ``__radd__`` and ``__iadd__`` all
reach the controller (``[1] + p`` is ``__radd__`` on the proxy, since a
list's own ``+`` refuses a non-list).

The proxy class does not derive from ``T``: C code that checks for a real
``list`` (``PyList_Check``) would otherwise read the empty list inside the
proxy instead of asking the controller. C code then treats a proxy as the
foreign object it is and goes through the protocols (iteration, the
operators), which do reach the controller. The exception is ``raise``,
which needs a real ``BaseException``: a proxied exception type gets a class
derived from it, and ``except T`` catches it. The interpreter writes a
raised exception's traceback, cause and context into the proxy itself, so
those four attributes are the proxy's own, not the controller's.

``type(p)`` is the proxy class: CPython gives no way to hide it. Use
``p.__class__`` or ``isinstance`` instead.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any

from ._forward import Forwarders

__all__ = [
    "BINARY_OPERATORS",
    "NO_KWARGS",
    "get_controller",
    "new_proxy",
    "proxied_type",
    "proxy_class",
    "tproxy",
]

# Binary operators: the plain, reflected and (but divmod) in-place forms.
BINARY_OPERATORS = [
    "add",
    "sub",
    "mul",
    "matmul",
    "truediv",
    "floordiv",
    "mod",
    "divmod",
    "pow",
    "lshift",
    "rshift",
    "and",
    "xor",
    "or",
]
_COMPARE = ("__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__")
# Always defined: every object supports them.
_ALWAYS_1 = ("__delattr__", "__format__")
_ALWAYS_0 = ("__repr__", "__str__", "__dir__")
# Defined when the type has them, by arity (not counting self).
_IF_0 = [
    "__bool__",
    "__len__",
    "__length_hint__",
    "__iter__",
    "__next__",
    "__reversed__",
    "__bytes__",
    "__neg__",
    "__pos__",
    "__abs__",
    "__invert__",
    "__index__",
    "__int__",
    "__float__",
    "__complex__",
    "__trunc__",
    "__floor__",
    "__ceil__",
    "__enter__",
    "__fspath__",
    "__await__",
    "__aiter__",
    "__anext__",
    "__aenter__",
]
_IF_1 = ["__contains__", "__getitem__", "__delitem__", "__missing__", "__delete__"]
_IF_2 = ("__setitem__", "__set__")
_IF_ANY = ("__call__", "__round__", "__exit__", "__aexit__", "__get__")
# A raised exception's own state, written by the interpreter into the proxy.
_OWN_EXCEPTION_STATE = frozenset(
    ("__traceback__", "__context__", "__cause__", "__suppress_context__")
)

# int("12"), float, complex, bytes("x"), os.fspath("p"); and then the
# math functions, which would otherwise take the proxy's __float__.
_TEXT_CONVERSIONS = [
    "__int__",
    "__float__",
    "__complex__",
    "__bytes__",
    "__fspath__",
    "__floor__",
    "__ceil__",
    "__trunc__",
    "__round__",
]
_CONTAINER = ("__len__", "__getitem__", "__contains__", "__setitem__", "__delitem__")
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement


def _has(t: type, name: str) -> bool:
    """Whether instances of ``t`` have special method ``name``: looked up in
    the class and its bases only, as Python does, not the metaclass (every
    class has a ``__call__``; its instances may not)."""
    return any(name in vars(klass) for klass in t.__mro__)


def _refuse(message: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any) -> Any:
        raise TypeError(message)

    return refuse


#: The ``kwargs`` of every operation called without keyword arguments.
NO_KWARGS: Any = types.MappingProxyType({})

_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()
_op_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()
_proxied: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


class _Proxy:
    """Base of the proxy classes of non-exception types. Each proxy class
    declares its own slots, ``_shoal_ctl`` (the controller) and
    ``_shoal_obj`` (for ``make_proxy``, the object operations are delegated
    to): a slot's getter checks the instance's class, at once when it is
    the slot's own, through the MRO for a subclass."""

    __slots__ = ("__weakref__",)


def _namespace(t: type, op: Any) -> tuple[dict[str, Any], Callable[[Any, Any], None]]:
    """The proxy class's namespace for type ``t`` (``op``: see
    :class:`Forwarders`), and the ``bind`` to call with its slots' getters
    once the class exists."""
    forwarders = Forwarders(t, op)

    def unary(name: str) -> Any:
        return forwarders.make(name, 0)

    def binary(name: str) -> Any:
        return forwarders.make(name, 1)

    def ternary(name: str) -> Any:
        return forwarders.make(name, 2)

    def varargs(name: str) -> Any:
        return forwarders.make(name, None)

    ns: dict[str, Any] = {}
    for name in _ALWAYS_0:
        ns[name] = unary(name)
    for name in _ALWAYS_1 + _COMPARE:
        ns[name] = binary(name)
    for names, make in ((_IF_0, unary), (_IF_1, binary), (_IF_2, ternary)):
        for name in names:
            if _has(t, name):
                ns[name] = make(name)
    for name in _IF_ANY:
        if _has(t, name):
            ns[name] = varargs(name)
    for opname in BINARY_OPERATORS:
        if _has(t, f"__{opname}__") or _has(t, f"__r{opname}__"):
            forms = (f"__{opname}__", f"__r{opname}__", f"__i{opname}__")
            for name in forms[:2] if opname == "divmod" else forms:
                ns[name] = varargs(name) if opname == "pow" else binary(name)
    hashable = getattr(t, "__hash__", None) is not None
    ns["__hash__"] = unary("__hash__") if hashable else None
    if issubclass(t, (str, bytes, bytearray)):
        # int("12"), bytes("x"), os.fspath("p"): C code converts these by
        # their exact type, not a special method, so the proxy needs one.
        for name in _TEXT_CONVERSIONS:
            ns.setdefault(name, varargs(name) if name in _IF_ANY else unary(name))
    static = (t.__flags__ & _HEAPTYPE) == 0
    if static and not any(_has(t, n) for n in _CONTAINER):
        # A builtin type that is no container says "does not support item
        # deletion"; the proxy class would say "doesn't": speak as the type.
        ns["__setitem__"] = _refuse(
            f"'{t.__name__}' object does not support item assignment"
        )
        ns["__delitem__"] = _refuse(
            f"'{t.__name__}' object does not support item deletion"
        )

    set_ = ternary("__setattr__")
    if issubclass(t, BaseException):
        get = binary("__getattribute__")
        own_get = BaseException.__getattribute__
        own_set = BaseException.__setattr__

        def getattribute(self: Any, name: str) -> Any:
            if name == "__class__":
                return t
            if name in _OWN_EXCEPTION_STATE:
                return own_get(self, name)
            return get(self, name)

        def setattr_(self: Any, name: str, value: Any) -> None:
            if name in _OWN_EXCEPTION_STATE:
                own_set(self, name, value)
            else:
                set_(self, name, value)

    else:
        # The hottest method: tests for __class__ itself rather than
        # calling a forwarder that would.
        getattribute = forwarders.getattribute()
        setattr_ = set_

    def refuse_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"proxy classes are not instantiated directly: use "
            f"shoal.proxy.tproxy({t.__qualname__}, controller)"
        )

    ns["__getattribute__"] = getattribute
    ns["__setattr__"] = setattr_
    ns["__new__"] = refuse_new
    ns["__module__"] = "shoal.proxy"
    ns["__qualname__"] = forwarders.qualname
    ns["__doc__"] = f"A transparent proxy for {t.__qualname__} (see shoal.proxy)."
    return ns, forwarders.bind


def proxy_class(t: type, op: Any = None) -> type:
    """The proxy class for type ``t``, made at the first call: for
    ``tproxy``, or for ``make_proxy`` with ``op(name, arity)`` giving each
    operation's ``ProxyOperation`` class. Does not switch."""
    if not isinstance(t, type):
        raise TypeError(f"tproxy() needs a type to proxy, got {t!r}")
    cache = _classes if op is None else _op_classes
    try:
        return cache[t]
    except KeyError:
        pass
    ns, bind = _namespace(t, op)
    # The class keeps T's name: Python's TypeErrors name it ("object of
    # type 'int' has no len()"), and must read as for a real instance.
    ns["__slots__"] = ("_shoal_ctl", "_shoal_obj")
    if issubclass(t, BaseException):
        # raise needs a real exception: derive from it.
        meta: Any = type(t)
        cls: type = meta(t.__name__, (t,), ns)
    else:
        cls = type(t.__name__, (_Proxy,), ns)
    bind(_slot(cls, "_shoal_ctl").__get__, _slot(cls, "_shoal_obj").__get__)
    cache[t] = cls
    _proxied[cls] = t
    return cls


def _slot(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AssertionError(f"{cls!r} has no slot {name}")


def tproxy(t: type, controller: Callable[..., Any]) -> Any:
    """A proxy that claims to be an instance of ``t`` (``isinstance(p, t)``,
    ``p.__class__ is t``) and hands every operation on it to
    ``controller(opname, *args, **kwargs)``, returning its result. Does not
    switch (the controller may)."""
    if not callable(controller):
        raise TypeError(f"tproxy() needs a callable controller, got {controller!r}")
    return new_proxy(proxy_class(t), controller)


def new_proxy(cls: type, controller: Callable[..., Any], obj: Any = None) -> Any:
    """An instance of proxy class ``cls`` with ``controller`` (and, for
    make_proxy, ``obj``: the pair (controller, object)). Does not switch."""
    p = _allocate(cls)
    _slot(cls, "_shoal_ctl").__set__(p, controller)
    _slot(cls, "_shoal_obj").__set__(p, obj)
    return p


def _allocate(cls: type) -> Any:
    """A bare instance of proxy class ``cls``, made by the ``__new__`` of the
    builtin type its layout comes from (``object``, or an exception type),
    never by a ``__new__`` written in Python, which might want arguments."""
    for klass in cls.__mro__[1:]:
        new = klass.__dict__.get("__new__")
        if new is not None and not isinstance(new, staticmethod):
            return new(cls)
    raise AssertionError(f"no builtin __new__ for {cls!r}")  # object has one


def proxied_type(cls: type) -> type | None:
    """The type that proxy class ``cls`` stands for, or None. Does not switch."""
    return _proxied.get(cls)


def get_controller(p: Any) -> Any:
    """The controller of proxy ``p`` (for ``make_proxy``, the controller given
    to it), or None for any other object. Does not switch."""
    cls = type(p)
    if cls not in _proxied:
        return None
    return _slot(cls, "_shoal_ctl").__get__(p)
