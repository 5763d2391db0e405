"""Result quality on small targets: tst's default against whole-frame and crop-and-stylise.

    python benchmarks/quality.py                                  # 9 jobs at 384 and 512 px
    python benchmarks/quality.py --sizes 128 --iterations 10 --jobs tennis,bus-pair
    python benchmarks/quality.py --variant sw1:style_weight=1 --variant pad:padding=reflect
    python benchmarks/quality.py --reuse --variant ...   # the baselines of an earlier run

Issue 9's benchmark. Each job is a photo of ``../shared/images/content`` (or ``$TST_SHARED``)
with one to three of its instances, each in its own painting. The masks come from the ``yolo``
segmenter, exported once into ``benchmarks/results/quality/masks/<photo>/`` and read back with
``maskfile`` ever after, so every run measures the same targets. At each ``--sizes`` (long side
of the working image) a job runs:

* ``default``: tst's current defaults (``gatys`` + the default compositor);
* ``full``: ``gatys-full`` (the whole frame stylised once per target) + the default compositor;
  it and ``crop`` keep Gatys et al.'s settings (:data:`PAPER`) whatever tst's defaults are;
* ``crop``: crop-and-stylise, what a user does with any whole-frame tool: each target's box
  plus a margin (:data:`CROP_MARGIN` of its long side) cut from the working image, stylised
  alone with the ``gatys`` engine and a whole-frame target (the unmasked loss) at the crop's
  own size, the painting scaled to the crop's long side (as a whole-frame run scales it to
  the working size), with the same iteration budget; then pasted back through the target's
  mask by the default compositor;
* one run of the default per ``--variant NAME:KEY=VALUE,...`` with these overrides (``KEY``:
  an option of ``[engine.gatys]``; ``section.plugin.key`` / ``run.key``: any config key;
  ``@KEY``: a per-target option, appended to every style as ``painting@KEY=VALUE``).

Per target it reports the metrics of :mod:`tst_core.metrics` (their definitions are in its
docstring): the masked Gram distance and the sliced Wasserstein distance to the painting (the
painting at the working size, as the default run sees it, for every method), the masked content
distance on ``relu3_1`` and ``conv4_2``, the structure score, the colour speckle inside the
target and the painting's own, the seam visibility, and each method's seconds. The photo's and
the paintings' features are computed once per job and size. It prints one table and the check
of issue 9's acceptance rule, and writes ``quality.json`` and one contact sheet per job and
size (``<job>_<size>.png``: a row per method, the whole result and each target enlarged) into
``--out``, and each method's result as ``images/<job>_<size>_<method>.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "quality"
DEFAULT_MASKS = DEFAULT_OUT / "masks"
YOLO = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
SEED = 0
#: context around a target's box in the crop baseline, as a fraction of the box's long side
CROP_MARGIN = 0.15
#: tolerance of "within 10 % of full's" in the acceptance rule
FULL_TOLERANCE = 0.10


@dataclass(frozen=True)
class Job:
    """One photo and its targets: ``(instance id, expected label, painting file)`` each; the
    id is the rank by score in the exported masks (``tst segment`` prints them)."""

    name: str
    photo: str
    targets: tuple[tuple[int, str, str], ...]
    what: str


JOBS = (
    Job("tennis", "flickr_3862500489.jpg", ((0, "person", "starry_night.jpg"),), "one person"),
    Job("street", "flickr_6821351586.jpg", ((0, "person", "the_scream.jpg"),), "one person"),
    Job(
        "bus-pair",
        "bus.jpg",
        ((2, "person", "starry_night.jpg"), (0, "person", "the_scream.jpg")),
        "two people, two paintings",
    ),
    Job(
        "bench-pair",
        "flickr_9247489789.jpg",
        ((1, "person", "starry_night.jpg"), (2, "person", "the_scream.jpg")),
        "two people, two paintings",
    ),
    Job(
        "trio",
        "flickr_5951960966.jpg",
        (
            (0, "person", "starry_night.jpg"),
            (1, "person", "the_scream.jpg"),
            (2, "person", "great_wave.jpg"),
        ),
        "three people, three paintings",
    ),
    Job("dog", "dog1.jpg", ((0, "dog", "great_wave.jpg"),), "a dog"),
    Job("car", "flickr_8239308689.jpg", ((0, "car", "kandinsky_composition_vii.jpg"),), "a car"),
    Job(
        "edge",
        "flickr_7933423348.jpg",
        ((1, "person", "the_scream.jpg"),),
        "a person cut by the frame's right edge",
    ),
    Job("large", "astronaut.jpg", ((0, "person", "starry_night.jpg"),), "a large target"),
)


class BenchError(Exception):
    """Bad input to the benchmark: one line on stderr, exit status 2."""


def shared(*parts: str) -> Path:
    path = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        raise BenchError(f"needs {path} (the ../shared assets; set TST_SHARED to their folder)")
    return path


# --- methods and variants ------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """A way to stylise a job: ``kind`` ``pipeline`` (one tst run) or ``crop``.

    :param sets: config overrides (``engine.gatys.KEY=VALUE``) on top of the iteration sets.
    :param suffix: per-target options appended to every style (``@KEY=VALUE``...).
    """

    name: str
    kind: str = "pipeline"
    engine: str | None = None
    sets: tuple[str, ...] = ()
    suffix: str = ""


#: The yardsticks are what a user can do today without tst, so they keep Gatys et al.'s settings
#: (as tst's defaults were before issue 9) whatever tst's defaults become.
PAPER = (
    "style_loss=gram",
    "style_weight=10",
    "content_weight=1",
    "tv_weight=0",
    "chroma_tv_weight=0",
    "style_scale=0",
    "supersample_side=0",
    "detail_layers=[]",
    "padding=zero",
    "band=0",
    "frame_pad=0",
)
BASE_METHODS = (
    Method("default"),
    Method("full", engine="gatys-full", sets=tuple(f"engine.gatys-full.{s}" for s in PAPER)),
    Method("crop", kind="crop", engine="gatys", sets=tuple(f"engine.gatys.{s}" for s in PAPER)),
)
#: the methods whose results ``--reuse`` may read back from an earlier run
BASELINES = ("full", "crop")
_ITEM = re.compile(r",(?=\s*@?[\w.\-]+\s*=)")  # commas that start the next KEY=VALUE


def parse_variant(text: str) -> Method:
    """``NAME:KEY=VALUE,KEY=VALUE`` → a :class:`Method` running the default with overrides.

    ``KEY`` alone is an option of ``[engine.gatys]``; a dotted key (``blend.feather.radius``,
    ``run.style_size``) is passed as it is; ``@KEY`` is a per-target option. A value may hold
    commas (``scales=[0.5,1.0]``): an item starts only where ``KEY=`` follows a comma.
    """
    name, colon, rest = text.partition(":")
    name = name.strip()
    if not colon or not re.fullmatch(r"[\w\-]+", name) or not rest.strip():
        raise BenchError(f"--variant expects NAME:KEY=VALUE[,KEY=VALUE...], got '{text}'")
    if name in {m.name for m in BASE_METHODS}:
        raise BenchError(f"--variant name '{name}' is taken by a method; choose another")
    sets, suffix = [], ""
    for item in _ITEM.split(rest):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise BenchError(f"--variant {name}: '{item}' is not KEY=VALUE")
        if key.startswith("@"):
            suffix += f"@{key[1:]}={value}"
        elif "." in key:
            sets.append(f"{key}={value}")
        else:
            sets.append(f"engine.gatys.{key}={value}")
    return Method(name, sets=tuple(sets), suffix=suffix)


def iteration_sets(iterations: int | None) -> tuple[str, ...]:
    if iterations is None:
        return ()
    return tuple(f"engine.{e}.iterations={iterations}" for e in ("gatys", "gatys-full"))


# --- masks ---------------------------------------------------------------------------------


def masks_of(job: Job, folder: Path) -> Path:
    """The job's photo's mask folder, exported with ``yolo`` the first time."""
    from tst_core.api import segment

    out = folder / Path(job.photo).stem
    if (out / "instances.json").is_file():
        return out
    weights = shared(*YOLO)
    print(f"  exporting yolo masks of {job.photo} into {out}", flush=True)
    result = segment(
        shared("images", "content", job.photo),
        segmenter="yolo",
        segmenter_options={"weights": weights},
    )
    result.export_masks(out)
    return out


def segmentation_of(job: Job, folder: Path) -> tuple[torch.Tensor, Any]:
    """The full-size photo and its segmentation read back with ``maskfile``; the job's ids
    must carry the labels the job expects."""
    from tst_core.api import Pipeline, session

    photo = shared("images", "content", job.photo)
    res = Pipeline(
        session(segmenter="maskfile", segmenter_options={"masks": masks_of(job, folder)})
    ).segment_photo(photo)
    seg = res.segmentation
    for ident, label, _ in job.targets:
        if ident >= len(seg) or seg.instances[ident].label != label:
            found = seg.instances[ident].label if ident < len(seg) else "nothing"
            raise BenchError(
                f"job {job.name}: instance {ident} of {job.photo} is {found}, not {label} "
                f"(delete {folder / photo.stem} to export the masks again)"
            )
    return res.photo, seg


def style_specs(job: Job, suffix: str = "") -> list[str]:
    return [
        f"id:{i}={shared('images', 'style', painting)}{suffix}" for i, _, painting in job.targets
    ]


# --- running the methods -------------------------------------------------------------------


@dataclass
class Outcome:
    """One method's result at the working size: the image ``(3, H, W)``, the stylised layers
    ``(K, 3, H, W)`` it was blended from, seconds and engine facts."""

    image: torch.Tensor
    layers: torch.Tensor
    seconds: float
    iterations: int
    info: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Builds the pipelines of one size, with every plugin built once for all jobs."""

    def __init__(
        self, size: int, iterations: int | None, built: dict[Any, Any], cache: Path | None = None
    ) -> None:
        self.size = size
        self.sets = iteration_sets(iterations)
        self.built = built
        self.cache = cache

    def pipeline(self, method: Method, size: int | None = None, style_size: int | None = None):
        from tst_core.api import Pipeline, session

        sess = session(
            sets=[*self.sets, *method.sets],
            engine=method.engine,
            size=size or self.size,
            style_size=style_size,
            seed=SEED,
        )
        return Pipeline(sess, self.built)

    def prepare(self, method: Method, job: Job, full: torch.Tensor, seg: Any) -> None:
        """Build the method's plugins and targets: bad options fail before any long run."""
        from tst_core.api import style_requests

        pipe = self.pipeline(method)
        pipe.plugin("engine")
        pipe.plugin("blend")
        pipe.targets(full, seg, style_requests(style_specs(job, method.suffix)))

    def run(
        self, method: Method, job: Job, full: torch.Tensor, seg: Any, ref: Reference
    ) -> Outcome:
        """One method on one job: ``full`` is the photo at its own size, ``ref`` the job's
        working image and targets. With ``cache`` (``--reuse``) a baseline's earlier result
        of the same job, size, options and iterations is read back instead of run again."""
        path = self.cache_path(method, job)
        if path is not None and path.is_file():
            saved = torch.load(path, weights_only=True)
            return Outcome(saved["image"], saved["layers"], saved["seconds"], saved["iterations"])
        out = self._run(method, job, full, seg, ref)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            saved = {k: getattr(out, k) for k in ("image", "layers", "seconds", "iterations")}
            write_atomic(path, lambda p: torch.save(saved, p))
        return out

    def cache_path(self, method: Method, job: Job) -> Path | None:
        if self.cache is None or method.name not in BASELINES:
            return None
        pipe = self.pipeline(method)  # the resolved options, whatever wrote them
        engine = pipe.plugin("engine")
        config = [
            repr(pipe.session.config.run),
            repr(engine.options),
            repr(pipe.plugin("blend").options),
        ]
        key = json.dumps(
            [job.photo, job.targets, self.size, method.kind, method.suffix, config], default=str
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.cache / f"{job.name}_{self.size}_{method.name}_{digest}.pt"

    def _run(
        self, method: Method, job: Job, full: torch.Tensor, seg: Any, ref: Reference
    ) -> Outcome:
        if method.kind == "crop":
            return self.crop(method, job, ref.photo, ref.targets)
        t0 = time.perf_counter()
        res = self.pipeline(method).run(full, style_specs(job, method.suffix), segmentation=seg)
        seconds = time.perf_counter() - t0
        info = res.stylized.info
        return Outcome(
            res.image, res.stylized.layers, seconds, int(info.get("iterations", 0)), info
        )

    def crop(self, method: Method, job: Job, image: torch.Tensor, targets: Any) -> Outcome:
        """Crop-and-stylise each target of the working ``image`` alone, at the crop's own size
        with the painting scaled to it, and paste back through the masks (default blend)."""
        t0 = time.perf_counter()
        layers, iterations = [], 0
        for (_, _, painting), target in zip(job.targets, targets, strict=True):
            y0, x0, y1, x1 = crop_box(target.mask, CROP_MARGIN)
            patch = image[:, y0:y1, x0:x1]
            side = max(y1 - y0, x1 - x0)
            res = self.pipeline(method, size=side, style_size=side).run(
                patch, [f"all={shared('images', 'style', painting)}"]
            )
            stylised = res.stylized.layers[0]
            if tuple(stylised.shape[-2:]) != tuple(patch.shape[-2:]):
                raise RuntimeError(f"the crop came back {tuple(stylised.shape)}, not the patch's")
            layer = image.clone()
            layer[:, y0:y1, x0:x1] = stylised
            layers.append(layer)
            iterations += int(res.stylized.info.get("iterations", 0))
        stack = torch.stack(layers)
        blended = self.pipeline(BASE_METHODS[0]).plugin("blend").composite(image, stack, targets)
        seconds = time.perf_counter() - t0
        return Outcome(blended.clamp(0.0, 1.0), stack, seconds, iterations)


def crop_box(mask: torch.Tensor, margin: float) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)``: the box of ``mask > 0.5`` ``(H, W)`` grown by ``margin`` times its
    long side on every side, clipped to the frame (at least 16 px, the engine's minimum)."""
    from tst_core.boxes import Box

    h, w = mask.shape
    bx0, by0, bx1, by1 = Box.around(mask)
    pad = margin * max(bx1 - bx0, by1 - by0)
    y0, x0 = max(0, math.floor(by0 - pad)), max(0, math.floor(bx0 - pad))
    y1, x1 = min(h, math.ceil(by1 + pad)), min(w, math.ceil(bx1 + pad))
    y0, y1 = _at_least(y0, y1, h, 16)
    x0, x1 = _at_least(x0, x1, w, 16)
    return y0, x0, y1, x1


def _at_least(a: int, b: int, limit: int, n: int) -> tuple[int, int]:
    while b - a < min(n, limit):
        a, b = (a - 1, b) if a > 0 else (a, b + 1)
    return a, b


# --- metrics -------------------------------------------------------------------------------


@dataclass
class Reference:
    """What every method of one job and size is measured against, computed once: the photo
    at the working size and its features, the targets, each painting's features and speckle."""

    photo: torch.Tensor
    targets: Any
    photo_features: Mapping[str, torch.Tensor]
    style_features: list[Mapping[str, torch.Tensor]]
    style_speckle: list[float]


def reference(runner: Runner, job: Job, full: torch.Tensor, seg: Any, features) -> Reference:
    from tst_core import metrics
    from tst_core.api import style_requests

    image, targets = runner.pipeline(BASE_METHODS[0]).targets(
        full, seg, style_requests(style_specs(job))
    )
    cache: dict[str, tuple[Mapping[str, torch.Tensor], float]] = {}
    for t in targets:
        if t.style_name not in cache:
            cache[t.style_name] = (features(t.style[None]), metrics.colour_speckle(t.style))
    return Reference(
        image,
        targets,
        features(image[None]),
        [cache[t.style_name][0] for t in targets],
        [cache[t.style_name][1] for t in targets],
    )


def measure(ref: Reference, out: Outcome, features) -> list[dict[str, float]]:
    """One dict of metrics per target (see :mod:`tst_core.metrics`)."""
    from tst_core import metrics

    if out.image.shape != ref.photo.shape:
        raise BenchError(
            f"a method's result is {tuple(out.image.shape)}, the photo {tuple(ref.photo.shape)}: "
            "a variant may not change the working size (use --sizes)"
        )
    feats = features(out.image[None])
    seams = metrics.seam_visibility(out.image, ref.photo, out.layers, ref.targets)
    rows = []
    for k, t in enumerate(ref.targets):
        rows.append(
            {
                "gram": metrics.gram_distance(feats, ref.style_features[k], t.mask),
                "swd": metrics.sliced_wasserstein(feats, ref.style_features[k], t.mask),
                "content_mid": metrics.masked_content_distance(
                    feats, ref.photo_features, t.mask, metrics.MID_LAYER
                ),
                "content_deep": metrics.masked_content_distance(
                    feats, ref.photo_features, t.mask, metrics.DEEP_LAYER
                ),
                "structure": metrics.structure_score(out.image, ref.photo, t.mask),
                "speckle": metrics.colour_speckle(out.image, t.mask),
                "painting_speckle": ref.style_speckle[k],
                "seam": seams[k],
            }
        )
    return rows


# --- the acceptance rule -------------------------------------------------------------------

#: (criterion, metric, compared with, higher is better, tolerance of the comparison)
CRITERIA = (
    ("swd <= crop", "swd", "crop", False, 0.0),
    ("structure >= crop", "structure", "crop", True, 0.0),
    ("structure within 10 % of full", "structure", "full", True, FULL_TOLERANCE),
    ("content mid <= crop", "content_mid", "crop", False, 0.0),
    ("content mid within 10 % of full", "content_mid", "full", False, FULL_TOLERANCE),
    ("content deep <= crop", "content_deep", "crop", False, 0.0),
    ("content deep within 10 % of full", "content_deep", "full", False, FULL_TOLERANCE),
    ("speckle <= crop", "speckle", "crop", False, 0.0),
)


def passes(value: float, other: float, higher: bool, tolerance: float) -> bool:
    """``value`` at least as good as ``other`` (allowing ``tolerance`` of ``other``'s size)."""
    if math.isnan(value) or math.isnan(other):
        return False
    if higher:
        return value >= other - tolerance * abs(other)
    return value <= other + tolerance * abs(other)


def check(rows: Sequence[dict[str, Any]], candidates: Sequence[str]) -> list[dict[str, Any]]:
    """Issue 9's acceptance rule for each candidate method (the default, and each variant as
    if it were the default), per job and size: every criterion on every target."""
    by_key = {(r["job"], r["size"], r["method"], r["target"]): r for r in rows}
    out = []
    for job, size in dict.fromkeys((r["job"], r["size"]) for r in rows):
        for cand in candidates:
            failures = []
            for r in (r for r in rows if (r["job"], r["size"], r["method"]) == (job, size, cand)):
                for crit, metric, base, higher, tol in CRITERIA:
                    ref = by_key.get((job, size, base, r["target"]))
                    if ref is None:
                        continue
                    if not passes(r[metric], ref[metric], higher, tol):
                        failures.append(
                            f"{r['target']}: {crit} ({r[metric]:.4g} vs {base} {ref[metric]:.4g})"
                        )
            out.append({"job": job, "size": size, "method": cand, "failures": failures})
    return out


# --- output --------------------------------------------------------------------------------

COLUMNS = (
    ("job", "job", "{}"),
    ("size", "size", "{}"),
    ("method", "method", "{}"),
    ("target", "target", "{}"),
    ("area", "area %", "{:.1f}"),
    ("gram", "gram ↓", "{:.3g}"),
    ("swd", "swd ↓", "{:.3f}"),
    ("content_mid", "cont3_1 ↓", "{:.3f}"),
    ("content_deep", "cont4_2 ↓", "{:.3f}"),
    ("structure", "struct ↑", "{:.3f}"),
    ("speckle", "speckle ↓", "{:.2e}"),
    ("painting_speckle", "paint spk", "{:.2e}"),
    ("seam", "seam ↓", "{:.4f}"),
    ("seconds", "s", "{:.1f}"),
    ("iterations", "it", "{}"),
)


def table(rows: Sequence[dict[str, Any]]) -> str:
    cells = [[title for _, title, _ in COLUMNS]]
    for r in rows:
        cells.append([fmt.format(r[key]) for key, _, fmt in COLUMNS])
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check_text(results: Sequence[dict[str, Any]]) -> str:
    lines = []
    for c in results:
        verdict = "pass" if not c["failures"] else f"FAIL ({len(c['failures'])})"
        lines.append(f"{c['job']:<11} {c['size']:>5} {c['method']:<10} {verdict}")
        lines += [f"    {f}" for f in c["failures"]]
    return "\n".join(lines)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    write(tmp)
    os.replace(tmp, path)


# --- the contact sheet ---------------------------------------------------------------------

GAP = 8
LINE = 15  #: caption line height
NAME = 20  #: height of a row's name line


def window(mask: torch.Tensor) -> tuple[int, int, int, int, int]:
    """``(y0, x0, y1, x1, factor)``: the target's box with a 10 % margin, and the integer
    enlargement (3× up to 160 px, 2× up to 320 px, else 1×)."""
    y0, x0, y1, x1 = crop_box(mask, 0.10)
    side = max(y1 - y0, x1 - x0)
    return y0, x0, y1, x1, 3 if side <= 160 else 2 if side <= 320 else 1


def caption(m: dict[str, float]) -> list[str]:
    return [
        f"swd {m['swd']:.3f}  gram {m['gram']:.3g}",
        f"struct {m['structure']:.3f}  c4 {m['content_deep']:.3f}",
        f"speckle {m['speckle']:.1e}  seam {m['seam']:.4f}",
    ]


def contact_sheet(
    title: str,
    ref: Reference,
    panels: Sequence[tuple[str, torch.Tensor, list[str], list[list[str]]]],
) -> Image.Image:
    """Rows: ``(name, image (3, H, W), caption lines, per-target caption lines)``; columns:
    the whole image (each target's window framed in its colour) and each target's window
    enlarged (nearest neighbour, so pixels stay pixels), captions below."""
    from tst_core.files import tensor_to_pil
    from tst_core.overlay import default_font
    from tst_core.sheet import COLOURS

    font, small = default_font(14), default_font(12)
    wins = [window(t.mask) for t in ref.targets]
    rows = []
    for name, image, lines, per_target in panels:
        whole = tensor_to_pil(image)
        frame = ImageDraw.Draw(whole)
        for k, (y0, x0, y1, x1, _) in enumerate(wins):
            frame.rectangle([x0, y0, x1 - 1, y1 - 1], outline=COLOURS[k % len(COLOURS)])
        cells = [(whole, lines)]
        for k, (y0, x0, y1, x1, f) in enumerate(wins):
            crop = tensor_to_pil(image[:, y0:y1, x0:x1])
            crop = crop.resize((crop.width * f, crop.height * f), Image.Resampling.NEAREST)
            ImageDraw.Draw(crop).rectangle(
                [0, 0, crop.width - 1, crop.height - 1], outline=COLOURS[k % len(COLOURS)]
            )
            cap = [f"{ref.targets[k].selector} {f}x", *(per_target[k] if per_target else [])]
            cells.append((crop, cap))
        rows.append((name, cells))

    ruler = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_width(lines: Sequence[str], f: Any) -> int:
        return math.ceil(max((ruler.textlength(t, font=f) for t in lines), default=0))

    n_cols = len(rows[0][1])
    col_w = [
        max(max(cells[c][0].width, text_width(cells[c][1], small)) for _, cells in rows)
        for c in range(n_cols)
    ]
    body = max(cell[0].height for _, cells in rows for cell in cells)
    n_lines = max(len(cell[1]) for _, cells in rows for cell in cells)
    row_h = NAME + body + GAP + LINE * n_lines + GAP
    width = max(GAP + sum(w + GAP for w in col_w), 2 * GAP + text_width([title], font))
    sheet = Image.new("RGB", (width, NAME + GAP + len(rows) * row_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, 4), title, fill="black", font=font)
    for r, (name, cells) in enumerate(rows):
        top = NAME + GAP + r * row_h
        draw.text((GAP, top), name, fill="black", font=font)
        x = GAP
        for (pil, lines), cw in zip(cells, col_w, strict=True):
            sheet.paste(pil, (x, top + NAME))
            for i, line in enumerate(lines):
                y = top + NAME + body + GAP + i * LINE
                draw.text((x, y), line, fill=(60, 60, 60), font=small)
            x += cw + GAP
    return sheet


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="384,512", help="working sizes, comma-separated")
    ap.add_argument(
        "--jobs", default="", help=f"job names (default all): {', '.join(j.name for j in JOBS)}"
    )
    ap.add_argument(
        "--iterations", type=int, default=None, help="per scale (default: the engine's)"
    )
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="read the full and crop baselines back from an earlier run with the same job, "
        "size, options and iterations (OUT/cache) instead of running them again",
    )
    ap.add_argument("--masks", type=Path, default=DEFAULT_MASKS, help="exported masks (reused)")
    return ap.parse_args(argv)


def setup(args: argparse.Namespace) -> tuple[list[int], list[Job], list[Method]]:
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise BenchError(f"--sizes expects numbers like 384,512, got '{args.sizes}'") from None
    if not sizes or any(not 16 <= s <= 8192 for s in sizes):
        raise BenchError(f"--sizes must be between 16 and 8192 pixels, got '{args.sizes}'")
    if args.iterations is not None and args.iterations < 1:
        raise BenchError(f"--iterations must be at least 1, got {args.iterations}")
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    known = {j.name: j for j in JOBS}
    for n in names:
        if n not in known:
            raise BenchError(f"unknown job '{n}'; jobs: {', '.join(known)}")
    jobs = [known[n] for n in names] if names else list(JOBS)
    variants = [parse_variant(v) for v in args.variant]
    if len({v.name for v in variants}) != len(variants):
        raise BenchError("--variant names are repeated")
    return sizes, jobs, [*BASE_METHODS, *variants]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sizes, jobs, methods = setup(args)
        return bench(args, sizes, jobs, methods)
    except BenchError as exc:
        print(f"quality.py: {exc}", file=sys.stderr)
        return 2


def bench(
    args: argparse.Namespace, sizes: list[int], jobs: list[Job], methods: list[Method]
) -> int:
    from tst_core import metrics
    from tst_core.errors import TstError

    t_start = time.perf_counter()
    built: dict[Any, Any] = {}  # every plugin built once, for all sizes and jobs
    cache = args.out / "cache" if args.reuse else None
    runners = {s: Runner(s, args.iterations, built, cache) for s in sizes}
    state: dict[str, Any] = {"jobs": [], "rows": []}
    try:
        loaded = {}
        for job in jobs:  # masks, labels and every method's options checked before any run
            loaded[job.name] = segmentation_of(job, args.masks)
            for runner in runners.values():
                for m in methods:
                    runner.prepare(m, job, *loaded[job.name])
        features = metrics.vgg19_features()
        args.out.mkdir(parents=True, exist_ok=True)
        for job in jobs:
            for size in sizes:
                info, rows = run_job(job, runners[size], methods, *loaded[job.name], features, args)
                state["jobs"].append(info)
                state["rows"] += rows
                save_report(args, sizes, methods, state, t_start)  # kept if a later job fails
    except TstError as exc:
        raise BenchError(str(exc)) from None

    candidates = [m.name for m in methods if m.kind == "pipeline" and m.name != "full"]
    print()
    print(table(state["rows"]))
    print(
        "\nacceptance (issue 9): per job and size, every target: swd <= crop; structure and "
        "content kept >= crop and within 10 % of full; speckle <= crop"
    )
    print(check_text(check(state["rows"], candidates)))
    path, seconds = save_report(args, sizes, methods, state, t_start)
    print(f"\n{path} ({seconds:.0f} s in all)")
    return 0


def run_job(
    job: Job,
    runner: Runner,
    methods: Sequence[Method],
    full: torch.Tensor,
    seg: Any,
    features: Any,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every method on one job at one size: its targets' facts, metric rows, and its sheet."""
    from tst_core.errors import TstError

    ref = reference(runner, job, full, seg, features)
    areas = [float((t.mask > 0.5).float().mean()) * 100 for t in ref.targets]
    print(f"\n{job.name} ({job.what}), {job.photo}, {runner.size} px:", flush=True)
    facts = []
    for (_, label, painting), t, a in zip(job.targets, ref.targets, areas, strict=True):
        print(f"  {t.selector} ({label}) {a:.1f} % of the frame -> {painting}")
        facts.append({"selector": t.selector, "label": label, "painting": painting, "area_pct": a})
    info = {"job": job.name, "size": runner.size, "photo": job.photo, "targets": facts}
    rows = []
    panels: list[Any] = [("photo", ref.photo, [], [])]
    for m in methods:
        try:
            out = runner.run(m, job, full, seg, ref)
        except TstError as exc:
            raise BenchError(f"{job.name} at {runner.size} px, {m.name}: {exc}") from None
        per_target = measure(ref, out, features)
        spi = out.seconds / max(1, out.iterations)
        print(f"  {m.name:<10} {out.seconds:7.1f} s  {out.iterations:4d} it  {spi:.3f} s/it")
        for t, a, vals in zip(ref.targets, areas, per_target, strict=True):
            rows.append(
                {
                    "job": job.name,
                    "size": runner.size,
                    "method": m.name,
                    "target": t.selector,
                    "area": a,
                    **vals,
                    "seconds": out.seconds,
                    "iterations": out.iterations,
                }
            )
        summary = [f"{out.seconds:.1f} s, {out.iterations} it"]
        panels.append((m.name, out.image, summary, [caption(v) for v in per_target]))
        save_image(args.out / "images" / f"{job.name}_{runner.size}_{m.name}.png", out.image)
    title = f"{job.name}: {job.photo} at {runner.size} px; " + ", ".join(
        f"{f['selector']}={f['painting']} ({f['area_pct']:.1f} %)" for f in facts
    )
    sheet = contact_sheet(title, ref, panels)
    path = args.out / f"{job.name}_{runner.size}.png"
    write_atomic(path, lambda p: sheet.save(p, format="PNG"))
    print(f"  sheet: {path}", flush=True)
    return info, rows


def save_image(path: Path, image: torch.Tensor) -> None:
    """A method's result ``(3, H, W)`` as a PNG, for a closer look than the sheet's."""
    from tst_core.files import tensor_to_pil

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: tensor_to_pil(image).save(p, format="PNG"))


def save_report(
    args: argparse.Namespace,
    sizes: list[int],
    methods: Sequence[Method],
    state: dict[str, Any],
    t_start: float,
) -> tuple[Path, float]:
    """Write ``quality.json`` (strict JSON: NaN as null) with the rows so far."""
    candidates = [m.name for m in methods if m.kind == "pipeline" and m.name != "full"]
    seconds = round(time.perf_counter() - t_start, 1)
    report = {
        "sizes": sizes,
        "iterations": args.iterations,
        "methods": [{**vars(m), "sets": list(m.sets)} for m in methods],
        "crop_margin": CROP_MARGIN,
        "jobs": state["jobs"],
        "rows": state["rows"],
        "checks": check(state["rows"], candidates),
        "seconds": seconds,
        "load": [round(v, 2) for v in os.getloadavg()],
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }
    path = args.out / "quality.json"
    text = json.dumps(finite(report), indent=1, allow_nan=False)
    write_atomic(path, lambda p: p.write_text(text))
    return path, seconds


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "plugins"))
    sys.exit(main())
