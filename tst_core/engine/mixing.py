"""A mix of paintings for one target: the style statistics of their features' mixture.

A target styled ``a.jpg*0.7+b.jpg*0.3`` matches the statistics of a distribution that draws
70 % of its feature vectors from ``a``'s and 30 % from ``b``'s, at every style layer:

* ``gram``: the second moments ``E[f fᵀ]`` mix linearly, ``G = 0.7 G_a + 0.3 G_b``;
* ``meancov``: the mean and the second moments mix linearly, and the covariance is taken
  from those, ``Σ = Σ_i w_i (Σ_i + μ_i μ_iᵀ) − μ μᵀ`` with ``μ = Σ_i w_i μ_i`` (not the
  weighted sum of the covariances, which would miss the spread between the paintings);
* ``sliced``: the sampled feature vectors of each painting, in the mix's proportions.

These are the painting statistics of one target only: the loss compares them with the
target's region exactly as it compares one painting's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..types import Tensor


def mix_statistics(
    kind: str,
    stats: Sequence[Any],
    weights: Sequence[float],
    generator: torch.Generator | None = None,
) -> Any:
    """The statistics of the mixture of several paintings' features at one layer.

    :param kind: the ``style_loss`` (``gram``, ``meancov``, ``sliced``).
    :param stats: each painting's statistics (:func:`~.losses.style_statistics`).
    :param weights: each painting's share, summing to 1.
    :param generator: the random choice of the sliced loss's samples.
    """
    if len(stats) != len(weights) or not stats:
        raise ValueError(f"got {len(stats)} statistics for {len(weights)} weights")
    if len(stats) == 1:
        return stats[0]
    if kind == "gram":
        return sum(w * g for w, g in zip(weights, stats, strict=True))
    if kind == "meancov":
        mean = sum(w * m for w, (m, _) in zip(weights, stats, strict=True))
        second = sum(w * (c + torch.outer(m, m)) for w, (m, c) in zip(weights, stats, strict=True))
        assert isinstance(mean, Tensor) and isinstance(second, Tensor)
        return mean, second - torch.outer(mean, mean)
    return _mixed_samples(stats, weights, generator)


def _mixed_samples(
    samples: Sequence[Tensor], weights: Sequence[float], generator: torch.Generator | None
) -> Tensor:
    """Feature vectors ``(C, M)`` drawn from each painting's ``(C, M_i)`` in the mix's
    proportions: as many as the scarcest painting allows, without repeating any."""
    total = min(s.shape[1] / w for s, w in zip(samples, weights, strict=True) if w > 0)
    parts = []
    for s, w in zip(samples, weights, strict=True):
        n = int(w * total)
        if n <= 0:
            continue
        pick = torch.randperm(s.shape[1], generator=generator)[:n].sort().values
        parts.append(s[:, pick.to(s.device)])
    return torch.cat(parts, dim=1)
