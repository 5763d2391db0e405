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


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_auto_prints_lines_when_not_a_terminal():
    stream = io.StringIO()
    reporter = ProgressReporter("auto", stream)
    assert reporter.mode == "lines"
    feed(reporter)
    assert stream.getvalue().splitlines()[0].startswith("stylize: 1/20")


def test_auto_draws_a_bar_on_a_terminal():
    stream = Tty()
    reporter = ProgressReporter("auto", stream)
    assert reporter.mode == "bar"
    feed(reporter)
    text = stream.getvalue()
    assert "stylize" in text and "20/20" in text


def test_a_long_run_off_a_terminal_prints_a_line_every_interval():
    """One line at the start, one per interval of the clock however the steps fall (one step
    every 7 s here: a line at the first step at least 30 s after the last line), one at the
    end; plain text with the stage, iteration, loss, elapsed time and ETA."""
    stream, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter("lines", stream, every=30.0, clock=clock)
    for i in range(1, 101):
        clock.now += 7.0
        losses = {"total": 5e10 if i == 50 else 10.0 / i, "best": 10.0 / i}
        reporter(Progress("stylize", i, 100, losses, elapsed=7.0 * i, note="scale 2/2"))
    text = stream.getvalue()
    lines = text.splitlines()
    # steps 1, 6, 11, ... (every fifth step is the first 35 s after the last line), and 100
    assert [int(ln.split(": ")[1].split("/")[0]) for ln in lines] == [*range(1, 100, 5), 100]
    assert lines[0] == "stylize (scale 2/2): 1/100, loss 10, 7s elapsed, ETA 11m33s"
    assert lines[-1] == "stylize (scale 2/2): 100/100, loss 0.1, 11m40s elapsed, ETA 0s"
    assert "5e+10" not in text  # the best loss of the scale, not a trial step's
    assert not any(c in text for c in "\r\x1b\b")  # no control characters


def test_lines_start_again_with_each_stage():
    stream, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter("lines", stream, clock=clock)
    reporter(Progress("segment", 1, 1, elapsed=2.0))
    reporter(Progress("stylize", 1, 0, {"total": 3.0}, elapsed=0.5))
    assert stream.getvalue().splitlines() == [
        "segment: 1/1, 2s elapsed, ETA 0s",
        "stylize: 1/?, loss 3, 0s elapsed",
    ]


def test_off_prints_nothing_even_on_a_terminal():
    stream = Tty()
    feed(ProgressReporter("off", stream))
    assert stream.getvalue() == ""
