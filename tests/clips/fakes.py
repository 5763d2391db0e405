"""Test plugins for clips (registered through the ``clip_host`` fixture).

* segmenter ``fake-colour``: one instance (label ``square``) wherever the frame is
  red-dominant (the synthetic clips' square), none when there is no such pixel;
* engine ``fake-noise``: each target's layer is its style's mean colour plus fresh uniform
  noise on every call (a stylisation that flickers as much as it can), and it appends one
  line per call to ``log`` (to count the frames a run stylised); it kills its own process
  when the file ``die_if`` exists and ``calls`` calls have been made (removing the file first),
  and raises an ``EngineError`` after ``fail_after`` calls.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import torch

from tst_core import hookimpl
from tst_core.boxes import Box
from tst_core.errors import EngineError
from tst_core.types import Instance, Segmentation, StylizeResult


@dataclass(frozen=True)
class ColourOptions:
    label: str = "square"
    score: float = 0.9


class ColourSegmenter:
    def __init__(self, options: ColourOptions, env) -> None:
        self.options = options

    def segment(self, photo: torch.Tensor) -> Segmentation:
        r, g, b = photo
        mask = ((r > 0.55) & (g < 0.4) & (b < 0.4)).float()
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        if float(mask.sum()) < 4:
            return Segmentation((), size)
        inst = Instance(self.options.label, self.options.score, Box.around(mask), mask)
        return Segmentation((inst,), size)


@dataclass(frozen=True)
class NoiseOptions:
    amount: float = 0.25
    log: str = ""  # text, not Path: a Path option's contents enter the run's key
    die_if: str = ""
    calls: int = 0
    fail_after: int = 0  # raise an EngineError on the call after this many (0: never)


class NoiseEngine:
    def __init__(self, options: NoiseOptions, env) -> None:
        self.options = options
        self.count = 0

    def stylize(self, photo, targets, progress=None) -> StylizeResult:
        o = self.options
        self.count += 1
        if o.die_if and self.count > o.calls and Path(o.die_if).exists():
            Path(o.die_if).unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        if o.fail_after and self.count > o.fail_after:
            raise EngineError("the loss became NaN at iteration 2; lower the learning rate")
        if o.log:
            with open(o.log, "a") as f:
                f.write(f"{os.getpid()}\n")
        layers = []
        for t in targets:
            base = t.style.mean(dim=(1, 2)).view(3, 1, 1).expand_as(photo)
            noise = (torch.rand(photo.shape) - 0.5) * 2 * o.amount
            layers.append((base + noise).clamp(0, 1))
        return StylizeResult(torch.stack(layers), [], {"engine": "fake-noise"})


@hookimpl
def tst_register_segmenters(register):
    register("fake-colour", ColourSegmenter, options=ColourOptions, description="test: red pixels")


@hookimpl
def tst_register_engines(register):
    register("fake-noise", NoiseEngine, options=NoiseOptions, description="test: flickering noise")
