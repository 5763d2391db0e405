"""Test plugins (registered through the ``host`` fixture, datasette-style).

* segmenter ``fake-boxes``: instances at fixed boxes given in its options (labels, scores).
* segmenter ``fake-weights``: needs a checkpoint (``weights`` option or the cache).
* engine ``fake-fill``: layer k is the target's style image mean colour everywhere; it reports
  one progress step per "iteration" and fails on request, to test error paths; it can take
  ``seconds`` per photo, and kill its own process when the file ``die_if`` exists (removing it
  first, so one process dies once), to test batches that lose a worker; with ``stall_save``
  set, saving the result then writes half an image, touches that file and sleeps, to test a
  process stopped while it writes.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tst_core import hookimpl
from tst_core.errors import EngineError
from tst_core.types import Instance, Progress, Segmentation, StylizeResult
from tst_core.weights import load_checkpoint, locate


@dataclass(frozen=True)
class BoxesOptions:
    """:param boxes: ``(label, score, x0, y0, x1, y1)`` in fractions of the photo."""

    boxes: tuple[tuple[str, float, float, float, float, float], ...] = (
        ("person", 0.9, 0.1, 0.1, 0.4, 0.9),
        ("person", 0.8, 0.6, 0.2, 0.9, 0.9),
        ("car", 0.7, 0.0, 0.5, 1.0, 1.0),
    )


class BoxesSegmenter:
    def __init__(self, options: BoxesOptions, env) -> None:
        self.options = options

    def segment(self, photo: torch.Tensor) -> Segmentation:
        h, w = photo.shape[-2:]
        out = []
        for label, score, x0, y0, x1, y1 in self.options.boxes:
            box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
            mask = torch.zeros(h, w)
            mask[box[1] : box[3], box[0] : box[2]] = 1.0
            out.append(Instance(label, score, tuple(float(v) for v in box), mask))
        return Segmentation(tuple(out), (h, w))


@dataclass(frozen=True)
class FillOptions:
    iterations: int = 3
    fail: bool = False
    seconds: float = 0.0
    die_if: Path | None = None
    stall_save: Path | None = None
    build_log: Path | None = None  # each build appends its process id here


def _stalled_writer(flag: Path):
    def writer(pixels, photo, fmt, **options):
        def write(tmp: Path) -> None:
            Path(tmp).write_bytes(b"half an image")
            flag.touch()
            time.sleep(60)

        return write

    return writer


class FillEngine:
    def __init__(self, options: FillOptions, env) -> None:
        self.options = options
        if options.build_log is not None:
            with open(options.build_log, "a") as log:
                log.write(f"{os.getpid()}\n")

    def stylize(self, photo, targets, progress=None) -> StylizeResult:
        if self.options.fail:
            raise EngineError("the loss became NaN at iteration 2; lower the learning rate")
        if self.options.die_if is not None and _claim(self.options.die_if):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.options.stall_save is not None:
            from tst_core import results

            results.photo_writer = _stalled_writer(self.options.stall_save)  # this process only
        time.sleep(self.options.seconds)
        layers = []
        for t in targets:
            layers.append(t.style.mean(dim=(1, 2)).view(3, 1, 1).expand_as(photo).clone())
        losses = []
        for i in range(self.options.iterations):
            losses.append({"total": 1.0 / (i + 1)})
            if progress:
                progress(Progress("stylize", i + 1, self.options.iterations, losses[-1]))
        return StylizeResult(torch.stack(layers), losses, {"device": "cpu"})


@dataclass(frozen=True)
class WeightsOptions:
    weights: Path | None = None


class WeightsSegmenter:
    """Needs a checkpoint, found the standard way (tst_core.weights)."""

    def __init__(self, options: WeightsOptions, env) -> None:
        path = locate(
            "fake-seg-0123abcd.pth",
            path=options.weights,
            what="fake segmenter",
            url="https://example.invalid/fake-seg-0123abcd.pth",
            alternatives="or use --segmenter fake-boxes",
        )
        self.state = load_checkpoint(path, "fake segmenter checkpoint")

    def segment(self, photo):
        return Segmentation((), tuple(photo.shape[-2:]))


@hookimpl
def tst_register_segmenters(register):
    register("fake-boxes", BoxesSegmenter, options=BoxesOptions, description="test: fixed boxes")
    register(
        "fake-weights", WeightsSegmenter, options=WeightsOptions, description="test: needs weights"
    )


@hookimpl
def tst_register_engines(register):
    register(
        "fake-fill", FillEngine, options=FillOptions, description="test: flat colour per target"
    )


def _claim(marker: Path) -> bool:
    """Remove ``marker``; whether this call did (one worker of several racing for it wins:
    checking that it exists, then removing it, let two workers both die)."""
    try:
        marker.unlink()
    except FileNotFoundError:
        return False
    return True
