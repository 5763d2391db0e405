"""The Python API: one function wires the stages; the CLI calls it too.

>>> import tst_core
>>> result = tst_core.run("bus.jpg", ["person#0=starry_night.jpg", "person#1=the_scream.jpg:2"],
...                       segmenter="yolo", segmenter_options={"weights": "yolov8n-seg.tflite"},
...                       engine_options={"iterations": 100}, blend_options={"radius": 4})
>>> result.save("out.png")          # writes out.png and out.json
>>> result.to_pil()                 # or look at it in a notebook
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from . import __version__, validate
from .cleanup import clean_targets
from .config import Config, load_config
from .errors import InputError, SelectionError
from .files import (
    MASK_INDEX_FILE,
    check_regular_file,
    image_format,
    image_size,
    image_writer,
    json_writer,
    mask_to_pil,
    pil_to_tensor,
    read_image,
    resize_long_side,
)
from .fingerprint import fingerprint, input_record, plugin_files
from .outputs import Input, Output, check_outputs, write_outputs
from .plugins import Host, default_host
from .registry import Kind
from .select import (
    StyleRequest,
    build_targets,
    needs_segmentation,
    parse_selector,
    parse_style_arg,
    split_style_suffixes,
)
from .styles import describe, image_only, parse_style, style_parts
from .types import (
    MAX_PAINTING_SIDE,
    Env,
    ModelStyle,
    ProgressFn,
    ResolvedStyle,
    Segmentation,
    StylePart,
    StyleResolver,
    StylizeResult,
    TargetOptions,
    Targets,
    Tensor,
)

PhotoLike = str | Path | Image.Image | Tensor
StylesLike = Sequence[str | StyleRequest] | Mapping[str, Any]


def load_photo(photo: PhotoLike, what: str = "photo") -> Tensor:
    """A path, PIL image or ``(3, H, W)`` tensor in [0, 1] → float32 ``(3, H, W)`` tensor."""
    if isinstance(photo, (str, Path)):
        return read_image(photo, what)
    if isinstance(photo, Image.Image):
        return pil_to_tensor(photo)
    if isinstance(photo, torch.Tensor):
        return validate.image_tensor(photo, what)
    raise InputError(
        f"{what} must be a path, a PIL image or a (3, H, W) tensor, not {type(photo).__name__}"
    )


def style_requests(styles: StylesLike) -> list[StyleRequest]:
    """Normalise and check styles: ``["person=a.jpg:2", ...]`` or
    ``{"person": "a.jpg" | (img, 2.0)}``; a bad selector or strength is a :class:`SelectionError`."""
    if isinstance(styles, Mapping):
        return [_request(selector, value) for selector, value in styles.items()]
    if isinstance(styles, (str, StyleRequest)):
        styles = [styles]
    out = []
    for s in styles:
        if isinstance(s, str):
            out.append(parse_style_arg(s))
        elif isinstance(s, StyleRequest):
            out.append(_request(s.selector, (s.style, s.strength), s.options))
        else:
            raise SelectionError(
                f"a style must be 'SELECTOR=STYLE' or a StyleRequest, not {type(s).__name__}"
            )
    return out


def _request(selector: object, value: Any, options: TargetOptions | None = None) -> StyleRequest:
    if not isinstance(selector, str):
        raise SelectionError(f"a selector must be a string, not {type(selector).__name__}")
    for part in selector.split(","):
        parse_selector(part)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise SelectionError(
                f"the style of '{selector}' must be STYLE or (STYLE, STRENGTH), got {len(value)} items"
            )
        style, strength = value
    else:
        style, strength = value, None
    if isinstance(style, str):  # "starry.jpg@scale=1.5:2" as on the command line
        style, suffix_strength, suffix_options = split_style_suffixes(style)
        if strength is not None and suffix_strength is not None:
            raise SelectionError(f"the strength of '{selector}' is given twice")
        strength = suffix_strength if strength is None else strength
        options = options or suffix_options
        style = parse_style(style)
    elif isinstance(style, torch.Tensor):
        style = validate.image_tensor(style, "style image")
    strength = validate.strength(1.0 if strength is None else strength, f"of '{selector}'")
    return StyleRequest(selector.strip(), style, strength, options or TargetOptions())


@dataclass
class Session:
    """A resolved configuration with the host, able to build the chosen plugins."""

    host: Host
    config: Config

    @property
    def env(self) -> Env:
        return Env(self.config.run.device, self.config.run.seed, self.build)

    def build(self, kind: Kind, name: str) -> Any:
        entry = self.host.entry(kind, name)
        return entry.build(self.config.options_for(self.host, kind, name), self.env)

    def chosen(self) -> tuple[tuple[Kind, str], ...]:
        """The ``(kind, name)`` of the segmenter, engine and compositor this session uses."""
        run_opts = self.config.run
        return (
            ("segmenter", run_opts.segmenter),
            ("engine", run_opts.engine),
            ("blend", run_opts.blend),
        )

    def inputs(self, photo: PhotoLike, requests: Sequence[StyleRequest]) -> dict[str, Any]:
        """What a run of ``photo`` with ``requests`` reads, with SHA-256 of each (the report's
        ``inputs``; see :mod:`tst_core.fingerprint`)."""
        options = {f"{k}.{n}": self.config.options_for(self.host, k, n) for k, n in self.chosen()}
        styles = [(r.selector, r.style, r.strength) for r in requests]
        return input_record(photo, styles, plugin_files(options))

    def fingerprint(self, photo: PhotoLike, requests: Sequence[StyleRequest]) -> str:
        """One digest of this configuration and the contents of what the run would read; equal
        to :func:`~tst_core.fingerprint.report_fingerprint` of that run's report."""
        return fingerprint(self.config.to_dict(self.host), self.inputs(photo, requests))

    def input_files(
        self, photo: PhotoLike | None = None, requests: Sequence[StyleRequest] = ()
    ) -> tuple[Input, ...]:
        """Every file and folder a run reads: the config files, the path options of the chosen
        and of every configured plugin (masks, weights), the photo and the style images."""
        found = [Input(p, "config") for p in self.config.sources]
        chosen = set(self.chosen())
        configured = {(k, n) for k, tables in self.config.plugins.items() for n in tables}
        for kind, name in sorted(chosen | configured):
            if name not in self.host.registry(kind):
                continue
            options = self.config.options_for(self.host, kind, name)
            for f in dataclasses.fields(options):
                for path in _paths(getattr(options, f.name)):
                    found.append(Input(path, f"{kind}.{name}.{f.name}"))
        if isinstance(photo, (str, Path)):
            found.append(Input(Path(photo), "photo"))
        found += [Input(Path(s), "style image") for r in requests for s in r.sources if _is_path(s)]
        return tuple(found)


def _is_path(value: object) -> bool:
    return isinstance(value, (str, Path))


def _paths(value: object) -> list[Path]:
    """The paths in an option value (a ``Path``, or a list of them)."""
    if isinstance(value, Path):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, Path)]
    return []


def session(
    *,
    host: Host | None = None,
    config: str | Path | Config | None = None,
    sets: Sequence[str] = (),
    segmenter: str | None = None,
    engine: str | None = None,
    blend: str | None = None,
    size: int | None = None,
    style_size: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    segmenter_options: Mapping[str, Any] | None = None,
    engine_options: Mapping[str, Any] | None = None,
    blend_options: Mapping[str, Any] | None = None,
) -> Session:
    """Resolve the configuration: file/preset, then ``sets``, then the explicit arguments.

    :param segmenter_options, engine_options, blend_options: options of the chosen segmenter,
        engine and compositor, ``{"iterations": 50}``, over the configured ones; checked as a
        config file's ``[engine.gatys]`` table is (a notebook need not write ``sets=`` strings).
    """
    host = host or default_host()
    cfg = config if isinstance(config, Config) else load_config(host, config, list(sets))
    cfg = cfg.replace_run(
        segmenter=segmenter,
        engine=engine,
        blend=blend,
        size=size,
        style_size=style_size,
        device=device,
        seed=seed,
    )
    host.entry("segmenter", cfg.run.segmenter)
    tables: dict[Kind, Mapping[str, Any] | None] = {
        "segmenter": segmenter_options,
        "engine": engine_options,
        "blend": blend_options,
    }
    for kind, table in tables.items():
        cfg = cfg.with_options(host, kind, getattr(cfg.run, kind), table or {})
    return Session(host, cfg)


@dataclass
class SegmentResult:
    """What :func:`segment` returns: the photo ``(3, H, W)`` and its segmentation."""

    photo: Tensor
    segmentation: Segmentation
    segmenter: str
    seconds: float
    inputs: tuple[Input, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One dict per instance: id, label, score, area (fraction), box."""
        return [
            {
                "id": i,
                "label": inst.label,
                "score": round(inst.score, 4),
                "area": round(inst.area, 5),
                "box": [round(v, 1) for v in inst.box],
            }
            for i, inst in enumerate(self.segmentation.instances)
        ]

    def export_masks(self, folder: str | Path) -> Path:
        """Write one PNG per instance (``NNN_label.png``) and ``instances.json`` into a new folder.

        The ``maskfile`` segmenter reads the folder back unchanged. The folder must not exist or
        be empty (missing parents are created); it appears whole or not at all.
        """
        self.save(masks=folder)
        return Path(folder)

    def save(
        self, *, overlay: str | Path | None = None, masks: str | Path | None = None
    ) -> tuple[Path, ...]:
        """Write the overlay picture and/or the mask folder, all or none; never over an input.

        :param overlay: the photo with every instance's mask and id drawn on it.
        :param masks: a new folder as :meth:`export_masks` writes it; an ``overlay`` inside it
            is written with the masks (``maskfile`` reads only the files ``instances.json`` lists).
        """
        contents: dict[Output, Any] = {}
        if masks is not None:
            contents[Output(Path(masks), "--export-masks", folder=True)] = self._mask_writers()
        if overlay is not None:
            from .overlay import overlay as draw

            fmt = image_format(overlay)
            contents[Output(Path(overlay), "--overlay")] = image_writer(
                draw(self.photo, self.segmentation), fmt
            )
        return write_outputs(contents, self.inputs)

    def _mask_writers(self) -> dict[str, Any]:
        writers = {}
        index = []
        for row, inst in zip(self.rows(), self.segmentation.instances, strict=True):
            name = mask_file_name(row["id"], inst.label)
            writers[name] = image_writer(mask_to_pil(inst.mask), "PNG")
            index.append({"file": name, **row})
        writers[MASK_INDEX_FILE] = json_writer({"instances": index})
        return writers


def mask_file_name(instance_id: int, label: str) -> str:
    """``NNN_label.png`` for an exported mask, safe as a file name on every system: anything
    but letters, digits, spaces, ``-`` and ``.`` becomes ``-`` (no ``/``, no control
    characters), and the label part is cut to 48 characters (the label itself is kept in
    ``instances.json``)."""
    safe = "".join(c if c.isalnum() or c in " -." else "-" for c in label)[:48].strip(" .")
    return f"{instance_id:03d}_{safe or 'region'}.png"


def segment_outputs(
    *, overlay: str | Path | None = None, masks: str | Path | None = None
) -> tuple[Output, ...]:
    """The destinations :meth:`SegmentResult.save` writes, for :func:`check_outputs`."""
    out = []
    if masks is not None:
        out.append(Output(Path(masks), "--export-masks", folder=True))
    if overlay is not None:
        image_format(overlay)
        out.append(Output(Path(overlay), "--overlay"))
    return tuple(out)


def segment(photo: PhotoLike, *, segmenter: str | None = None, **kwargs: Any) -> SegmentResult:
    """Find every instance in ``photo`` (at the photo's full resolution).

    Takes the configuration arguments of :func:`session`. Instance ids are their rank by score.
    """
    return Pipeline(session(segmenter=segmenter, **kwargs)).segment_photo(photo)


@dataclass
class RunResult:
    """What :func:`run` returns.

    :param image: the final picture, float32 ``(3, H, W)`` in [0, 1] at the working size.
    :param photo: the photo at the working size.
    :param stylized: the engine's result (layers ``(K, 3, H, W)`` and losses).
    :param segmentation: instances at the photo's full resolution.
    :param targets: the targets at the working size.
    :param report: everything needed to understand or repeat the run (JSON-ready).
    """

    image: Tensor
    photo: Tensor
    stylized: StylizeResult
    segmentation: Segmentation
    targets: Targets
    config: Config
    report: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[Input, ...] = ()

    def to_pil(self) -> Image.Image:
        from .files import tensor_to_pil

        return tensor_to_pil(self.image)

    def save(self, path: str | Path, *, report: bool = True) -> tuple[Path, ...]:
        """Write the image and (``report=True``) ``<stem>.json`` beside it: both or neither.

        Never overwrites an input file (see :mod:`tst_core.outputs`). Returns the paths written.
        """
        image, *rest = run_outputs(path, report=report)
        contents: dict[Output, Any] = {image: image_writer(self.image, image_format(path))}
        if rest:
            contents[rest[0]] = json_writer(self.report)
        return write_outputs(contents, self.inputs)


def run_outputs(path: str | Path, *, report: bool = True) -> tuple[Output, ...]:
    """The destinations :meth:`RunResult.save` writes: the image, and its report beside it."""
    path = Path(path)
    image_format(path)
    image = Output(path, "-o")
    return (image, Output(path.with_suffix(".json"), "the report of -o")) if report else (image,)


def estimated_bytes(size: int, images: int = 1) -> int:
    """A generous size on disk of ``images`` RGB pictures of long side ``size`` plus a report."""
    return images * 3 * size * size + (1 << 16)


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
                if _is_path(source) and os.path.lexists(source) and not Path(source).is_dir():
                    check_regular_file(source, "style image")
        inputs = self.session.input_files(photo, requests)
        ran = segmentation is None and needs_segmentation(requests)
        facts = _segmenter_facts(self.session.config.run.segmenter, ran, segmentation is not None)
        with _timed(timings, "segment"):
            segmentation = self.segment(full, segmentation, requests)
        with _timed(timings, "select"):
            image, targets = self.targets(full, segmentation, requests)
        with _timed(timings, "stylize"):
            stylized = engine.stylize(image, targets, progress)
        with _timed(timings, "composite"):
            result = compositor.composite(image, stylized.layers, targets).clamp(0.0, 1.0)
        timings["total"] = time.perf_counter() - t_start
        report = _report(
            self.session,
            photo,
            requests,
            full,
            image,
            segmentation,
            targets,
            stylized,
            timings,
            facts,
        )
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


def _segmenter_facts(name: str, ran: bool, given: bool) -> dict[str, Any]:
    """The report's ``segmenter`` entry: which one ran, or why none did."""
    if ran:
        return {"name": name, "ran": True}
    why = (
        "a segmentation was given"
        if given
        else "every target is the whole frame (all), so no segmenter was built"
    )
    return {"name": None, "ran": False, "why": why}


def _report(
    sess: Session,
    photo: PhotoLike,
    requests: Sequence[StyleRequest],
    full: Tensor,
    image: Tensor,
    seg: Segmentation,
    targets: Targets,
    stylized: StylizeResult,
    timings: dict[str, float],
    segmenter: dict[str, Any],
) -> dict[str, Any]:
    run_opts = sess.config.run
    used = {
        sess.host.entry(k, n).plugin
        for k, n in sess.chosen()
        if k != "segmenter" or segmenter["ran"]
    }
    return {
        "photo": str(photo) if isinstance(photo, (str, Path)) else type(photo).__name__,
        "photo_size": list(full.shape[-2:]),
        "working_size": list(image.shape[-2:]),
        "segmenter": segmenter,
        "instances": SegmentResult(full, seg, run_opts.segmenter, 0.0).rows(),
        "targets": [
            {
                "selector": t.selector,
                "style": t.style_name,
                "strength": t.strength,
                "instance_ids": list(t.instance_ids),
                "area": round(float(t.mask.mean()), 5),
                **({"model_style": t.model_style.parts} if t.model_style else {}),
            }
            for t in targets
        ],
        "config": sess.config.to_dict(sess.host),
        "inputs": sess.inputs(photo, requests),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "final_losses": stylized.losses[-1] if stylized.losses else {},
        "engine": stylized.info,
        "versions": {
            "tst": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            **{p.name: p.version for p in sess.host.plugins if p.name in used and p.version},
        },
    }
