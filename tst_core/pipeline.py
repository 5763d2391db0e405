"""The pipeline: the one place that wires the stages.

``photo → segmenter → targets → engine → compositor → result + report``; each stage is a method
of :class:`Pipeline`, whose plugins are built once and reused (a batch keeps one per worker).
:func:`run` and :func:`segment` are the one-call forms (an example: :mod:`tst_core.api`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from . import looks, recipe, validate
from .cleanup import clean_targets
from .compose import Plan, compose, window_bytes, windows_of
from .contracts import check_composite, check_layers
from .errors import ConfigError, InputError, PluginError
from .files import PhotoLike, check_regular_file, image_size, load_photo
from .fingerprint import plugin_files
from .imageops import resize_long_side
from .memory import format_size
from .native import at_scale, pixel_fields
from .outputs import Input, check_outputs
from .photo import Photo as NativePhoto
from .photo import PhotoInfo, decoded_bytes, load_native, probe_photo, to_pixels
from .registry import Entry, Kind
from .report import RunFacts, run_report, segmenter_facts
from .results import RunResult, SegmentResult, estimated_bytes, run_outputs, segment_outputs
from .select import StyleRequest, StylesLike, build_targets, needs_segmentation, style_requests
from .sessions import Session, is_path, session
from .styles import describe, image_only, style_parts
from .types import (
    MAX_PAINTING_SIDE,
    ModelStyle,
    Painting,
    Progress,
    ProgressFn,
    Prompt,
    PromptSegmenter,
    ResolvedStyle,
    Segmentation,
    StylePart,
    StyleResolver,
    StylizeResult,
    Targets,
    Tensor,
)


class Pipeline:
    """A resolved session whose plugins are built once, to run one photo or many.

    ``run(...)`` is ``Pipeline(session(...)).run(...)``; a batch keeps one pipeline per worker
    so that models load once. Each stage of :meth:`run` is a method of its own.

    :param plugins: built plugins to share with other pipelines (a batch whose photos differ
        in one plugin's options, such as per-photo masks, still builds the others once); they
        are keyed by kind, name, options, device and seed.
    """

    def __init__(self, sess: Session, plugins: dict[tuple[Any, ...], Any] | None = None) -> None:
        self.session = sess
        self._built: dict[tuple[Any, ...], Any] = {} if plugins is None else plugins

    def plugin(self, kind: Kind, name: str | None = None) -> Any:
        """The plugin ``name`` of ``kind`` (default: the configured one), built on first use
        and then reused."""
        name = name or getattr(self.session.config.run, kind)
        options = self.session.config.options_for(self.session.host, kind, name)
        run_opts = self.session.config.run
        key = (kind, name, repr(options), run_opts.device, run_opts.seed)
        if key not in self._built:
            self._built[key] = self.session.build(kind, name)
        return self._built[key]

    def entry(self, kind: Kind, name: str | None = None) -> Entry[Any]:
        """The registry entry of plugin ``name`` of ``kind`` (default: the configured one)."""
        return self.session.host.entry(kind, name or getattr(self.session.config.run, kind))

    def composite(
        self, image: Tensor, layers: Tensor, targets: Targets, blend: str | None = None
    ) -> Tensor:
        """The compositor ``blend`` (default: the configured one) on the working image
        ``(3, h, w)`` and the engine's ``layers`` ``(K, 3, h, w)``: ``(3, h, w)`` in [0, 1]."""
        out = self.plugin("blend", blend).composite(image, layers, targets)
        check_composite(
            out, (int(image.shape[-2]), int(image.shape[-1])), self.entry("blend", blend)
        )
        return out.clamp(0.0, 1.0)

    def input_files(self, photo: PhotoLike, styles: StylesLike) -> tuple[Input, ...]:
        """Every file and folder a run of ``photo`` with ``styles`` reads."""
        return self.session.input_files(photo, style_requests(styles))

    def check_save(
        self, path: str | Path, photo: PhotoLike, styles: StylesLike, *, report: bool = True
    ) -> None:
        """Refuse, before any work, an output :meth:`RunResult.save` could not write: over an
        input, into a missing or read-only folder, a folder's name, too little disk space."""
        check_outputs(
            run_outputs(path, report=report),
            self.input_files(photo, styles),
            need_bytes=estimated_bytes(self.session.config.run.size),
        )

    def check_segment_save(
        self,
        photo: PhotoLike,
        *,
        overlay: str | Path | None = None,
        masks: str | Path | None = None,
    ) -> None:
        """:meth:`check_save` for :meth:`SegmentResult.save`."""
        outs = segment_outputs(overlay=overlay, masks=masks)
        if outs:
            check_outputs(outs, self.session.input_files(photo), need_bytes=_photo_bytes(photo))

    def segment_photo(self, photo: PhotoLike) -> SegmentResult:
        """Every instance in ``photo`` at its full resolution (see :func:`segment`)."""
        image = load_photo(photo)
        t0 = time.perf_counter()
        seg = self.refined(image, self.plugin("segmenter").segment(image))
        seconds = time.perf_counter() - t0
        segmenter = self.session.config.run.segmenter
        return SegmentResult(image, seg, segmenter, seconds, self.session.input_files(photo))

    def run(
        self,
        photo: PhotoLike,
        styles: StylesLike,
        *,
        segmentation: Segmentation | None = None,
        progress: ProgressFn | None = None,
    ) -> RunResult:
        """Stylise the selected regions of ``photo`` and blend them back (see :func:`run`).

        The picture comes out at the photo's own size (``run.output_size`` reduces the photo
        first): the stages before the engine work at the working size (``run.size``), and
        :mod:`tst_core.compose` brings the targets to the photo's size window by window, so
        every pixel outside the targets' band is the photo's own, bit for bit.
        """
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        requests = style_requests(styles)
        engine = self.plugin("engine")  # bad engine or compositor options fail before any work
        self.plugin("blend")
        run_opts = self.session.config.run
        budget = run_opts.budget()
        if isinstance(photo, (str, Path)):  # refused before it is decoded when it cannot fit
            check_photo_budget(probe_photo(photo), run_opts.output_size, budget)
        native = load_native(photo)
        photo_size = native.size
        if run_opts.output_size is not None:
            native = native.resized(run_opts.output_size)
        for r in requests:  # a FIFO or a device as a style fails before the segmenter runs
            for source in r.sources:
                if is_path(source) and os.path.lexists(source) and not Path(source).is_dir():
                    check_regular_file(source, "style image")
        inputs = self.session.input_files(photo, requests)
        ran = segmentation is None and needs_segmentation(requests)
        segmenter = segmenter_facts(
            self.session.config.run.segmenter, ran, segmentation is not None
        )
        # a float tensor given to the API is worked as given (its 8-bit copy is what is saved)
        given = isinstance(photo, torch.Tensor) and native.size == photo_size
        full = validate.image_tensor(photo, "photo") if given else native.tensor()  # type: ignore[arg-type]
        with _timed(timings, "segment"):
            segmentation = self.segment(full, segmentation, requests)
        with _timed(timings, "select"):
            image, targets = self.targets(full, segmentation, requests)
        shapes = looks.engine_targets(targets)  # soft masks: their support
        scale = max(image.shape[-2:]) / max(native.size)
        composite: Tensor | None = None
        if scale == 1.0:  # the working image is the photo: one piece, as it always was
            del full
            with _timed(timings, "stylize"):
                stylized = engine.stylize(image, shapes, self.composited(progress, image, shapes))
            hw = (int(image.shape[-2]), int(image.shape[-1]))
            check_layers(stylized.layers, len(targets), hw, self.entry("engine"))
            with _timed(timings, "composite"):
                layers = looks.apply(image, stylized.layers, targets)
                composite = self.composite(image, layers, shapes)
            pixels = native.output_pixels()
            changed = (composite != image).any(0).numpy()
            pixels[changed] = to_pixels(composite, native.bits)[changed]
            windows: list[dict[str, Any]] = []
        else:
            del full
            stylized, pixels, windows = self._native(
                native, image, targets, scale, budget, timings, progress
            )
        timings["total"] = time.perf_counter() - t_start
        facts = RunFacts(
            photo=photo,
            requests=requests,
            photo_size=photo_size,
            native=native,
            image=image,
            segmentation=segmentation,
            targets=targets,
            stylized=stylized,
            timings=timings,
            segmenter=segmenter,
            windows=windows,
            budget=budget,
        )
        report = run_report(self.session, facts)
        config = self.session.config
        made = self.recipe(photo, requests, segmentation, stylized, report)
        return RunResult(
            pixels,
            native,
            image,
            stylized,
            segmentation,
            targets,
            config,
            report,
            inputs,
            made,
            composite=composite,
        )

    def _native(
        self,
        native: NativePhoto,
        image: Tensor,
        targets: Targets,
        scale: float,
        budget: int,
        timings: dict[str, float],
        progress: ProgressFn | None,
    ) -> tuple[StylizeResult, Any, list[dict[str, Any]]]:
        """Stylise and composite at the photo's own size, window by window (see
        :mod:`tst_core.compose`): the engine's ``stylize_native`` on each window when it has
        one (and the photo is larger than the working image), else ``stylize`` once at the
        working size and its layers brought up."""
        run_opts = self.session.config.run
        engine = self.plugin("engine")
        # @color=keep and @mask=soft act on working-size layers (tst_core.looks): such a run
        # stylises at the working size and brings the layers up
        native_engine = (
            scale < 1.0
            and callable(getattr(engine, "stylize_native", None))
            and not looks.any_looks(targets)
        )
        shapes = looks.engine_targets(targets)  # soft masks: their support
        compositor, reach = self.native_compositor(1.0 / scale)
        if native_engine:
            reach += getattr(getattr(engine, "options", None), "roi_margin", 0) / scale
        plan = Plan(
            shapes,
            scale,
            compositor,
            reach,
            engine=engine,
            budget=budget,
            upsample=run_opts.upsample,
            progress=progress,
            entries=(self.entry("engine"), self.entry("blend")),
        )
        check_window_budget(native.size, plan, native_engine, budget)
        stylized: StylizeResult | None = None
        if not native_engine:
            with _timed(timings, "stylize"):
                stylized = engine.stylize(image, shapes, self.composited(progress, image, shapes))
            hw = (int(image.shape[-2]), int(image.shape[-1]))
            check_layers(stylized.layers, len(targets), hw, self.entry("engine"))
            plan = replace(plan, layers=looks.apply(image, stylized.layers, targets))
        t0 = time.perf_counter()
        composed = compose(native, plan)
        spent = time.perf_counter() - t0
        if native_engine:
            layers = sum(w["layers_seconds"] for w in composed.windows)
            timings["stylize"] = layers
            timings["composite"] = spent - layers
            stylized = _joined(composed.stylized)
        else:
            timings["composite"] = spent
        assert stylized is not None
        return stylized, composed.pixels, composed.windows

    def native_compositor(self, factor: float) -> tuple[Any, float]:
        """The configured compositor with its pixel options multiplied by ``factor`` (native
        pixels per working pixel; see :mod:`tst_core.native`), built once per factor, and how
        far in native pixels it may reach beyond a target."""
        name = self.session.config.run.blend
        entry = self.session.host.entry("blend", name)
        options = self.session.config.options_for(self.session.host, "blend", name)
        try:
            scaled = at_scale(options, factor)
        except ValueError as exc:
            raise ConfigError(
                f"[blend.{name}] at the photo's own size ({factor:.3g} photo pixels per working "
                f"pixel): {exc}; lower it or pass --output-size"
            ) from None
        key = ("blend-native", name, repr(scaled), self.session.config.run.device)
        if key not in self._built:
            self._built[key] = entry.build(scaled, self.session.env)
        lengths = [float(getattr(scaled, f)) for f in pixel_fields(scaled)]
        return self._built[key], math.sqrt(2) * max(lengths, default=0.0) + 2.0

    def recipe(
        self,
        photo: PhotoLike,
        requests: Sequence[StyleRequest],
        segmentation: Segmentation,
        stylized: StylizeResult,
        report: dict[str, Any],
    ) -> dict[str, Any]:
        """The recipe the picture carries (see :mod:`tst_core.recipe`)."""
        sess = self.session
        options = {
            f"{k}.{n}": sess.config.options_for(sess.host, k, n)
            for k, n in sess.chosen()
            if k != "segmenter"
        }
        # tst, torch and the chosen plugins' versions, whether or not this run built the
        # segmenter (a segmentation given or made ahead by tst batch): the same job, the same
        # recipe
        chosen = {sess.host.entry(k, n).plugin for k, n in sess.chosen()}
        versions = {k: v for k, v in report["versions"].items() if k in ("tst", "torch", "python")}
        versions |= {p.name: p.version for p in sess.host.plugins if p.name in chosen and p.version}
        return recipe.build(
            photo=photo,
            requests=requests,
            segmentation=segmentation,
            config=report["config"],
            inputs=report["inputs"],
            engine_info=stylized.info,
            versions=versions,
            plugin_files=plugin_files(options),
        )

    def composited(
        self, progress: ProgressFn | None, image: Tensor, targets: Targets
    ) -> ProgressFn | None:
        """``progress`` with each snapshot of the engine's picture (``(3, h, w)``, every
        target's region painted) composited into ``image`` as the result will be, so that a
        live preview shows what the run makes, not the painted boxes."""
        if progress is None:
            return None
        callback = progress

        def composite_snapshot(p: Progress) -> None:
            if p.snapshot is not None and len(targets):
                layers = p.snapshot.expand(len(targets), -1, -1, -1)
                p = dataclasses.replace(p, snapshot=self.composite(image, layers, targets))
            callback(p)

        return composite_snapshot

    def segment(
        self,
        full: Tensor,
        segmentation: Segmentation | None = None,
        requests: Sequence[StyleRequest] = (),
    ) -> Segmentation:
        """``segmentation`` checked against the photo ``(3, H, W)``, or the segmenter's.

        When every one of ``requests`` selects the whole frame (``all``), no segmenter is built
        or run (so no checkpoint is needed): the result has no instances.
        """
        if segmentation is None and requests and not needs_segmentation(requests):
            return Segmentation((), (int(full.shape[-2]), int(full.shape[-1])))
        if segmentation is None:
            return self.refined(full, self.plugin("segmenter").segment(full))
        size = (int(full.shape[-2]), int(full.shape[-1]))
        if segmentation.size != size:
            h, w = segmentation.size
            if abs(h * size[1] - w * size[0]) > max(h, w):  # not the same photo resized
                raise InputError(f"segmentation is {segmentation.size} but the photo is {size}")
            return segmentation.rescaled(size)  # the photo reduced to run.output_size
        return segmentation

    def refined(self, photo: Tensor, segmentation: Segmentation) -> Segmentation:
        """``segmentation`` with every instance cut again by the ``run.refine`` segmenter from
        its box and mask (its label and score kept); as it is when ``refine`` is not set.

        :param photo: ``(3, H, W)`` in [0, 1], the photo the instances belong to.
        :raises PluginError: when that segmenter cannot take prompts.
        """
        name = self.session.config.run.refine
        if name is None or not len(segmentation):
            return segmentation
        key = (
            "refine",
            name,
            repr(self.session.config.options_for(self.session.host, "segmenter", name)),
        )
        if key not in self._built:
            self._built[key] = self.session.build("segmenter", name, interactive=True)
        refiner = self._built[key]
        if not isinstance(refiner, PromptSegmenter):
            raise PluginError(
                f"--refine {name}: segmenter '{name}' does not cut regions from prompts "
                "(grabcut and sam do)"
            )
        out = []
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        for inst in segmentation.instances:
            # a mask kept at the segmenter's working size is brought to the photo's for the cut
            mask = inst.mask if inst.mask_size == size else inst.mask_at(size)
            prompt = Prompt(box=inst.box, mask=mask, label=inst.label)
            try:
                cut = refiner.segment_prompt(photo, prompt)
            except InputError as exc:  # nothing found there: keep the segmenter's mask
                warnings.warn(
                    f"--refine {name}: {exc}; kept the mask of '{inst.label}'", stacklevel=2
                )
                out.append(inst)
                continue
            out.append(replace(cut, label=inst.label, score=inst.score))
        return Segmentation(tuple(out), segmentation.size)

    def targets(
        self, full: Tensor, segmentation: Segmentation, requests: Sequence[StyleRequest]
    ) -> tuple[Tensor, Targets]:
        """The working image ``(3, h, w)`` (long side ``run.size``) and its targets."""
        run_opts = self.session.config.run
        targets_full = build_targets(segmentation, requests, self.load_style)
        if run_opts.style_size is not None:  # --style-size: the painting's size, not relative
            targets_full = targets_full.with_style_size(run_opts.style_size)
        image = resize_long_side(full, run_opts.size)
        targets = targets_full.resized((int(image.shape[-2]), int(image.shape[-1])))
        return image, clean_targets(
            targets,
            fill=run_opts.fill_holes,
            snap=run_opts.snap_edges,
            smooth=run_opts.smooth_edges,
        )

    def load_style(self, style: Any) -> ResolvedStyle:
        """A request's style (a source or a mix) → its image and the engine's model style.

        Style images are read and resized to ``run.style_size``; a larger file is also kept at
        up to :data:`SOURCE_HEADROOM` times that size, for an engine that paints a target finer
        than the working size. Model styles, style names and mixes go to the engine's
        ``resolve_style`` (:class:`~tst_core.types.StyleResolver`); an engine without it takes
        one style image per target.
        """
        run_opts = self.session.config.run
        style_size = run_opts.style_size or run_opts.size
        parts = style_parts(style)
        engine = self.plugin("engine")
        if not isinstance(engine, StyleResolver):
            images = image_only(parts, run_opts.engine, mixes=mixes_paintings(engine))
            loaded = [
                _style_image(load_photo(p.source, "style image"), style_size, None, parts)
                for p in images
            ]
            if len(loaded) == 1:
                return loaded[0]
            mix = tuple(
                Painting(r.image, p.weight, r.source)
                for r, p in zip(loaded, images, strict=True)
                if r.image is not None
            )
            return replace(loaded[0], mix=mix)
        model = engine.resolve_style(parts)
        if len(parts) == 1 and parts[0].kind == "image":
            return _style_image(
                load_photo(parts[0].source, "style image"), style_size, model, parts
            )
        return ResolvedStyle(None, model, describe(parts))


def mixes_paintings(engine: Any) -> bool:
    """Whether ``engine`` mixes the statistics of several style images for one target."""
    return getattr(engine, "mixes_paintings", False) is True


#: how much larger than the style size a style image is kept for supersampling (never enlarged)
SOURCE_HEADROOM = 4


def _style_image(
    image: Tensor, side: int, model: ModelStyle | None, parts: Sequence[StylePart]
) -> ResolvedStyle:
    """``image`` ``(3, h, w)`` at the long side ``side``, and as its source at up to
    :data:`SOURCE_HEADROOM` times that (and :data:`~tst_core.types.MAX_PAINTING_SIDE`) when
    the file is larger."""
    source = None
    if max(image.shape[-2:]) > side:
        source_side = min(max(image.shape[-2:]), SOURCE_HEADROOM * side, MAX_PAINTING_SIDE)
        source = resize_long_side(image, source_side)
    return ResolvedStyle(resize_long_side(image, side), model, describe(parts), source)


def _photo_bytes(photo: PhotoLike) -> int:
    """The estimated size of an overlay and a mask folder for ``photo`` (read header only)."""
    if isinstance(photo, (str, Path)):
        w, h = image_size(photo, "photo")
    else:
        w, h = photo.size if isinstance(photo, Image.Image) else photo.shape[-1:-3:-1]
    return estimated_bytes(max(int(w), int(h)), 2)


def check_photo_budget(info: PhotoInfo, output_size: int | None, budget: int) -> None:
    """Refuse, before decoding, a photo whose pixels alone do not fit ``budget``."""
    if output_size is not None and max(info.size) > output_size:
        return  # reduced as it is read: what is held is the reduced photo (and one decode)
    need = decoded_bytes(info)
    if need > budget:
        h, w = info.size
        raise InputError(
            f"the photo is {w}×{h} ({info.megapixels:.1f} MP): holding it at its own size needs "
            f"about {format_size(need)}, over the memory budget of {format_size(budget)}; "
            "raise --max-memory (run.max_memory) or pass --output-size"
        )


def check_window_budget(
    size: tuple[int, int], plan: Plan, native_engine: bool, budget: int
) -> None:
    """Refuse, before stylising, a window that :func:`~tst_core.compose.compose` could not hold
    within ``budget`` (an engine with ``stylize_native`` plans its own work and says so itself)."""
    masks = plan.targets.masks()
    covered = float((masks > 0.5).float().sum()) / (plan.scale * plan.scale)
    for box in windows_of(size, plan):
        need = window_bytes(box, len(plan.targets), covered, native_engine, plan.compositor)
        if need > budget:
            raise InputError(
                f"the targets' window of {int(box.width)}×{int(box.height)} photo pixels needs "
                f"about {format_size(need)} at the photo's own size, over the memory budget of "
                f"{format_size(budget)}; raise --max-memory (run.max_memory) or pass --output-size"
            )


def _joined(results: Sequence[StylizeResult]) -> StylizeResult:
    """One result of an engine that stylised each window: the last window's losses, and each
    window's facts (no layers: they were composited window by window)."""
    if not results:
        return StylizeResult(torch.zeros(0, 3, 1, 1))
    info = dict(results[0].info)
    info["windows"] = [r.info for r in results]
    return StylizeResult(torch.zeros(0, 3, 1, 1), results[-1].losses, info)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - t0


def run(
    photo: PhotoLike,
    styles: StylesLike,
    *,
    segmentation: Segmentation | None = None,
    progress: ProgressFn | None = None,
    **kwargs: Any,
) -> RunResult:
    """Stylise the selected regions of ``photo`` and blend them back.

    :param photo: a path, PIL image or ``(3, H, W)`` tensor in [0, 1].
    :param styles: ``["person=starry.jpg", "car#1=scream.jpg:2"]`` or
        ``{"person": "starry.jpg", "car#1": (pil_image, 2.0)}`` (see :mod:`tst_core.select`).
    :param segmentation: instances to use instead of running the segmenter.
    :param progress: called once per engine iteration with a :class:`~tst_core.types.Progress`.
    :param kwargs: configuration, as for :func:`session`: ``segmenter``, ``engine``, ``blend``,
        ``config`` (path, preset name or :class:`Config`), ``sets``, ``size``, ``style_size``,
        ``device``, ``seed``, ``segmenter_options``, ``engine_options``, ``blend_options``,
        ``host``.
    """
    return Pipeline(session(**kwargs)).run(
        photo, styles, segmentation=segmentation, progress=progress
    )


def segment(photo: PhotoLike, *, segmenter: str | None = None, **kwargs: Any) -> SegmentResult:
    """Find every instance in ``photo`` (at the photo's full resolution).

    Takes the configuration arguments of :func:`session`. Instance ids are their rank by score.
    """
    return Pipeline(session(segmenter=segmenter, **kwargs)).segment_photo(photo)
