"""Child processes for the subprocess tests: Python running some code."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import shoal.subprocess as subprocess

PY = sys.executable


def py(code: str) -> list[str]:
    """The command running ``code`` in this Python."""
    return [PY, "-c", code]


@contextlib.contextmanager
def child(code: str, **kwargs: Any) -> Iterator[subprocess.Popen]:
    """A child running ``code``; killed (if still running) and reaped after."""
    p = subprocess.Popen(py(code), **kwargs)
    try:
        yield p
    finally:
        p.kill()  # nothing if it was already reaped
        with p:  # closes the pipes and reaps it
            pass
