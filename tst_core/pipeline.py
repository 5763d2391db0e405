"""The pipeline: the one place that wires the stages.

``photo → segmenter → targets → engine → compositor → result + report``; each stage is a method
of :class:`Pipeline`, whose plugins are built once and reused (a batch keeps one per worker).
:func:`run` and :func:`segment` are the one-call forms (an example: :mod:`tst_core.api`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from .cleanup import clean_targets
from .errors import InputError
from .files import PhotoLike, check_regular_file, image_size, load_photo, resize_long_side
from .outputs import Input, check_outputs
from .registry import Kind
from .report import RunFacts, run_report, segmenter_facts
from .results import RunResult, SegmentResult, estimated_bytes, run_outputs, segment_outputs
from .select import StyleRequest, StylesLike, build_targets, needs_segmentation, style_requests
from .sessions import Session, is_path, session
from .styles import describe, image_only, style_parts
from .types import (
    MAX_PAINTING_SIDE,
    ModelStyle,
    ProgressFn,
    ResolvedStyle,
    Segmentation,
    StylePart,
    StyleResolver,
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
        seg = self.plugin("segmenter").segment(image)
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
        compositor = self.plugin("blend")
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
        with _timed(timings, "stylize"):
            stylized = engine.stylize(image, targets, progress)
        with _timed(timings, "composite"):
            result = compositor.composite(image, stylized.layers, targets).clamp(0.0, 1.0)
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
        return RunResult(result, image, stylized, segmentation, targets, config, report, inputs)

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
            return self.plugin("segmenter").segment(full)
        if segmentation.size != tuple(full.shape[-2:]):
            raise InputError(
                f"segmentation is {segmentation.size} but the photo is {tuple(full.shape[-2:])}"
            )
        return segmentation

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
            part = image_only(parts, run_opts.engine)
            return _style_image(load_photo(part.source, "style image"), style_size, None, parts)
        model = engine.resolve_style(parts)
        if len(parts) == 1 and parts[0].kind == "image":
            return _style_image(
                load_photo(parts[0].source, "style image"), style_size, model, parts
            )
        return ResolvedStyle(None, model, describe(parts))


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
