"""Colour preservation: luminance-only transfer (Gatys et al. 2017, "Controlling Perceptual
Factors in Neural Style Transfer", section 5.1).

The photo and the style images are reduced to their luminance (Y of YIQ, repeated on three
channels), the style's luminance is shifted and scaled to the mean and spread of the photo's
luminance inside the target, the optimisation runs on these grey images, and the result's
luminance is recombined with the photo's I and Q (colour) channels.
"""

from __future__ import annotations

import torch

from ..imageops import luminance, rgb_to_yiq, yiq_to_rgb
from ..types import Tensor


def matched_luminance(style: Tensor, photo: Tensor, mask: Tensor | None = None) -> Tensor:
    """The style's luminance with the mean and standard deviation of the photo's inside ``mask``.

    :param style: ``(3, h, w)`` RGB in [0, 1]. :param photo: ``(3, H, W)`` RGB in [0, 1].
    :param mask: ``(H, W)`` in [0, 1] weighting the photo's statistics; ``None``: all of it.
    :returns: grey ``(3, h, w)`` in [0, 1].
    """
    ys = luminance(style)
    yp = luminance(photo)
    w = torch.ones_like(yp) if mask is None else mask
    total = w.sum().clamp_min(1e-8)
    mean_p = (yp * w).sum() / total
    std_p = (((yp - mean_p) ** 2 * w).sum() / total).sqrt()
    out = (ys - ys.mean()) / ys.std(correction=0).clamp_min(1e-6) * std_p + mean_p
    return out.clamp(0.0, 1.0).expand(3, -1, -1).contiguous()


def with_colors_of(result: Tensor, photo: Tensor) -> Tensor:
    """The luminance of ``result`` with the I and Q channels of ``photo`` (both ``(3, H, W)``).

    :returns: RGB ``(3, H, W)`` clamped to [0, 1].
    """
    yiq = rgb_to_yiq(photo)
    yiq[0] = rgb_to_yiq(result)[0]
    return yiq_to_rgb(yiq).clamp(0.0, 1.0)
