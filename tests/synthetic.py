"""Small synthetic images, masks and targets for compositor and metric tests."""

from __future__ import annotations

import torch

from tst_core.types import Target, Targets


def disc(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    """A binary disc mask ``(h, w)`` float32."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2).float()


def smooth_photo(h: int, w: int) -> torch.Tensor:
    """A smooth colour ramp ``(3, h, w)`` in [0.2, 0.8] (small gradients everywhere)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.2 + 0.6 * xx, 0.2 + 0.6 * yy, 0.5 + 0.3 * (xx - yy)]).clamp(0, 1)


def make_targets(*masks: torch.Tensor) -> Targets:
    """Targets from masks ``(H, W)``, later masks winning on overlaps, with flat style images."""
    from tst_core.select import resolve_overlaps

    resolved = resolve_overlaps(list(masks))
    items = tuple(
        Target(f"t{k}", m.contiguous(), torch.full((3, 8, 8), 0.1 * (k + 1)))
        for k, m in enumerate(resolved)
    )
    return Targets(items, tuple(masks[0].shape))
