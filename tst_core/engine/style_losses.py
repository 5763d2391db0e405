"""The masked style losses, as one table (option ``style_loss``).

A style loss compares the features inside each of K regions of one feature map with a style
image's, in one of three ways; each is one row of :data:`STYLE_LOSSES`:

* ``gram`` — the Gram matrix (second moments), Gatys et al. (2016);
* ``meancov`` — the Wasserstein-2 distance between Gaussians fitted to the two feature sets,
  ``|μ − μ_s|² + tr Σ + tr Σ_s − 2 tr (Σ_s^½ Σ Σ_s^½)^½`` (mean and covariance, as in
  crowsonkb's style-transfer-pytorch), divided by the style's mean square ``|μ_s|² + tr Σ_s``;
* ``sliced`` — the sliced Wasserstein distance (Heitz et al. 2021): the features projected on
  C random unit directions, sorted, against the style's sorted projections at the same
  quantiles, divided by the style projections' mean square. Unlike the first two it compares
  whole distributions, so speckle that has the right second moments does not match it.

A row says how a style image is summarised (``statistics``), which module compares K regions
with those summaries (``module``), and whether a region's statistics are **sums over
positions** (``additive``). A target may mix several paintings (``a.jpg*0.7+b.jpg*0.3``): its
statistics are those of the mixture of the paintings' features (70 % of the feature vectors
drawn from ``a``'s, 30 % from ``b``'s), taken by :meth:`StyleLoss.mixture` from what each
painting gives (:meth:`StyleLoss.gather`): the sums over positions mix linearly (Gram
matrices; ``meancov``'s first and second moments, so its covariance includes the spread
between the paintings' means), and ``sliced`` draws each painting's positions in the mix's
proportions. The modules split their forward pass in two:
``partial(features, cells)`` gives the region statistics of the cells a feature tensor holds
(for an additive loss, these add up over disjoint sets of cells: the tiles of a large image),
and ``value(totals)`` turns the totals into the ``(K,)`` losses. ``forward`` is
``value(partial(features))``. :mod:`.tiles` uses the split to compute the exact gradient of a
region too large for one pass.

Changing a loss, or adding one, touches this module only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_args

import torch
from torch import nn

from ..boxes import Box
from ..types import Tensor
from .layer_masks import support_window
from .options import StyleLossName

#: the statistics of K regions: a tuple of tensors, each with the regions on its first axis
Stats = tuple[Tensor, ...]


class TermLoss(Protocol):
    """A loss module split in two (what :mod:`.tiles` needs): statistics of some cells, and the
    loss from their totals over the whole map."""

    def partial(self, features: Tensor, cells: Cells | None = None) -> Stats:
        """The statistics of ``cells.core`` (default: all of ``features`` ``(1, C, h, w)``)."""
        ...

    def value(self, stats: Stats) -> Tensor:
        """The loss from the statistics' totals."""
        ...

    def __call__(self, features: Tensor) -> Tensor:
        """``value(partial(features))``."""
        ...


@dataclass(frozen=True)
class Cells:
    """Which cells of a layer's full feature map a feature tensor holds, and which count.

    A tile of a large image holds its core cells plus a halo whose values are wrong (the tile's
    own border); only the core's statistics are added up.

    :param origin: ``(row, col)`` of the tensor's first cell in the full map.
    :param core: the cells that count, in full-map coordinates (whole cells).
    :param full: ``(h, w)`` of the full map.
    """

    origin: tuple[int, int]
    core: Box
    full: tuple[int, int]

    @classmethod
    def whole(cls, features: Tensor) -> Cells:
        """All cells of ``features`` ``(..., h, w)``, which is the full map."""
        h, w = int(features.shape[-2]), int(features.shape[-1])
        return cls((0, 0), Box(0, 0, w, h), (h, w))

    def is_whole(self, features: Tensor) -> bool:
        """Whether ``features`` is the full map and every cell counts."""
        return self == Cells.whole(features)

    def local(self, box: Box) -> Box:
        """``box`` (full-map cells) in the tensor's own coordinates."""
        y, x = self.origin
        return Box(box.x0 - x, box.y0 - y, box.x1 - x, box.y1 - y)

    @property
    def count(self) -> int:
        """The number of cells of the full map."""
        return self.full[0] * self.full[1]


@dataclass(frozen=True)
class LayerRegion:
    """One region of a feature map.

    :param window: the box of cells around the mask's non-zero values; ``None``: the whole map.
    :param mask: the mask cropped to ``window``, or ``None`` (the whole map, unmasked).
    :param weight: ``Σ m²`` over the mask (0 for the whole map: its cell count is used).
    """

    window: Box | None
    mask: Tensor | None
    weight: float

    def denominator(self, cells: Cells) -> float:
        """What the region's sums are divided by: ``Σ m²``, or the full map's cell count."""
        return self.weight if self.mask is not None else float(cells.count)

    def part(self, cells: Cells) -> _Part | None:
        """The region's cells among ``cells.core``, in the tensor's coordinates, with its mask
        there; ``None`` when the region has no cell there."""
        window = self.window or Box(0, 0, cells.full[1], cells.full[0])
        inside = _intersection(window, cells.core)
        if inside is None:
            return None
        mask = None
        if self.mask is not None:
            ox, oy = int(window.x0), int(window.y0)
            own = Box(inside.x0 - ox, inside.y0 - oy, inside.x1 - ox, inside.y1 - oy)
            mask = self.mask[own.slices()]
        return _Part(cells.local(inside), mask, self.denominator(cells))


@dataclass(frozen=True)
class _Part:
    """A region's cells in one feature tensor: their box, mask and the region's denominator."""

    box: Box
    mask: Tensor | None
    denominator: float

    def features(self, features: Tensor) -> Tensor:
        """The masked features ``m · f`` of these cells of ``features`` ``(C, h, w)``: ``(C, M)``."""
        rows, cols = self.box.slices()
        f = features[:, rows, cols].reshape(features.shape[0], -1)
        return f if self.mask is None else f * self.mask.reshape(-1)


def upcast(x: Tensor) -> Tensor:
    """``x`` in float32 when it is in half precision (autocast features); float32 and float64
    as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _intersection(a: Box, b: Box) -> Box | None:
    box = Box(max(a.x0, b.x0), max(a.y0, b.y0), min(a.x1, b.x1), min(a.y1, b.y1))
    return None if box.empty else box


def layer_regions(masks: Sequence[Tensor | None]) -> list[LayerRegion]:
    """Each mask's window, its crop and ``Σ m²`` (a whole-map region for ``None``)."""
    regions: list[LayerRegion] = []
    for mask in masks:
        if mask is None:
            regions.append(LayerRegion(None, None, 0.0))
            continue
        window = support_window(mask)
        if window is None:
            raise ValueError("a region's mask is empty at this layer")
        crop = mask[window.slices()].detach().float().contiguous()
        regions.append(LayerRegion(window, crop, float(crop.square().sum())))
    return regions


def _parts(regions: Sequence[LayerRegion], cells: Cells) -> list[_Part | None]:
    return [r.part(cells) for r in regions]


class _SecondMoments(torch.autograd.Function):
    """``Σ (m f)(m f)ᵀ / D`` of K regions of one feature map, ``(K, C, C)`` (zeros for a region
    with no cell in the tensor).

    Written out because autograd's own backward would allocate and zero a full-size gradient
    per region and layer (the backward of each slice) and take two matrix products per Gram
    matrix. Here the backward fills one gradient buffer and uses one product per region:
    ``dL/df = (dG + dGᵀ) m² f / D``.
    """

    @staticmethod
    def forward(ctx: Any, features: Tensor, parts: list[_Part | None]) -> Tensor:
        """:param features: ``(1, C, h, w)`` float32. :returns: ``(K, C, C)``."""
        ctx.parts = parts
        ctx.save_for_backward(features)
        c = features.shape[1]
        out = []
        for part in parts:
            if part is None:
                out.append(features.new_zeros(c, c))
                continue
            f = part.features(features[0])
            out.append((f @ f.T) / part.denominator)
        return torch.stack(out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (features,) = ctx.saved_tensors
        out = torch.zeros_like(features)
        for g, part in zip(grad, ctx.parts, strict=True):
            if part is None:
                continue
            f = part.features(features[0])
            df = ((g + g.T) @ f) / part.denominator
            if part.mask is not None:
                df = df * part.mask.reshape(-1)
            y0, y1, x0, x1 = part.box.rows_cols()
            out[0, :, y0:y1, x0:x1] += df.view(-1, y1 - y0, x1 - x0)
        return out, None


def _first_moments(features: Tensor, parts: list[_Part | None]) -> Tensor:
    """``Σ m² f / D`` of K regions (weighted by ``m²``, as the second moments): ``(K, C)``."""
    out = []
    for part in parts:
        if part is None:
            out.append(features.new_zeros(features.shape[1]))
            continue
        f = part.features(features[0])  # already m · f
        if part.mask is not None:
            f = f * part.mask.reshape(-1)
        out.append(f.sum(dim=1) / part.denominator)
    return torch.stack(out)


def _whole_parts(regions: Sequence[LayerRegion], features: Tensor) -> list[_Part | None]:
    return _parts(regions, Cells.whole(features))


class GramStyleLoss(nn.Module):
    """Relative squared errors of K regions' Gram matrices against their styles', at one layer.

    Each region's Gram matrix ``G = Σ_p (m_p f_p)(m_p f_p)ᵀ / Σ_p m_p²`` is read only from the
    window around its non-zero mask cells, so a small region costs little and its loss
    ignores everything outside that window.

    :param style_grams: for each region, its style image's Gram matrix ``(C, C)``.
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1] (not all zero),
        or ``None`` for the whole map.
    """

    additive = True
    target: Tensor
    norm: Tensor

    def __init__(self, style_grams: Sequence[Tensor], masks: Sequence[Tensor | None]) -> None:
        super().__init__()
        target = torch.stack([upcast(g.detach()) for g in style_grams])
        self.register_buffer("target", target)
        self.register_buffer("norm", target.square().mean(dim=(1, 2)).clamp_min(1e-12))
        self.regions = layer_regions(masks)

    @property
    def windows(self) -> list[Box | None]:
        """The box of cells each region's loss reads, or ``None`` (all)."""
        return [r.window for r in self.regions]

    def partial(self, features: Tensor, cells: Cells | None = None) -> Stats:
        """The regions' Gram matrices over ``cells`` (default: all of ``features``).

        :param features: ``(1, C, h, w)``. :returns: ``(grams (K, C, C),)``.
        """
        cells = cells or Cells.whole(features)
        return (_SecondMoments.apply(upcast(features), _parts(self.regions, cells)),)

    def value(self, stats: Stats) -> Tensor:
        """:returns: ``(K,)`` relative errors ≥ 0 of the totals ``(grams,)``."""
        return (stats[0] - self.target).square().mean(dim=(1, 2)) / self.norm

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative errors ≥ 0."""
        return self.value(self.partial(features))


def trace_sqrt(matrix: Tensor, eps: float = 1e-8) -> Tensor:
    """``tr √M`` of a symmetric positive semi-definite ``(C, C)`` matrix, from its eigenvalues
    (clamped at ``eps``, where the square root's slope is finite)."""
    values = torch.linalg.eigvalsh((matrix + matrix.T) / 2)
    return values.clamp_min(eps).sqrt().sum()


def sqrtm(matrix: Tensor) -> Tensor:
    """The symmetric square root of a positive semi-definite ``(C, C)`` matrix (no gradient)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


class MeanCovStyleLoss(nn.Module):
    """Relative Wasserstein-2 distances between Gaussians fitted to K regions' features and
    to their styles', at one layer (see the module docstring).

    :param styles: for each region, its style's ``(mean (C,), covariance (C, C))``
        (:func:`style_statistics` with ``"meancov"``).
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1], or ``None``.
    """

    additive = True
    mean: Tensor
    cov: Tensor
    sqrt_cov: Tensor
    norm: Tensor

    def __init__(
        self, styles: Sequence[tuple[Tensor, Tensor]], masks: Sequence[Tensor | None]
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.stack([upcast(m.detach()) for m, _ in styles]))
        self.register_buffer("cov", torch.stack([upcast(c.detach()) for _, c in styles]))
        self.register_buffer("sqrt_cov", torch.stack([sqrtm(c) for c in self.cov]))
        second = self.mean.square().sum(1) + self.cov.diagonal(dim1=1, dim2=2).sum(1)
        self.register_buffer("norm", second.clamp_min(1e-12))
        self.regions = layer_regions(masks)

    def partial(self, features: Tensor, cells: Cells | None = None) -> Stats:
        """The regions' first and second moments (weighted by ``m²``) over ``cells``.

        :param features: ``(1, C, h, w)``. :returns: ``(means (K, C), seconds (K, C, C))``.
        """
        f = upcast(features)
        parts = _parts(self.regions, cells or Cells.whole(f))
        seconds = _SecondMoments.apply(f, parts)
        return _first_moments(f, parts), seconds

    def value(self, stats: Stats) -> Tensor:
        """:returns: ``(K,)`` relative distances ≥ 0 of the totals ``(means, seconds)``."""
        means, seconds = stats
        out = []
        for k in range(len(self.regions)):
            mu = means[k]
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

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative distances ≥ 0."""
        return self.value(self.partial(features))


#: at most this many feature positions of a style image enter the sliced loss (a random subset)
SLICED_SAMPLES = 65536


class SlicedStyleLoss(nn.Module):
    """Relative sliced Wasserstein distances between K regions' features and their styles', at
    one layer (see the module docstring).

    The directions are drawn once (from ``generator``), so the loss is a fixed function that
    L-BFGS can model; each region's positions are those whose mask is at least half (all
    non-zero ones when none is), and the style's sorted projections are read at the region's
    own quantiles. Sorting needs every position at once, so this loss is not additive: its
    :meth:`partial` takes the whole map only.

    :param styles: for each region, its style's features ``(C, M)`` (:func:`style_statistics`).
    :param masks: for each region, its mask at this layer ``(h, w)`` in [0, 1], or ``None``.
    :param generator: the random directions' source (CPU).
    """

    additive = False
    directions: Tensor

    def __init__(
        self,
        styles: Sequence[Tensor],
        masks: Sequence[Tensor | None],
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        generator = generator or torch.Generator().manual_seed(0)
        channels = styles[0].shape[0]
        d = torch.randn(channels, channels, generator=generator)
        self.register_buffer("directions", (d / d.norm(dim=0, keepdim=True)).to(styles[0]))
        self.regions = layer_regions(masks)
        self.picks = [None if m is None else _positions(m) for m in masks]
        #: each style's sorted projections ``(C, M)``, and read at each count of positions
        self.sorted = [(self.directions.T @ s.float()).sort(dim=1).values for s in styles]
        self.norms = [float(p.square().mean().clamp_min(1e-12)) for p in self.sorted]
        self._at: dict[tuple[int, int], Tensor] = {}

    def partial(self, features: Tensor, cells: Cells | None = None) -> Stats:
        """The ``(K,)`` distances themselves, as ``(distances,)``: the whole map only."""
        if cells is not None and not cells.is_whole(features):
            raise ValueError("the sliced style loss needs the whole feature map at once")
        f = features[0].float().flatten(1)
        out = []
        for k, (pick, norm) in enumerate(zip(self.picks, self.norms, strict=True)):
            x = f if pick is None else f[:, pick]
            proj = (self.directions.T @ x).sort(dim=1).values
            key = (k, proj.shape[1])
            if key not in self._at:
                self._at[key] = _quantiles(self.sorted[k], proj.shape[1])
            out.append((proj - self._at[key]).square().mean() / norm)
        return (torch.stack(out),)

    def value(self, stats: Stats) -> Tensor:
        """:returns: the ``(K,)`` distances of :meth:`partial`."""
        return stats[0]

    def forward(self, features: Tensor) -> Tensor:
        """:param features: ``(1, C, h, w)``. :returns: ``(K,)`` relative distances ≥ 0."""
        return self.value(self.partial(features))


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


# --- how a style image is summarised, per loss -----------------------------------------------


def _one_region(features: Tensor, mask: Tensor | None, cells: Cells | None) -> list[_Part | None]:
    """The one region ``mask`` (``None``: all) of a style image's ``features`` ``(1, C, h, w)``
    over ``cells`` (a tile's part of the full map's mask)."""
    cells = cells or Cells.whole(features)
    return _parts(layer_regions([mask]), cells)


def _gram_sums(features: Tensor, mask: Tensor | None, cells: Cells | None) -> Stats:
    return (_SecondMoments.apply(upcast(features), _one_region(features, mask, cells))[0],)


def _meancov_sums(features: Tensor, mask: Tensor | None, cells: Cells | None) -> Stats:
    f = upcast(features)
    parts = _one_region(f, mask, cells)
    return _first_moments(f, parts)[0], _SecondMoments.apply(f, parts)[0]


def _meancov_finish(sums: Stats) -> tuple[Tensor, Tensor]:
    mean, second = sums
    return mean, second - torch.outer(mean, mean)


def _sliced_sample(
    features: Tensor, mask: Tensor | None, generator: torch.Generator | None
) -> Tensor:
    """The features ``(C, M)`` at the mask's positions, at most :data:`SLICED_SAMPLES` of them
    (a random subset)."""
    flat = features[0].float().flatten(1)
    if mask is not None:
        flat = flat[:, _positions(mask)]
    if flat.shape[1] > SLICED_SAMPLES:
        keep = torch.randperm(flat.shape[1], generator=generator)[:SLICED_SAMPLES].sort().values
        flat = flat[:, keep.to(flat.device)]
    return flat


def _weighted_sum(terms: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    out = weights[0] * terms[0]
    for w, t in zip(weights[1:], terms[1:], strict=True):
        out = out + w * t
    return out


def _mixed_samples(
    samples: Sequence[Tensor], weights: Sequence[float], generator: torch.Generator | None
) -> Tensor:
    """Positions ``(C, M)`` drawn from each painting's ``(C, M_i)`` in the mix's proportions:
    as many as the scarcest painting (for its share) allows, none twice; a painting whose
    share takes all its positions gives them in order, without a draw."""
    total = min(s.shape[1] / w for s, w in zip(samples, weights, strict=True) if w > 0)
    parts = []
    for s, w in zip(samples, weights, strict=True):
        n = min(int(w * total), s.shape[1])
        if n == s.shape[1]:
            parts.append(s)
        elif n > 0:
            pick = torch.randperm(s.shape[1], generator=generator)[:n].sort().values
            parts.append(s[:, pick.to(s.device)])
    return torch.cat(parts, dim=1)


#: builds the loss module of one layer: (each region's style statistics, each region's mask at
#: that layer or ``None``, the random generator) → module with ``partial``/``value``/``forward``
ModuleFactory = Callable[[list[Any], list[Tensor | None], torch.Generator | None], TermLoss]


@dataclass(frozen=True)
class StyleLoss:
    """One row of :data:`STYLE_LOSSES`.

    :param module: builds the loss module of one layer (see :data:`ModuleFactory`).
    :param sums: an additive loss: a style image's statistics as sums over positions,
        ``(features (1, C, h, w), mask (h, w) of the full map or None, cells) → sums``, which
        add up over the tiles of a large painting; ``None``: not additive.
    :param finish: an additive loss: the totals of ``sums`` → the statistics ``module`` takes.
    :param sample: a loss that is not additive: ``(features, mask, generator) → statistics``.
    """

    module: ModuleFactory
    sums: Callable[[Tensor, Tensor | None, Cells | None], Stats] | None = None
    finish: Callable[[Stats], Any] | None = None
    sample: Callable[[Tensor, Tensor | None, torch.Generator | None], Any] | None = None

    @property
    def additive(self) -> bool:
        """Whether the statistics are sums over positions (the loss can be tiled exactly)."""
        return self.sums is not None

    def statistics(
        self, features: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Any:
        """What the loss compares with, from a style image's features at one layer.

        :param features: ``(C, h, w)``. :param mask: ``(h, w)`` in [0, 1] or ``None``.
        """
        return self.mixture([self.gather(features, mask, generator)], [1.0])

    def gather(
        self, features: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Any:
        """What one painting gives its target's statistics at one layer, before they are
        finished or mixed: the sums over positions (an additive loss; a large painting's add up
        tile by tile, :func:`~.objective.style_targets`), else the sampled positions.

        :param features: ``(C, h, w)``. :param mask: ``(h, w)`` in [0, 1] or ``None``.
        """
        if self.sums is not None:
            return self.sums(features[None], mask, None)
        assert self.sample is not None
        return self.sample(features[None], mask, generator)

    def mixture(
        self,
        gathered: Sequence[Any],
        weights: Sequence[float],
        generator: torch.Generator | None = None,
    ) -> Any:
        """The statistics of the mixture of several paintings' features at one layer.

        :param gathered: each painting's :meth:`gather`.
        :param weights: each painting's share of the mix, ``≥ 0``, summing to 1 (one
            painting: ``[1.0]``, its own statistics exactly).
        :param generator: which positions a ``sliced`` mix keeps.
        """
        if len(gathered) != len(weights) or not gathered:
            raise ValueError(f"got {len(gathered)} paintings' statistics for {len(weights)} shares")
        if self.sums is not None and self.finish is not None:
            if len(gathered) == 1:
                return self.finish(gathered[0])
            return self.finish(
                tuple(_weighted_sum(t, weights) for t in zip(*gathered, strict=True))
            )
        return _mixed_samples(gathered, weights, generator)


STYLE_LOSSES: dict[str, StyleLoss] = {
    "gram": StyleLoss(
        module=lambda stats, masks, _: GramStyleLoss(stats, masks),
        sums=_gram_sums,
        finish=lambda sums: sums[0],
    ),
    "meancov": StyleLoss(
        module=lambda stats, masks, _: MeanCovStyleLoss(stats, masks),
        sums=_meancov_sums,
        finish=_meancov_finish,
    ),
    "sliced": StyleLoss(
        module=lambda stats, masks, generator: SlicedStyleLoss(stats, masks, generator),
        sample=_sliced_sample,
    ),
}

if set(STYLE_LOSSES) != set(get_args(StyleLossName)):  # pragma: no cover - a developer's slip
    raise ImportError("STYLE_LOSSES and StyleLossName name different losses")


def style_loss(name: str) -> StyleLoss:
    """The row of ``name``; an unknown name is a ``ValueError`` that lists the known ones."""
    try:
        return STYLE_LOSSES[name]
    except KeyError:
        known = ", ".join(STYLE_LOSSES)
        raise ValueError(f"style_loss must be one of {known}, got {name!r}") from None


def style_statistics(
    features: Tensor,
    kind: str,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Any:
    """What the ``kind`` loss compares with, from a style image's features at one layer.

    :param features: ``(C, h, w)``.
    :param kind: ``gram`` → the (masked) Gram matrix ``(C, C)``; ``meancov`` → the mean
        ``(C,)`` and covariance ``(C, C)``, weighted by ``m²``; ``sliced`` → the features
        ``(C, M)`` at the mask's positions (at most :data:`SLICED_SAMPLES`, a random subset).
    :param mask: ``(h, w)`` in [0, 1] or ``None`` (the whole image).
    """
    return style_loss(kind).statistics(features, mask, generator)
