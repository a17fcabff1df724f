"""The README's and docs' Python examples run, and print what they say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "design.md", ROOT / "docs" / "proxy.md"]


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
            found.append((f"{doc.name}#{i}", block))
    return found


@pytest.mark.parametrize(("name", "code"), _examples(), ids=[n for n, _ in _examples()])
def test_example_runs_and_prints_what_its_comments_say(name: str, code: str) -> None:
    """Each ``print(...)  # expected`` line prints exactly ``expected``."""
    expected = [m.strip() for m in re.findall(r"^\s*print\(.*\)\s+# (.*)$", code, re.M)]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected
