"""The pipeline: the one place that wires the stages.

``photo → segmenter → targets → engine → compositor → result + report``; each stage is a method
of :class:`Pipeline`, whose plugins are built once and reused (a batch keeps one per worker).
:func:`run` and :func:`segment` are the one-call forms (an example: :mod:`tst_core.api`).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from . import looks, recipe
from .cleanup import clean_targets
from .contracts import check_composite, check_layers
from .errors import InputError, PluginError
from .files import PhotoLike, check_regular_file, image_size, load_photo
from .fingerprint import plugin_files
from .imageops import resize_long_side
from .outputs import Input, check_outputs
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
        """Stylise the selected regions of ``photo`` and blend them back (see :func:`run`)."""
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        requests = style_requests(styles)
        engine = self.plugin("engine")  # bad engine or compositor options fail before any work
        self.plugin("blend")
        full = load_photo(photo)
        for r in requests:  # a FIFO or a device as a style fails before the segmenter runs
            for source in r.sources:
                if is_path(source) and os.path.lexists(source) and not Path(source).is_dir():
                    check_regular_file(source, "style image")
        inputs = self.session.input_files(photo, requests)
        ran = segmentation is None and needs_segmentation(requests)
        segmenter = segmenter_facts(
            self.session.config.run.segmenter, ran, segmentation is not None
        )
        with _timed(timings, "segment"):
            segmentation = self.segment(full, segmentation, requests)
        with _timed(timings, "select"):
            image, targets = self.targets(full, segmentation, requests)
        shapes = looks.engine_targets(targets)  # soft masks: their support
        with _timed(timings, "stylize"):
            stylized = engine.stylize(image, shapes, self.composited(progress, image, shapes))
        hw = (int(image.shape[-2]), int(image.shape[-1]))
        check_layers(stylized.layers, len(targets), hw, self.entry("engine"))
        with _timed(timings, "composite"):
            layers = looks.apply(image, stylized.layers, targets)
            result = self.composite(image, layers, shapes)
        timings["total"] = time.perf_counter() - t_start
        facts = RunFacts(
            photo=photo,
            requests=requests,
            full=full,
            image=image,
            segmentation=segmentation,
            targets=targets,
            stylized=stylized,
            timings=timings,
            segmenter=segmenter,
        )
        report = run_report(self.session, facts)
        config = self.session.config
        made = self.recipe(photo, requests, segmentation, stylized, report)
        return RunResult(
            result, image, stylized, segmentation, targets, config, report, inputs, made
        )

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
        if segmentation.size != tuple(full.shape[-2:]):
            raise InputError(
                f"segmentation is {segmentation.size} but the photo is {tuple(full.shape[-2:])}"
            )
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
        for inst in segmentation.instances:
            prompt = Prompt(box=inst.box, mask=inst.mask, label=inst.label)
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
