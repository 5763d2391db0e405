"""Pictures the page shows: the photo with its instances, selection layers, thumbnails.

The page works on a display copy of the photo (long side at most :data:`DISPLAY` px); clicks
are mapped back to photo pixels by the page, and instances are hit-tested on their own masks
(at the segmenter's working size, see :class:`tst_core.types.Instance`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from tst_core.files import tensor_to_pil
from tst_core.imageops import resize_long_side
from tst_core.overlay import instance_color, overlay
from tst_core.photo import Photo
from tst_core.types import Instance, Segmentation, Tensor, resize_mask

#: long side in pixels of the pictures the page shows
DISPLAY = 1024
#: long side in pixels of a style thumbnail
THUMB = 160
#: colour of "background" and "whole photo" selections
REGION_COLOR = (255, 255, 255)


def display_photo(photo: Tensor) -> Tensor:
    """The photo ``(3, H, W)`` shrunk to a long side of at most :data:`DISPLAY` px."""
    return resize_long_side(photo, min(DISPLAY, max(photo.shape[-2:])))


def display_segmentation(seg: Segmentation, size: tuple[int, int]) -> Segmentation:
    """``seg`` with masks ``(h, w)`` and boxes scaled to ``size``; ids (ranks) unchanged."""
    sy, sx = size[0] / seg.size[0], size[1] / seg.size[1]
    instances = tuple(
        Instance(
            inst.label,
            inst.score,
            inst.box.scaled(sx, sy),
            resize_mask(inst.mask, size).contiguous(),
        )
        for inst in seg.instances
    )
    return Segmentation(instances, size)


def edge(mask: Tensor, width: int) -> np.ndarray:
    """The inner rim ``(H, W)`` bool, ``width`` px wide, of ``mask > 0.5``."""
    inside = (mask > 0.5).numpy()
    return inside & ~ndimage.binary_erosion(inside, iterations=width, border_value=0)


def outlined(photo: Tensor, seg: Segmentation) -> Image.Image:
    """The photo ``(3, h, w)`` with every instance outlined in its colour, then tinted, boxed
    and labelled ``id label`` by :func:`tst_core.overlay.overlay` (``seg`` at the photo's size)."""
    lined = photo.clone()
    width = max(1, round(max(photo.shape[-2:]) / 400))
    for i, inst in reversed(list(enumerate(seg.instances))):
        rim = torch.from_numpy(edge(inst.mask, width))
        color = torch.tensor(instance_color(i), dtype=torch.float32) / 255
        lined[:, rim] = color.view(3, 1)
    return overlay(lined, seg, alpha=0.3)


def selection_layer(mask: Tensor, color: tuple[int, int, int]) -> Image.Image:
    """A transparent RGBA picture of ``mask`` ``(h, w)``: a light veil inside, a bold rim."""
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    inside = (mask > 0.5).numpy()
    rgba[inside] = (255, 255, 255, 110)
    rim = edge(mask, max(2, round(max(h, w) / 200)))
    rgba[rim] = (*color, 255)
    return Image.fromarray(rgba, "RGBA")


def result_views(result: Any, folder: Path, stem: str) -> tuple[Path, Path]:
    """Two pictures of a run for the page, written into ``folder``: the result at display size
    (``<stem>_view.jpg``, at most :data:`DISPLAY` px) for the fitted view, and the photo at
    the result's full size, upright (``<stem>_before.jpg``), for the before/after at 1:1 (a
    browser shows neither TIFF nor a file's EXIF orientation the same way everywhere)."""
    original = result.original
    view = folder / f"{stem}_view.jpg"
    before = folder / f"{stem}_before.jpg"
    small = Photo(result.pixels, bits=original.bits).tensor(size=min(DISPLAY, max(original.size)))
    tensor_to_pil(small).save(view, quality=90)
    pixels = original.output_pixels()
    if pixels.dtype != np.uint8:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    Image.fromarray(pixels, "RGB").save(before, quality=92)
    return view, before


def thumbnail(image: Tensor) -> Image.Image:
    """A style image ``(3, H, W)`` shrunk to a long side of :data:`THUMB` px."""
    return tensor_to_pil(resize_long_side(image, min(THUMB, max(image.shape[-2:]))))


def encode(image: Image.Image | Tensor, fmt: str = "PNG") -> bytes:
    """PNG or JPEG bytes of a PIL image or a ``(3, H, W)`` tensor in [0, 1]."""
    pil = tensor_to_pil(image) if isinstance(image, torch.Tensor) else image
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def instance_at(seg: Segmentation, x: float, y: float) -> int | None:
    """The id of the smallest instance whose mask covers photo pixel ``(x, y)``, or ``None``.

    The smallest wins because a click on a person in front of a bus means the person.
    """
    h, w = seg.size
    col, row = int(x), int(y)
    if not (0 <= col < w and 0 <= row < h):
        return None
    hits = [i for i, inst in enumerate(seg.instances) if _covers(inst, x / w, y / h)]
    return min(hits, key=lambda i: seg.instances[i].area) if hits else None


def _covers(inst: Instance, fx: float, fy: float) -> bool:
    """Whether ``inst``'s mask covers the point at fractions ``(fx, fy)`` of the photo."""
    mh, mw = inst.mask_size
    row, col = min(mh - 1, int(fy * mh)), min(mw - 1, int(fx * mw))
    return float(inst.mask[row, col]) > 0.5


def encode_mask(mask: Tensor) -> bytes:
    """A mask ``(H, W)`` in [0, 1] as an 8-bit grey PNG (as a mask file holds it)."""
    from tst_core.files import mask_to_pil

    buf = io.BytesIO()
    mask_to_pil(mask).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
