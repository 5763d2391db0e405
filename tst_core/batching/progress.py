"""Progress over the photos of a batch: a bar on a terminal, one line per photo otherwise."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, Literal, TextIO

from ..errors import printable
from .record import PhotoResult

BatchProgressMode = Literal["auto", "bar", "lines", "off"]


def format_seconds(seconds: float) -> str:
    """``75`` → ``1m15s``; ``4000`` → ``1h06m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class BatchProgress:
    """Counts done/skipped/failed photos and shows them with an ETA.

    :param mode: ``auto`` (a bar on a terminal, lines otherwise), ``bar``, ``lines`` or ``off``.
    :param total: the number of photos.
    """

    def __init__(self, mode: BatchProgressMode, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.total = total
        self.counts: Counter[str] = Counter()
        self.start = time.monotonic()
        self._worked = 0  # photos that were not up to date already (they set the pace)
        self._bar: Any = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="photo", file=self.stream, dynamic_ncols=True)

    def __call__(self, result: PhotoResult) -> None:
        self.counts[result.status] += 1
        if result.reason != "up to date":
            self._worked += 1
        if self.mode == "off":
            return
        summary = ", ".join(f"{self.counts[s]} {s}" for s in ("done", "skipped", "failed"))
        if self._bar is not None:
            self._bar.set_postfix_str(summary, refresh=False)
            self._bar.update(1)
            return
        n = sum(self.counts.values())
        detail = f": {result.reason}" if result.reason else ""
        print(
            printable(
                f"[{n}/{self.total}] {result.status} {result.photo} ({result.seconds:.1f} s)"
                f"{detail} | {summary} | ETA {self.eta()}"
            ),
            file=self.stream,
            flush=True,
        )

    def setup(self, worker: str, seconds: float) -> None:
        """A worker has built its plugins (shown in ``lines`` mode)."""
        if self.mode == "lines":
            print(
                f"worker {worker}: plugins built in {seconds:.1f} s", file=self.stream, flush=True
            )

    def eta(self) -> str:
        """Time left at the pace so far: elapsed time per photo that had to be worked on."""
        left = self.total - sum(self.counts.values())
        if left == 0:
            return "0s"
        if not self._worked:
            return "?"
        return format_seconds((time.monotonic() - self.start) / self._worked * left)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
