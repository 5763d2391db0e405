"""Progress display (tst_core.progress)."""

from __future__ import annotations

import io

from tst_core.progress import ProgressReporter
from tst_core.types import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def feed(reporter, n=20):
    for i in range(1, n + 1):
        reporter(Progress("stylize", i, n, {"total": 1.0 / i}, elapsed=i * 0.1))
    reporter.close()


def test_auto_is_quiet_when_not_a_terminal():
    stream = io.StringIO()
    feed(ProgressReporter("auto", stream))
    assert stream.getvalue() == ""


def test_auto_draws_a_bar_on_a_terminal():
    stream = Tty()
    reporter = ProgressReporter("auto", stream)
    assert reporter.mode == "bar"
    feed(reporter)
    text = stream.getvalue()
    assert "stylize" in text and "20/20" in text


def test_lines_mode_prints_about_every_tenth():
    stream = io.StringIO()
    feed(ProgressReporter("lines", stream))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("stylize: 1/20 0.1s loss 1")
    assert lines[-1].startswith("stylize: 20/20 2.0s loss 0.05")
    assert len(lines) == 11


def test_off_prints_nothing_even_on_a_terminal():
    stream = Tty()
    feed(ProgressReporter("off", stream))
    assert stream.getvalue() == ""
