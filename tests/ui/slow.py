"""A test engine for the job queue: ``slow`` takes ``delay`` seconds per iteration and reports
each one, so a job stays running until it is cancelled (or ``iterations`` run out)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from tst_core import hookimpl
from tst_core.types import Progress, StylizeResult


@dataclass(frozen=True)
class SlowOptions:
    iterations: int = 2000
    delay: float = 0.005


class SlowEngine:
    def __init__(self, options: SlowOptions, env) -> None:
        self.options = options

    def stylize(self, photo, targets, progress=None) -> StylizeResult:
        n = self.options.iterations
        for i in range(n):
            time.sleep(self.options.delay)
            if progress:
                progress(Progress("stylize", i + 1, n, {"total": 1.0 / (i + 1)}))
        layers = torch.stack([1.0 - photo for _ in targets])
        return StylizeResult(layers, [{"total": 1.0 / n}], {"device": "cpu"})


@hookimpl
def tst_register_engines(register):
    register("slow", SlowEngine, options=SlowOptions, description="test: slow, inverts colours")
