"""One region's optimisation, prepared: its photo window, masks and paintings, and its levels
(the coarse-to-fine steps), for the working-size path (:func:`prepare`) and the native path
(:func:`prepare_native`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch.nn.functional as F

from ..boxes import Box
from ..errors import EngineError
from ..imageops import resize_image, resize_long_side, to_grey
from ..types import MAX_PAINTING_SIDE, Painting, Target, Targets, Tensor, resize_mask
from .canvas import crop, is_grey
from .color import matched_luminance
from .native import LevelPlan, final_factor, native_factors
from .options import GatysOptions
from .plan import (
    Region,
    box_long_side,
    frame_pads,
    painting_side,
    plan_scales,
    scaled_size,
)


@dataclass(frozen=True)
class Level:
    """One step of a region's coarse-to-fine loop.

    :param fraction: the optimised size as a fraction of the job's ``content``.
    :param iterations: optimiser steps.
    :param factor: how finely the level samples the working image (the TV terms' factor, see
        :class:`~.objective.Objective`).
    :param painting_scale: the paintings are the job's ``paintings`` resized by this; ``None``:
        painted afresh at ``factor`` times their working size (from the painting's source).
    :param plan: the level's memory plan (native runs); ``None``: one pass, the default history.
    :param name: for messages (``scale 1 of 2``, ``native level 2 of 3``).
    """

    fraction: float
    iterations: int
    factor: float
    painting_scale: float | None
    plan: LevelPlan | None = None
    name: str = ""


@dataclass
class Job:
    """One region's inputs on the engine's device, and its levels.

    :param content: the photo's window ``(C, h, w)`` (grey: C = 1), with the pads beyond the
        frame: at the region's sampled size (working path) or native size (native path).
    :param masks: the region's targets' masks ``(k, h, w)`` at the same size, or ``None``.
    :param paintings: each target's paintings (one, or the several its style mixes, as
        :meth:`~tst_core.types.Target.paintings`) at the base size the levels resize.
    :param sides: each target's painting long side in working pixels (``None``: as loaded).
    :param painting_masks: each target's style mask (of its first painting), or ``None``.
    :param native_box: the region's box in native pixels (native path), or ``None``.
    """

    region: Region
    content: Tensor
    masks: Tensor | None
    targets: list[Target]
    paintings: list[list[Tensor]]
    sides: list[float | None]
    painting_masks: list[Tensor | None]
    levels: list[Level]
    skipped: list[tuple[float, int]]
    channels: int
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    native_box: Box | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    #: bytes the levels may use beside what the job holds (native runs), or ``None``
    room: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` of ``content``: the sampled region and its pads."""
        return int(self.content.shape[-2]), int(self.content.shape[-1])

    @property
    def box(self) -> Box:
        """Where the result goes in the output image (native pixels on the native path)."""
        return self.native_box or self.region.box

    def unpadded(self, x: Tensor) -> Tensor:
        """``x`` ``(C, h, w)`` at the size of ``content`` without the pads beyond the frame."""
        left, right, top, bottom = self.pads
        return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]

    @property
    def shares(self) -> list[list[float]]:
        """Each target's paintings' shares of its style (``[1.0]`` for one painting)."""
        return [[p.weight for p in t.paintings()] for t in self.targets]

    def painting_sizes(self, level: Level) -> list[tuple[int, int]]:
        """``(h, w)`` of every painting of the targets at ``level`` (without making them)."""
        if level.painting_scale is not None:
            s = level.painting_scale
            return [scaled_size(_hw(p), s) for mix in self.paintings for p in mix]
        return [
            _hw_of(_painting_image(p, side, level.factor), _painting_side(p, side, level.factor))
            for t, side in zip(self.targets, self.sides, strict=True)
            for p in t.paintings()
        ]

    def paintings_at(self, level: Level, options: GatysOptions) -> list[list[Tensor]]:
        """The targets' paintings at ``level`` (each target's one or several)."""
        if level.painting_scale is not None:
            s = level.painting_scale
            return [
                [resize_image(p, scaled_size(_hw(p), s)) for p in mix] for mix in self.paintings
            ]
        out = []
        for i, (target, side) in enumerate(zip(self.targets, self.sides, strict=True)):
            mix = [
                painting(p, side, level.factor).to(self.content.device) for p in target.paintings()
            ]
            if luminance_only(target, options):
                m = None if self.masks is None else self.masks[i]
                mix = [matched_luminance(p, _rgb3(self.content), m) for p in mix]
            out.append(mix)
        return out


def painting(p: Painting, side: float | None, factor: float) -> Tensor:
    """A target's painting ``(3, h, w)`` with the long side ``side`` (``None``: the style
    image's) times ``factor``, at most :data:`~tst_core.types.MAX_PAINTING_SIDE`; resized from
    its ``source`` when the style image is smaller than that (enlarging it would blur the
    strokes that supersampling is there to paint)."""
    long_side = _painting_side(p, side, factor)
    return resize_long_side(_painting_image(p, side, factor), long_side)


def _painting_side(p: Painting, side: float | None, factor: float) -> float:
    return min((side or max(p.image.shape[-2:])) * factor, MAX_PAINTING_SIDE)


def _painting_image(p: Painting, side: float | None, factor: float) -> Tensor:
    """The image :func:`painting` resizes: the style, or its source when the style is smaller."""
    if p.source is None or max(p.image.shape[-2:]) >= _painting_side(p, side, factor):
        return p.image
    return p.source


def _hw_of(image: Tensor, side: float) -> tuple[int, int]:
    """``(h, w)`` of ``image`` resized to the long side ``side`` (as ``resize_long_side``)."""
    h, w = image.shape[-2:]
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def prepare(
    photo: Tensor,
    masks: Tensor,
    targets: Targets,
    region: Region,
    style_masks: Sequence[Tensor | None] | None,
    options: GatysOptions,
    device: Any,
    min_side: int,
) -> Job:
    """A region's content, masks and paintings at its sampled size, and its scales (the
    working-size path)."""
    o, frame = options, (int(photo.shape[-2]), int(photo.shape[-1]))
    size = region.sampled
    content = resize_image(crop(photo, region.box), size).to(device)
    region_masks = None
    if region.masked:
        region_masks = resize_mask(crop(masks[list(region.targets)], region.box), size)
        region_masks = region_masks.to(device)
    paintings, painting_masks, sides = [], [], []
    for k in region.targets:
        box_side = box_long_side(masks[k] if region.masked else None, frame)
        side = painting_side(targets[k], box_side, o)
        sides.append(side)
        mix = [painting(p, side, region.factor).to(device) for p in targets[k].paintings()]
        paintings.append(mix)
        m = None if style_masks is None else style_masks[k]
        painting_masks.append(None if m is None else resize_mask(m, _hw(mix[0])).to(device))
    chosen = [targets[k] for k in region.targets]
    content, paintings, grey = _colours(content, region_masks, paintings, chosen, o)
    pads = frame_pads(region.box, frame, round(o.frame_pad * region.factor), size)
    content, region_masks = _pad(content, region_masks, pads)
    sizes = [size, *(_hw(p) for mix in paintings for p in mix)]
    check_sizes(sizes, min_side)
    steps, skipped = plan_scales(sizes, o, min_side)
    levels = [
        Level(s, its, region.factor, s, name=f"scale {i + 1} of {len(steps)}")
        for i, (s, its) in enumerate(steps)
    ]
    return Job(
        region,
        content,
        region_masks,
        [targets[k] for k in region.targets],
        paintings,
        sides,
        painting_masks,
        levels,
        skipped,
        1 if grey else 3,
        pads,
    )


def prepare_native(
    photo: Tensor,
    masks: Tensor,
    working: Tensor,
    targets: Targets,
    region: Region,
    scale: float,
    options: GatysOptions,
    device: Any,
    min_side: int,
) -> Job:
    """A region of the native photo: its window at native size, its masks there, its paintings
    at the working size, and its levels (working scales, then the native levels).

    :param photo: the native photo ``(3, H, W)``; ``masks`` its targets' masks ``(K, H, W)``.
    :param working: the masks at the working size ``(K, h, w)``, where ``region`` was planned.
    :param scale: working pixels per native pixel.
    """
    o, frame = options, (int(photo.shape[-2]), int(photo.shape[-1]))
    work_frame = (int(working.shape[-2]), int(working.shape[-1]))
    box = native_box(region.box, scale, frame)
    content = crop(photo, box).to(device)
    region_masks = None
    if region.masked:
        region_masks = crop(masks[list(region.targets)], box).to(device)
    paintings, sides = [], []
    for k in region.targets:
        box_side = box_long_side(working[k] if region.masked else None, work_frame)
        side = painting_side(targets[k], box_side, o)
        sides.append(side)
        paintings.append([painting(p, side, 1.0).to(device) for p in targets[k].paintings()])
    chosen = [targets[k] for k in region.targets]
    content, paintings, grey = _colours(content, region_masks, paintings, chosen, o)
    native = (int(box.height), int(box.width))
    pads = frame_pads(box, frame, round(o.frame_pad / scale), native)
    content, region_masks = _pad(content, region_masks, pads)
    work_size = scaled_size(native, scale)
    sizes = [work_size, *(_hw(p) for mix in paintings for p in mix)]
    check_sizes(sizes, min_side)
    steps, skipped = plan_scales(sizes, o, min_side)
    levels = [
        Level(s * scale, its, 1.0, s, name=f"scale {i + 1} of {len(steps)}")
        for i, (s, its) in enumerate(steps)
    ]
    final = final_factor(max(native) * scale, scale, o.max_side)
    factors = native_factors(final)
    for i, f in enumerate(factors):
        from_finest = len(factors) - 1 - i
        its = o.native_iterations[min(from_finest, len(o.native_iterations) - 1)]
        levels.append(
            Level(min(1.0, f * scale), its, f, None, name=f"native level {i + 1} of {len(factors)}")
        )
    facts = {
        "native_box": [int(v) for v in box],
        "final_factor": round(final, 3),
        "native_factors": [round(f, 3) for f in factors],
    }
    return Job(
        region,
        content,
        region_masks,
        [targets[k] for k in region.targets],
        paintings,
        sides,
        [None] * len(paintings),
        levels,
        skipped,
        1 if grey else 3,
        pads,
        box,
        facts,
    )


def native_box(box: Box, scale: float, frame: tuple[int, int]) -> Box:
    """A working-size box in native pixels (outward to whole pixels, inside ``frame``)."""
    return box.scaled(1 / scale, 1 / scale).pixels().clipped(frame).pixels()


def check_sizes(sizes: list[tuple[int, int]], min_side: int) -> None:
    """Refuse a region (``sizes[0]``) or a painting smaller than the deepest layer's stride."""
    for what, size in (("the region", sizes[0]), ("a style image", min(sizes[1:], key=min))):
        if min(size) < min_side:
            raise EngineError(
                f"{what} is {size[1]}×{size[0]} px, smaller than the {min_side} px "
                "the deepest network layer needs; use a larger --size (or --style-size)"
            )


def luminance_only(target: Target, options: GatysOptions) -> bool:
    """Whether ``target`` is stylised on luminance alone: the whole run's ``preserve_color``,
    or its own ``@color=keep``. Its paintings are then their luminance matched to the photo's
    inside the target (Gatys et al. 2017, section 5.1), so the painting's own tones and
    colours do not shift the target's brightness before the photo's colours are put back."""
    return options.preserve_color or target.options.keeps_color


def _colours(
    content: Tensor,
    masks: Tensor | None,
    paintings: list[list[Tensor]],
    targets: Sequence[Target],
    options: GatysOptions,
) -> tuple[Tensor, list[list[Tensor]], bool]:
    """Luminance only (``preserve_color`` for the whole run, ``@color=keep`` for one target's
    paintings), and one channel when nothing has colour."""
    if options.preserve_color:
        content = to_grey(content)
    paintings = [
        [matched_luminance(p, content, None if masks is None else masks[i]) for p in mix]
        if luminance_only(target, options)
        else mix
        for i, (mix, target) in enumerate(zip(paintings, targets, strict=True))
    ]
    grey = is_grey(content) and all(is_grey(p) for mix in paintings for p in mix)
    if grey:  # no colour anywhere: optimise one channel so none can appear
        content = content[:1]
    return content, paintings, grey


def _pad(
    content: Tensor, masks: Tensor | None, pads: tuple[int, int, int, int]
) -> tuple[Tensor, Tensor | None]:
    if any(pads):
        content = F.pad(content[None], pads, mode="reflect")[0]
        if masks is not None:
            masks = F.pad(masks[None], pads, mode="reflect")[0]
    return content, masks


def _hw(image: Tensor) -> tuple[int, int]:
    return int(image.shape[-2]), int(image.shape[-1])


def _rgb3(image: Tensor) -> Tensor:
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image
