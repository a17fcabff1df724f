"""Proxies, per operation: attribute get, method call, ``len()``, ``+``, ``[]``.

The proxied object is a small ``list`` subclass with a class attribute and a
method, so every operation applies; one table per operation, rows:

- plain: the object itself, no proxy;
- minimal: the reference for the targets, a pure-Python forwarding proxy
  written here: ``__getattribute__`` (not ``__getattr__``, which on CPython
  3.11 first builds and discards an ``AttributeError``) plus the special
  methods measured, reading the object from a slot;
- wrapt: ``wrapt.ObjectProxy`` (C, under a thin Python subclass); lazy:
  ``lazy_object_proxy.Proxy`` (C; its factory already called);
- tproxy: ``shoal.proxy.tproxy`` whose controller, with the documented
  signature ``(opname, *args, **kwargs)``, returns a constant: the
  operation's right answer (for the method call, a function returning it).
  It does no work on any object, so it measures the proxy's own cost plus
  one call of a Python function (packing ``*args`` and ``**kwargs`` is part
  of that call: a controller ``(opname, arg=None)`` is some 30 ns cheaper);
- make_proxy: ``shoal.proxy.make_proxy(lambda op: op.delegate(), obj=o)``.

Each statement is unrolled 20 times in the timing loop, so the loop's own
cost is about 1 ns per operation. A sample is the fastest of 10 batches, and
each sample runs in its own process, the rows taking turns: on the shared
machine a process can run at ~1.7x its usual cost throughout, and turns
spread that over every row. Every row's result is checked once before
timing, so a broken proxy cannot look fast. Targets, per table: tproxy at
most 1.5x minimal, make_proxy at most 3x minimal.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from benchmarks import _harness, _peers
except ImportError:  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _harness, _peers

UNROLL = 20
BATCHES = 10  # per sample, which reports its fastest
OPERAND = [4]  # the right-hand side of ``+``


class Sample(list[int]):
    """The proxied object's class: a list, a class attribute and a method."""

    attr = 7

    def method(self) -> int:
        return 1


def _one() -> int:
    return 1


# name -> (title, statement on ``p`` (and ``x``), right result, tproxy's constant)
OPERATIONS: dict[str, tuple[str, str, Any, Any]] = {
    "attr": ("attribute get (p.attr)", "p.attr", 7, 7),
    "method": ("method call (p.method())", "p.method()", 1, _one),
    "len": ("len(p)", "len(p)", 3, 3),
    "add": ("p + [4]", "p + x", [1, 2, 3, 4], [1, 2, 3, 4]),
    "getitem": ("p[0]", "p[0]", 1, 1),
}


class Minimal:
    """The least a pure-Python forwarding proxy does for these operations."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        _set_obj(self, obj)

    def __getattribute__(self, name: str) -> Any:
        return getattr(_obj(self), name)

    def __len__(self) -> int:
        return len(_obj(self))

    def __add__(self, other: Any) -> Any:
        return _obj(self) + other

    def __getitem__(self, key: Any) -> Any:
        return _obj(self)[key]


# The slot's own accessors: reading ``self._obj`` would recurse.
_obj = Minimal._obj.__get__  # type: ignore[attr-defined]
_set_obj = Minimal._obj.__set__  # type: ignore[attr-defined]


def make_plain(obj: Any, const: Any) -> Any:
    return obj


def make_minimal(obj: Any, const: Any) -> Any:
    return Minimal(obj)


def make_wrapt(obj: Any, const: Any) -> Any:
    import wrapt

    return wrapt.ObjectProxy(obj)


def make_lazy(obj: Any, const: Any) -> Any:
    import lazy_object_proxy

    p = lazy_object_proxy.Proxy(lambda: obj)
    p.__wrapped__  # noqa: B018  (call the factory now, not in the timing)
    return p


def make_tproxy(obj: Any, const: Any) -> Any:
    _peers.import_shoal()
    from shoal.proxy import tproxy

    def controller(opname: str, *args: Any, **kwargs: Any) -> Any:
        return const

    return tproxy(Sample, controller)


def make_make_proxy(obj: Any, const: Any) -> Any:
    _peers.import_shoal()
    from shoal.proxy import make_proxy

    return make_proxy(lambda op: op.delegate(), obj=obj)


ROWS: dict[str, Callable[[Any, Any], Any]] = {
    "plain": make_plain,
    "minimal": make_minimal,
    "wrapt": make_wrapt,
    "lazy": make_lazy,
    "tproxy": make_tproxy,
    "make_proxy": make_make_proxy,
}


def row(operation: str, make: Callable[[Any, Any], Any]) -> _harness.Measure:
    _title, stmt, expected, const = OPERATIONS[operation]

    def measure(n: int) -> float:
        p = make(Sample([1, 2, 3]), const)
        got = eval(stmt, {}, {"p": p, "x": OPERAND})
        if got != expected:
            raise AssertionError(f"{stmt} gave {got!r}, not {expected!r}")
        body = "\n".join([stmt] * UNROLL)
        timer = timeit.Timer(body, "p = _p; x = _x", globals={"_p": p, "_x": OPERAND})
        # The best of a few batches: a neighbour's burst of load on the shared
        # machine lengthens one batch, not the operation.
        loops = max(1, n // (UNROLL * BATCHES))
        return min(timer.repeat(BATCHES, loops)) / (loops * UNROLL)

    return measure


def tables(args: argparse.Namespace) -> list[_harness.Table]:
    targets = [
        _harness.Target("tproxy <= 1.5x minimal", "tproxy", "minimal", ratio=1.5),
        _harness.Target("make_proxy <= 3x minimal", "make_proxy", "minimal", ratio=3),
    ]
    count = 50_000 if args.quick else 100_000
    return [
        _harness.Table(
            f"{title}, per operation",
            {name: row(operation, make) for name, make in ROWS.items()},
            floor="plain",
            compare="minimal",
            unit="ns",
            targets=targets,
            count=count,
            fresh=7,
        )
        for operation, (title, *_) in OPERATIONS.items()
    ]


def main(argv: list[str] | None = None) -> int:
    return _harness.main(__file__, tables, argv)


if __name__ == "__main__":
    sys.exit(main())
