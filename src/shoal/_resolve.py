"""Which addresses of a socket call need a name looked up first.

The stdlib's C calls (``connect``, ``sendto``, ``sendmsg``) look a host name
up themselves, blocking the thread; ``shoal.socket`` looks it up first, in a
thread, and hands the C call the number. It does so only where the C call
would look it up: an AF_INET ``(host, port)`` or AF_INET6 ``(host, port[,
flowinfo[, scope_id]])`` tuple that CPython's ``getsockaddrarg`` accepts,
whose host is a name. Every other address goes to the C call as it is,
which refuses it with the stdlib's error and message before any lookup (a
str, a port given as a str or None, a NUL in the host), as the stdlib does.
"""

from __future__ import annotations

import operator
import socket as _stdlib
from collections.abc import Callable
from typing import Any

__all__ = ["call_flags", "numeric", "resolve"]

#: Plain ints, as the families the socket passes.
_AF_INET = int(_stdlib.AF_INET)
_AF_INET6 = int(_stdlib.AF_INET6)
_inet_pton = _stdlib.inet_pton


def numeric(host: Any) -> bool:
    """Whether ``host`` is None, "" or an IPv4 or IPv6 number (an IPv6 one
    maybe with its zone, ``%eth0``): looking it up blocks no thread. Does not
    switch."""
    if host is None or host == "":
        return True
    if not isinstance(host, str):
        return False
    try:
        _inet_pton(_AF_INET, host)
        return True
    except (OSError, ValueError):  # ValueError: a NUL in it
        pass
    try:
        _inet_pton(_AF_INET6, host.partition("%")[0])
        return True
    except (OSError, ValueError):
        return False


def resolve(family: int, address: Any, lookup: Callable[..., list[Any]]) -> Any:
    """``address`` for a C call of a socket of ``family``, its host name
    looked up with ``lookup`` (a ``getaddrinfo``) when the C call would look
    it up itself; any other address as it is. Switches if it looks up."""
    if family == _AF_INET:
        if not isinstance(address, tuple) or len(address) != 2:
            return address
    elif family == _AF_INET6:
        if not isinstance(address, tuple) or not 2 <= len(address) <= 4:
            return address
    else:
        return address
    host = address[0]
    if type(host) is str:
        try:
            _inet_pton(family, host)  # the usual case, first: a number
            return address
        except (OSError, ValueError):
            pass
    name = _name(host)
    if name is None or not _fits_int(address[1]):
        return address
    for extra in address[2:]:  # flowinfo, scope_id: unsigned, any size
        if not _is_index(extra):
            return address
    # As the C call's lookup (setipaddr): the first address of the family.
    infos = lookup(name, None, family)
    return (infos[0][4][0], *address[1:])


def _name(host: Any) -> bytes | None:
    """The name the C call would look ``host`` up by, as its
    ``idna_converter`` makes it; None for a number, "" and "<broadcast>"
    (which it takes without a lookup) and for what it refuses."""
    if isinstance(host, str):
        if numeric(host) or host == "<broadcast>":
            return None
        if host.isascii():
            name = host.encode()  # as it is: getaddrinfo() would apply IDNA
        else:
            try:
                name = host.encode("idna")
            except UnicodeError:
                return None  # "encoding of hostname failed"
    elif isinstance(host, (bytes, bytearray)):
        name = bytes(host)
        if numeric(name.decode("latin-1")) or name == b"<broadcast>":
            return None
    else:
        return None  # "str, bytes or bytearray expected"
    if b"\0" in name:
        return None  # "host name must not contain null character"
    return name


def _is_index(value: Any) -> bool:
    """Whether ``value`` is an integer (has ``__index__``)."""
    if isinstance(value, int):
        return True
    try:
        operator.index(value)
    except Exception:
        return False
    return True


def _fits_int(value: Any) -> bool:
    """Whether the C call takes ``value`` as a port before its lookup: an
    integer that fits a C int (the range 0-65535 is checked after it)."""
    try:
        number = operator.index(value)
    except Exception:
        return False
    return -(2**31) <= number < 2**31


def call_flags(args: tuple[Any, ...], index: int, count: int = 0) -> int:
    """The flags in a call's ``args`` at ``index`` (0 if not given; with
    ``count``, only when the call has that many arguments)."""
    if len(args) <= index or (count and len(args) != count):
        return 0
    flags = args[index]
    return flags if isinstance(flags, int) else 0  # the stdlib refuses others
