"""The feed-forward engines at a photo's native resolution (``stylize_native``).

A window of the native photo holds one *pass* per distinct style (``fast``) or one pass for
all targets (``cin``): the box around its targets grown by ``roi_margin`` working pixels. Each
pass runs the transform network at one of two scales (the engines' ``render`` option):

* ``working`` (the default): at the working scale, the scale at which ``stylize`` runs on the
  frame resized to ``run.size``, so the strokes keep the size they have there relative to the
  person at any photo size; the rendering is then brought to native size with the native
  photo's detail (:func:`enlarge`);
* ``native``: on the native pixels themselves, the strokes at the network's trained size in
  pixels (finer relative to the person the larger the photo).

Either way the pass is planned against the memory budget before anything runs and tiled
exactly where it does not fit whole (:mod:`tst_fast.tiled`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from tst_core.errors import EngineError
from tst_core.types import Progress, ProgressFn, Tensor
from tst_core.upsample import shrink, upsample_image

from . import tiled
from .formats import Model

Render = Literal["working", "native"]
Upsample = Literal["guided", "bicubic", "bilinear"]


def working_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(h, w)`` of a native ``size`` at ``scale`` working pixels per native pixel."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def enlarge(image: Tensor, guide: Tensor, method: Upsample = "guided") -> Tensor:
    """A working-scale rendering ``(3, h, w)`` brought to the size of ``guide`` ``(3, H, W)``,
    the native photo under it: :func:`tst_core.upsample.upsample_image` (``guided``: the
    rendering enlarged with the photo's finer detail where the two agree locally; ``bicubic``
    or ``bilinear``: a plain resize)."""
    return upsample_image(image, guide, method=method)


def constant(weights: Tensor) -> Callable[[tuple[int, int]], Tensor]:
    """Weights ``(S,)`` that are the same at any size."""
    return lambda _size: weights


@dataclass(frozen=True)
class NativePass:
    """One network pass over a box of the window.

    :param ks: the targets whose layer it fills.
    :param box: ``(y0, y1, x0, x1)`` in native pixels of the window.
    :param model: the network.
    :param weights: the style weights at a given ``(h, w)``: ``(S,)`` for one mix, or a map
        ``(S, h, w)`` (``cin``'s per-pixel mix).
    :param styles: S when ``weights`` is a map, else 0 (for the memory plan).
    """

    ks: tuple[int, ...]
    box: tuple[int, int, int, int]
    model: Model
    weights: Callable[[tuple[int, int]], Tensor]
    styles: int = 0

    @property
    def size(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.box
        return y1 - y0, x1 - x0


@dataclass(frozen=True)
class _Planned:
    job: NativePass
    run_size: tuple[int, int]
    plan: tiled.TilePlan

    @property
    def steps(self) -> int:
        return self.plan.steps


def margin(roi_margin: int, scale: float) -> int:
    """``roi_margin`` working pixels in native pixels."""
    return math.ceil(roi_margin / scale)


def render(
    photo: Tensor,
    layers: Tensor,
    passes: list[NativePass],
    *,
    mode: Render,
    upsample: Upsample = "guided",
    scale: float,
    budget: int,
    device: torch.device,
    progress: ProgressFn | None,
    engine: str,
) -> dict[str, Any]:
    """Run ``passes`` over the native window ``photo`` ``(3, H, W)`` into ``layers``
    ``(K, 3, H, W)`` (which hold the photo outside the passes' boxes).

    Every pass is planned before the first one runs.

    :raises EngineError: when a pass cannot fit ``budget`` bytes (minus ``layers``).
    :returns: the facts of the report.
    """
    if not 0.0 < scale <= 1.0:
        raise EngineError(f"scale must be in (0, 1] working pixels per native pixel, got {scale}")
    fixed = layers.numel() * layers.element_size()
    room = budget - fixed
    planned = []
    for job in passes:
        run_size = job.size if mode == "native" else working_size(job.size, scale)
        upsampled = 0 if mode == "native" else 3 * job.size[0] * job.size[1] * 4
        what = f"the {engine} engine's pass over {job.size[1]}×{job.size[0]} native px"
        if mode == "working":
            what += f" (at the working scale: {run_size[1]}×{run_size[0]} px)"
        plan = tiled.plan(run_size, room - upsampled, job.styles, what, fixed + upsampled)
        planned.append(_Planned(job, run_size, plan))
    total = sum(p.steps for p in planned)
    done = [0]
    t0 = time.perf_counter()

    def step() -> None:
        done[0] += 1
        if progress:
            progress(Progress("stylize", done[0], total, {}, time.perf_counter() - t0))

    facts = []
    for p in planned:
        y0, y1, x0, x1 = p.job.box
        crop = photo[:, y0:y1, x0:x1]
        small = shrink(crop, p.run_size)
        net = p.job.model.net
        out = tiled.run(net, small.to(device), p.job.weights(p.run_size).to(device), p.plan, step)
        out = out.cpu()
        if mode == "working":
            out = enlarge(out, crop, upsample)
        for k in p.job.ks:
            layers[k, :, y0:y1, x0:x1] = out
        del out
        facts.append(
            {"roi": [x0, y0, x1, y1], "size": [p.run_size[1], p.run_size[0]], **p.plan.facts()}
        )
    peak = max((p.plan.peak for p in planned), default=0) + fixed
    return {
        "render": mode,
        **({"upsample": upsample} if mode == "working" else {}),
        "scale": scale,
        "budget_mib": round(budget / 2**20, 1),
        "peak_estimate_mib": round(peak / 2**20, 1),
        "passes": len(planned),
        "rois": [f["roi"] for f in facts],
        "native_passes": facts,
    }
