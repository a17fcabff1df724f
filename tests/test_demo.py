"""shoal.demo, run the way users run it: ``python -m shoal.demo`` in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys


def test_quick_demo_passes_the_token_round_the_ring() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shoal.demo", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "token: 20000 (expected 10000 tasklets x 2 laps = 20000) OK" in out
    assert "shutdown: 10,000 tasklets finished" in out
    for phase in ("spawn", "first lap", "lap 2", "shutdown", "total"):
        assert re.search(rf"^  {phase} +\d+\.\d{{3}} s$", out, re.MULTILINE), phase
    assert re.search(
        r"^switches \(one switch = one channel hand-off, 10,001 per lap\): "
        r"20,002 in all; first lap [\d,]+/s, lap 2 [\d,]+/s$",
        out,
        re.MULTILINE,
    )
    assert re.search(r"^memory per tasklet: \d+\.\d\d KB \(RSS growth", out, re.M)
    assert re.search(r"^Python \S+ .*greenlet \S+, shoal \S+$", out, re.MULTILINE)
    # Not a terminal: one progress line per phase, never rewritten in place.
    assert "\r" not in out
    assert out.count("spawning:") == 1
