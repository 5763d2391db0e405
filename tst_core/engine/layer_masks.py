"""How a target's mask reaches each layer of the feature network.

A layer with stride ``s`` (1 before the first pooling, then 2, 4, 8, 16) has one cell per
``s × s`` block of input pixels, and VGG's 2×2 poolings floor odd sizes. The mask of that layer
is the **average of the pixel mask over each cell's block** (``avg_pool2d`` with kernel and
stride ``s``), which gives exactly the feature map's size. So a cell's mask value is the
fraction of its block inside the region; soft masks are averaged the same way. A cell gets a
non-zero value only if its block touches the region, which bounds how far a target's style
loss reaches: one cell's block plus the layer's receptive field around the region.

Gatys et al. (2017) also describe eroding the guidance to cells whose whole receptive field lies
inside the region; at the deepest style layer (receptive field 156 px for ``relu5_1``) that would
leave no cells on a typical person at 512 px, so the block average is used instead.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..boxes import Box
from ..types import Tensor


def layer_mask(mask: Tensor, stride: int) -> Tensor:
    """The mask of a layer with ``stride``.

    :param mask: ``(H, W)`` or ``(K, H, W)`` in [0, 1] at the network's input size.
    :returns: ``(H // stride, W // stride)`` (or with the leading ``K``) in [0, 1].
    """
    if stride == 1:
        return mask
    stack = mask.reshape(-1, 1, *mask.shape[-2:])
    out = F.avg_pool2d(stack, kernel_size=stride, stride=stride)
    return out.reshape(*mask.shape[:-2], *out.shape[-2:])


def support_window(mask: Tensor) -> Box | None:
    """The smallest box (whole pixels or cells) holding every non-zero value of ``mask``
    ``(h, w)``; ``None`` when the mask is all zero."""
    box = Box.around(mask, threshold=0.0)
    return None if box.empty else box.pixels()


def roi_box(masks: Tensor, margin: int) -> Box | None:
    """The box around every non-zero pixel of ``masks`` (K, H, W), grown by ``margin`` px.

    Clipped to the frame; ``None`` when every mask is zero.
    """
    box = support_window(masks.amax(dim=0))
    if box is None:
        return None
    return box.grown(margin, (int(masks.shape[-2]), int(masks.shape[-1]))).pixels()
