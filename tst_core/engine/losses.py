"""Loss modules: content, masked Gram style and total variation.

Each module holds its target as a buffer and maps features (or the image) to a scalar.

The content and style terms are **relative** squared errors: the mean squared difference
divided by the mean square of the target. Gatys et al. (2016) use plain sums with the factors
1/2 and 1/(4 N² M²); dividing by the target's own magnitude instead makes a layer's term about
1 when the image is unrelated to the target, whatever the layer, the network's input scale
(0..255 for the Caffe weights, about ±2 for torchvision's) or the image size. So weights carry
over between networks, sizes and region areas, at the price of the paper's α/β ratios not
translating literally (the presets give the equivalent settings in these units).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..types import Tensor
from .layer_masks import Window, support_window


def gram_matrix(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """The (masked) Gram matrix of a feature map, in float32.

    ``G = Σ_p (m_p f_p)(m_p f_p)ᵀ / Σ_p m_p²``: the mean of ``f fᵀ`` over the region, each
    position weighted by its mask value squared. It is normalised by the region's area (for a
    binary mask: its pixel count), so a small region's Gram matrix is comparable with a large
    one's and with the style image's; with an all-ones mask it is the plain ``F Fᵀ / (h w)``.

    :param features: ``(N, C, h, w)`` or ``(C, h, w)``.
    :param mask: ``(h, w)`` in [0, 1], or ``None`` for the whole map.
    :returns: ``(N, C, C)`` or ``(C, C)``.
    """
    f = features.float().flatten(-2)
    denom: float | Tensor
    if mask is None:
        denom = float(f.shape[-1])
    else:
        m = mask.float().flatten()
        f = f * m
        denom = m.square().sum()
    return (f @ f.transpose(-1, -2)) / denom


def relative_mse(value: Tensor, target: Tensor, norm: Tensor) -> Tensor:
    """``mean((value - target)²) / norm`` with ``norm = mean(target²)`` precomputed."""
    return F.mse_loss(value.float(), target) / norm


class ContentLoss(nn.Module):
    """Relative squared error between features and the photo's features at one layer.

    :param target: the photo's features ``(1, C, h, w)``.
    """

    target: Tensor
    norm: Tensor

    def __init__(self, target: Tensor) -> None:
        super().__init__()
        target = target.detach().float()
        self.register_buffer("target", target)
        self.register_buffer("norm", target.square().mean().clamp_min(1e-12))

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: a scalar ≥ 0."""
        return relative_mse(features, self.target, self.norm)


class MaskedStyleLoss(nn.Module):
    """Relative squared error between a region's Gram matrix and the style's, at one layer.

    Only the window around the region's non-zero mask cells is read, so a small region costs
    little and the loss ignores everything outside that window.

    :param style_gram: the style image's Gram matrix ``(C, C)`` (see :func:`gram_matrix`).
    :param mask: the region's mask at this layer ``(h, w)`` in [0, 1]; ``None``: whole map.
    """

    target: Tensor
    norm: Tensor
    mask: Tensor | None

    def __init__(self, style_gram: Tensor, mask: Tensor | None = None) -> None:
        super().__init__()
        style_gram = style_gram.detach().float()
        self.register_buffer("target", style_gram)
        self.register_buffer("norm", style_gram.square().mean().clamp_min(1e-12))
        self.window: Window | None = None
        if mask is not None:
            self.window = support_window(mask)
            if self.window is None:
                raise ValueError("the region's mask is empty at this layer")
            y0, y1, x0, x1 = self.window
            mask = mask[y0:y1, x0:x1]
        self.register_buffer("mask", None if mask is None else mask.detach().float().contiguous())

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: a scalar ≥ 0."""
        if self.window is not None:
            y0, y1, x0, x1 = self.window
            features = features[..., y0:y1, x0:x1]
        gram = gram_matrix(features[0], self.mask)
        return relative_mse(gram, self.target, self.norm)


class TVLoss(nn.Module):
    """Total variation: mean squared difference of horizontally and vertically adjacent pixels.

    On images in [0, 1]; smooth (squared) so that L-BFGS sees a well-behaved term.
    """

    def forward(self, image: Tensor) -> Tensor:
        """:param image: ``(N, 3, H, W)``. :returns: a scalar ≥ 0."""
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.square().mean() + dy.square().mean()
