"""The ``file`` of monitor() and dump_tasklets(): a non-file is refused at
the call; a file whose write fails later does not stop the monitor."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import IO, Any, cast

import pytest

import shoal

NOT_FILES = [
    pytest.param("report.txt", id="str"),
    pytest.param(5, id="int"),
    pytest.param(b"report", id="bytes"),
    pytest.param(object(), id="object"),
]


def _monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("shoal monitor")]


@pytest.mark.parametrize("bad", NOT_FILES)
def test_monitor_refuses_a_file_without_a_write_method(bad: object) -> None:
    """TypeError at the call, naming ``file``, what it got and what it needs;
    no watcher thread is started (the first report killed it)."""
    with pytest.raises(TypeError) as info:
        shoal.monitor(20, file=cast(IO[str], bad))
    text = str(info.value)
    assert "monitor()" in text
    assert "file" in text
    assert "write method" in text
    assert repr(bad) in text
    assert _monitor_threads() == []


@pytest.mark.parametrize("bad", NOT_FILES)
def test_dump_tasklets_refuses_a_file_without_a_write_method(bad: object) -> None:
    """TypeError naming ``file`` (it was an AttributeError from print)."""
    with pytest.raises(TypeError) as info:
        shoal.dump_tasklets(file=cast(IO[str], bad))
    text = str(info.value)
    assert "dump_tasklets()" in text
    assert "write method" in text
    assert repr(bad) in text


def test_dump_tasklets_takes_an_object_with_only_a_write_method() -> None:
    """A write method is all a file needs (it also asked for flush)."""
    lines: list[str] = []

    class Writer:
        def write(self, text: str) -> int:
            lines.append(text)
            return len(text)

    shoal.dump_tasklets(file=cast(IO[str], Writer()))
    assert "'main' running" in "".join(lines)


class _Failing:
    """A file whose every write fails, counting them."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(28, "No space left on device")

    def __repr__(self) -> str:
        return "<failing file>"


def _two_hogs(out: Any) -> shoal.Monitor:
    """Keep the thread twice, with a switch between, under a monitor
    writing to ``out``; return the monitor, closed."""

    def main() -> shoal.Monitor:
        with shoal.monitor(250, file=out) as mon:
            for _ in range(2):
                time.sleep(0.8)  # a blocking call: a report
                shoal.sleep(0.05)  # a switch: the next hold is a new one
        return mon

    return shoal.run(main)


def test_a_monitor_whose_file_fails_says_so_once_and_keeps_watching(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first report's write fails: stderr says which report and why,
    once, and gets that report and the later ones (the failed file is not
    tried again); every report is still in ``reports`` (the watcher thread
    died at the first, and later hogs went unreported)."""
    out = _Failing()
    mon = _two_hogs(out)
    assert len(mon.reports) == 2, mon.reports
    assert out.writes == 1
    err = capsys.readouterr().err
    assert err.count("could not write") == 1, err
    notice = err[err.index("shoal monitor: could not write") :].splitlines()[0]
    assert "<failing file>" in notice
    assert "No space left on device" in notice
    assert "sys.stderr" in notice
    for report in mon.reports:
        assert report in err
    assert _monitor_threads() == []


def test_a_monitor_whose_file_was_closed_keeps_watching(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real file closed while the monitor watches (the audit's case): the
    same, with the write's own error."""
    out = open(tmp_path / "report.txt", "w")  # noqa: SIM115 (closed below)
    out.close()
    mon = _two_hogs(out)
    assert len(mon.reports) == 2, mon.reports
    err = capsys.readouterr().err
    assert err.count("could not write") == 1, err
    assert "I/O operation on closed file" in err
    assert mon.reports[1] in err


def test_a_monitor_writing_to_a_file_that_works_writes_every_report() -> None:
    """The good case stays as it was: every report goes to the file."""
    out = io.StringIO()
    mon = _two_hogs(out)
    assert len(mon.reports) == 2, mon.reports
    assert out.getvalue() == "".join(mon.reports)
