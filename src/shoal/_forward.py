"""The methods of proxy classes that hand an operation to the controller,
and ``make_proxy``'s ``delegate`` methods specialised to one operation.

Each forwarder runs its own copy of one of the template functions below,
with globals of its own: ``name``, the operation's name, and the getters of
the proxy's slots (``ctl``, for ``tproxy``; ``obj``, the pair (controller,
object), for ``make_proxy``) and, for ``make_proxy``, ``cls``, the
operation's ``ProxyOperation`` class; and ``__builtins__``, which C code
that imports looks for there (see :func:`_copy`). Not a closure: its cells
cost every call a ``COPY_FREE_VARS`` and a cell read per variable, some 3%
of a forwarded ``p[k]``. And a copy of the code, not the template's own:
CPython keeps its inline caches in the code, so each forwarder's caches see
one operation of one class. The specialised ``delegate`` methods are made
the same way (see :func:`delegate`).

The templates are never called as they stand: the module-level values of
the names they read are placeholders, for the linters.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["Forwarders", "delegate"]

# The templates' globals; each forwarder has its own (see the docstring).
name: Any = None
ctl: Any = None
obj: Any = None
cls: Any = None


def _unary(self: Any) -> Any:
    return ctl(self)(name)


def _binary(self: Any, other: Any) -> Any:
    return ctl(self)(name, other)


def _ternary(self: Any, a: Any, b: Any) -> Any:
    return ctl(self)(name, a, b)


def _varargs(self: Any, *args: Any, **kwargs: Any) -> Any:
    return ctl(self)(name, *args, **kwargs)


# make_proxy: calling ``cls`` with no arguments makes a bare operation (its
# __init__ is object's, in C), whose slots the forwarder fills;
# object.__new__(cls) costs more. With one argument, it goes in slot
# ``_arg`` and ``args`` is made from it when asked for: building the tuple
# at every operation costs more.


def _op_unary(self: Any) -> Any:
    controller, target = obj(self)
    o = cls()
    o.proxyobj = self
    o.args = ()
    o.obj = target
    return controller(o)


def _op_binary(self: Any, other: Any) -> Any:
    controller, target = obj(self)
    o = cls()
    o.proxyobj = self
    o._arg = other
    o.obj = target
    return controller(o)


def _op_ternary(self: Any, a: Any, b: Any) -> Any:
    controller, target = obj(self)
    o = cls()
    o.proxyobj = self
    o.args = (a, b)
    o.obj = target
    return controller(o)


def _op_varargs(self: Any, *args: Any, **kwargs: Any) -> Any:
    controller, target = obj(self)
    o = cls()
    o.proxyobj = self
    o.args = args
    o.kwargs = kwargs
    o.obj = target
    return controller(o)


# __getattribute__, the hottest: ``p.__class__`` answers the proxied type,
# ``proxied``, and every other name goes to the controller.
proxied: Any = None


def _getattribute(self: Any, attr: str) -> Any:
    if attr == "__class__":
        return proxied
    return ctl(self)("__getattribute__", attr)


def _op_getattribute(self: Any, attr: str) -> Any:
    if attr == "__class__":
        return proxied
    controller, target = obj(self)
    o = cls()
    o.proxyobj = self
    o._arg = attr
    o.obj = target
    return controller(o)


_TEMPLATES = {
    (kind, arity): template
    for kind, templates in (
        ("tproxy", (_unary, _binary, _ternary, _varargs)),
        ("make_proxy", (_op_unary, _op_binary, _op_ternary, _op_varargs)),
    )
    for arity, template in zip((0, 1, 2, None), templates, strict=True)
}
_GETATTRIBUTE = {"tproxy": _getattribute, "make_proxy": _op_getattribute}


class Forwarders:
    """Makes the forwarders of one proxy class, for proxied type ``t``: for
    ``tproxy`` when ``op`` is None, else for ``make_proxy``, where
    ``op(name, arity, t)`` is the operation's ``ProxyOperation`` class.
    ``qualname`` is the proxy class's (``tproxy(list)``); :meth:`bind` gives
    the forwarders the class's slot getters once it exists."""

    def __init__(self, t: type, op: Any) -> None:
        self._proxied = t
        self._op = op
        self._kind = "tproxy" if op is None else "make_proxy"
        self.qualname = f"{self._kind}({t.__qualname__})"
        self._globals: list[dict[str, Any]] = []

    def make(self, opname: str, arity: int | None) -> types.FunctionType:
        """The forwarder of operation ``opname``, taking ``arity`` arguments
        besides ``self`` (None: any, and keyword arguments). Does not
        switch (the forwarder may, through its controller)."""
        template = _TEMPLATES[self._kind, arity]
        names: dict[str, Any] = {"name": opname}
        if self._op is not None:
            names["cls"] = self._op(opname, arity, self._proxied)
        return self._copy(template, opname, names)

    def getattribute(self) -> types.FunctionType:
        """The forwarder of attribute reads (``__class__`` excepted). Does not
        switch."""
        template = _GETATTRIBUTE[self._kind]
        names: dict[str, Any] = {"proxied": self._proxied}
        if self._op is not None:
            names["cls"] = self._op("__getattribute__", 1, self._proxied)
        return self._copy(template, "__getattribute__", names)

    def _copy(
        self, template: Any, opname: str, names: dict[str, Any]
    ) -> types.FunctionType:
        # The slot getters are set by bind(); the keys exist from the start,
        # so that setting them does not change the dict's shape.
        names.update(ctl=None, obj=None)
        self._globals.append(names)
        return _copy(template, opname, f"{self.qualname}.{opname}", names)

    def bind(self, ctl_getter: Any, obj_getter: Any) -> None:
        """Give every forwarder made so far the proxy class's slot getters.
        Does not switch."""
        for names in self._globals:
            names["ctl"] = ctl_getter
            names["obj"] = obj_getter


def _copy(
    template: Any, name: str, qualname: str, names: dict[str, Any]
) -> types.FunctionType:
    """A function running its own copy of ``template``'s code, with globals
    ``names``, named ``name`` (tracebacks show it). ``names`` gets the
    template's ``__builtins__``: C code that imports (``date.__format__``
    imports ``time``) finds the import machinery in the globals of the
    innermost frame written in Python, which may be this function's."""
    names["__builtins__"] = template.__builtins__
    code = template.__code__.replace(co_name=name)
    if sys.version_info >= (3, 11):
        code = code.replace(co_qualname=qualname)
    function = types.FunctionType(code, names, name)
    function.__qualname__ = qualname
    function.__module__ = "shoal.proxy"
    return function


# make_proxy's ``ProxyOperation.delegate``, specialised to one operation:
# ``perform`` does it on the object (``operator.getitem``, ``len``, ...), and
# ``general`` is the general ``delegate``, for anything unusual (no object).
# ``has_identity(target)``: whether a result that is the object itself
# comes back as the proxy (not for a value, such as an int). Made like the
# forwarders, and for the same reasons. ``MethodType``: ``types.MethodType``.
# For attribute reads of a type whose methods run on the object rather than
# the proxy, ``on_object(method, proxy)`` is what a method comes back as.
perform: Any = None
general: Any = None
has_identity: Any = None
MethodType: Any = None
on_object: Any = None


def _delegate_getattribute(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    result = getattr(target, self._arg)
    if type(result) is MethodType:
        if result.__self__ is target:  # the object's own method: the proxy's
            return MethodType(result.__func__, self.proxyobj)
        return result
    if result is target and has_identity(target):
        return self.proxyobj
    return result


def _delegate_getattribute_on_object(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    result = getattr(target, self._arg)
    if type(result) is MethodType:
        if result.__self__ is target:  # the object's own method, run on it
            return on_object(result, self.proxyobj)
        return result
    if result is target and has_identity(target):
        return self.proxyobj
    return result


def _delegate_1(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    result = perform(target, self._arg)
    if result is target and has_identity(target):
        return self.proxyobj
    return result


def _delegate_1_conversion(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    return perform(target, self._arg)


def _delegate_n(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    result = perform(target, *self.args)
    if result is target and has_identity(target):
        return self.proxyobj
    return result


def _delegate_n_conversion(self: Any) -> Any:
    target = self.obj
    if target is None:
        return general(self)
    args = self.args
    return perform(target, *args) if args else perform(target)


def delegate(
    opname: str, arity: int, conversion: bool, names: dict[str, Any]
) -> types.FunctionType:
    """``ProxyOperation.delegate`` for operation ``opname`` with ``arity``
    arguments, done by ``names["perform"]``; a ``conversion`` returns the
    real value, never the proxy for the object, and so does any operation
    whose result is the object itself when ``has_identity(object)`` is
    false. Anything unusual goes to ``general``. ``names`` gives the
    template's globals (see above): for attribute reads, with ``on_object``
    the object's methods run on it, else they are bound to the proxy. Does
    not switch (the delegate may, through the operation)."""
    if opname == "__getattribute__":
        rebinds = "on_object" not in names
        template = (
            _delegate_getattribute if rebinds else _delegate_getattribute_on_object
        )
    elif arity == 1:
        template = _delegate_1_conversion if conversion else _delegate_1
    else:
        template = _delegate_n_conversion if conversion else _delegate_n
    names = {**names, "MethodType": types.MethodType}
    function = _copy(template, "delegate", f"ProxyOperation[{opname}].delegate", names)
    function.__doc__ = names["general"].__doc__
    return function
