"""Loss modules: content, the three masked style losses and total variation.

Each module holds its target as a buffer and maps features (or the image) to a scalar (the
style losses: one value per region). The style losses compare the features inside each of K
regions of one feature map with a style image's, in one of three ways (option ``style_loss``):

* ``gram`` — the Gram matrix (second moments), Gatys et al. (2016);
* ``meancov`` — the Wasserstein-2 distance between Gaussians fitted to the two feature sets,
  ``|μ − μ_s|² + tr Σ + tr Σ_s − 2 tr (Σ_s^½ Σ Σ_s^½)^½`` (mean and covariance, as in
  crowsonkb's style-transfer-pytorch), divided by the style's mean square ``|μ_s|² + tr Σ_s``;
* ``sliced`` — the sliced Wasserstein distance (Heitz et al. 2021): the features projected on
  C random unit directions, sorted, against the style's sorted projections at the same
  quantiles, divided by the style projections' mean square. Unlike the first two it compares
  whole distributions, so speckle that has the right second moments does not match it.

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

from ..boxes import Box
from ..types import Tensor
from .layer_masks import support_window


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
    :param weight: optional ``(h, w)`` weights in [0, 1] (a mask): the error is then the
        weighted mean over positions, relative to the target's weighted mean square.
    """

    target: Tensor
    norm: Tensor
    weight: Tensor | None

    def __init__(self, target: Tensor, weight: Tensor | None = None) -> None:
        super().__init__()
        target = target.detach().float()
        self.register_buffer("target", target)
        w = None if weight is None else weight.detach().float()
        self.register_buffer("weight", w)
        second = target.square() if w is None else target.square().mean(1) * w
        denom = 1.0 if w is None else w.mean().clamp_min(1e-12)
        self.register_buffer("norm", (second.mean() / denom).clamp_min(1e-12))

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: a scalar ≥ 0."""
        if self.weight is None:
            return relative_mse(features, self.target, self.norm)
        error = (features.float() - self.target).square().mean(1) * self.weight
        return error.mean() / self.weight.mean().clamp_min(1e-12) / self.norm


#: one region of a feature map: its box of cells, its mask cropped to it (or ``None``), Σ m²
Region = tuple[Box | None, Tensor | None, float]


def _region_features(features: Tensor, region: Region) -> Tensor:
    """The masked features of ``region`` of ``features`` (C, h, w), flattened to ``(C, M)``."""
    window, mask, _ = region
    if window is not None:
        rows, cols = window.slices()
        features = features[:, rows, cols]
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
            y0, y1, x0, x1 = (
                window.rows_cols() if window else (0, features.shape[2], 0, features.shape[3])
            )
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
        self.regions = _regions(masks)

    @property
    def windows(self) -> list[Box | None]:
        """The box of cells each region's loss reads, or ``None`` (all)."""
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


def _masked_mean(features: Tensor, region: Region) -> Tensor:
    """The mean of a region's features weighted by ``m²`` (as its Gram matrix is): ``(C,)``."""
    f = _region_features(features, region)  # already m · f
    mask = region[1]
    if mask is None:
        return f.mean(dim=1)
    return (f * mask.reshape(-1)).sum(dim=1) / region[2]


def trace_sqrt(matrix: Tensor, eps: float = 1e-8) -> Tensor:
    """``tr √M`` of a symmetric positive semi-definite ``(C, C)`` matrix, from its eigenvalues
    (clamped at ``eps``, where the square root's slope is finite)."""
    values = torch.linalg.eigvalsh((matrix + matrix.T) / 2)
    return values.clamp_min(eps).sqrt().sum()


def sqrtm(matrix: Tensor) -> Tensor:
    """The symmetric square root of a positive semi-definite ``(C, C)`` matrix (no gradient)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def _regions(masks: Sequence[Tensor | None]) -> list[Region]:
    """Each mask's window, its crop and Σ m² (``(None, None, 0)`` for the whole map)."""
    regions: list[Region] = []
    for mask in masks:
        if mask is None:
            regions.append((None, None, 0.0))
            continue
        window = support_window(mask)
        if window is None:
            raise ValueError("a region's mask is empty at this layer")
        crop = mask[window.slices()].detach().float().contiguous()
        regions.append((window, crop, float(crop.square().sum())))
    return regions


class MeanCovStyleLoss(nn.Module):
    """Relative Wasserstein-2 distances between Gaussians fitted to K regions' features and
    to their styles', at one layer (see the module docstring).

    :param styles: for each region, its style's ``(mean (C,), covariance (C, C))``
        (:func:`style_statistics` with ``"meancov"``).
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1], or ``None``.
    """

    mean: Tensor
    cov: Tensor
    sqrt_cov: Tensor
    norm: Tensor

    def __init__(
        self, styles: Sequence[tuple[Tensor, Tensor]], masks: Sequence[Tensor | None]
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.stack([m.detach().float() for m, _ in styles]))
        self.register_buffer("cov", torch.stack([c.detach().float() for _, c in styles]))
        self.register_buffer("sqrt_cov", torch.stack([sqrtm(c) for c in self.cov]))
        second = self.mean.square().sum(1) + self.cov.diagonal(dim1=1, dim2=2).sum(1)
        self.register_buffer("norm", second.clamp_min(1e-12))
        self.regions = _regions(masks)

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative distances ≥ 0."""
        f = features.float()
        seconds = _RegionGrams.apply(f, self.regions)
        out = []
        for k, region in enumerate(self.regions):
            mu = _masked_mean(f[0], region)
            cov = seconds[k] - torch.outer(mu, mu)
            cross = self.sqrt_cov[k] @ cov @ self.sqrt_cov[k]
            w2 = (
                (mu - self.mean[k]).square().sum()
                + cov.diagonal().sum()
                + self.cov[k].diagonal().sum()
                - 2 * trace_sqrt(cross)
            )
            out.append(w2.clamp_min(0) / self.norm[k])
        return torch.stack(out)


#: at most this many feature positions of a style image enter the sliced loss (a random subset)
SLICED_SAMPLES = 65536


class SlicedStyleLoss(nn.Module):
    """Relative sliced Wasserstein distances between K regions' features and their styles', at
    one layer (see the module docstring).

    The directions are drawn once (from ``generator``), so the loss is a fixed function that
    L-BFGS can model; each region's positions are those whose mask is at least half (all
    non-zero ones when none is), and the style's sorted projections are read at the region's
    own quantiles.

    :param styles: for each region, its style's features ``(C, M)`` (:func:`style_statistics`).
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1], or ``None``.
    :param generator: the random directions' source (CPU).
    """

    directions: Tensor

    def __init__(
        self,
        styles: Sequence[Tensor],
        masks: Sequence[Tensor | None],
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        channels = styles[0].shape[0]
        d = torch.randn(channels, channels, generator=generator)
        self.register_buffer("directions", (d / d.norm(dim=0, keepdim=True)).to(styles[0]))
        self.regions = _regions(masks)
        self.picks = [None if m is None else _positions(m) for m in masks]
        #: each style's sorted projections ``(C, M)``, and read at each count of positions
        self.sorted = [(self.directions.T @ s.float()).sort(dim=1).values for s in styles]
        self.norms = [float(p.square().mean().clamp_min(1e-12)) for p in self.sorted]
        self._at: dict[tuple[int, int], Tensor] = {}

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative distances ≥ 0."""
        f = features[0].float().flatten(1)
        out = []
        for k, (pick, norm) in enumerate(zip(self.picks, self.norms, strict=True)):
            x = f if pick is None else f[:, pick]
            proj = (self.directions.T @ x).sort(dim=1).values
            key = (k, proj.shape[1])
            if key not in self._at:
                self._at[key] = _quantiles(self.sorted[k], proj.shape[1])
            out.append((proj - self._at[key]).square().mean() / norm)
        return torch.stack(out)


def _positions(mask: Tensor) -> Tensor:
    """Flat indices of a layer mask's positions that enter the sliced loss."""
    flat = mask.flatten()
    pick = torch.nonzero(flat >= 0.5).flatten()
    return pick if pick.numel() else torch.nonzero(flat > 0).flatten()


def _quantiles(sorted_values: Tensor, count: int) -> Tensor:
    """Each row of ``sorted_values`` ``(P, M)`` read at ``count`` evenly spaced quantiles
    (the centres of ``count`` equal bins), linearly interpolated: ``(P, count)``."""
    m = sorted_values.shape[1]
    if m == count:
        return sorted_values
    pos = ((torch.arange(count, device=sorted_values.device) + 0.5) * m / count - 0.5).clamp(
        0, m - 1
    )
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(m - 1)
    t = (pos - lo).to(sorted_values.dtype)
    return sorted_values[:, lo] * (1 - t) + sorted_values[:, hi] * t


def style_statistics(
    features: Tensor,
    kind: str,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """What a style loss compares with, from a style image's features at one layer.

    :param features: ``(C, h, w)``.
    :param kind: ``gram`` → the (masked) Gram matrix ``(C, C)``; ``meancov`` → the mean
        ``(C,)`` and covariance ``(C, C)``, weighted by ``m²``; ``sliced`` → the features
        ``(C, M)`` at the mask's positions (at most :data:`SLICED_SAMPLES`, a random subset).
    :param mask: ``(h, w)`` in [0, 1] or ``None`` (the whole image).
    """
    f = features.float()
    if kind == "gram":
        return gram_matrix(f, mask)
    if kind == "meancov":
        region = _regions([mask])[0]
        mean = _masked_mean(f, region)
        second = _RegionGrams.apply(f[None], [region])[0]
        return mean, second - torch.outer(mean, mean)
    flat = f.flatten(1)
    if mask is not None:
        flat = flat[:, _positions(mask)]
    if flat.shape[1] > SLICED_SAMPLES:
        keep = torch.randperm(flat.shape[1], generator=generator)[:SLICED_SAMPLES].sort().values
        flat = flat[:, keep.to(flat.device)]
    return flat
