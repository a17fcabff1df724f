"""Shared fixtures: every test must leave no tasklet runnable or blocked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shoal.testing import check_no_leftovers


@pytest.fixture(autouse=True)
def _no_leftover_tasklets() -> Iterator[None]:
    yield
    check_no_leftovers()
