"""The native-resolution schedule of the ``gatys`` engines, and its memory plan.

:meth:`~.gatys.GatysEngine.stylize_native` optimises each region coarse to fine: first at the
working size (``scale`` of the photo: the size at which today's path computes, so paintings
are sized relative to the object as there, ``scales`` as there), then at **native levels**,
each twice as fine as the one before, the last at the region's native pixels or at
``max_side`` (its box's long side), whichever is smaller (:func:`native_factors`). A region
stopped by ``max_side`` is brought the rest of the way by a guided upsampling
(:func:`tst_core.upsample.upsample_image`).

Every level is planned against the memory budget before anything runs (:func:`plan_level`):
what the level holds for its whole run (the optimiser's state, the photo's features, masks,
the image and its gradient) is counted first, and the network's activations get the rest: the
whole image in one pass when it fits, otherwise the largest tiles that fit (:mod:`.tiles`,
exact), with the L-BFGS history shortened when that makes the tiles larger. A level that
cannot fit even so is refused in one sentence before the run starts.

The byte counts per pixel are from :class:`~tst_core.memory.TensorMemory` measurements of the
VGG-19 objective (the forward and backward pass to ``relu5_1``: 2.72–2.83 kB per pixel at
128–256 px against the 2.44 kB of the activations themselves; a forward pass without gradient:
704 B per pixel), with a margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import EngineError
from ..memory import format_size
from .features import FeatureNet
from .optimize import LBFGS_HISTORY
from .tiles import Tiling, halo, plan_tiling

#: bytes of a forward and backward pass per input pixel, per float of activations per pixel
#: (Σ channels / stride² over the network's stages): measured 1.12–1.16, with a margin
GRAD_FACTOR = 1.3
#: bytes of a forward pass without gradient per input pixel, per float of the widest stage
#: (channels / stride²): measured 2.75 (704 B for VGG's 64 channels at stride 1)
FORWARD_FACTOR = 3.2
#: floats per pixel the whole-image terms hold while their gradient is taken (TV and the
#: colour TV: the image in RGB, its chroma, the differences and their squares)
IMAGE_TERMS = 24
#: the L-BFGS history may shrink this far to make room for larger tiles
MIN_HISTORY = 5
#: a tile's core (its pixels that count) is at least this many times the alignment; below it
#: the halo's recomputation costs more than the tiling saves
MIN_CORE_STRIDES = 4
#: cores from this side up are large enough: a longer L-BFGS history is worth more than larger
#: tiles (the halo then costs less than 80 % more per pass)
GOOD_CORE = 512
#: native levels are at least this much finer than the level before (a smaller last step
#: merges with the one below)
MIN_STEP = 1.5


def native_factors(final: float) -> list[float]:
    """The native levels' factors over the working size, coarse to fine, for a region whose
    finest level is ``final`` times the working size: ``final``, ``final / 2``, ... down to
    :data:`MIN_STEP` (empty when ``final`` is below it: the working size is the finest)."""
    if final < MIN_STEP:
        return []
    out = [final]
    while out[-1] / 2 >= MIN_STEP:
        out.append(out[-1] / 2)
    return out[::-1]


def final_factor(box_long_side: float, scale: float, max_side: int) -> float:
    """How many times the working size a region's finest level is: its native pixels
    (``1 / scale``), or fewer so its box's long side is at most ``max_side``; at least 1.

    :param box_long_side: the long side of the region's box in working pixels.
    """
    if max_side <= 0:
        return 1.0
    return max(1.0, min(1.0 / scale, max_side / box_long_side))


@dataclass(frozen=True)
class Footprint:
    """Bytes per pixel of what one optimisation level holds.

    :param activations: a forward and backward pass, per pixel of the image (or tile) fed.
    :param forward: a forward pass without gradient, per pixel fed.
    :param features: the photo's features at the content and detail layers, per image pixel.
    """

    activations: float
    forward: float
    features: float


def footprint(net: FeatureNet, content: Sequence[str], all_layers: Sequence[str]) -> Footprint:
    """The :class:`Footprint` of ``net`` computing ``all_layers`` (``content``: the layers whose
    features of the photo are kept)."""
    order = [s.name for s in net.specs]
    deepest = max((net.spec(n).name for n in all_layers), key=order.index)
    stages = net.specs[: order.index(deepest) + 1]
    per_pixel = sum(s.channels / s.stride**2 for s in stages)
    widest = max(s.channels / s.stride**2 for s in stages)
    kept = sum(net.spec(n).channels / net.spec(n).stride ** 2 for n in set(content))
    return Footprint(4 * GRAD_FACTOR * per_pixel, 4 * FORWARD_FACTOR * widest, 4 * kept)


@dataclass(frozen=True)
class LevelPlan:
    """How one level runs within the budget.

    :param size: ``(h, w)`` optimised (with the pads beyond the frame).
    :param tiling: the tiles of the forward and backward passes (``whole``: one pass).
    :param history: L-BFGS curvature pairs kept.
    :param estimate: bytes this level needs at its peak, beside the job's own.
    """

    size: tuple[int, int]
    tiling: Tiling
    history: int
    estimate: int

    def facts(self) -> dict[str, object]:
        """For the report."""
        return {
            "size": [self.size[1], self.size[0]],
            "tiles": 1 if self.tiling.whole else self.tiling.count,
            "tile_core": None if self.tiling.whole else self.tiling.core,
            "history": self.history,
            "estimate_mib": round(self.estimate / 2**20, 1),
        }


def plan_level(
    net: FeatureNet,
    layers: Sequence[str],
    fp: Footprint,
    size: tuple[int, int],
    *,
    channels: int,
    masks: int,
    paintings: Sequence[tuple[int, int]],
    budget: int,
    history: int = LBFGS_HISTORY,
    what: str = "a region",
) -> LevelPlan:
    """Plan one level of ``size`` ``(h, w)`` within ``budget`` bytes.

    :param layers: every layer the objective reads (their deepest sets the tiles' halo).
    :param channels: the image's channels (1: grey).
    :param masks: how many target masks the level holds.
    :param paintings: the paintings' sizes at this level (their statistics are taken tile by
        tile too, before the optimisation).
    :param history: the L-BFGS history wanted (shortened down to :data:`MIN_HISTORY` when
        that makes the tiles larger).
    :raises EngineError: when even the smallest tiles and history do not fit.
    """
    reach, align = halo(net, layers)
    pixels = size[0] * size[1]
    image = 4 * channels * pixels
    # held for the whole level: the photo's features, the content image in RGB, the masks
    # (and their copies at each layer, a third more), the whole-image terms, the image's
    # gradient and the copy the tiles read
    held = pixels * (fp.features + 12 + 4 * masks * 4 / 3 + 4 * IMAGE_TERMS) + 2 * image
    statistics = max((painting_need(fp, p, reach, align) for p in paintings), default=0)
    smallest = (MIN_CORE_STRIDES * align + 2 * reach) ** 2
    histories = [h for h in range(history, MIN_HISTORY - 1, -5)] or [history]
    best: LevelPlan | None = None
    for h in histories:
        optimiser = (2 * h + 6) * image  # curvature pairs, direction, gradients, step
        room = budget - held - optimiser
        tiling = plan_tiling(size, max(0, int(room / fp.activations)), reach, align)
        tile = tiling.window_pixels * fp.activations
        if tile > room or (not tiling.whole and tiling.core < MIN_CORE_STRIDES * align):
            continue
        plan = LevelPlan(size, tiling, h, int(max(held + optimiser + tile, statistics)))
        if tiling.whole or tiling.core >= GOOD_CORE:
            return plan
        if best is None or plan.tiling.core > best.tiling.core:
            best = plan
    if best is None:
        need = held + (2 * min(histories) + 6) * image + smallest * fp.activations
        raise EngineError(
            f"{what} needs at least {format_size(need)} of memory at {size[1]}×{size[0]} px "
            f"(L-BFGS history {min(histories)}, the smallest tiles), more than the budget of "
            f"{format_size(budget)}; raise --max-memory or lower engine.gatys.max_side"
        )
    return best


def painting_need(fp: Footprint, size: tuple[int, int], reach: int, align: int) -> int:
    """Bytes to take a painting's statistics at ``size`` in tiles of the smallest useful core
    (the painting itself and one tile's forward pass)."""
    smallest = (MIN_CORE_STRIDES * align + 2 * reach) ** 2
    return int(12 * size[0] * size[1] + min(size[0] * size[1], smallest) * fp.forward)


def forward_tiling(
    fp: Footprint, size: tuple[int, int], room: int, reach: int, align: int
) -> Tiling:
    """The largest tiles whose forward pass without gradient fits in ``room`` bytes."""
    return plan_tiling(size, max(0, int(room / fp.forward)), reach, align)
