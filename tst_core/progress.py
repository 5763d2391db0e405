"""Progress display for long work: a bar on a terminal, lines or nothing otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Literal, TextIO

from .types import Progress

ProgressMode = Literal["auto", "bar", "lines", "off"]


class ProgressReporter:
    """A :data:`~tst_core.types.ProgressFn` that shows progress on ``stream``.

    :param mode: ``auto`` (a bar when ``stream`` is a terminal, else nothing), ``bar``,
        ``lines`` (one line about every 10 % of the work, for logs) or ``off``.
    """

    def __init__(self, mode: ProgressMode = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "off"
        self.mode = mode
        self._bar: Any = None
        self._stage = ""
        self._last_line = 0.0

    def __call__(self, p: Progress) -> None:
        if self.mode == "off":
            return
        loss = p.losses.get("total")
        if self.mode == "lines":
            every = max(1, p.total // 10) if p.total else 10
            if p.step == 1 or p.step % every == 0 or p.step == p.total:
                extra = f" loss {loss:.4g}" if loss is not None else ""
                print(
                    f"{p.stage}: {p.step}/{p.total or '?'} {p.elapsed:.1f}s{extra}",
                    file=self.stream,
                    flush=True,
                )
            return
        from tqdm.auto import tqdm

        if self._bar is None or p.stage != self._stage:
            self.close()
            self._stage = p.stage
            self._bar = tqdm(
                total=p.total or None, desc=p.stage, file=self.stream, leave=False, unit="it"
            )
        self._bar.n = p.step
        if loss is not None and time.monotonic() - self._last_line > 0.2:
            self._bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self._last_line = time.monotonic()
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
