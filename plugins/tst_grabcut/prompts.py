"""GrabCut on a prompt: the page's box and clicks, or an instance's box and mask (``--refine``).

The region to cut is the prompt's box (or the box around its mask, or around its inside
points); GrabCut sees that box and a margin of context around it:

* outside the box: background (GrabCut learns the background colours there);
* inside the box: probably the object, or, when the prompt has a mask, probably the object
  where the mask is and probably background where it is not (a segmenter's mask refined);
* around each click: surely the object (inside points) or surely background (outside points),
  a disc of ``point_radius`` pixels, at least 1 % of the box's long side.

A large box is cut shrunk to ``prompt_side`` pixels (GrabCut's colour models need no more and
take minutes on tens of megapixels), and the cut is brought back to the photo's size with the
photo's own edges as the guide (:func:`tst_core.upsample.refine_masks`), then made hard again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from tst_core.boxes import Box
from tst_core.errors import InputError
from tst_core.files import to_uint8_hwc
from tst_core.imageops import resize_long_side
from tst_core.types import Instance, Prompt, Tensor, resize_mask
from tst_core.upsample import refine_masks

if TYPE_CHECKING:
    from .segmenter import GrabCutSegmenter


def prompt_box(prompt: Prompt, size: tuple[int, int]) -> Box:
    """The box to cut: the prompt's, else around its mask (grown by 5 %), else around its
    inside points (grown by a quarter of the photo's short side); inside points beyond the
    box widen it. :raises InputError: for a prompt with neither."""
    h, w = size
    inside = [(x, y) for x, y, fg in prompt.points if fg == 1]
    if prompt.box is not None:
        box = prompt.box
    elif prompt.mask is not None and bool((prompt.mask > 0.5).any()):
        box = Box.around(prompt.mask)
        box = box.grown(0.05 * max(box.width, box.height), size)
    elif inside:
        xs, ys = [x for x, _ in inside], [y for _, y in inside]
        box = Box(min(xs), min(ys), max(xs) + 1, max(ys) + 1).grown(min(h, w) / 4, size)
    else:
        raise InputError(
            "grabcut needs a box around the object (drag one), a mask to refine or a click on it"
        )
    for x, y in inside:
        if not box.contains(x, y):
            box = box.union(Box(x, y, x + 1, y + 1))
    box = box.clipped(size).pixels()
    if box.width < 2 or box.height < 2:
        raise InputError(f"the box {_fmt(box)} is too small to cut (at least 2×2 pixels)")
    return box


def cut_prompt(seg: GrabCutSegmenter, photo: Tensor, prompt: Prompt) -> Instance:
    """See the module docstring. :param photo: ``(3, H, W)`` in [0, 1]."""
    cv2, o = seg.cv2, seg.options
    h, w = int(photo.shape[-2]), int(photo.shape[-1])
    box = prompt_box(prompt, (h, w))
    crop = box.grown(o.margin * max(box.width, box.height), (h, w)).pixels()
    rows, cols = crop.slices()
    native = photo[:, rows, cols]
    side = max(native.shape[-2:])
    scale = 1.0 if not o.prompt_side or side <= o.prompt_side else o.prompt_side / side
    small = native if scale == 1.0 else resize_long_side(native, o.prompt_side)
    sh, sw = int(small.shape[-2]), int(small.shape[-1])
    sx, sy = sw / native.shape[-1], sh / native.shape[-2]

    def local(x: float, y: float) -> tuple[int, int]:
        return round((x - crop.x0) * sx), round((y - crop.y0) * sy)

    labels = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    x0, y0 = local(box.x0, box.y0)
    x1, y1 = local(box.x1, box.y1)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    if prompt.mask is None:
        labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    else:
        start = resize_mask(prompt.mask[rows, cols].float(), (sh, sw)).numpy() > 0.5
        inner = np.zeros((sh, sw), bool)
        inner[y0:y1, x0:x1] = True
        labels[inner] = np.where(start[inner], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    radius = max(1, round(max(o.point_radius, 0.01 * max(box.width, box.height)) * sx))
    for x, y, fg in prompt.points:
        if crop.contains(x, y):
            value = cv2.GC_FGD if fg == 1 else cv2.GC_BGD
            cv2.circle(labels, local(x, y), radius, int(value), thickness=-1)
    if not (labels == cv2.GC_BGD).any() and not (labels == cv2.GC_PR_BGD).any():
        raise InputError(
            f"box ({_fmt(box)}) covers the whole photo; grabcut needs some background "
            "around the object to learn its colours"
        )
    cv2.setRNGSeed(seg.seed)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    image = to_uint8_hwc(small)
    try:
        cv2.grabCut(image, labels, None, bgd, fgd, o.iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:
        raise InputError(
            f"grabcut cannot cut box ({_fmt(box)}): {str(exc).strip().splitlines()[-1]}"
        ) from None
    fg_small = torch.from_numpy(
        ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    )
    cut = fg_small if scale == 1.0 else (refine_masks(fg_small[None], native)[0] > 0.5).float()
    full = torch.zeros((h, w), dtype=torch.float32)
    full[rows, cols] = cut
    if not bool(full.any()):
        raise InputError(
            f"grabcut found nothing in box {_fmt(box)}; draw the box closer around the object "
            "or click on it"
        )
    return Instance(prompt.label.strip().lower() or "region", 1.0, Box.around(full), full)


def _fmt(box: Box) -> str:
    return ",".join(f"{v:g}" for v in box)
