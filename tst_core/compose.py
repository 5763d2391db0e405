"""The result at the photo's own size, window by window.

The stages before this one run at the working size (``run.size``): the targets' masks, and,
for an engine without ``stylize_native``, its layers. :func:`compose` then takes each window of
the photo (:func:`tst_core.native.window_boxes`) at native resolution:

1. the window's pixels as float32 (the guide),
2. the targets' masks cut to the window and refined to the photo's edges
   (:func:`tst_core.upsample.refine_masks`),
3. the layers: ``engine.stylize_native`` on the native window, or the working-size layers cut
   to the window and brought up with :func:`tst_core.upsample.upsample_image`,
4. the compositor (built with its pixel options at native scale) on the window,

and writes into a copy of the photo's own array only the pixels the compositor changed. Every
pixel outside the windows, and inside them wherever the compositor returned the photo, keeps
the decoded value bit for bit (8 or 16 bits). One window's float arrays are held at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .boxes import Box
from .contracts import check_composite, check_layers
from .memory import MIN_BUDGET
from .native import crop_resample, low_size, window_boxes
from .photo import Photo, to_pixels
from .registry import Entry
from .types import Compositor, ProgressFn, StylizeResult, Targets, Tensor
from .upsample import refine_masks, shrink, upsample_image

#: context in working pixels that every window gets beyond the compositor's reach (the guided
#: filter's windows, rounding between the grids)
CONTEXT = 3


@dataclass(frozen=True)
class Plan:
    """What :func:`compose` needs besides the photo.

    :param targets: the targets at the working size (masks ``(h, w)`` covering the photo).
    :param scale: working pixels per native pixel (``h / H``).
    :param compositor: the compositor with its pixel options at native scale.
    :param reach: native pixels a window extends beyond the targets (compositor and engine).
    :param layers: the engine's working-size layers ``(K, 3, h, w)``, or ``None`` when the
        engine stylises each native window itself (``stylize_native``).
    :param engine: that engine (used when ``layers`` is ``None``).
    :param budget: bytes a window may use (the engine's work, then the compositor's).
    :param upsample: ``guided`` (the detail-preserving default), ``bicubic`` or ``bilinear``.
    :param entries: the registry entries of the engine and the compositor, ``(engine,
        blend)``: what each returns on a window is checked against the window's size
        (:mod:`tst_core.contracts`) and a wrong shape names its plugin.
    """

    targets: Targets
    scale: float
    compositor: Compositor
    reach: float
    layers: Tensor | None = None
    engine: Any = None
    budget: int = 0
    upsample: str = "guided"
    progress: ProgressFn | None = field(default=None, repr=False)
    entries: tuple[Entry[Any], Entry[Any]] | None = field(default=None, repr=False)


@dataclass
class Composed:
    """What :func:`compose` returns: the output array ``(H, W, 3)`` and facts per window."""

    pixels: np.ndarray
    windows: list[dict[str, Any]]
    stylized: list[StylizeResult]


def windows_of(photo_size: tuple[int, int], plan: Plan) -> list[Box]:
    """The windows :func:`compose` works on."""
    margin = plan.reach + CONTEXT / plan.scale
    return window_boxes(plan.targets.masks(), photo_size, margin)


#: bytes a compositor is assumed to hold per pixel of the window and per pixel of its targets
#: when it does not say (its ``bytes_per_pixel``): the heaviest first-party one's, poisson's,
#: which solves over the targets (about 600 bytes a pixel, see tst_blend)
COMPOSITOR_BYTES = (48, 640)


def compositor_bytes(compositor: Compositor) -> tuple[int, int]:
    """``(per window pixel, per target pixel)``: the most one ``composite`` call of
    ``compositor`` holds, its result included (:data:`COMPOSITOR_BYTES` if it does not say)."""
    per_pixel, per_target = getattr(compositor, "bytes_per_pixel", COMPOSITOR_BYTES)
    return int(per_pixel), int(per_target)


def engine_window_bytes(box: Box, targets: int) -> int:
    """What :func:`compose` holds for one window while a native engine stylises it: the
    window's pixels and its refined masks (the engine's own work and result are its budget)."""
    return int(box.width) * int(box.height) * 4 * (3 + targets)


def window_bytes(
    box: Box, targets: int, target_pixels: float, native_engine: bool, compositor: Compositor
) -> int:
    """An estimate of the most memory :func:`compose` holds for one window beyond the photo,
    after the layers are made: the window's pixels, its refined masks, the layers, and what
    the compositor holds (:func:`compositor_bytes`); for an engine that works at the working
    size, also one upsampled layer being made. A native engine's own work comes before and is
    planned by the engine within what :func:`engine_window_bytes` leaves of the budget.

    :param target_pixels: how many native pixels of the window its targets cover.
    """
    pixels = int(box.width) * int(box.height)
    layers = 3 * targets + (0 if native_engine else 3)
    per_pixel, per_target_pixel = compositor_bytes(compositor)
    own = engine_window_bytes(box, targets) + pixels * (4 * layers + per_pixel)
    return int(own + target_pixels * per_target_pixel)


def compose(photo: Photo, plan: Plan) -> Composed:
    """The photo with every window stylised and composited at its own size."""
    out = photo.output_pixels()
    facts, results = [], []
    for box in windows_of(photo.size, plan):
        t0 = time.perf_counter()
        guide = photo.tensor(box)
        targets = window_targets(plan.targets, photo.size, box, guide, plan.scale)
        t1 = time.perf_counter()
        layers, result, how = _layers(plan, photo.size, box, guide, targets)
        t2 = time.perf_counter()
        image = plan.compositor.composite(guide, layers, targets)
        if plan.entries is not None:
            check_composite(image, (int(guide.shape[-2]), int(guide.shape[-1])), plan.entries[1])
        image = image.clamp(0.0, 1.0)
        del layers
        changed = (image != guide).any(0).numpy()
        ys, xs = box.slices()
        window = out[ys, xs]
        window[changed] = to_pixels(image, photo.bits)[changed]
        facts.append(
            {
                "box": [int(v) for v in box],
                "size": [int(guide.shape[-2]), int(guide.shape[-1])],
                "layers": how,
                "changed_pixels": int(changed.sum()),
                "layers_seconds": round(t2 - t1, 3),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if result is not None:
            results.append(result)
    return Composed(out, facts, results)


def window_targets(
    targets: Targets, frame: tuple[int, int], box: Box, guide: Tensor, scale: float
) -> Targets:
    """The working-size ``targets`` on the native window ``box``: masks cut to it and refined
    along the photo's edges (``guide``, the window's pixels), overlaps resolved again (the
    masks and the rest of the photo still sum to one)."""
    size = (int(guide.shape[-2]), int(guide.shape[-1]))
    masks = targets.masks()
    if scale >= 1.0:  # the working image is the photo itself, or larger: no detail to recover
        native = shrink(crop_resample(masks, frame, box, low_size(box, scale)), size)
    else:
        native = refine_masks(crop_resample(masks, frame, box, low_size(box, scale)), guide)
    total = native.sum(0, keepdim=True)
    native = torch.where(total > 1.0, native / total.clamp(min=1e-12), native).clamp_(0.0, 1.0)
    items = tuple(replace(t, mask=native[k].contiguous()) for k, t in enumerate(targets))
    return Targets(items, size)


def _layers(
    plan: Plan, frame: tuple[int, int], box: Box, guide: Tensor, targets: Targets
) -> tuple[Tensor, StylizeResult | None, str]:
    """The window's layers ``(K, 3, h, w)`` at native size, the engine's result when it ran
    here, and how they were made."""
    if plan.layers is None:  # the engine gets what the window's own arrays leave of the budget
        budget = max(MIN_BUDGET, plan.budget - engine_window_bytes(box, len(targets)))
        result = plan.engine.stylize_native(
            guide, targets, plan.progress, scale=plan.scale, budget=budget
        )
        if plan.entries is not None:
            hw = (int(guide.shape[-2]), int(guide.shape[-1]))
            check_layers(result.layers, len(targets), hw, plan.entries[0])
        return result.layers, result, "native"
    low = low_size(box, plan.scale)
    size = (int(guide.shape[-2]), int(guide.shape[-1]))
    k = plan.layers.shape[0]
    # an engine that renders all targets in one image returns K views of it: bring it up once
    shared = k > 1 and plan.layers.stride(0) == 0
    source = plan.layers[:1] if shared else plan.layers
    cut = crop_resample(source.flatten(0, 1), frame, box, low).view(-1, 3, *low)
    if plan.scale >= 1.0:
        up, how = torch.stack([shrink(layer, size) for layer in cut]), "resized"
    else:
        method: Any = plan.upsample
        up = torch.stack([upsample_image(layer, guide, method=method) for layer in cut])
        how = plan.upsample
    return (up.expand(k, -1, -1, -1) if shared else up), None, how
