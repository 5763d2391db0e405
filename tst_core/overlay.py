"""Pictures that help a person choose: instance masks with their ids drawn on the photo."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .files import tensor_to_pil
from .types import Segmentation, Tensor


def instance_color(i: int) -> tuple[int, int, int]:
    """A distinct bright colour for instance ``i`` (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def default_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` px, or its fixed bitmap font where that cannot scale."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1, or Pillow without FreeType
        return ImageFont.load_default()


def overlay(
    photo: Tensor, seg: Segmentation, alpha: float = 0.45, ids: Sequence[int] | None = None
) -> Image.Image:
    """The photo with each instance's mask tinted, its box outlined and ``id label`` written.

    :param photo: ``(3, H, W)`` in [0, 1], the photo the segmentation belongs to.
    :param ids: the number to write (and colour by) for each instance; default: its index
        (a clip's track ids keep their colour from frame to frame).
    """
    numbers = list(range(len(seg))) if ids is None else list(ids)
    base = photo.clone()
    shape = (int(photo.shape[-2]), int(photo.shape[-1]))
    for k, inst in reversed(list(enumerate(seg.instances))):  # the first drawn last, on top
        i = numbers[k]
        tint = torch.tensor(instance_color(i), dtype=torch.float32).view(3, 1, 1) / 255
        a = (inst.mask_at(shape) * alpha).unsqueeze(0)
        base = base * (1 - a) + tint * a
    img = tensor_to_pil(base)
    draw = ImageDraw.Draw(img)
    h, w = photo.shape[-2:]
    size = max(12, round(max(h, w) / 45))
    font = default_font(size)
    for i, inst in zip(numbers, seg.instances, strict=True):
        color = instance_color(i)
        x0, y0, x1, y1 = inst.box
        draw.rectangle(
            [x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=color, width=max(1, size // 8)
        )
        cy, cx = _label_point(inst.mask)
        mh, mw = inst.mask_size  # from mask pixels to photo pixels (centre to centre)
        cy, cx = (cy + 0.5) * h / mh - 0.5, (cx + 0.5) * w / mw - 0.5
        text = f"{i} {inst.label}"
        left, top, right, bottom = draw.textbbox((cx, cy), text, font=font, anchor="mm")
        # keep the whole label inside the picture (objects cut by the frame, thin masks)
        dx = max(0.0, 3 - left) - max(0.0, right + 3 - (w - 1))
        dy = max(0.0, 2 - top) - max(0.0, bottom + 2 - (h - 1))
        cx, cy = cx + dx, cy + dy
        left, top, right, bottom = left + dx, top + dy, right + dx, bottom + dy
        draw.rectangle([left - 3, top - 2, right + 3, bottom + 2], fill=(0, 0, 0))
        draw.text((cx, cy), text, fill=color, font=font, anchor="mm")
    return img


def _label_point(mask: Tensor) -> tuple[float, float]:
    """A point well inside the mask (the pixel farthest from its edge), as (y, x)."""
    from scipy import ndimage

    inside = (mask > 0.5).numpy()
    if not inside.any():
        return float(mask.shape[0] / 2), float(mask.shape[1] / 2)
    dist = ndimage.distance_transform_edt(inside)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(y), float(x)
