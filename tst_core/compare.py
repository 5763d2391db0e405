"""Compare compositors (and engines) on one photo: ``tst compare`` and its API.

>>> from tst_core.compare import compare
>>> res = compare("bus.jpg", ["person#0=starry_night.jpg", "person#1=the_scream.jpg"],
...               blends=["hard", "feather", "mrf", "poisson"], segmenter="yolo")
>>> print(res.table())
>>> res.save("sheet.png")            # sheet.png, sheet.json and sheet.csv, all or nothing

The configuration is resolved once (one :class:`~tst_core.api.Session`); the photo is segmented
once, stylised once per engine (through :meth:`tst_core.api.Pipeline.run`), and each
stylisation is blended with every compositor, each built once. Metrics are those of
:mod:`tst_core.metrics`; the sheet is drawn by :mod:`tst_core.sheet` from the panels and the
square crops chosen here: the top of each target (a person's face), then the seams.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage as ndi

from . import looks, metrics
from .api import PhotoLike, Pipeline, RunResult, Session, StylesLike, estimated_bytes, session
from .errors import InputError, TstError
from .files import image_format, image_writer, json_writer, text_writer
from .outputs import Input, Output, check_outputs, write_outputs
from .regions import boundary, label_map
from .registry import Kind
from .sheet import Block, Panel, SquareCrop, contact_sheet
from .types import ProgressFn, Segmentation, Targets, Tensor

#: Columns of the metrics table: (key, title, format).
COLUMNS = (
    ("engine", "engine", "{}"),
    ("blend", "blend", "{}"),
    ("seam", "seam ↓", "{:.5f}"),
    ("leakage", "leakage", "{:.2e}"),
    ("style", "style ↓", "{:.4g}"),
    ("content", "content ↓", "{:.4g}"),
    ("seconds", "blend s", "{:.3f}"),
)


@dataclass
class Combination:
    """One engine × compositor result and its metrics.

    :param image: the blended result ``(3, H, W)`` in [0, 1].
    :param seam: seam visibility per target. :param style: style distance per target
        (``None`` without a feature function). :param leakage, content, seconds: see
        :mod:`tst_core.metrics`; ``seconds`` is the compositor's time.
    """

    engine: str
    blend: str
    image: Tensor
    seam: list[float]
    leakage: float
    seconds: float
    style: list[float] | None = None
    content: float | None = None

    def row(self) -> dict[str, Any]:
        """Scalar summary: means over targets."""
        return {
            "engine": self.engine,
            "blend": self.blend,
            "seam": _mean(self.seam),
            "leakage": self.leakage,
            "style": _mean(self.style) if self.style is not None else None,
            "content": self.content,
            "seconds": self.seconds,
        }


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


@dataclass
class CompareResult:
    """What :func:`compare` returns.

    :param runs: the :class:`~tst_core.api.RunResult` of each engine (photo, layers, targets).
    :param combinations: one per engine × compositor, in the order asked.
    :param band: the width in pixels used by the seam and leakage metrics.
    :param notes: facts a reader of the table needs (a metric that could not be computed).
    """

    runs: dict[str, RunResult]
    combinations: list[Combination]
    band: int
    notes: list[str] = field(default_factory=list)
    inputs: tuple[Input, ...] = ()

    @property
    def first(self) -> RunResult:
        return next(iter(self.runs.values()))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per combination: the table's columns, plus per-target values."""
        selectors = [t.selector for t in self.first.targets]
        out = []
        for c in self.combinations:
            row = c.row()
            for sel, value in zip(selectors, c.seam, strict=True):
                row[f"seam/{sel}"] = value
            for sel, value in zip(selectors, c.style or [], strict=False):
                row[f"style/{sel}"] = value
            out.append(row)
        return out

    def cells(self) -> list[list[str]]:
        """The metrics table as text cells: the column titles, then one row per combination."""
        cells = [[title for _, title, _ in COLUMNS]]
        for row in self.rows():
            cells.append(
                [fmt.format(row[key]) if row[key] is not None else "n/a" for key, _, fmt in COLUMNS]
            )
        return cells

    def table(self) -> str:
        """The metrics as an aligned text table (lower is better where marked ↓)."""
        cells = self.cells()
        widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(
            f"seam: squared gradient excess per edge pixel within {self.band} px of each edge; "
            f"leakage: mean |result - photo| farther than {self.band} px from every target"
        )
        return "\n".join(lines + self.notes)

    def report(self) -> dict[str, Any]:
        """JSON-ready: targets, metric definitions, per-combination rows, engine facts."""
        first = self.first
        return {
            "photo_size": first.report.get("photo_size"),
            "working_size": list(first.photo.shape[-2:]),
            "band": self.band,
            "targets": first.report.get("targets"),
            "instances": first.report.get("instances"),
            "rows": self.rows(),
            "engines": {
                name: {"timings": r.report.get("timings"), "info": r.stylized.info}
                for name, r in self.runs.items()
            },
            "config": first.report.get("config"),
            "versions": first.report.get("versions"),
            "notes": self.notes,
        }

    def csv(self) -> str:
        """The rows as CSV text (per-target columns included)."""
        rows = self.rows()
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def sheet(self) -> Image.Image:
        """The contact sheet: one block per engine of the photo, the stylised layer(s) and each
        compositor's result captioned with its seam visibility and leakage, all with the same
        :func:`seam_crops` enlarged below them (see :mod:`tst_core.sheet`)."""
        first = self.first
        targets = ", ".join(f"{t.selector}={t.style_name}" for t in first.targets)
        selectors = [t.selector for t in first.targets]
        blocks = []
        for engine, run in self.runs.items():
            panels = [Panel("photo", run.photo)]
            panels += [Panel(title, img) for title, img in _layer_panels(run, selectors)]
            for combo in (c for c in self.combinations if c.engine == engine):
                stats = f"seam {combo.row()['seam']:.4f}  leak {combo.leakage:.1e}"
                panels.append(Panel(combo.blend, combo.image, stats))
            blocks.append(Block(f"engine {engine}: {targets}", panels))
        return contact_sheet(blocks, sheet_crops(first.photo, first.stylized.layers, first.targets))

    def save(self, path: str | Path) -> tuple[Path, ...]:
        """Write the sheet image and ``<stem>.json`` and ``<stem>.csv`` beside it, all or none.

        Never overwrites an input. Returns the paths written.
        """
        sheet, table, rows = sheet_outputs(path)
        contents = {
            sheet: image_writer(self.sheet(), image_format(path)),
            table: json_writer(self.report()),
            rows: text_writer(self.csv()),
        }
        return write_outputs(contents, self.inputs)


def sheet_outputs(path: str | Path) -> tuple[Output, Output, Output]:
    """The destinations :meth:`CompareResult.save` writes: the sheet, its JSON and its CSV."""
    path = Path(path)
    image_format(path)
    return (
        Output(path, "-o"),
        Output(path.with_suffix(".json"), "the JSON table of -o"),
        Output(path.with_suffix(".csv"), "the CSV table of -o"),
    )


class Comparison:
    """A resolved session and the engines and compositors to compare, checked before any work.

    ``compare(...)`` is ``Comparison(session(...), engines, blends).run(...)``; the command line
    builds one to check its outputs first and then run it, resolving the configuration once.

    :param engines: engine names; default: the configured engine.
    :param blends: compositor names; default: every installed compositor.
    """

    def __init__(
        self,
        sess: Session,
        engines: Sequence[str] | None = None,
        blends: Sequence[str] | None = None,
    ) -> None:
        self.session = sess
        self.engines = list(engines or [sess.config.run.engine])
        self.blends = list(blends or sess.host.registry("blend").names())
        checks: tuple[tuple[Kind, list[str]], ...] = (
            ("engine", self.engines),
            ("blend", self.blends),
        )
        for kind, names in checks:
            if len(set(names)) != len(names):
                raise InputError(f"{kind} names are repeated in {', '.join(names)}")
            for name in names:
                sess.host.entry(kind, name)  # unknown names fail before any work

    def check_save(self, path: str | Path, photo: PhotoLike, styles: StylesLike) -> None:
        """Refuse, before any work, a sheet :meth:`CompareResult.save` could not write (see
        :meth:`tst_core.api.Pipeline.check_save`)."""
        n_blends = len(self.blends)
        panels = len(self.engines) * (n_blends + 2) + n_blends  # results and crops
        check_outputs(
            sheet_outputs(path),
            Pipeline(self.session).input_files(photo, styles),
            need_bytes=estimated_bytes(self.session.config.run.size, panels),
        )

    def run(
        self,
        photo: PhotoLike,
        styles: StylesLike,
        *,
        band: int = metrics.BAND,
        features: metrics.FeatureFn | None = None,
        segmentation: Segmentation | None = None,
        progress: ProgressFn | None = None,
    ) -> CompareResult:
        """Stylise once per engine and blend with every compositor (see :func:`compare`)."""
        if band < 0:
            raise InputError(f"the metrics band must be >= 0 pixels, got {band}")
        built: dict[tuple[Any, ...], Any] = {}  # every plugin built once, shared by the engines
        pipelines = {e: self._pipeline(e, built) for e in self.engines}
        first = pipelines[self.engines[0]]
        for b in self.blends:  # bad compositor options fail before any work
            first.plugin("blend", b)
        notes: list[str] = []
        if features is None:
            try:
                features = metrics.vgg19_features()
            except TstError as exc:
                notes.append(f"style, content: n/a ({exc})")

        runs: dict[str, RunResult] = {}
        combos: list[Combination] = []
        for engine, pipeline in pipelines.items():
            res = pipeline.run(photo, styles, segmentation=segmentation, progress=progress)
            segmentation = res.segmentation
            runs[engine] = res
            for name in self.blends:
                if name == self.blends[0]:  # the pipeline's own result
                    image, seconds = res.image, res.report["timings"]["composite"]
                else:
                    t0 = time.perf_counter()
                    layers = looks.apply(res.photo, res.stylized.layers, res.targets)
                    shapes = looks.engine_targets(res.targets)
                    image = pipeline.composite(res.photo, layers, shapes, name)
                    seconds = time.perf_counter() - t0
                combos.append(_measure(engine, name, image, seconds, res, band, features))
        return CompareResult(runs, combos, band, notes, runs[self.engines[0]].inputs)

    def _pipeline(self, engine: str, built: dict[tuple[Any, ...], Any]) -> Pipeline:
        """The pipeline of one engine; its result is blended by the first compositor. A
        comparison works at the working size (``output_size = size``): its sheet and figures
        compare compositors on the same working-size layers."""
        run = self.session.config.run
        config = self.session.config.replace_run(
            engine=engine, blend=self.blends[0], output_size=run.size
        )
        return Pipeline(Session(self.session.host, config), built)


def compare(
    photo: PhotoLike,
    styles: StylesLike,
    *,
    engines: Sequence[str] | None = None,
    blends: Sequence[str] | None = None,
    band: int = metrics.BAND,
    features: metrics.FeatureFn | None = None,
    segmentation: Segmentation | None = None,
    progress: ProgressFn | None = None,
    **kwargs: Any,
) -> CompareResult:
    """Stylise once per engine and blend with every compositor; measure each result.

    :param photo, styles: as for :func:`tst_core.api.run`.
    :param engines: engine names; default: the configured engine.
    :param blends: compositor names; default: every installed compositor.
    :param band: width in pixels of the band for seam visibility and leakage.
    :param features: feature function for the style and content metrics; default:
        :func:`tst_core.metrics.vgg19_features` (the metrics are left out, with a note, when it
        is not available).
    :param kwargs: configuration as for :func:`tst_core.api.session` (not ``engine``/``blend``
        or their ``*_options``).
    """
    for key in ("engine", "blend"):
        if kwargs.pop(key, None) is not None:
            raise InputError(f"compare takes {key}s=[...], a list, not {key}=")
        if kwargs.pop(f"{key}_options", None):
            raise InputError(
                f"compare runs several {key} plugins; give each one's options as "
                f"sets=['{key}.NAME.KEY=VALUE'] or in config=, not {key}_options="
            )
    comparison = Comparison(session(**kwargs), engines, blends)
    return comparison.run(
        photo, styles, band=band, features=features, segmentation=segmentation, progress=progress
    )


def _measure(
    engine: str,
    blend: str,
    image: Tensor,
    seconds: float,
    res: RunResult,
    band: int,
    features: metrics.FeatureFn | None,
) -> Combination:
    layers = res.stylized.layers
    combo = Combination(
        engine,
        blend,
        image,
        seam=metrics.seam_visibility(image, res.photo, layers, res.targets, band),
        leakage=metrics.leakage(image, res.photo, res.targets, band),
        seconds=seconds,
    )
    if features is not None:
        combo.style = metrics.style_distance(image, res.targets, features)
        combo.content = metrics.content_distance(image, res.photo, features)
    return combo


MAX_CROPS = 3


def sheet_crops(photo: Tensor, stylized: Tensor, targets: Targets) -> list[SquareCrop]:
    """The crops the sheet enlarges (at most :data:`MAX_CROPS`): the top of each target first
    (a standing person's head and face, where a viewer looks first), then the strongest seams.

    :param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``.
    """
    crops = top_crops(targets, _crop_side(photo))
    crops += seam_crops(photo, stylized, targets)
    return crops[:MAX_CROPS]


def _crop_side(photo: Tensor) -> int:
    h, w = photo.shape[-2:]
    return min(int(np.clip(min(h, w) // 5, 16, 128)), h, w)


def top_crops(targets: Targets, size: int) -> list[SquareCrop]:
    """One square crop of side ``size`` per target at the top of its mask (> 0.5): the first
    rows it covers, centred on them, with a sixth of the crop above them."""
    out = []
    h, w = targets.size
    for mask in targets.masks()[:MAX_CROPS]:
        rows = np.flatnonzero((mask > 0.5).any(dim=1).numpy())
        if not len(rows):
            continue
        top = int(rows[0])
        band = (mask[top : top + size // 2] > 0.5).numpy()
        cx = int(np.flatnonzero(band.any(axis=0)).mean())
        y0 = int(np.clip(top - size // 6, 0, h - size))
        x0 = int(np.clip(cx - size // 2, 0, w - size))
        out.append(SquareCrop(x0, y0, size))
    return out


def seam_crops(photo: Tensor, stylized: Tensor, targets: Targets) -> list[SquareCrop]:
    """One square crop per target (at most :data:`MAX_CROPS`) where its hard seam is strongest.

    :param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``.
    """
    h, w = photo.shape[-2:]
    size = _crop_side(photo)
    labels = label_map(targets.masks())
    out = []
    for k in range(min(len(targets), MAX_CROPS)):
        edge = boundary(labels == k + 1)  # both sides, so a crop straddles the edge
        if not edge.any():
            continue
        contrast = (stylized[k] - photo).norm(dim=0).numpy() * edge
        score = ndi.uniform_filter(contrast.astype(np.float64), size=size, mode="constant")
        score[~edge] = -1.0  # centre the crop on the edge itself
        cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
        y0 = int(np.clip(cy - size // 2, 0, h - size))
        x0 = int(np.clip(cx - size // 2, 0, w - size))
        out.append(SquareCrop(x0, y0, size))
    return out


def _layer_panels(run: RunResult, selectors: list[str]) -> list[tuple[str, Tensor]]:
    """The stylised images to show: one when all layers are the same image, else each."""
    layers = run.stylized.layers
    if all(torch.equal(layers[0], layer) for layer in layers[1:]):
        return [("stylised", layers[0])]
    return [(f"stylised: {sel}", layer) for sel, layer in zip(selectors, layers, strict=True)]
