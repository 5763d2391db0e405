"""Mask clean-up before the engine and the compositor see the targets.

Segmenters leave small holes in a mask (a gap between an arm and the body is not one: it
touches the background), ragged edges, and edges that stop a few pixels short of the frame.
Each step works on the target's hard region (mask > 0.5) and only ever adds to the mask or,
when smoothing, moves its edge:

* **fill holes**: a hole (a part of the complement not connected to the frame's border) of at
  most ``fill_holes`` times the region's area is filled with the value 1;
* **snap edges**: where the region stops within ``snap_edges`` pixels of a frame border, the
  gap in that row or column is filled up to the border with the value at the region's edge;
* **smooth edges**: the mask is blurred with a Gaussian of σ = ``smooth_edges`` pixels and,
  where it was hard, thresholded again at 0.5 (ragged edges become smooth curves).

Later targets still win on overlaps afterwards (:func:`~tst_core.select.resolve_overlaps`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy import ndimage as ndi

from .select import resolve_overlaps
from .types import Targets, Tensor


def fill_holes(mask: Tensor, fraction: float) -> Tensor:
    """``mask`` ``(H, W)`` in [0, 1] with the holes of its hard region of at most ``fraction``
    of the region's area set to 1."""
    hard = mask.numpy() > 0.5
    max_area = fraction * int(hard.sum())
    holes = ndi.binary_fill_holes(hard) & ~hard
    labels, n = ndi.label(holes)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    small = (sizes <= max_area) & (np.arange(n + 1) > 0)
    out = mask.clone()
    out[torch.from_numpy(small[labels])] = 1.0
    return out


def snap_edges(mask: Tensor, distance: int) -> Tensor:
    """``mask`` ``(H, W)`` with each row's and column's gap of at most ``distance`` pixels
    between its hard region and the frame border filled with the value at the region's edge."""
    out = mask.clone()
    for image in (out, out.T):  # rows, then columns (a view: writes reach ``out``)
        for flip in (False, True):
            lines = image.flip(1) if flip else image  # a copy when flipped
            hard = lines > 0.5
            first = hard.float().argmax(dim=1)  # the first hard pixel of each line
            hit = hard.any(dim=1) & (first > 0) & (first <= distance)
            if not bool(hit.any()):
                continue
            edge = lines.gather(1, first[:, None])  # the value at each line's edge
            gap = (torch.arange(lines.shape[1])[None] < first[:, None]) & hit[:, None]
            filled = torch.where(gap, edge, lines)
            image.copy_(filled.flip(1) if flip else filled)
    return out


def smooth_edges(mask: Tensor, sigma: float) -> Tensor:
    """``mask`` ``(H, W)`` blurred with σ = ``sigma`` px; a hard (0/1) mask is thresholded
    again at 0.5, so only the shape of its edge changes."""
    blurred = torch.from_numpy(ndi.gaussian_filter(mask.numpy(), sigma, mode="nearest"))
    hard = bool(((mask == 0) | (mask == 1)).all())
    return (blurred > 0.5).float() if hard else blurred.clamp(0.0, 1.0)


def clean_targets(
    targets: Targets, *, fill: float = 0.0, snap: int = 0, smooth: float = 0.0
) -> Targets:
    """Every target's mask cleaned (fill holes, snap edges to the frame, smooth edges; each
    step off at 0), then overlaps resolved again, later targets winning."""
    if not (fill or snap or smooth):
        return targets
    masks = []
    for t in targets:
        m = t.mask.float()
        if fill:
            m = fill_holes(m, fill)
        if snap:
            m = snap_edges(m, snap)
        if smooth:
            m = smooth_edges(m, smooth)
        masks.append(m)
    resolved = resolve_overlaps(masks)
    items = tuple(replace(t, mask=m.contiguous()) for t, m in zip(targets, resolved, strict=True))
    return Targets(items, targets.size)
