"""The public namespaces: exactly the promised names, sorted, importable."""

from __future__ import annotations

import importlib

import pytest

import shoal

PROMISED = {
    "shoal": {
        "BlockingInHubError",
        "BusyError",
        "CancelScope",
        "Case",
        "Channel",
        "ChannelClosed",
        "ClosedError",
        "ClosedFileError",
        "DeadlockError",
        "Error",
        "Event",
        "Lock",
        "Monitor",
        "Queue",
        "Semaphore",
        "Server",
        "TaskGroup",
        "Tasklet",
        "TaskletExit",
        "TimeoutError",
        "WouldBlock",
        "allof",
        "await_",
        "current",
        "current_time",
        "dump_tasklets",
        "monitor",
        "move_on_after",
        "oneof",
        "run",
        "schedule",
        "select",
        "serve_tcp",
        "sleep",
        "spawn",
        "timeout",
        "to_thread",
        "wait_future",
    },
    "shoal.proxy": {
        "ProxyOperation",
        "get_controller",
        "get_tproxy_controller",
        "make_proxy",
        "tproxy",
    },
}


@pytest.mark.parametrize(
    "module", ["shoal", "shoal.stackless", "shoal.testing", "shoal.proxy"]
)
def test_all_is_sorted_and_importable(module: str) -> None:
    """__all__ is sorted and every name in it exists."""
    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name


@pytest.mark.parametrize("module", list(PROMISED))
def test_modules_export_what_the_api_promises(module: str) -> None:
    """Each public module gives exactly the names its issue promises."""
    assert set(importlib.import_module(module).__all__) == PROMISED[module]


def test_public_objects_live_in_private_modules() -> None:
    """Implementation modules start with ``_``; users import from shoal."""
    for name in shoal.__all__:
        obj = getattr(shoal, name)
        module = getattr(obj, "__module__", "shoal")
        assert module.startswith("shoal._"), (name, module)
