"""Name lookups of ``shoal.socket``: the stdlib's, run in a thread (the
hub's default executor) unless the name is numeric, so that only the
calling tasklet waits."""

from __future__ import annotations

import socket as _stdlib
from typing import Any

from ._bridge import to_thread
from ._resolve import numeric as _numeric

__all__ = [
    "getaddrinfo",
    "getfqdn",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "getnameinfo",
]


def getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """As ``socket.getaddrinfo``; a name lookup runs in a thread. Switches
    unless ``host`` is numeric."""
    if _numeric(host):
        return _stdlib.getaddrinfo(host, port, family, type, proto, flags)
    return to_thread(_stdlib.getaddrinfo, host, port, family, type, proto, flags)


def gethostbyname(hostname: str) -> str:
    """As ``socket.gethostbyname``; the lookup runs in a thread. Switches."""
    if _numeric(hostname):
        return _stdlib.gethostbyname(hostname)
    return to_thread(_stdlib.gethostbyname, hostname)


def gethostbyname_ex(hostname: str) -> tuple[str, list[str], list[str]]:
    """As ``socket.gethostbyname_ex``; the lookup runs in a thread. Switches."""
    return to_thread(_stdlib.gethostbyname_ex, hostname)


def gethostbyaddr(ip_address: str) -> tuple[str, list[str], list[str]]:
    """As ``socket.gethostbyaddr``; the lookup runs in a thread. Switches."""
    return to_thread(_stdlib.gethostbyaddr, ip_address)


def getnameinfo(sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
    """As ``socket.getnameinfo``; the lookup runs in a thread. Switches."""
    return to_thread(_stdlib.getnameinfo, sockaddr, flags)


def getfqdn(name: str = "") -> str:
    """As ``socket.getfqdn``; its lookups run in a thread. Switches."""
    return to_thread(_stdlib.getfqdn, name)
