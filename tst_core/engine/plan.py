"""What the engine optimises, decided before it starts: the regions, how finely each one is
sampled, the painting's size for each target, and the coarse-to-fine scales.

A **region** is a window of the working image with the targets it holds. Targets whose boxes
(grown by the ROI margin) overlap share a region and one optimisation; a target far from the
others gets its own, so two small people at opposite ends of the frame cost their own boxes,
not the frame between them. A region is optimised ``factor`` times finer than the working
image (supersampling) when its targets are small, then downsampled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi

from ..boxes import Box
from ..types import Target, Tensor
from .layer_masks import support_window
from .options import GatysOptions


@dataclass(frozen=True)
class Region:
    """One optimisation.

    :param box: its box of the working image (whole pixels).
    :param targets: the indices of the targets it stylises.
    :param factor: supersampling factor (≥ 1): optimised at ``factor`` times the window's size.
    :param masked: ``False``: the window in its one target's style everywhere, unmasked (the
        ``gatys-full`` baseline).
    :param canvas: the output image it is pasted into.
    """

    box: Box
    targets: tuple[int, ...]
    factor: float = 1.0
    masked: bool = True
    canvas: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` of the box in working-image pixels."""
        return int(self.box.height), int(self.box.width)

    @property
    def sampled(self) -> tuple[int, int]:
        """``(h, w)`` at which the region is optimised (its final scale)."""
        return scaled_size(self.size, self.factor)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(h, w)`` times ``scale``, rounded, at least one pixel."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def grow_masks(masks: Tensor, band: int) -> Tensor:
    """Each mask ``(K, H, W)`` grown by ``band`` pixels beyond its hard region (mask > 0.5)
    with the value 1, but not into another target's hard region."""
    if band <= 0:
        return masks
    hard = (masks > 0.5).numpy()
    out = masks.clone()
    for k in range(masks.shape[0]):
        if not hard[k].any():
            continue
        ring = ndi.distance_transform_edt(~hard[k]) <= band
        others = np.delete(hard, k, axis=0).any(axis=0)
        out[k] = torch.maximum(out[k], torch.from_numpy(ring & ~others).float())
    return out


def masked_regions(masks: Tensor, targets: Sequence[Target], options: GatysOptions) -> list[Region]:
    """The regions of a masked run: targets grouped by overlapping grown boxes, each group's
    window and supersampling factor (see :func:`supersample_factors`).

    :param masks: ``(K, H, W)`` in [0, 1]; empty targets are left out.
    """
    size = (int(masks.shape[-2]), int(masks.shape[-1]))
    full = Box(0, 0, size[1], size[0])
    groups: list[tuple[Box, list[int]]] = []
    for k in range(masks.shape[0]):
        box = support_window(masks[k])
        if box is not None:
            grown = box.grown(options.roi_margin, size).pixels() if options.roi else full
            groups.append((grown, [k]))
    while pair := next(
        ((a, b) for a in groups for b in groups if a is not b and a[0].overlaps(b[0])), None
    ):
        groups = [g for g in groups if g is not pair[0] and g is not pair[1]]
        groups.append((pair[0][0].union(pair[1][0]), sorted(pair[0][1] + pair[1][1])))
    groups.sort(key=lambda g: g[1][0])
    factors = supersample_factors(
        [g[0] for g in groups],
        [[masks[k] for k in g[1]] for g in groups],
        [[targets[k].options.supersample for k in g[1]] for g in groups],
        size,
        options,
    )
    return [Region(w, tuple(ids), f) for (w, ids), f in zip(groups, factors, strict=True)]


def supersample_factors(
    boxes: Sequence[Box],
    masks: Sequence[Sequence[Tensor]],
    given: Sequence[Sequence[float | None]],
    frame: tuple[int, int],
    options: GatysOptions,
) -> list[float]:
    """Each region's supersampling factor.

    A target's own ``@supersample`` is used as given. Otherwise a target wants the factor that
    makes the side of its box (the square root of the box's area) ``supersample_side`` pixels,
    at most ``supersample_max`` and at least 1; a region takes its smallest target's wish. The
    wishes then shrink together until the regions cost no more pixels than the frame (with
    what the given factors already cost), never below 1.
    """
    wish, fixed = [], []
    for region_masks, region_given in zip(masks, given, strict=True):
        chosen = [g for g in region_given if g is not None]
        fixed.append(bool(chosen))
        if chosen:
            wish.append(max(chosen))
            continue
        side = min(_box_side(m) for m in region_masks)
        want = options.supersample_side / side if options.supersample_side and side else 1.0
        wish.append(min(max(want, 1.0), options.supersample_max))
    areas = [b.width * b.height for b in boxes]
    budget = frame[0] * frame[1] - sum(
        a * f * f for a, f, g in zip(areas, wish, fixed, strict=True) if g
    )
    cost = sum(a * f * f for a, f, g in zip(areas, wish, fixed, strict=True) if not g)
    shrink = math.sqrt(max(budget, 0) / cost) if cost > budget and cost > 0 else 1.0
    return [f if g else max(1.0, f * shrink) for f, g in zip(wish, fixed, strict=True)]


def _box_side(mask: Tensor) -> float:
    """The square root of the area of the box around ``mask`` (H, W) (0 when it is empty)."""
    box = support_window(mask)
    return 0.0 if box is None else math.sqrt(box.width * box.height)


def box_long_side(mask: Tensor | None, frame: tuple[int, int]) -> int:
    """The long side of the box around ``mask`` (H, W); the frame's when ``mask`` is ``None``."""
    box = None if mask is None else support_window(mask)
    return max(frame) if box is None else int(max(box.width, box.height))


def painting_side(target: Target, box_side: int, options: GatysOptions) -> float | None:
    """The long side, in working-image pixels, that target's painting is sized to; ``None``:
    as the pipeline loaded it (the working size or ``--style-size``).

    :param box_side: the long side of the target's box (:func:`box_long_side`).
    """
    if target.options.scale is None and target.options.style_size is not None:
        return float(target.options.style_size)
    scale = target.options.scale if target.options.scale is not None else options.style_scale
    return scale * box_side if scale > 0 else None


def frame_pads(
    box: Box, frame: tuple[int, int], pad: int, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` pixels to add beyond the frame on each side where ``box``
    touches it (0 elsewhere): ``pad``, at most one less than the sampled ``size`` ``(h, w)``
    (a mirror needs that much image)."""
    h, w = frame
    across, down = min(pad, size[1] - 1), min(pad, size[0] - 1)
    return (
        across if box.x0 <= 0 else 0,
        across if box.x1 >= w else 0,
        down if box.y0 <= 0 else 0,
        down if box.y1 >= h else 0,
    )


def plan_scales(
    sizes: Sequence[tuple[int, int]], options: GatysOptions, min_side: int
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """The coarse-to-fine ``(scale, iterations)`` to run, and those skipped: a coarse scale
    at which any of ``sizes`` (the region's, its paintings') would be under ``min_side``
    pixels (the deepest layer's stride) is left out. The last scale always runs."""
    plan: list[tuple[float, int]] = []
    skipped: list[tuple[float, int]] = []
    steps = list(zip(options.scales, options.iterations_per_scale, strict=True))
    for scale, iterations in steps:
        small = min(min(scaled_size(s, scale)) for s in sizes) < min_side
        (skipped if small and scale != steps[-1][0] else plan).append((scale, iterations))
    return plan, skipped
