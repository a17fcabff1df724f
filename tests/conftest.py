"""Shared fixtures: every test must leave no tasklet runnable or blocked, and
no file descriptor (socket, pipe, file, event loop) open."""

from __future__ import annotations

import contextlib
import gc
import os
import ssl
from collections.abc import Iterator

import pytest
import trustme

from shoal._hub import LOOPS
from shoal.testing import check_no_leftovers

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]

FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


def open_fds() -> dict[int, str]:
    """Each open descriptor of this process and what it refers to."""
    fds = {}
    for name in os.listdir(FD_DIR):
        # The listing's own descriptor is gone by now: suppress.
        with contextlib.suppress(OSError):
            fds[int(name)] = os.readlink(f"{FD_DIR}/{name}")
    return fds


@pytest.fixture(scope="session", autouse=True)
def _process_wide_descriptors() -> None:
    """libuv opens a signal pipe at its first loop in a process and keeps it;
    make that happen before any test counts descriptors."""
    import shoal

    for loop in LOOPS:
        with contextlib.suppress(ValueError):  # that loop is not installed
            shoal.run(shoal.sleep, 0.001, loop=loop)


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    before = open_fds()
    yield
    check_no_leftovers()
    after = open_fds()
    if set(after) - set(before):
        gc.collect()  # an unreachable socket closes when collected: not a leak
        after = open_fds()
    leaked = {fd: what for fd, what in after.items() if before.get(fd) != what}
    assert not leaked, f"file descriptors left open: {leaked}"


@pytest.fixture(scope="module")
def contexts() -> Contexts:
    """TLS (server context, client context) for "localhost" and 127.0.0.1,
    with a certificate authority made by the test (trustme)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client
