"""Image operations of the engine loop: resizing, cropping a region, the start image, and
pasting an optimised region back into its output image."""

from __future__ import annotations

import torch

from ..boxes import Box
from ..imageops import resize_image
from ..types import Tensor
from .color import with_colors_of

#: a channel spread (max − min over R, G, B) below this everywhere makes an image grey
GREY_SPREAD = 2.0 / 255.0


def cover(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``image`` (3, h, w) to cover ``size`` keeping its aspect, then centre-crop."""
    h, w = image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    big = resize_image(image, (max(size[0], round(h * scale)), max(size[1], round(w * scale))))
    top, left = (big.shape[-2] - size[0]) // 2, (big.shape[-1] - size[1]) // 2
    return big[:, top : top + size[0], left : left + size[1]]


def crop(image: Tensor, box: Box) -> Tensor:
    """The pixels of ``image`` ``(..., H, W)`` inside ``box``, contiguous."""
    rows, cols = box.slices()
    return image[..., rows, cols].contiguous()


def is_grey(image: Tensor) -> bool:
    """Whether ``image`` ``(3, h, w)`` has no colour (every pixel's channels agree)."""
    return float((image.amax(0) - image.amin(0)).max()) <= GREY_SPREAD


def initial_image(
    content: Tensor,
    masks: Tensor | None,
    styles: list[Tensor],
    init: str,
    generator: torch.Generator,
) -> Tensor:
    """The start image ``(3, h, w)``: the photo outside the targets, ``init`` inside them.

    :param content: the photo's region ``(3, h, w)``.
    :param masks: the targets' masks ``(K, h, w)``, or ``None`` (each style on the whole frame).
    :param styles: the K paintings ``(3, *, *)`` (``init = "style"`` covers the region with them).
    :param init: ``content``, ``noise`` or ``style``.
    """
    if init == "content":
        return content.clone()
    size = (content.shape[-2], content.shape[-1])
    if masks is None:
        masks = torch.full((len(styles), *size), 1.0 / len(styles), device=content.device)
    inside = masks.sum(0).clamp(0.0, 1.0)
    if init == "noise":
        fill = torch.rand(content.shape, generator=generator).to(content.device)
        return content * (1.0 - inside) + fill * inside
    start = content * (1.0 - inside)
    for k, style in enumerate(styles):
        start = start + masks[k] * cover(style, size)
    return start


def paste(canvas: Tensor, x: Tensor, box: Box, preserve_color: bool) -> None:
    """Write the optimised region ``x`` ``(3, h', w')`` (any size) into ``canvas`` ``(3, H, W)``
    at ``box``: downsampled to the box, with the canvas's own colours when ``preserve_color``,
    clamped to [0, 1]."""
    rows, cols = box.slices()
    x = resize_image(x.detach().float(), (rows.stop - rows.start, cols.stop - cols.start)).cpu()
    if preserve_color:
        x = with_colors_of(x, canvas[:, rows, cols])
    canvas[:, rows, cols] = x.clamp(0.0, 1.0)
