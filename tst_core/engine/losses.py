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

from collections.abc import Sequence
from typing import Any

import torch
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


#: one region of a feature map: its window, its mask cropped to it (or ``None``), Σ m²
Region = tuple[Window | None, Tensor | None, float]


def _region_features(features: Tensor, region: Region) -> Tensor:
    """The masked features of ``region`` of ``features`` (C, h, w), flattened to ``(C, M)``."""
    window, mask, _ = region
    if window is not None:
        y0, y1, x0, x1 = window
        features = features[:, y0:y1, x0:x1]
    f = features.reshape(features.shape[0], -1)
    return f if mask is None else f * mask.reshape(-1)


class _RegionGrams(torch.autograd.Function):
    """The Gram matrices of K regions of one feature map, ``(K, C, C)``.

    Same values as :func:`gram_matrix` per region; written out because autograd's own backward
    would allocate and zero a full-size gradient per region and layer (the backward of each
    slice) and take two matrix products per Gram matrix. Here the backward fills one gradient
    buffer and uses one product per region: ``dL/df = (dG + dGᵀ) f / Σm²``.
    """

    @staticmethod
    def forward(ctx: Any, features: Tensor, regions: list[Region]) -> Tensor:
        """:param features: ``(1, C, h, w)`` float32. :returns: ``(K, C, C)``."""
        ctx.regions = regions
        ctx.save_for_backward(features)
        grams = []
        for region in regions:
            f = _region_features(features[0], region)
            grams.append((f @ f.T) / _denom(region, features[0]))
        return torch.stack(grams)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (features,) = ctx.saved_tensors
        out = torch.zeros_like(features)
        for g, region in zip(grad, ctx.regions, strict=True):
            window, mask, _ = region
            f = _region_features(features[0], region)
            df = ((g + g.T) @ f) / _denom(region, features[0])
            if mask is not None:
                df = df * mask.reshape(-1)
            y0, y1, x0, x1 = window or (0, features.shape[2], 0, features.shape[3])
            out[0, :, y0:y1, x0:x1] += df.view(-1, y1 - y0, x1 - x0)
        return out, None


def _denom(region: Region, features: Tensor) -> float:
    return region[2] if region[1] is not None else float(features[0].numel())


class MaskedStyleLoss(nn.Module):
    """Relative squared errors of K regions' Gram matrices against their styles', at one layer.

    Each region's Gram matrix is read only from the window around its non-zero mask cells, so
    a small region costs little and its loss ignores everything outside that window.

    :param style_grams: for each region, its style image's Gram matrix ``(C, C)``.
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1] (not all zero),
        or ``None`` for the whole map.
    """

    target: Tensor
    norm: Tensor

    def __init__(self, style_grams: Sequence[Tensor], masks: Sequence[Tensor | None]) -> None:
        super().__init__()
        target = torch.stack([g.detach().float() for g in style_grams])
        self.register_buffer("target", target)
        self.register_buffer("norm", target.square().mean(dim=(1, 2)).clamp_min(1e-12))
        self.regions: list[Region] = []
        for mask in masks:
            if mask is None:
                self.regions.append((None, None, 0.0))
                continue
            window = support_window(mask)
            if window is None:
                raise ValueError("a region's mask is empty at this layer")
            y0, y1, x0, x1 = window
            crop = mask[y0:y1, x0:x1].detach().float().contiguous()
            self.regions.append((window, crop, float(crop.square().sum())))

    @property
    def windows(self) -> list[Window | None]:
        """The window each region's loss reads, ``(y0, y1, x0, x1)`` or ``None`` (all)."""
        return [r[0] for r in self.regions]

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative errors ≥ 0."""
        grams = _RegionGrams.apply(features.float(), self.regions)
        return (grams - self.target).square().mean(dim=(1, 2)) / self.norm


class TVLoss(nn.Module):
    """Total variation: mean squared difference of horizontally and vertically adjacent pixels.

    On images in [0, 1]; smooth (squared) so that L-BFGS sees a well-behaved term.
    """

    def forward(self, image: Tensor) -> Tensor:
        """:param image: ``(N, 3, H, W)``. :returns: a scalar ≥ 0."""
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.square().mean() + dy.square().mean()
