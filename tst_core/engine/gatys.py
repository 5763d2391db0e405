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

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..boxes import Box
from ..device import numeric_threads, resolve_device, torch_threads
from ..errors import DivergedError, EngineError
from ..imageops import resize_image
from ..memory import format_size
from ..types import (
    Env,
    Progress,
    ProgressFn,
    StylizeResult,
    Targets,
    Tensor,
    check_image,
    resize_mask,
)
from ..upsample import upsample_image
from .canvas import initial_image, paste
from .jobs import Job, Level, prepare, prepare_native
from .native import Footprint, footprint, forward_tiling, plan_level
from .objective import Objective, mixed_targets, painting_statistics
from .optimize import LBFGS_HISTORY, optimize
from .options import GatysOptions
from .plan import Region, grow_masks, masked_regions, scaled_size
from .precision import check_precision
from .style_losses import style_loss
from .temporal import TemporalInput, region_temporal, with_temporal
from .tiles import Tiling, halo
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
    #: where the loop is, for the display (``scale 2/2``), and the lowest total loss there
    note: str = ""
    best: float = math.inf

    def begin(self, note: str) -> None:
        """A new scale (or region) starts: its losses are not comparable with the last's."""
        self.note, self.best = note, math.inf

    def __call__(self, terms: dict[str, float], snapshot: Callable[[], Tensor]) -> None:
        self.step += 1
        self.losses.append(terms)
        if self.progress is None:
            return
        self.best = min(self.best, terms.get("total", math.inf))
        wanted = self.snapshot_every and self.step % self.snapshot_every == 0
        elapsed = time.perf_counter() - self.start
        image = snapshot() if wanted else None
        shown = {**terms, "best": self.best} if math.isfinite(self.best) else terms
        self.progress(
            Progress("stylize", self.step, self.total, shown, elapsed, image, note=self.note)
        )


class GatysEngine:
    """All targets of a region in one optimisation; ``layers`` are K views of one image.

    :param options: the engine's options. :param env: device and seed.
    """

    name = "gatys"
    #: a target may mix the style statistics of several paintings (``a.jpg*0.7+b.jpg*0.3``)
    mixes_paintings = True

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
        temporal: TemporalInput | None = None,
    ) -> StylizeResult:
        """Stylise the targets of ``photo``.

        :param photo: ``(3, H, W)`` in [0, 1].
        :param targets: K targets with masks at ``(H, W)``.
        :param progress: called once per iteration (see :class:`~tst_core.types.Progress`).
        :param style_masks: optional, one per target: a ``(h, w)`` mask of its style image, so
            that only that part of the painting is the style (Python API only).
        :param temporal: the previous frame's result warped to this one, for video: a warm
            start and a temporal loss (:mod:`.temporal`); ``None``: a photo on its own.
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1], per-iteration losses, report facts.
        """
        masks = grow_masks(_check_inputs(photo, targets, style_masks), self.options.band)
        o = self.options
        t0 = time.perf_counter()
        jobs = [
            self._prepare(photo, masks, targets, r, style_masks)
            for r in self.regions(masks, targets)
        ]
        counter = Counter(progress, _iterations(jobs), o.snapshot_every)
        canvases = [photo.clone() for _ in range(max(j.region.canvas for j in jobs) + 1)]
        with self._running(photo, targets):
            for job in jobs:
                canvas = canvases[job.region.canvas]
                x = self._optimise(job, targets, counter, canvas, temporal, masks)
                paste(canvas, _rgb(job.unpadded(x)), job.region.box, o.preserve_color)
        info = self._info(jobs, photo, masks, counter, time.perf_counter() - t0)
        return StylizeResult(self._layers(canvases, len(targets)), counter.losses, info)

    def stylize_native(
        self,
        photo: Tensor,
        targets: Targets,
        progress: ProgressFn | None = None,
        *,
        scale: float,
        budget: int,
    ) -> StylizeResult:
        """Stylise the targets of a window of the photo at its own (native) resolution.

        Each region is optimised as :meth:`stylize` would at the working size (``scale`` of
        the photo: regions, paintings sized relative to the objects, ``scales``), then at
        native levels twice as fine each, up to the region's native pixels or ``max_side``
        (see :mod:`.native`), and brought the rest of the way by ``native_upsample``. Every
        level is planned against ``budget`` before the run; a job that cannot fit is refused.

        :param photo: ``(3, H, W)`` in [0, 1] at native resolution.
        :param targets: K targets with masks at ``(H, W)`` (refined to the photo's edges).
        :param scale: working pixels per native pixel (``0 < scale ≤ 1``).
        :param budget: bytes the engine may use (its work and the output layers).
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1] at native size, per-iteration losses,
            report facts (``native``: the levels, their tiles and memory estimates).
        :raises EngineError: before any work when the job cannot fit in ``budget``.
        """
        masks = _check_inputs(photo, targets, None)
        if not 0.0 < scale <= 1.0:
            raise EngineError(f"scale must be above 0 and at most 1, got {scale}")
        o = self.options
        t0 = time.perf_counter()
        frame = (int(photo.shape[-2]), int(photo.shape[-1]))
        work = scaled_size(frame, scale)
        working = grow_masks(resize_mask(masks, work), o.band)
        if o.band > 0:
            masks = grow_masks(masks, round(o.band / scale))
        regions = [replace(r, factor=1.0) for r in self.regions(working, targets.resized(work))]
        jobs = [
            prepare_native(photo, masks, working, targets, r, scale, o, self.device, self.min_side)
            for r in regions
        ]
        canvases = max(r.canvas for r in regions) + 1
        peak = self._plan_native(jobs, frame, canvases, budget)
        counter = Counter(progress, _iterations(jobs), o.snapshot_every)
        out = [photo.clone() for _ in range(canvases)]
        with self._running(photo, targets):
            for job in jobs:
                x = self._optimise(job, targets, counter, out[job.region.canvas])
                x = self._to_native(job, x)
                paste(out[job.region.canvas], _rgb(job.unpadded(x)), job.box, o.preserve_color)
                del x
        info = self._info(jobs, photo, masks, counter, time.perf_counter() - t0)
        info["native"] = {
            "scale": scale,
            "max_side": o.max_side,
            "upsample": o.native_upsample,
            "budget_mib": round(budget / 2**20, 1),
            "peak_estimate_mib": round(peak / 2**20, 1),
        }
        return StylizeResult(self._layers(out, len(targets)), counter.losses, info)

    @contextmanager
    def _running(self, photo: Tensor, targets: Targets) -> Iterator[None]:
        """Around the optimisations of one call: the ``threads`` option's thread count, and a
        divergence re-raised with its cause when it is not the step size's
        (:func:`divergence_cause`)."""
        o = self.options
        with torch_threads(o.threads if o.threads is not None else numeric_threads()):
            try:
                yield
            except DivergedError as exc:
                cause = divergence_cause(photo, targets, o)
                if cause is None:
                    raise
                raise DivergedError(f"{exc.summary}: {cause}", exc.summary) from None

    def _info(
        self, jobs: list[Job], photo: Tensor, masks: Tensor, counter: Counter, seconds: float
    ) -> dict[str, Any]:
        """The report's facts of one call: the engine's, the count and time of its iterations,
        its regions, the scales skipped, the targets whose ``masks`` ``(K, H, W)`` are empty."""
        return {
            **self._facts(),
            "iterations": counter.step,
            "seconds": round(seconds, 3),
            "seconds_per_iteration": round(seconds / max(1, counter.step), 4),
            "regions": [_region_facts(j, photo) for j in jobs],
            "skipped_scales": sorted({s for j in jobs for s, _ in j.skipped}),
            "empty_targets": [k for k in range(len(masks)) if float(masks[k].amax()) <= 0],
        }

    def _plan_native(
        self, jobs: list[Job], frame: tuple[int, int], canvases: int, budget: int
    ) -> int:
        """Plan every level of every job within ``budget`` (each job's ``room`` and levels'
        ``plan``); returns the peak estimate in bytes.

        :raises EngineError: for the first level that cannot fit, before any work.
        """
        o, fp = self.options, self._footprint()
        layers = self._layers_read()
        additive = style_loss(o.style_loss).additive
        # the output images, and every region's window and masks at native size
        inputs = sum(
            _nbytes(j.content) + (0 if j.masks is None else _nbytes(j.masks)) for j in jobs
        )
        outputs = 12 * frame[0] * frame[1] * canvases + inputs
        peak = 0
        for n, job in enumerate(jobs):
            h, w = job.size
            k = 0 if job.masks is None else int(job.masks.shape[0])
            finest = scaled_size(job.size, job.levels[-1].fraction)
            # the result at native size (and its copy in RGB) and the guided upsampling's
            # low-resolution planes
            held = outputs + 24 * h * w + 160 * finest[0] * finest[1]
            job.room = budget - held
            what = f"region {n + 1} of {len(jobs)}" if len(jobs) > 1 else "the region"
            if job.room <= 0:
                raise EngineError(
                    f"{what} and the output need {format_size(held)} of memory, more than the "
                    f"budget of {format_size(budget)}; raise --max-memory"
                )
            for i, level in enumerate(job.levels):
                size = scaled_size(job.size, level.fraction)
                sizes = job.painting_sizes(level)
                plan = plan_level(
                    self.net,
                    layers,
                    fp,
                    size,
                    channels=job.channels,
                    masks=k,
                    paintings=sizes,
                    budget=job.room,
                    what=f"{what} ({level.name})",
                )
                painting_tiled = any(12 * a * b + a * b * fp.forward > job.room for a, b in sizes)
                if not additive and (painting_tiled or not plan.tiling.whole):
                    raise EngineError(
                        f"{what} ({level.name}, {size[1]}×{size[0]} px) needs tiles within the "
                        f"budget of {format_size(budget)}, and the {o.style_loss} style loss "
                        "needs every position at once; use style_loss gram or meancov, raise "
                        "--max-memory or lower engine.gatys.max_side"
                    )
                job.levels[i] = replace(level, plan=plan)
                peak = max(peak, held + plan.estimate)
            job.facts["levels"] = [_level_facts(lv) for lv in job.levels]
            job.facts["upsampled"] = o.native_upsample if finest != job.size else None
        return peak

    def _to_native(self, job: Job, x: Tensor) -> Tensor:
        """The last level's result ``(C, h, w)`` at the native size of the job's content: as
        it is when it got there, else ``native_upsample`` with the photo's window as guide."""
        if _hw(x) == job.size:
            return x
        guide = job.content.detach().cpu()
        x = x.detach().clamp(0.0, 1.0).cpu()
        return upsample_image(x, guide, method=self.options.native_upsample)

    def _footprint(self) -> Footprint:
        o = self.options
        return footprint(self.net, (*o.content_layers, *o.detail_layers), self._layers_read())

    def _layers_read(self) -> list[str]:
        o = self.options
        return list(dict.fromkeys((*o.content_layers, *o.detail_layers, *o.style_layers)))

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
    ) -> Job:
        """A region's content, masks and paintings at its sampled size, and its scales."""
        return prepare(
            photo, masks, targets, region, style_masks, self.options, self.device, self.min_side
        )

    def _optimise(
        self,
        job: Job,
        targets: Targets,
        counter: Counter,
        canvas: Tensor,
        temporal: TemporalInput | None = None,
        masks: Tensor | None = None,
    ) -> Tensor:
        """The coarse-to-fine loop of one region: ``(C, h, w)`` at its last level's size
        (``temporal``, with the working-size ``masks`` ``(K, H, W)``: the warm start and
        temporal loss of a video frame)."""
        o, region = self.options, job.region
        warm = None
        if temporal is not None and masks is not None:
            inside = masks.sum(0).clamp(0.0, 1.0)
            warm = region_temporal(
                temporal, inside, region.box, region.sampled, job.pads, self.device
            )
        generator = torch.Generator().manual_seed(self.seed + region.targets[0])
        strengths = [targets[k].strength for k in region.targets]
        x: Tensor | None = None
        for i, level in enumerate(job.levels):
            counter.begin(f"scale {i + 1}/{len(job.levels)}" if len(job.levels) > 1 else "")
            size = scaled_size(job.size, level.fraction)
            content = resize_image(job.content, size)
            masks = None if job.masks is None else resize_mask(job.masks, size)
            paintings = job.paintings_at(level, o)
            styles = [
                self._style_targets(
                    mix, shares, None if m is None else resize_mask(m, _hw(mix[0])), job, generator
                )
                for mix, shares, m in zip(paintings, job.shares, job.painting_masks, strict=True)
            ]
            plan = level.plan
            objective = Objective(
                self.net,
                _rgb(content),
                masks,
                styles,
                strengths,
                o,
                ids=region.targets,
                generator=generator,
                factor=level.factor,
                tiling=None if plan is None else plan.tiling,
            )
            if x is None and warm is not None and warm.init:
                start = warm.at(size).start(content)
            elif x is None:
                main = [_main_painting(m, w) for m, w in zip(paintings, job.shares, strict=True)]
                start = initial_image(content, masks, main, o.init, generator)
            elif level.painting_scale is None and o.native_upsample == "guided":
                # a native level starts from the level below with the photo's finer detail
                # added where that result follows the photo (a plain enlargement elsewhere)
                start = upsample_image(x.detach().clamp(0, 1).cpu(), content.cpu()).to(x.device)
            else:
                start = resize_image(x, size)
            if job.channels == 1:
                start = start[:1]
            del content, masks, paintings, styles

            def on_step(_: int, terms: dict[str, float], current: Tensor) -> None:
                counter(terms, lambda: _snapshot(canvas, job, current[0], o.preserve_color))

            loss_fn = _on_rgb(objective)
            if warm is not None and warm.loss_weight > 0:
                loss_fn = with_temporal(loss_fn, warm.at(size).loss(), warm.loss_weight)
            x = optimize(
                loss_fn,
                start[None],
                iterations=level.iterations,
                optimizer=o.optimizer,
                lr=o.lr,
                on_step=on_step,
                where=f"at {level.name}" if len(job.levels) > 1 else "",
                engine=self.name,
                gradient=objective.evaluate if objective.tiling is not None else None,
                history=LBFGS_HISTORY if plan is None else plan.history,
            )[0]
            del objective
        assert x is not None
        return x

    def _style_targets(
        self,
        paintings: Sequence[Tensor],
        shares: Sequence[float],
        mask: Tensor | None,
        job: Job,
        generator: torch.Generator,
    ) -> dict[str, Any]:
        """A target's style statistics: of its painting, or of the mixture of its paintings'
        features in their ``shares`` (``mask``: the first painting's style mask), each
        painting's taken tile by tile when the job's memory room says so."""
        gathered = [
            painting_statistics(
                self.net,
                p,
                self.options,
                mask=mask if i == 0 else None,
                generator=generator,
                tiling=self._painting_tiling(_hw(p), job),
            )
            for i, p in enumerate(paintings)
        ]
        return mixed_targets(gathered, shares, self.options, generator)

    def _painting_tiling(self, size: tuple[int, int], job: Job) -> Tiling | None:
        """Tiles for a painting of ``size`` ``(h, w)`` that does not fit the job's memory room
        in one pass (native runs); ``None``: one pass."""
        if job.room is None:
            return None
        fp = self._footprint()
        if 12 * size[0] * size[1] + size[0] * size[1] * fp.forward <= job.room:
            return None
        reach, align = halo(self.net, self._layers_read())
        return forward_tiling(fp, size, job.room - 12 * size[0] * size[1], reach, align)

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
            "threads": o.threads or numeric_threads() or torch.get_num_threads(),
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


def _hw(image: Tensor) -> tuple[int, int]:
    return int(image.shape[-2]), int(image.shape[-1])


def _rgb(image: Tensor) -> Tensor:
    """A one-channel (grey) image ``(..., 1, h, w)`` as three equal channels; RGB as it is."""
    return image.expand(*image.shape[:-3], 3, *image.shape[-2:]) if image.shape[-3] == 1 else image


def _on_rgb(objective: Objective) -> Callable[[Tensor], dict[str, Tensor]]:
    """The objective of an image that may be grey (one channel)."""
    return lambda image: objective(_rgb(image))


def _snapshot(canvas: Tensor, job: Job, x: Tensor, preserve_color: bool) -> Tensor:
    """The output image with the region's current state pasted in (a progress preview)."""
    out = canvas.clone()
    x = resize_image(x, job.size)
    paste(out, _rgb(job.unpadded(x)), job.box, preserve_color)
    return out


def _main_painting(paintings: Sequence[Tensor], shares: Sequence[float]) -> Tensor:
    """The painting with the largest share of a target's style (the first of equals)."""
    return paintings[max(range(len(shares)), key=lambda i: (shares[i], -i))]


def _nbytes(x: Tensor) -> int:
    return x.numel() * x.element_size()


def _iterations(jobs: Sequence[Job]) -> int:
    return sum(level.iterations for j in jobs for level in j.levels)


def _level_facts(level: Level) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": level.name, "factor": round(level.factor, 3)}
    facts["iterations"] = level.iterations
    if level.plan is not None:
        facts.update(level.plan.facts())
    return facts


def _region_facts(job: Job, photo: Tensor) -> dict[str, Any]:
    """A region for the report: its box ``(x0, y0, x1, y1)``, targets, factor, sizes."""
    r = job.region
    return {
        "box": [int(v) for v in r.box],
        "targets": list(r.targets),
        "supersample": round(r.factor, 3),
        "sizes": [list(scaled_size(job.size, level.fraction)) for level in job.levels],
        "frame_pads": list(job.pads),
        "painting_sizes": [[int(p.shape[-1]), int(p.shape[-2])] for m in job.paintings for p in m],
        "grey": job.channels == 1,
        **job.facts,
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
