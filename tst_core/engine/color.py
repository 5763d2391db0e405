"""Colour preservation: luminance-only transfer (Gatys et al. 2017, "Controlling Perceptual
Factors in Neural Style Transfer", section 5.1).

The photo and the style images are reduced to their luminance (Y of YIQ, repeated on three
channels), the style's luminance is shifted and scaled to the mean and spread of the photo's
luminance inside the target, the optimisation runs on these grey images, and the result's
luminance is recombined with the photo's I and Q (colour) channels.
"""

from __future__ import annotations

import torch

from ..types import Tensor

_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """``(3, H, W)`` RGB → ``(3, H, W)`` YIQ (Y in [0, 1], I and Q about ±0.6)."""
    return torch.einsum("ij,jhw->ihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """``(3, H, W)`` YIQ → ``(3, H, W)`` RGB (not clamped)."""
    return torch.einsum("ij,jhw->ihw", _YIQ_TO_RGB.to(image), image)


def chroma(images: Tensor) -> Tensor:
    """The I and Q (colour) channels of RGB images ``(N, 3, H, W)``: ``(N, 2, H, W)``, 0 for grey."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ[1:].to(images), images)


def luminance(image: Tensor) -> Tensor:
    """The luminance Y of an RGB image ``(3, H, W)`` as a grey RGB image ``(3, H, W)``."""
    y = torch.einsum("j,jhw->hw", _RGB_TO_YIQ[0].to(image), image)
    return y.expand(3, -1, -1).contiguous()


def matched_luminance(style: Tensor, photo: Tensor, mask: Tensor | None = None) -> Tensor:
    """The style's luminance with the mean and standard deviation of the photo's inside ``mask``.

    :param style: ``(3, h, w)`` RGB in [0, 1]. :param photo: ``(3, H, W)`` RGB in [0, 1].
    :param mask: ``(H, W)`` in [0, 1] weighting the photo's statistics; ``None``: all of it.
    :returns: grey ``(3, h, w)`` in [0, 1].
    """
    ys = luminance(style)[0]
    yp = luminance(photo)[0]
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
