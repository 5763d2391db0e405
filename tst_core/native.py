"""Working size and native size: windows of the photo, and pixel options carried between them.

The pipeline works on **windows** of the photo at its own size: the boxes around the targets
grown by the compositor's reach and the engine's context (:func:`window_boxes`); everything
outside them is the photo's own pixels, copied. Arrays computed at the working size are cut to
a window with :func:`crop_resample` before :mod:`tst_core.upsample` brings them to native size.

A plugin option that is a length in pixels (a feather's ``radius``, an MRF ``band``, a Poisson
``margin``) is marked in its options dataclass with ``field(metadata={"pixels": True})``. Its
value means pixels of the **working** image (``run.size``), as in every config so far; a stage
that runs at the photo's own size gets it multiplied by ``native / working`` through
:func:`at_scale`, so a radius of 8 blends over the same fraction of the person at any photo
size.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .boxes import Box
from .types import Tensor

T = TypeVar("T")


def pixel_fields(options: Any) -> tuple[str, ...]:
    """The names of the fields of an options dataclass (class or instance) marked as pixels."""
    return tuple(f.name for f in dataclasses.fields(options) if f.metadata.get("pixels"))


def at_scale(options: T, factor: float) -> T:
    """``options`` with every pixel length multiplied by ``factor`` (``native / working``);
    integer fields are rounded, and a positive length stays at least 1."""
    if factor <= 0:
        raise ValueError(f"the scale factor must be positive, got {factor}")
    changes: dict[str, Any] = {}
    for name in pixel_fields(options):
        value = getattr(options, name)
        scaled = value * factor
        if isinstance(value, int) and not isinstance(value, bool):
            scaled = max(1, round(scaled)) if value > 0 else 0
        changes[name] = scaled
    return dataclasses.replace(options, **changes) if changes else options  # type: ignore[type-var]


# --- windows ------------------------------------------------------------------------------


def window_boxes(
    masks: Tensor, photo_size: tuple[int, int], margin: float, *, min_gap: float = 0.0
) -> list[Box]:
    """The windows of the photo that hold every target: boxes in native pixels (whole pixels).

    Each connected piece of the targets' union (mask above :data:`REACHED`, at the masks' own
    working size) gets its box, scaled to the photo and grown by ``margin`` native pixels (the
    compositor's reach, the engine's context); boxes that overlap or come within ``min_gap`` of
    each other are merged, so far-apart targets are worked as separate windows and a speck
    next to a person joins the person's.

    :param masks: ``(K, h, w)`` in [0, 1] covering the photo at a working size.
    :param photo_size: ``(H, W)`` of the photo.
    """
    from scipy import ndimage

    h, w = int(masks.shape[-2]), int(masks.shape[-1])
    union = (masks > REACHED).any(0).numpy() if masks.shape[0] else np.zeros((h, w), bool)
    pieces, _ = ndimage.label(union)
    sy, sx = photo_size[0] / h, photo_size[1] / w
    boxes = []
    for rows, cols in ndimage.find_objects(pieces):
        # a working pixel covers sx × sy native ones; one more on each side for the resampling
        box = Box(cols.start - 1, rows.start - 1, cols.stop + 1, rows.stop + 1).scaled(sx, sy)
        boxes.append(box.grown(margin, photo_size).pixels())
    return _merged(boxes, min_gap, photo_size)


#: a working-size mask value above this is part of a target's window
REACHED = 1e-3


def _merged(boxes: list[Box], gap: float, size: tuple[int, int]) -> list[Box]:
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].grown(gap, size).overlaps(boxes[j]):
                    boxes[i] = boxes[i].union(boxes.pop(j))
                    merged = True
                    break
            if merged:
                break
    return sorted(boxes, key=lambda b: (b.y0, b.x0))


def crop_resample(image: Tensor, frame: tuple[int, int], box: Box, size: tuple[int, int]) -> Tensor:
    """The part of ``image`` ``(C, h, w)`` (which covers a photo of ``frame`` ``(H, W)``) under
    ``box`` (photo pixels), resampled (bilinear) to ``size`` ``(hc, wc)``: a working-size
    array cut to a native window, pixel centres aligned as the photo's are."""
    h, w = int(image.shape[-2]), int(image.shape[-1])
    x0, y0, x1, y1 = (float(v) for v in box)
    hc, wc = size
    # centre of output pixel j, in photo pixels, then in the image's normalised coordinates
    xs = x0 + (torch.arange(wc, dtype=torch.float64) + 0.5) * ((x1 - x0) / wc)
    ys = y0 + (torch.arange(hc, dtype=torch.float64) + 0.5) * ((y1 - y0) / hc)
    gx = (xs * (w / frame[1])) * (2.0 / w) - 1.0
    gy = (ys * (h / frame[0])) * (2.0 / h) - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1).float()
    out = F.grid_sample(
        image[None].float(), grid[None], mode="bilinear", padding_mode="border", align_corners=False
    )
    return out[0]


def low_size(box: Box, scale: float) -> tuple[int, int]:
    """``(h, w)`` of a native window ``box`` at the working ``scale`` (at least 2 × 2)."""
    return (max(2, round(box.height * scale)), max(2, round(box.width * scale)))
