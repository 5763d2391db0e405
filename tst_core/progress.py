"""Progress display for long work: a bar on a terminal, lines at a steady interval otherwise.

Off a terminal (``nohup``, a pipe, a log file), ``auto`` prints one plain line every
:data:`LINE_EVERY` seconds: stage, iteration, loss, elapsed time and an estimate of the time
left, and no control characters, so a 40-minute run is never silent.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

from .types import Progress

ProgressMode = Literal["auto", "bar", "lines", "off"]
#: seconds between two progress lines off a terminal
LINE_EVERY = 30.0


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: a duration in the units a person reads."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def eta(p: Progress) -> float | None:
    """Seconds left in ``p``'s stage at the pace so far, or ``None`` when unknown."""
    if not p.total or p.step < 1 or p.elapsed <= 0:
        return None
    return p.elapsed / p.step * max(0, p.total - p.step)


def shown_loss(p: Progress) -> float | None:
    """The loss to show: the lowest of the current scale (``best``) when the engine gives it,
    which a trial step of the optimiser does not make jump, else ``total``."""
    loss = p.losses.get("best", p.losses.get("total"))
    return None if loss is None or not math.isfinite(loss) else loss


def line(p: Progress) -> str:
    """One plain progress line: ``stylize (scale 2/2): 57/200, loss 5.93, 1m03s, ETA 2m10s``."""
    where = f"{p.stage} ({p.note})" if p.note else p.stage
    parts = [f"{where}: {p.step}/{p.total or '?'}"]
    loss = shown_loss(p)
    if loss is not None:
        parts.append(f"loss {loss:.4g}")
    parts.append(f"{duration(p.elapsed)} elapsed")
    left = eta(p)
    if left is not None:
        parts.append(f"ETA {duration(left)}")
    return ", ".join(parts)


class ProgressReporter:
    """A :data:`~tst_core.types.ProgressFn` that shows progress on ``stream``.

    :param mode: ``auto`` (a bar when ``stream`` is a terminal, else lines), ``bar``,
        ``lines`` (the first step, then one line every ``every`` seconds, and the last step;
        for logs) or ``off``.
    :param every: seconds between two lines.
    :param clock: the clock the interval is measured on (tests pass a fake one).
    :param prefix: put before every line (``tst batch`` names the photo).
    """

    def __init__(
        self,
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
        *,
        every: float = LINE_EVERY,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "",
    ) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.every = every
        self.clock = clock
        self.prefix = prefix
        self._bar: Any = None
        self._stage = ""
        self._last_line: float | None = None
        self._last_postfix = 0.0

    def __call__(self, p: Progress) -> None:
        if self.mode == "off":
            return
        if self.mode == "lines":
            now = self.clock()
            due = self._last_line is None or now - self._last_line >= self.every
            if p.stage != self._stage or due or (p.total and p.step >= p.total):
                self._stage = p.stage
                self._last_line = now
                print(self.prefix + line(p), file=self.stream, flush=True)
            return
        self._draw(p)

    def _draw(self, p: Progress) -> None:
        from tqdm.auto import tqdm

        if self._bar is None or p.stage != self._stage:
            self.close()
            self._stage = p.stage
            self._bar = tqdm(
                total=p.total or None, desc=p.stage, file=self.stream, leave=False, unit="it"
            )
        self._bar.n = p.step
        loss = shown_loss(p)
        if time.monotonic() - self._last_postfix > 0.2:
            post = {"scale": p.note.removeprefix("scale ")} if p.note.startswith("scale") else {}
            if loss is not None:
                post["loss"] = f"{loss:.4g}"
            self._bar.set_postfix(post, refresh=False)
            self._last_postfix = time.monotonic()
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
