"""Loss modules: content and total variation; the masked style losses are in
:mod:`.style_losses` (one table of them).

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
from .style_losses import Cells, Stats, upcast


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
        target = upcast(target.detach())
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
        error = (upcast(features) - self.target).square().mean(1) * self.weight
        return error.mean() / self.weight.mean().clamp_min(1e-12) / self.norm

    def partial(self, features: Tensor, cells: Cells | None = None) -> Stats:
        """The loss's share from the cells of ``cells.core`` (a tile's): the shares of disjoint
        cells add up to :meth:`forward` of the whole map.

        :param features: ``(1, C, h, w)``, holding the cells of ``cells``.
        :returns: ``(share,)``, a scalar ≥ 0.
        """
        if cells is None or cells.is_whole(features):
            return (self(features),)
        rows, cols = cells.core.slices()
        here = cells.local(cells.core).slices()
        error = (upcast(features[0, :, here[0], here[1]]) - self.target[0, :, rows, cols]).square()
        if self.weight is None:
            return (error.sum() / (error.shape[0] * cells.count) / self.norm,)
        weighted = (error.mean(0) * self.weight[rows, cols]).sum() / cells.count
        return (weighted / self.weight.mean().clamp_min(1e-12) / self.norm,)

    def value(self, stats: Stats) -> Tensor:
        """The loss from the total of the shares (it is their sum)."""
        return stats[0]


class TVLoss(nn.Module):
    """Total variation: mean squared difference of horizontally and vertically adjacent pixels.

    On images in [0, 1]; smooth (squared) so that L-BFGS sees a well-behaved term.
    """

    def forward(self, image: Tensor) -> Tensor:
        """:param image: ``(N, 3, H, W)``. :returns: a scalar ≥ 0."""
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.square().mean() + dy.square().mean()
