"""Exact tiling: the objective's value and gradient for an image too large for one pass.

The image is cut into **tiles**: a core (the pixels whose feature cells count) and a halo
around it as wide as the receptive field of the deepest layer used, so that every core cell's
features equal the untiled ones (the halo's own cells, which see the tile's border, are
dropped). Cores are aligned to the deepest layer's stride, so the tiles' cells partition every
feature map.

Every term of the objective is a function of sums over cells (:mod:`.style_losses`): a style
term is ``L(S)`` with ``S = Σ_tiles S_t``, and its gradient is ``Σ_t ⟨∂L/∂S, ∂S_t/∂x⟩``, the
sum of per-tile gradients with the upstream ``∂L/∂S`` fixed from the totals. So one evaluation
is two passes over the tiles:

1. without gradients, each tile's style statistics, added up into the totals;
2. the upstream gradient of the total loss with respect to those totals, then for each tile
   the backward pass of ``⟨upstream, S_t⟩`` (plus the tile's share of the content and detail
   terms, which are plain sums), added into the image's gradient.

The total-variation terms are computed on the whole image (they hold no activations). Only
one tile's activations exist at a time, so memory is bounded by the tile size whatever the
image size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..boxes import Box
from ..types import Tensor
from .features import FeatureNet
from .style_losses import Cells, Stats, TermLoss


@dataclass(frozen=True)
class Tile:
    """One tile of an image.

    :param window: the pixels the network sees: the core and its halo, inside the image.
    :param core: the pixels whose cells count.
    """

    window: Box
    core: Box

    def crop(self, image: Tensor) -> Tensor:
        """The window of ``image`` ``(..., H, W)``."""
        rows, cols = self.window.slices()
        return image[..., rows, cols]


@dataclass(frozen=True)
class Tiling:
    """How an image of ``size`` is cut: square cores of ``core`` pixels (the last row and
    column smaller), each with ``halo`` pixels around it.

    :param size: ``(H, W)`` of the image.
    :param core: the side of a core, a multiple of ``align``.
    :param halo: pixels on each side of a core, a multiple of ``align``.
    :param align: the deepest layer's stride.
    """

    size: tuple[int, int]
    core: int
    halo: int
    align: int

    def __post_init__(self) -> None:
        if self.core <= 0 or self.core % self.align or self.halo % self.align:
            raise ValueError(
                f"tile core {self.core} and halo {self.halo} must be multiples of {self.align}"
            )

    @property
    def whole(self) -> bool:
        """Whether one tile holds the whole image."""
        return self.core >= max(self.size)

    def tiles(self) -> Iterator[Tile]:
        """The tiles, row by row."""
        h, w = self.size
        for y0 in range(0, h, self.core):
            for x0 in range(0, w, self.core):
                core = Box(x0, y0, min(w, x0 + self.core), min(h, y0 + self.core))
                window = Box(
                    max(0, x0 - self.halo),
                    max(0, y0 - self.halo),
                    min(w, core.x1 + self.halo),
                    min(h, core.y1 + self.halo),
                )
                yield Tile(window, core)

    @property
    def count(self) -> int:
        """The number of tiles."""
        return math.ceil(self.size[0] / self.core) * math.ceil(self.size[1] / self.core)

    @property
    def window_pixels(self) -> int:
        """The pixels of the largest tile window."""
        side = self.core + 2 * self.halo
        return min(side, self.size[0]) * min(side, self.size[1])

    def cells(self, tile: Tile, net: FeatureNet, layer: str, features: Tensor) -> Cells:
        """Which cells of ``layer``'s full map the tile's ``features`` hold and which count."""
        stride = net.spec(layer).stride
        full = net.map_size(self.size, layer)
        oy, ox = int(tile.window.y0) // stride, int(tile.window.x0) // stride
        y0, x0 = int(tile.core.y0) // stride, int(tile.core.x0) // stride
        # a core that ends at the image's edge holds every cell up to the map's end
        y1 = full[0] if tile.core.y1 >= self.size[0] else int(tile.core.y1) // stride
        x1 = full[1] if tile.core.x1 >= self.size[1] else int(tile.core.x1) // stride
        assert oy + features.shape[-2] >= y1 and ox + features.shape[-1] >= x1
        return Cells((oy, ox), Box(x0, y0, x1, y1), full)


def halo(net: FeatureNet, layers: Sequence[str]) -> tuple[int, int]:
    """``(halo, align)`` for ``layers`` of ``net``: the deepest stride, and the receptive field's
    reach beyond a cell's own block (``(field - stride) / 2``) rounded up to it."""
    specs = [net.spec(n) for n in layers]
    align = max(s.stride for s in specs)
    reach = max(math.ceil((s.field - s.stride) / 2) for s in specs)
    return -(-reach // align) * align, align


def plan_tiling(size: tuple[int, int], window_pixels: int, halo: int, align: int) -> Tiling:
    """The tiling with the largest cores whose windows hold at most ``window_pixels`` pixels
    (one tile when the whole image does); cores are at least ``align``."""
    h, w = size
    if h * w <= window_pixels:
        return Tiling(size, _ceil_to(max(h, w), align), halo, align)
    core = align
    while True:
        bigger = Tiling(size, core + align, halo, align)
        if bigger.window_pixels > window_pixels or core + align >= max(h, w):
            break
        core += align
    return Tiling(size, core, halo, align)


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


# --- the passes ------------------------------------------------------------------------------

#: the features of an image ``(1, C, h, w)`` at the named layers
FeaturesFn = Callable[[Tensor, Sequence[str]], Mapping[str, Tensor]]
#: term key → (layer, module with ``partial``/``value``)
Modules = Mapping[str, tuple[str, TermLoss]]


def stitched_features(
    features: FeaturesFn, net: FeatureNet, image: Tensor, layers: Sequence[str], tiling: Tiling
) -> dict[str, Tensor]:
    """The full feature maps of ``image`` ``(1, C, H, W)`` at ``layers``, computed tile by tile
    without gradients: equal to the untiled ones."""
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for tile in tiling.tiles():
            feats = features(tile.crop(image), layers)
            for name in layers:
                f = feats[name]
                cells = tiling.cells(tile, net, name, f)
                if name not in out:
                    full = net.map_size(tiling.size, name)
                    out[name] = f.new_zeros((f.shape[0], f.shape[1], *full))
                rows, cols = cells.core.slices()
                here = cells.local(cells.core).slices()
                out[name][:, :, rows, cols] = f[:, :, here[0], here[1]]
    return out


def accumulate(
    features: FeaturesFn, net: FeatureNet, image: Tensor, modules: Modules, tiling: Tiling
) -> dict[str, Stats]:
    """Pass 1: each module's statistics over the whole image, added up tile by tile without
    gradients."""
    layers = sorted({layer for layer, _ in modules.values()})
    totals: dict[str, Stats] = {}
    with torch.no_grad():
        for tile in tiling.tiles():
            feats = features(tile.crop(image), layers)
            for key, (layer, module) in modules.items():
                part = module.partial(feats[layer], tiling.cells(tile, net, layer, feats[layer]))
                totals[key] = _add(totals.get(key), part)
    return totals


def backward(
    features: FeaturesFn,
    net: FeatureNet,
    image: Tensor,
    modules: Modules,
    upstream: Mapping[str, Sequence[Tensor | None]],
    tiling: Tiling,
) -> tuple[Tensor, dict[str, Stats]]:
    """Pass 2: ``Σ_t ∂⟨upstream, S_t⟩/∂image`` tile by tile, and the modules' statistics
    (detached) as a by-product.

    :param upstream: for each module, the gradient of the total loss with respect to each of
        its statistics' totals (``None``: it does not depend on that one).
    :returns: the gradient ``(1, C, H, W)`` and the totals.
    """
    grad = torch.zeros_like(image)
    layers = sorted({layer for layer, _ in modules.values()})
    totals: dict[str, Stats] = {}
    for tile in tiling.tiles():
        x = tile.crop(image).detach().requires_grad_(True)
        feats = features(x, layers)
        surrogate = x.new_zeros(())
        for key, (layer, module) in modules.items():
            part = module.partial(feats[layer], tiling.cells(tile, net, layer, feats[layer]))
            for u, p in zip(upstream[key], part, strict=True):
                if u is not None:
                    surrogate = surrogate + (u * p).sum()
            totals[key] = _add(totals.get(key), tuple(p.detach() for p in part))
        if surrogate.requires_grad:
            (tile_grad,) = torch.autograd.grad(surrogate, x)
            rows, cols = tile.window.slices()
            grad[..., rows, cols] += tile_grad
        del feats, surrogate, x
    return grad, totals


def _add(total: Stats | None, part: Stats) -> Stats:
    return part if total is None else tuple(a + b for a, b in zip(total, part, strict=True))
