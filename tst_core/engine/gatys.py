"""The ``gatys`` engine (K masked styles in one optimisation) and the ``gatys-full`` baseline.

``gatys`` optimises images in which every target's region matches its own style image's
statistics while the whole frame keeps the photo's content (Gatys et al. 2016 with the
localized loss of Wells, Wood & Xiao 2017 and Gatys et al. 2017). ``gatys-full`` stylises the
whole frame once per target with the plain loss and leaves the cutting to the compositor, the
naive approach, kept to compare quality and speed on the same job.

:meth:`GatysEngine.stylize` reads top to bottom: plan the regions (:mod:`.plan`), then for each
region size its paintings and run the coarse-to-fine loop, one :func:`~.optimize.optimize` per
scale, and paste the result back (:mod:`.canvas`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..boxes import Box
from ..device import resolve_device, torch_threads
from ..errors import DivergedError, EngineError
from ..imageops import resize_image, resize_long_side, to_grey
from ..types import (
    MAX_PAINTING_SIDE,
    Env,
    Progress,
    ProgressFn,
    StylizeResult,
    Target,
    Targets,
    Tensor,
    check_image,
    resize_mask,
)
from .canvas import crop, initial_image, is_grey, paste
from .color import matched_luminance
from .objective import Objective, style_targets
from .optimize import optimize
from .options import GatysOptions
from .plan import (
    Region,
    box_long_side,
    frame_pads,
    grow_masks,
    masked_regions,
    painting_side,
    plan_scales,
    scaled_size,
)
from .precision import check_precision
from .vgg import build_network, receptive_field


@dataclass
class Counter:
    """Counts iterations over every region and scale, keeps the losses, calls ``progress``."""

    progress: ProgressFn | None
    total: int
    snapshot_every: int = 0
    start: float = field(default_factory=time.perf_counter)
    step: int = 0
    losses: list[dict[str, float]] = field(default_factory=list)

    def __call__(self, terms: dict[str, float], snapshot: Callable[[], Tensor]) -> None:
        self.step += 1
        self.losses.append(terms)
        if self.progress is None:
            return
        wanted = self.snapshot_every and self.step % self.snapshot_every == 0
        elapsed = time.perf_counter() - self.start
        image = snapshot() if wanted else None
        self.progress(Progress("stylize", self.step, self.total, terms, elapsed, image))


@dataclass
class _Job:
    """One region's inputs at its final scale, on the engine's device."""

    region: Region
    content: Tensor  # (C, h, w): the photo's window at the sampled size (grey: C = 1)
    masks: Tensor | None  # (k, h, w) of the region's targets, or None (unmasked)
    paintings: list[Tensor]  # each target's painting, sized for it
    painting_masks: list[Tensor | None]
    steps: list[tuple[float, int]]  # the coarse-to-fine (scale, iterations) to run
    skipped: list[tuple[float, int]]
    channels: int  # 1: photo and paintings are grey, optimise one channel
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, right, top, bottom beyond the frame

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` optimised at the final scale: the sampled region and its pads."""
        return int(self.content.shape[-2]), int(self.content.shape[-1])

    def unpadded(self, x: Tensor) -> Tensor:
        """``x`` ``(C, h, w)`` at the final scale without the pads beyond the frame."""
        left, right, top, bottom = self.pads
        return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


class GatysEngine:
    """All targets of a region in one optimisation; ``layers`` are K views of one image.

    :param options: the engine's options. :param env: device and seed.
    """

    name = "gatys"

    def __init__(self, options: GatysOptions | None = None, env: Env | None = None) -> None:
        self.options = o = options or GatysOptions()
        env = env or Env()
        self.device = resolve_device(env.device)
        self.seed = env.seed if env.seed is not None else random.SystemRandom().randrange(2**31)
        check_precision(o.precision, self.device)
        self.net = build_network(
            o.network,
            layers=(*o.content_layers, *o.detail_layers, *o.style_layers),
            pooling=o.pooling,
            padding=o.padding,
            weights=o.weights,
            device=self.device,
            weights_option=f"--set engine.{self.name}.weights=FILE",
            alternatives=f"or use the embedded network (engine.{self.name}.network=vgg19)",
        )
        layers = (*o.style_layers, *o.content_layers, *o.detail_layers)
        #: the deepest layer's stride: no image may be smaller
        self.min_side = max(receptive_field(n, self.net.arch).stride for n in layers)

    def regions(self, masks: Tensor, targets: Targets) -> list[Region]:
        """The optimisations to run (:func:`~.plan.masked_regions`); one output image."""
        if float(masks.amax()) <= 0.0:
            raise EngineError(
                f"nothing to stylise: every target's mask is empty at the working size "
                f"{masks.shape[-1]}×{masks.shape[-2]}; choose other instances or a larger --size"
            )
        return masked_regions(masks, list(targets), self.options)

    def stylize(
        self,
        photo: Tensor,
        targets: Targets,
        progress: ProgressFn | None = None,
        *,
        style_masks: Sequence[Tensor | None] | None = None,
    ) -> StylizeResult:
        """Stylise the targets of ``photo``.

        :param photo: ``(3, H, W)`` in [0, 1].
        :param targets: K targets with masks at ``(H, W)``.
        :param progress: called once per iteration (see :class:`~tst_core.types.Progress`).
        :param style_masks: optional, one per target: a ``(h, w)`` mask of its style image, so
            that only that part of the painting is the style (Python API only).
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1], per-iteration losses, report facts.
        """
        masks = grow_masks(_check_inputs(photo, targets, style_masks), self.options.band)
        o = self.options
        t0 = time.perf_counter()
        jobs = [
            self._prepare(photo, masks, targets, r, style_masks)
            for r in self.regions(masks, targets)
        ]
        counter = Counter(progress, sum(i for j in jobs for _, i in j.steps), o.snapshot_every)
        canvases = [photo.clone() for _ in range(max(j.region.canvas for j in jobs) + 1)]
        with torch_threads(o.threads):
            try:
                for job in jobs:
                    x = self._optimise(job, targets, counter, canvases[job.region.canvas])
                    paste(
                        canvases[job.region.canvas],
                        _rgb(job.unpadded(x)),
                        job.region.box,
                        o.preserve_color,
                    )
            except DivergedError as exc:
                cause = divergence_cause(photo, targets, o)
                if cause is None:
                    raise
                raise DivergedError(f"{exc.summary}: {cause}", exc.summary) from None
        seconds = time.perf_counter() - t0
        info = {
            **self._facts(),
            "iterations": counter.step,
            "seconds": round(seconds, 3),
            "seconds_per_iteration": round(seconds / max(1, counter.step), 4),
            "regions": [_region_facts(j, photo) for j in jobs],
            "skipped_scales": sorted({s for j in jobs for s, _ in j.skipped}),
            "empty_targets": [k for k in range(len(targets)) if float(masks[k].amax()) <= 0],
        }
        return StylizeResult(self._layers(canvases, len(targets)), counter.losses, info)

    def _layers(self, canvases: list[Tensor], k: int) -> Tensor:
        """The K layers: K views of the one output image."""
        return canvases[0].expand(k, -1, -1, -1)

    def _prepare(
        self,
        photo: Tensor,
        masks: Tensor,
        targets: Targets,
        region: Region,
        style_masks: Sequence[Tensor | None] | None,
    ) -> _Job:
        """A region's content, masks and paintings at its sampled size, and its scales."""
        o, frame = self.options, (int(photo.shape[-2]), int(photo.shape[-1]))
        size = region.sampled
        content = resize_image(crop(photo, region.box), size).to(self.device)
        region_masks = None
        if region.masked:
            region_masks = resize_mask(crop(masks[list(region.targets)], region.box), size)
            region_masks = region_masks.to(self.device)
        paintings, painting_masks = [], []
        for k in region.targets:
            box_side = box_long_side(masks[k] if region.masked else None, frame)
            side = painting_side(targets[k], box_side, o)
            painting = _painting(targets[k], side, region.factor)
            paintings.append(painting.to(self.device))
            m = None if style_masks is None else style_masks[k]
            painting_masks.append(
                None if m is None else resize_mask(m, _hw(painting)).to(self.device)
            )
        if o.preserve_color:
            content = to_grey(content)
            paintings = [
                matched_luminance(p, content, None if region_masks is None else region_masks[i])
                for i, p in enumerate(paintings)
            ]
        grey = is_grey(content) and all(is_grey(p) for p in paintings)
        if grey:  # no colour anywhere: optimise one channel so none can appear
            content = content[:1]
        pads = frame_pads(region.box, frame, round(o.frame_pad * region.factor), size)
        if any(pads):
            content = F.pad(content[None], pads, mode="reflect")[0]
            if region_masks is not None:
                region_masks = F.pad(region_masks[None], pads, mode="reflect")[0]
        sizes = [size, *((int(p.shape[-2]), int(p.shape[-1])) for p in paintings)]
        self._check_sizes(sizes)
        steps, skipped = plan_scales(sizes, o, self.min_side)
        return _Job(
            region,
            content,
            region_masks,
            paintings,
            painting_masks,
            steps,
            skipped,
            1 if grey else 3,
            pads,
        )

    def _check_sizes(self, sizes: list[tuple[int, int]]) -> None:
        for what, size in (("the region", sizes[0]), ("a style image", min(sizes[1:], key=min))):
            if min(size) < self.min_side:
                raise EngineError(
                    f"{what} is {size[1]}×{size[0]} px, smaller than the {self.min_side} px "
                    "the deepest network layer needs; use a larger --size (or --style-size)"
                )

    def _optimise(self, job: _Job, targets: Targets, counter: Counter, canvas: Tensor) -> Tensor:
        """The coarse-to-fine loop of one region: ``(C, h, w)`` at its sampled size."""
        o, region = self.options, job.region
        generator = torch.Generator().manual_seed(self.seed + region.targets[0])
        strengths = [targets[k].strength for k in region.targets]
        x: Tensor | None = None
        for i, (scale, iterations) in enumerate(job.steps):
            size = scaled_size(job.size, scale)
            content = resize_image(job.content, size)
            masks = None if job.masks is None else resize_mask(job.masks, size)
            paintings = [resize_image(p, scaled_size(_hw(p), scale)) for p in job.paintings]
            styles = [
                style_targets(
                    self.net,
                    p,
                    o,
                    mask=None if m is None else resize_mask(m, _hw(p)),
                    generator=generator,
                )
                for p, m in zip(paintings, job.painting_masks, strict=True)
            ]
            objective = Objective(
                self.net,
                _rgb(content),
                masks,
                styles,
                strengths,
                o,
                ids=region.targets,
                generator=generator,
                factor=region.factor,
            )
            start = (
                initial_image(content, masks, paintings, o.init, generator)
                if x is None
                else resize_image(x, size)
            )
            if job.channels == 1:
                start = start[:1]

            def on_step(_: int, terms: dict[str, float], current: Tensor) -> None:
                counter(terms, lambda: _snapshot(canvas, job, current[0], o.preserve_color))

            x = optimize(
                _on_rgb(objective),
                start[None],
                iterations=iterations,
                optimizer=o.optimizer,
                lr=o.lr,
                on_step=on_step,
                where=f"at scale {i + 1} of {len(job.steps)}" if len(job.steps) > 1 else "",
                engine=self.name,
            )[0]
        assert x is not None
        return x

    def _facts(self) -> dict[str, Any]:
        o = self.options
        return {
            "engine": self.name,
            "network": o.network,
            "pooling": o.pooling,
            "padding": o.padding,
            "optimizer": o.optimizer,
            "style_loss": o.style_loss,
            "device": str(self.device),
            "precision": o.precision,
            "threads": torch.get_num_threads() if o.threads is None else o.threads,
            "seed": self.seed,
            "scales": list(o.scales),
        }


class GatysFullEngine(GatysEngine):
    """Baseline: one unmasked whole-frame stylisation per target; the compositor cuts.

    Layer k of the result is the whole frame in target k's style; the masks are not used here.
    """

    name = "gatys-full"

    def regions(self, masks: Tensor, targets: Targets) -> list[Region]:
        """One unmasked region per target, the whole frame, each into its own output image."""
        full = Box(0, 0, int(masks.shape[-1]), int(masks.shape[-2]))
        return [Region(full, (k,), masked=False, canvas=k) for k in range(len(targets))]

    def _layers(self, canvases: list[Tensor], k: int) -> Tensor:
        return torch.stack(canvases)


def _painting(target: Target, side: float | None, factor: float) -> Tensor:
    """The target's painting ``(3, h, w)`` with the long side ``side`` (``None``: the style
    image's) times ``factor``, at most :data:`~tst_core.types.MAX_PAINTING_SIDE`; resized from
    the target's ``style_source`` when the style image is smaller than that (enlarging it would
    blur the strokes that supersampling is there to paint)."""
    style, source = target.style, target.style_source
    assert style is not None  # _check_inputs: every target has a style image
    side = min((side or max(style.shape[-2:])) * factor, MAX_PAINTING_SIDE)
    if source is None or max(style.shape[-2:]) >= side:
        return resize_long_side(style, side)
    return resize_long_side(source, side)


def _hw(image: Tensor) -> tuple[int, int]:
    return int(image.shape[-2]), int(image.shape[-1])


def _rgb(image: Tensor) -> Tensor:
    """A one-channel (grey) image ``(..., 1, h, w)`` as three equal channels; RGB as it is."""
    return image.expand(*image.shape[:-3], 3, *image.shape[-2:]) if image.shape[-3] == 1 else image


def _on_rgb(objective: Objective) -> Callable[[Tensor], dict[str, Tensor]]:
    """The objective of an image that may be grey (one channel)."""
    return lambda image: objective(_rgb(image))


def _snapshot(canvas: Tensor, job: _Job, x: Tensor, preserve_color: bool) -> Tensor:
    """The output image with the region's current state pasted in (a progress preview)."""
    out = canvas.clone()
    x = resize_image(x, job.size)
    paste(out, _rgb(job.unpadded(x)), job.region.box, preserve_color)
    return out


def _region_facts(job: _Job, photo: Tensor) -> dict[str, Any]:
    """A region for the report: its box ``(x0, y0, x1, y1)``, targets, factor, sizes."""
    r = job.region
    return {
        "box": [int(v) for v in r.box],
        "targets": list(r.targets),
        "supersample": round(r.factor, 3),
        "sizes": [list(scaled_size(job.size, s)) for s, _ in job.steps],
        "frame_pads": list(job.pads),
        "painting_sizes": [[int(p.shape[-1]), int(p.shape[-2])] for p in job.paintings],
        "grey": job.channels == 1,
    }


def _check_inputs(
    photo: Tensor, targets: Targets, style_masks: Sequence[Tensor | None] | None
) -> Tensor:
    """Validate the inputs; return the target masks ``(K, H, W)``."""
    check_image(photo, "photo")
    if len(targets) == 0:
        raise EngineError("nothing to stylise: no targets were given (add a --style)")
    images = targets.style_images()  # a model style (no image) is one error line
    if tuple(targets.size) != tuple(photo.shape[-2:]):
        raise EngineError(
            f"targets are {targets.size} but the photo is {tuple(photo.shape[-2:])}; "
            "resize the targets to the photo"
        )
    if style_masks is not None:
        if len(style_masks) != len(targets):
            raise EngineError(f"got {len(style_masks)} style masks for {len(targets)} targets")
        for k, (m, style) in enumerate(zip(style_masks, images, strict=True)):
            if m is not None and tuple(m.shape) != tuple(style.shape[-2:]):
                raise EngineError(
                    f"style mask {k} is {tuple(m.shape)} but its style image is "
                    f"{tuple(style.shape[-2:])}"
                )
    return targets.masks()


#: A weight above this times a relative-error loss is where float32 losses stop being finite
#: (a strength of 1e30 still ran, 1e36 did not); below it a divergence is the step size's.
LARGE_WEIGHT = 1e6


def divergence_cause(photo: Tensor, targets: Targets, options: GatysOptions) -> str | None:
    """What made an optimisation diverge, when it is not the step size: non-finite inputs
    (``(3, H, W)`` photo, the targets' masks and styles) or an enormous weight."""
    if not bool(torch.isfinite(photo).all()):
        return "the photo holds NaN or infinite values"
    for t in targets:
        for name, value in (("style image", t.style), ("mask", t.mask)):
            if value is not None and not bool(torch.isfinite(value).all()):
                return f"the {name} of '{t.selector}' holds NaN or infinite values"
    for name in (
        "style_weight",
        "content_weight",
        "detail_weight",
        "tv_weight",
        "chroma_tv_weight",
    ):
        value = getattr(options, name)
        if value > LARGE_WEIGHT:
            return f"{name} {value:g} is beyond what float32 losses hold; lower it"
    target = max(targets, key=lambda t: t.strength)
    weight = options.style_weight * target.strength
    if weight > LARGE_WEIGHT:
        return (
            f"the style of '{target.selector}' weighs {weight:.3g} (strength {target.strength:g} "
            f"times style_weight {options.style_weight:g}), beyond what float32 losses hold; "
            f"use a strength of at most {LARGE_WEIGHT / options.style_weight:g}"
        )
    return None
