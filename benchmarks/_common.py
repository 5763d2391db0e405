"""What several benchmark scripts share: the ``../shared`` assets, the machine's load and the
peak resident memory of a block. Not a script; the scripts beside it import it as ``_common``
(Python puts a script's own folder first on ``sys.path``)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared(*parts: str) -> Path:
    """Path of a file under ``../shared`` (or ``$TST_SHARED``); exits with one line naming it
    when it is missing."""
    path = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        script = f"benchmarks/{Path(sys.argv[0]).name}"
        sys.exit(f"{script} needs {path} (the ../shared assets; set TST_SHARED to their folder)")
    return path


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


def rss() -> int:
    """This process's resident set size in bytes (Linux's ``/proc/self/statm``)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """``with PeakRss() as mem:`` samples the resident set size every 5 ms while the block runs;
    ``mem.before`` and ``mem.peak`` are in bytes (the peak includes ``before``)."""

    def __init__(self) -> None:
        self.before = self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
