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


def random_pictures(folder, photo=(36, 48), style=(32, 32), seed=0):
    """Write ``p.png`` and ``s.png`` (random colours, sizes ``(h, w)``) into ``folder``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, (h, w) in (("p.png", photo), ("s.png", style)):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder
