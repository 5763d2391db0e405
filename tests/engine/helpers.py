"""Small synthetic images and targets for the engine tests (no files needed)."""

from __future__ import annotations

import math

import torch

from tst_core.engine.losses import gram_matrix
from tst_core.engine.options import ADDITIONS_OFF
from tst_core.engine.vgg import extract_features
from tst_core.types import Target, Targets, Tensor

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

#: The paper's objective, for the tests of the engine's mechanics; each of tst's additions has
#: its own tests that turn it on.
PAPER = ADDITIONS_OFF


def photo(h: int = 64, w: int = 64) -> Tensor:
    """A smooth colour gradient with a bright disc: ``(3, h, w)`` in [0, 1]."""
    y = torch.linspace(0, 1, h).view(h, 1).expand(h, w)
    x = torch.linspace(0, 1, w).view(1, w).expand(h, w)
    disc = (((y - 0.5) ** 2 + (x - 0.6) ** 2) < 0.05).float()
    img = torch.stack([0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.6 - 0.3 * x * y]) + 0.3 * disc
    return img.clamp(0, 1).contiguous()


def stripes(h: int = 64, w: int = 64, period: float = 8.0, colors=((1, 0.1, 0.1), (0.1, 0.1, 1))):
    """Diagonal stripes of two colours: ``(3, h, w)`` in [0, 1]."""
    y = torch.arange(h).view(h, 1).float()
    x = torch.arange(w).view(1, w).float()
    t = (torch.sin(2 * math.pi * (x + y) / period) > 0).float()
    a, b = (torch.tensor(c).view(3, 1, 1) for c in colors)
    return (a * t + b * (1 - t)).contiguous()


def dots(h: int = 64, w: int = 64) -> Tensor:
    """Green and yellow speckles: ``(3, h, w)`` in [0, 1] (fixed seed)."""
    g = torch.Generator().manual_seed(7)
    n = (torch.rand(1, h // 4, w // 4, generator=g) > 0.5).float()
    n = torch.nn.functional.interpolate(n[None], size=(h, w), mode="nearest")[0]
    return torch.cat([n, 0.8 * torch.ones_like(n), 0.2 * n]).contiguous()


def box_mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> Tensor:
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = 1.0
    return m


def targets(masks, styles, strengths=None) -> Targets:
    """Targets from lists of masks ``(H, W)`` and styles ``(3, h, w)``."""
    strengths = strengths or [1.0] * len(masks)
    items = tuple(
        Target(f"t{k}", m, s, st)
        for k, (m, s, st) in enumerate(zip(masks, styles, strengths, strict=True))
    )
    return Targets(items, tuple(masks[0].shape))


def style_distance(image: Tensor, mask: Tensor | None, style: Tensor) -> float:
    """Mean relative Gram error of ``image`` inside ``mask`` against ``style`` (all layers)."""
    fi = extract_features(image, STYLE_LAYERS)
    fs = extract_features(style, STYLE_LAYERS)
    total = 0.0
    for name in STYLE_LAYERS:
        m = None
        if mask is not None:
            s = image.shape[-1] // fi[name].shape[-1]
            m = torch.nn.functional.avg_pool2d(mask[None, None], s, s)[0, 0] if s > 1 else mask
        g, a = gram_matrix(fi[name][0], m), gram_matrix(fs[name][0])
        total += float(((g - a) ** 2).mean() / (a**2).mean())
    return total / len(STYLE_LAYERS)
