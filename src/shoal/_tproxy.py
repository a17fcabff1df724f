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

A special method that ``T`` lacks is left out, and one that ``T`` sets to
None (Python's "not supported": ``__iter__ = None``) is None too, so the
operation fails with the ``TypeError`` Python raises for a real instance;
the class is named as those messages name ``T`` (``deque`` is
``collections.deque`` there), so they read the same. Binary operators come
in threes: when ``T`` supports ``+`` at all, ``__add__``, ``__radd__`` and
``__iadd__`` all reach the controller (``[1] + p`` is ``__radd__`` on the
proxy, since a list's own ``+`` refuses a non-list).

The proxy class does not derive from ``T``: C code that checks for a real
``list`` (``PyList_Check``) would otherwise read the empty list inside the
proxy instead of asking the controller. C code then treats a proxy as the
foreign object it is and goes through the protocols (iteration, the
operators), which do reach the controller. The exception is ``raise``,
which needs a real ``BaseException``: a proxied exception type gets a class
derived from it, and ``except T`` catches it. The interpreter writes a
raised exception's traceback, cause and context into the proxy itself, so
those four attributes are the proxy's own, not the controller's.

The caches of proxy classes are keyed by the identity of the type, not by
its hash and ``==``, which a metaclass may define (or make unhashable).

``type(p)`` is the proxy class: CPython gives no way to hide it. Use
``p.__class__`` or ``isinstance`` instead.
"""

from __future__ import annotations

import builtins
import collections.abc
import sys
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
    "__copy__",
]
_IF_1 = [
    "__contains__",
    "__getitem__",
    "__delitem__",
    "__missing__",
    "__delete__",
    "__instancecheck__",
    "__subclasscheck__",
]
_IF_2 = ("__setitem__", "__set__", "__set_name__")
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
# Types with the buffer protocol, by module and name (not imported: while a
# module is not, no object is an instance of its types). From Python 3.12 a
# type says so itself, with __buffer__; before, there is no telling.
_BUFFERS = {
    "builtins": ("bytes", "bytearray", "memoryview"),
    "array": ("array",),
    "mmap": ("mmap",),
    "_pickle": ("PickleBuffer",),
    "_ctypes": ("_SimpleCData", "Array", "Structure", "Union", "_Pointer", "CFuncPtr"),
}
_CONTAINER = ("__len__", "__getitem__", "__contains__", "__setitem__", "__delitem__")
# What a builtin type without sequence methods (CPython: no tp_as_sequence)
# lacks: item access alone is a mapping's (list[int]'s __getitem__); a +
# without a reflected + is a sequence's concatenation.
_SEQUENCE = ("__len__", "__contains__", "__setitem__", "__delitem__")
# The special methods a proxy class may forward: a type that sets one to
# None gets a None there too. (__hash__ = None is handled on its own.)
_SPECIAL = frozenset(
    (
        *_ALWAYS_0,
        *_ALWAYS_1,
        *_COMPARE,
        *_IF_0,
        *_IF_1,
        *_IF_2,
        *_IF_ANY,
        *(f"__{form}{op}__" for op in BINARY_OPERATORS for form in ("", "r", "i")),
    )
) - {"__idivmod__"}
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement
_TPFLAGS_SEQUENCE = 1 << 5  # what a match statement's [a, b] pattern tests
_TPFLAGS_MAPPING = 1 << 6  # ... and its {"k": v} pattern


_ABSENT: Any = object()


def _lookup(t: type, name: str) -> Any:
    """What instances of ``t`` find for special method ``name``, or
    ``_ABSENT``: looked up in the class and its bases only, as Python does,
    not the metaclass (every class has a ``__call__``; its instances may
    not)."""
    for klass in t.__mro__:
        namespace = vars(klass)
        if name in namespace:
            return namespace[name]
    return _ABSENT


def _has(t: type, name: str) -> bool:
    """Whether instances of ``t`` support special method ``name``: it is
    defined, and not None (Python's "not supported", ``__iter__ = None``)."""
    found = _lookup(t, name)
    return found is not _ABSENT and found is not None


def _has_buffer(t: type) -> bool:
    """Whether instances of ``t`` have the buffer protocol, as far as can be
    told from the type (see ``_BUFFERS``)."""
    if sys.version_info >= (3, 12) and _has(t, "__buffer__"):
        return True
    known = tuple(
        getattr(sys.modules[module], name)
        for module, names in _BUFFERS.items()
        if module in sys.modules
        for name in names
        if hasattr(sys.modules[module], name)
    )
    return issubclass(t, known)


def _c_name(t: type) -> str:
    """The name CPython's messages give ``t`` (its ``tp_name``): ``__name__``
    for a class made by a class statement, ``module.name`` for most types
    written in C (``collections.deque``; not builtins). Python shows it only
    in messages, such as this one, which makes no instance and runs no code
    of ``t``: ``bool.__new__(T): T is not a subtype of bool``."""
    try:
        bool.__new__(t)
    except TypeError as e:
        message = str(e)
    else:  # t is bool
        return t.__name__
    head, tail = "bool.__new__(", " is not a subtype of bool"
    size = (len(message) - len(head) - len("): ") - len(tail)) // 2
    name = message[len(head) : len(head) + size]
    if message == f"{head}{name}): {name}{tail}" and name.endswith(t.__name__):
        return name
    return t.__name__  # not CPython's message: the best guess


def _refuse(message: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any) -> Any:
        raise TypeError(message)

    return refuse


def _repeat_in_place(c_name: str) -> Callable[[Any, Any], Any]:
    """``x *= y`` for a proxy of builtin type ``c_name`` that has neither
    ``*`` nor sequence methods (None, a function, object, ``list[int]``,
    whose ``__getitem__`` is a mapping's). For a real one
    CPython asks y's ``*``, then repeats a sequence y x times (which needs
    ``x.__index__``: "can't multiply sequence by non-int of type
    'NoneType'"), as for ``x * y``; a class made at run time, as the proxy's
    is, has (empty) sequence methods, which make CPython skip that step and
    refuse ``*=``. This does what CPython does for the real one."""
    refused, against = "unsupported operand type(s) for *: '", f"' and '{c_name}'"

    def repeat(self: Any, other: Any) -> Any:
        kind = type(other)
        found = _lookup(kind, "__rmul__")
        if any(_in_python(f) for f in (_lookup(kind, "__mul__"), found)):
            # Its * is written in Python: y.__rmul__(x) is what it does.
            result: Any = NotImplemented
            if found is not _ABSENT:
                get = getattr(type(found), "__get__", None)
                result = (found if get is None else get(found, other, kind))(self)
            if result is not NotImplemented:
                return result
            name = _c_name(kind)
        else:  # a * written in C takes its operands either way round: y * x
            try:
                return other * self
            except TypeError as e:
                message = str(e)
                if not (message.startswith(refused) and message.endswith(against)):
                    raise
                name = message[len(refused) : -len(against)]
        raise TypeError(f"unsupported operand type(s) for *=: '{c_name}' and '{name}'")

    return repeat


def _in_python(found: Any) -> bool:
    """Whether special method ``found`` (from :func:`_lookup`) is written in
    Python rather than a C slot's wrapper."""
    return found is not _ABSENT and type(found) is not types.WrapperDescriptorType


#: The ``kwargs`` of every operation called without keyword arguments.
NO_KWARGS: Any = types.MappingProxyType({})


class _ByIdentity:
    """A map from types to values, keyed by the identity of the type: a
    ``WeakKeyDictionary`` would use the type's hash and ``==``, which come
    from its metaclass, which may make it unhashable or equal to another.
    An entry leaves when its type dies."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[type], Any]] = {}

    def get(self, t: type) -> Any:
        """The value for ``t``, or None."""
        entry = self._entries.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        return entry[1]

    def set(self, t: type, value: Any) -> None:
        key = id(t)
        entries = self._entries

        def forget(ref: weakref.ref[type]) -> None:
            if entries.get(key, (None,))[0] is ref:
                del entries[key]

        entries[key] = (weakref.ref(t, forget), value)


_classes = _ByIdentity()  # type -> a weak reference to its tproxy class
_op_classes = _ByIdentity()  # type -> a weak reference to its make_proxy class
_proxied = _ByIdentity()  # proxy class -> the type it stands for


class _Proxy:
    """Base of the proxy classes of non-exception types. Each proxy class
    declares its own slots, ``_shoal_ctl`` (the controller) and
    ``_shoal_obj`` (for ``make_proxy``, the object operations are delegated
    to): a slot's getter checks the instance's class, at once when it is
    the slot's own, through the MRO for a subclass. A proxy can be weakly
    referenced when an instance of its type can: those classes declare a
    ``__weakref__`` slot too."""

    __slots__ = ()


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
        plain, reflected = f"__{opname}__", f"__r{opname}__"
        in_place = () if opname == "divmod" else (f"__i{opname}__",)
        if _has(t, plain) or _has(t, reflected):
            forms: tuple[str, ...] = (plain, reflected, *in_place)
        else:  # an in-place form alone (x += y, and no x + y)
            forms = tuple(name for name in in_place if _has(t, name))
        for name in forms:
            ns[name] = varargs(name) if opname == "pow" else binary(name)
        for name in in_place:
            if _lookup(t, name) is _ABSENT and _lookup(t, plain) is None:
                ns[name] = None  # x += y falls back to x + y, set to None
    hashable = getattr(t, "__hash__", None) is not None
    ns["__hash__"] = unary("__hash__") if hashable else None
    if issubclass(t, (str, bytes, bytearray)):
        # int("12"), bytes("x"), os.fspath("p"): C code converts these by
        # their exact type, not a special method, so the proxy needs one.
        for name in _TEXT_CONVERSIONS:
            ns.setdefault(name, varargs(name) if name in _IF_ANY else unary(name))
    if _has_buffer(t):
        # bytes(p): C code copies the buffer of a real one, which a proxy
        # cannot have, and would otherwise take the items (b"\x01\x02" of
        # array("i", [1, 2])).
        ns.setdefault("__bytes__", unary("__bytes__"))
    static = (t.__flags__ & _HEAPTYPE) == 0
    if static and not any(_has(t, n) for n in _CONTAINER):
        # A builtin type that is no container says "does not support item
        # deletion"; the proxy class would say "doesn't": speak as the type.
        c_name = _c_name(t)
        ns["__setitem__"] = _refuse(
            f"'{c_name}' object does not support item assignment"
        )
        ns["__delitem__"] = _refuse(f"'{c_name}' object does not support item deletion")
    if (
        static
        and not any(_has(t, n) for n in _SEQUENCE)
        and not (_has(t, "__add__") and not _has(t, "__radd__"))
        and not any(_has(t, f"__{form}mul__") for form in ("", "r", "i"))
    ):
        # No sequence methods (item access, if any, is a mapping's, as for
        # list[int]): see _repeat_in_place.
        ns["__imul__"] = _repeat_in_place(_c_name(t))
    for name in _SPECIAL:
        if _lookup(t, name) is None:
            # Python's "not supported" (``__iter__ = None``): CPython then
            # refuses with its own message, as for a real instance.
            ns[name] = None

    set_ = ternary("__setattr__")
    if issubclass(t, BaseException):
        get = binary("__getattribute__")
        own_get = BaseException.__getattribute__
        own_set = BaseException.__setattr__

        def getattribute(self: Any, name: str) -> Any:
            if name == "__class__":
                return t
            if name in _OWN_EXCEPTION_STATE or name == "with_traceback":
                # with_traceback sets the proxy's own __traceback__, and
                # returns the proxy, as an exception returns itself.
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
        if issubclass(t, type) and len(args) == 3 and isinstance(args[1], tuple):
            # class D(P): Python asks the base's type, the proxy class.
            raise TypeError(
                f"class {args[0]}: a proxy of a class cannot be subclassed;"
                f" derive from the class itself"
            )
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
        raise TypeError(
            f"{'tproxy' if op is None else 'make_proxy'}() needs a type to proxy,"
            f" got {t!r}"
        )
    cache = _classes if op is None else _op_classes
    # Held weakly: a proxy class refers to its type (its base, for an
    # exception), so a strong cache would keep every proxied type alive,
    # classes made at run time included. A class lives while its proxies do.
    ref = cache.get(t)
    cls: type | None = None if ref is None else ref()
    if cls is not None:
        return cls
    ns, bind = _namespace(t, op)
    # The class has T's name as CPython's TypeErrors give it ("object of
    # type 'int' has no len()", "unhashable type: 'collections.deque'"),
    # so that they read as for a real instance.
    name = _c_name(t)
    ns["__slots__"] = ("_shoal_ctl", "_shoal_obj")
    if issubclass(t, BaseException):
        # Derived from t: weakly referable when t's instances are.
        cls = _exception_class(t, name, ns)
    else:
        if t.__weakrefoffset__:  # a weak reference to a list fails: to its proxy too
            ns["__slots__"] += ("__weakref__",)
        cls = type(name, (_Proxy,), ns)
    bind(_slot(cls, "_shoal_ctl").__get__, _slot(cls, "_shoal_obj").__get__)
    # match statements test a flag of the class for sequence and mapping
    # patterns (not isinstance): registering with the ABC sets it.
    if t.__flags__ & _TPFLAGS_SEQUENCE:
        collections.abc.Sequence.register(cls)
    elif t.__flags__ & _TPFLAGS_MAPPING:
        collections.abc.Mapping.register(cls)
    cache.set(t, weakref.ref(cls))
    _proxied.set(cls, t)
    return cls


def _exception_class(t: type, name: str, ns: dict[str, Any]) -> type:
    """The proxy class of exception type ``t``: raise needs a real exception,
    so it derives from ``t``, and is made by ``t``'s metaclass."""
    meta: Any = type(t)
    try:
        return meta(name, (t,), ns)  # type: ignore[no-any-return]
    except TypeError as e:
        # A metaclass or __init_subclass__ may want the keyword arguments
        # of the class statement (class E(Exception, metaclass=M, tag=1)),
        # which Python passes on and does not keep.
        raise TypeError(
            f"cannot proxy exception class {t.__module__}.{t.__qualname__}: "
            f"raise needs a proxy class derived from it, and its metaclass or "
            f"__init_subclass__ refused one ({e}); if they need the keyword "
            f"arguments of its class statement, those cannot be passed "
            f"again: Python does not record them"
        ) from e


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


def new_proxy(
    cls: type, controller: Callable[..., Any], obj: Any = None, like: Any = None
) -> Any:
    """An instance of proxy class ``cls`` with ``controller`` (and, for
    make_proxy, ``obj``: the pair (controller, object)); ``like``, the
    object proxied, if any (see :func:`_allocate`). Does not switch."""
    p = _allocate(cls, like)
    _slot(cls, "_shoal_ctl").__set__(p, controller)
    _slot(cls, "_shoal_obj").__set__(p, obj)
    return p


def _allocate(cls: type, like: Any = None) -> Any:
    """A bare instance of proxy class ``cls``, made by the ``__new__`` of the
    builtin type its layout comes from (``object``, or an exception type),
    never by a ``__new__`` written in Python, which might want arguments."""
    for klass in cls.__mro__[1:]:
        new = klass.__dict__.get("__new__")
        if new is not None and not isinstance(new, staticmethod):
            if klass is _GROUP:
                return _new_group(new, cls, like)
            return new(cls)
    raise AssertionError(f"no builtin __new__ for {cls!r}")  # object has one


# Python 3.11's exception groups, whose __new__ insists on a message and a
# non-empty sequence of exceptions (3.10: None, and the backport's groups
# are classes written in Python).
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", None)
_PLACEHOLDER = "placeholder sub-exception of a shoal tproxy (see docs/proxy.md)"


def _new_group(new: Any, cls: type, like: Any) -> Any:
    """A bare proxy of an exception group, made by ``BaseExceptionGroup``'s
    ``__new__``. What it keeps in its own storage is read by nothing but
    ``except*`` (attributes and methods are the controller's): a clause
    that matches the whole group and re-raises it makes the group raised
    next from these exceptions, with the proxy's ``derive``. So a proxy of
    group ``like`` keeps ``like``'s (read from its storage: for a proxy,
    what it was made with), and a proxy of no group a placeholder."""
    if issubclass(type(like), _GROUP):
        fields = vars(_GROUP)
        message = fields["message"].__get__(like)
        exceptions = fields["exceptions"].__get__(like)
        try:
            return new(cls, message, exceptions)
        except TypeError:  # a BaseExceptionGroup's exceptions, an ExceptionGroup
            pass
    return new(cls, "", (Exception(_PLACEHOLDER),))


def proxied_type(cls: type) -> type | None:
    """The type that proxy class ``cls`` stands for, or None. Does not switch."""
    t: type | None = _proxied.get(cls)
    return t


def get_controller(p: Any) -> Any:
    """The controller of proxy ``p`` (for ``make_proxy``, the controller given
    to it), or None for any other object. Does not switch."""
    cls = type(p)
    if _proxied.get(cls) is None:
        return None
    return _slot(cls, "_shoal_ctl").__get__(p)
