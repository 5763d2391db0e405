"""The photo at its own size (issue 20): memory, time and 100 % sharpness of ``tst run``'s native
pipeline against today's path, for each engine and compositor.

    flock /work/locks/cpu.lock python benchmarks/native.py                  # everything
    flock /work/locks/cpu.lock python benchmarks/native.py --sizes 1,4 --jobs fast,hard
    python benchmarks/native.py --sheets-only     # redo the pictures from the last run's files

The photo is ``images/large/person_woman-bar-beers_6000x4000.jpg`` (24 MP, one person at 12 %
of the frame) and copies of it reduced to 12, 4 and 1 MP (``write_photo``: JPEG at quality 95,
its ICC profile and EXIF kept), so every size shows the same person. Her mask comes from the
``yolo`` segmenter once (at its 640-pixel working size) and is read back with ``maskfile`` by
every job, so every job has the same target; each run brings it to the photo's edges itself.

Each job is ``tst_core.run`` in a fresh process (its peak resident memory is its own: the
largest ``VmHWM``, the process's whole life, imports and models included):

* ``native``: the defaults, which write the photo at its own size;
* ``today``: ``output_size = size`` (the picture at the working size, what ``tst run`` wrote
  before), then enlarged to the photo's size with a bicubic resize: what a user got by
  enlarging today's result.

Jobs: ``gatys`` (the default engine and schedule: native levels up to ``max_side`` 1024, the
rest brought up by the guided upsampling), ``gatys-ws`` (``max_side`` 0: no native level, the
working-size layers brought up by the guided upsampling alone), ``fast`` and
``cin`` (the ``udnie`` network of ``../shared``; ``cin`` runs it as a one-style model), all
four with the ``feather`` compositor (the default), and the other compositors (``hard``,
``mrf``, ``poisson``) with ``fast``. ``gatys`` runs at 4 and
24 MP only unless ``--sizes`` says otherwise (a 24 MP run takes up to 20 minutes here).

Figures at 100 % on three native crops of the 24 MP photo (scaled for the smaller ones): the
face, a hand, the hair's edge: **sharpness** (the high-frequency energy inside the person —
mean square of luma minus its Gaussian blur, σ = 1 px, :func:`tst_core.upsample.detail_energy`
— over the photo's own there: 1 is as detailed as the photo), and the quality benchmark's
**style** (sliced Wasserstein distance of VGG-19 features to the painting, the painting at the
crop's size) and **structure** (correlation of the luminance edges with the photo's), each the
mean over the three crops, for ``native`` and ``today``. Pictures, kept small, into
``docs/images/``: ``native_crops.jpg`` (face, hand, hair edge at 100 %: the photo, then today's
path and native for ``gatys`` and ``fast``) and ``native_masks.jpg`` (the person's mask at
100 % on the hair and a shoulder: yolo's 640-pixel mask enlarged bilinearly against
:func:`tst_core.upsample.refine_masks`). The table goes to stdout and everything to
``--out/native.json`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "native"
DOCS = ROOT / "docs" / "images"
PHOTO = ("images", "large", "person_woman-bar-beers_6000x4000.jpg")
YOLO = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
UDNIE = ("models", "fast-style-tf", "udnie")
PAINTING = ("images", "style", "udnie_picabia.jpg")
STARRY = ("images", "style", "starry_night.jpg")
SIZES_MP = (1, 4, 12, 24)
#: working size of every job (the default)
SIZE = 512
#: 100 % crops in the 24 MP photo's pixels: x0, y0 (each CROP wide)
CROPS = {"face": (2740, 990), "hand": (4000, 3000), "hair edge": (3150, 1100)}
CROP = 512

#: the jobs: name -> (engine, blend, sets, style)
JOBS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "gatys": ("gatys", "feather", (), "starry"),
    "gatys-ws": ("gatys", "feather", ("engine.gatys.max_side=0",), "starry"),
    "fast": ("fast", "feather", (), "udnie"),
    "cin": ("cin", "feather", ("engine.cin.model={udnie}",), "udnie"),
    "hard": ("fast", "hard", (), "udnie"),
    "mrf": ("fast", "mrf", (), "udnie"),
    "poisson": ("fast", "poisson", (), "udnie"),
}
#: the crop sheet's columns after the photo: job and mode
SHEET = ("gatys today", "gatys-ws native", "gatys native", "fast today", "fast native")
#: jobs that run only on these sizes unless --sizes is given
HEAVY = {"gatys": (4, 24), "gatys-ws": (4, 24)}


def shared(*parts: str) -> Path:
    path = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"benchmarks/native.py needs {path} (../shared)")
    return path


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# --- the photos and the mask -------------------------------------------------------------


def photos(out: Path, sizes: Sequence[int]) -> dict[int, Path]:
    """The photo at each size in megapixels (the 24 MP file itself, the others reduced)."""
    from tst_core.photo import read_photo, write_photo

    source = shared(*PHOTO)
    found = {24: source}
    todo = [mp for mp in sizes if mp != 24 and not (out / f"bar_{mp}mp.jpg").exists()]
    if todo:
        photo = read_photo(source)
        h, w = photo.size
        for mp in todo:
            side = round(max(h, w) * (mp * 1e6 / (h * w)) ** 0.5)
            small = photo.resized(side)
            write_photo(out / f"bar_{mp}mp.jpg", small.output_pixels(), small, quality=95)
    found.update({mp: out / f"bar_{mp}mp.jpg" for mp in sizes if mp != 24})
    return found


def masks(out: Path) -> Path:
    """The person's mask from yolo, exported once (at yolo's working size)."""
    folder = out / "masks"
    if not (folder / "instances.json").exists():
        import tst_core

        seg = tst_core.segment(
            str(shared(*PHOTO)), segmenter="yolo", segmenter_options={"weights": shared(*YOLO)}
        )
        seg.export_masks(folder)
    return folder


# --- one job in a child process ----------------------------------------------------------


@dataclass(frozen=True)
class Job:
    name: str
    mp: int
    mode: str  # native | today

    @property
    def key(self) -> str:
        return f"{self.name}_{self.mp}mp_{self.mode}"


def run_child(job: Job, photo: Path, mask_folder: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", job.name, str(job.mp), job.mode, str(photo)]
    cmd += ["--masks", str(mask_folder), "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"job": job.key, "error": tail[0], "wall": time.perf_counter() - t0}
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(name: str, mp: int, mode: str, photo: Path, mask_folder: Path, out: Path) -> None:
    """Run one job and print its figures as one JSON line."""
    import tst_core

    engine, blend, sets, style = JOBS[name]
    styles = {"starry": str(shared(*STARRY)), "udnie": str(shared(*UDNIE))}
    sets = tuple(s.format(udnie=shared(*UDNIE)) for s in sets)
    peak = Peak()
    t0 = time.perf_counter()
    result = tst_core.run(
        str(photo),
        [f"person={styles[style]}"],
        segmenter="maskfile",
        segmenter_options={"masks": str(mask_folder)},
        engine=engine,
        blend=blend,
        size=SIZE,
        sets=list(sets),
        output_size=SIZE if mode == "today" else None,
    )
    seconds = time.perf_counter() - t0
    path = out / "images" / f"{name}_{mp}mp_{mode}.png"
    result.save(path, report=True)
    peak.stop()
    report = result.report
    print(
        json.dumps(
            {
                "job": Job(name, mp, mode).key,
                "seconds": round(seconds, 2),
                "stylize": round(report["timings"].get("stylize", 0.0), 2),
                "composite": round(report["timings"].get("composite", 0.0), 2),
                "peak_mib": round(peak.peak, 1),
                "output": str(path),
                "output_size": report.get("output_size"),
                "windows": report.get("windows"),
                "layers": ",".join(w["layers"] for w in report.get("windows") or []) or "-",
                "engine": engine,
                "blend": blend,
                "budget": report.get("budget"),
            }
        )
    )


class Peak:
    """The largest resident set of this process (``VmHWM``: its whole life)."""

    def __init__(self) -> None:
        self.peak = 0.0

    @staticmethod
    def now() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.peak = self.now()


# --- figures on 100 % crops --------------------------------------------------------------


def crop_boxes(size: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
    """The crops (x0, y0, x1, y1) at a photo of ``size`` (H, W): the 24 MP boxes scaled, each
    at least 128 px."""
    from tst_core.boxes import Box

    s = size[1] / 6000
    side = max(128, round(CROP * s))
    out = {}
    for name, (x, y) in CROPS.items():
        cx, cy = (x + CROP / 2) * s, (y + CROP / 2) * s
        box = Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2).pixels()
        out[name] = tuple(int(v) for v in box.clipped(size))
    return out  # type: ignore[return-value]


def figures(
    photo: Path, result: Path, mask_folder: Path, mode: str, features: Any, painting: Any
) -> dict[str, float]:
    """Sharpness, style and structure at 100 %, each the mean over the crops."""
    from tst_maskfile import MaskFileOptions, MaskFileSegmenter

    from tst_core import metrics
    from tst_core.boxes import Box
    from tst_core.photo import read_photo
    from tst_core.upsample import detail_energy

    original = read_photo(photo)
    out = read_photo(result)
    if out.size != original.size:  # today's path: enlarge the working-size picture (bicubic)
        out_t = torch.nn.functional.interpolate(
            out.tensor()[None], size=original.size, mode="bicubic", align_corners=False
        )[0].clamp(0, 1)
    else:
        out_t = None
    seg = MaskFileSegmenter(MaskFileOptions(masks=mask_folder)).segment(
        torch.zeros(3, *original.size)
    )
    person = seg.instances[0]
    rows: dict[str, list[float]] = {"sharpness": [], "style": [], "structure": []}
    for _, (x0, y0, x1, y1) in crop_boxes(original.size).items():
        box = Box(x0, y0, x1, y1)
        ph = original.tensor(box)
        res = out.tensor(box) if out_t is None else out_t[:, y0:y1, x0:x1]
        mask = person.mask_at(original.size)[y0:y1, x0:x1]
        if float(mask.sum()) < 16:
            continue
        rows["sharpness"].append(detail_energy(res, mask) / max(detail_energy(ph, mask), 1e-12))
        rows["structure"].append(metrics.structure_score(res, ph, mask))
        if features is not None:
            feats = features(res[None])
            rows["style"].append(metrics.sliced_wasserstein(feats, painting, mask))
    return {k: sum(v) / len(v) if v else float("nan") for k, v in rows.items()}


# --- pictures ------------------------------------------------------------------------------


def crops_sheet(images: dict[str, Path], photo: Path, out: Path, side: int = 256) -> Path:
    """Rows face, hand, hair edge at 100 % (each crop's centre ``side`` px); columns: the photo
    and each of ``images`` (label -> file; a smaller file is enlarged bicubic first)."""
    from PIL import Image, ImageDraw

    from tst_core.boxes import Box
    from tst_core.files import tensor_to_pil
    from tst_core.photo import read_photo

    original = read_photo(photo)
    pics = {"photo": original, **{k: read_photo(v) for k, v in images.items()}}
    labels = list(pics)
    head = 22
    sheet = Image.new("RGB", (side * len(labels), head + side * len(CROPS)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(labels):
        draw.text((j * side + 4, 5), label, fill="black")
    for i, (_, (x0, y0, x1, y1)) in enumerate(crop_boxes(original.size).items()):
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        box = Box(cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
        for j, label in enumerate(labels):
            pic = pics[label]
            if pic.size != original.size:
                sy, sx = pic.size[0] / original.size[0], pic.size[1] / original.size[1]
                small = pic.tensor(box.scaled(sx, sy).grown(4, pic.size).pixels())
                tile = torch.nn.functional.interpolate(
                    small[None], scale_factor=(1 / sy, 1 / sx), mode="bicubic"
                )[0].clamp(0, 1)
                top, left = 4 * round(1 / sy), 4 * round(1 / sx)
                tile = tile[:, top : top + side, left : left + side]
            else:
                tile = pic.tensor(box)
            sheet.paste(tensor_to_pil(tile), (j * side, head + i * side))
    path = out / "native_crops.jpg"
    sheet.save(path, quality=88)
    return path


#: centres of the mask sheet's 100 % crops in the 24 MP photo (hair on the sign, hair on the
#: wall, each shoulder on the taps)
MASK_SPOTS = {
    "hair, top": (3000, 830),
    "hair, side": (2720, 1500),
    "shoulder, right": (3850, 1900),
    "shoulder, left": (2450, 1950),
}


def masks_sheet(photo: Path, mask_folder: Path, out: Path, side: int = 256) -> Path:
    """The person's mask from yolo (640 px) at 100 % on her hair and shoulders, brought to the
    photo's size by a plain bilinear resize and by :func:`tst_core.upsample.refine_masks` (the
    pipeline's guided filter, run as the pipeline runs it on the person's window): per row the
    photo, each with the photo dimmed outside the mask, and each mask in grey."""
    from PIL import Image, ImageDraw
    from tst_maskfile import MaskFileOptions, MaskFileSegmenter

    from tst_core.files import tensor_to_pil
    from tst_core.native import crop_resample, low_size
    from tst_core.photo import read_photo
    from tst_core.upsample import refine_masks, upsample_image

    original = read_photo(photo)
    person = (
        MaskFileSegmenter(MaskFileOptions(masks=mask_folder))
        .segment(torch.zeros(3, *original.size))
        .instances[0]
    )
    scale = person.mask_size[0] / original.size[0]
    s = original.size[1] / 6000
    window = person.box.grown(64, original.size).pixels()
    guide = original.tensor(window)
    low = crop_resample(person.mask[None].float(), original.size, window, low_size(window, scale))
    masks = {
        "bilinear": upsample_image(low, guide, method="bilinear")[0],
        "guided filter": refine_masks(low, guide)[0],
    }
    head = 22
    columns = ["photo", *masks, *(f"{k}: mask" for k in masks)]
    sheet = Image.new("RGB", (side * len(columns), head + side * len(MASK_SPOTS)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(columns):
        draw.text((j * side + 4, 5), label, fill="black")
    spots = {}
    for i, (name, (x, y)) in enumerate(MASK_SPOTS.items()):
        cx, cy = round(x * s) - int(window.x0), round(y * s) - int(window.y0)
        rows, cols = slice(cy - side // 2, cy + side // 2), slice(cx - side // 2, cx + side // 2)
        tile = guide[:, rows, cols]
        spots[name] = mask_figures(*(m[rows, cols] for m in masks.values()))
        tiles = [tile]
        tiles += [tile * (0.2 + 0.8 * m[rows, cols]) for m in masks.values()]
        tiles += [m[rows, cols].expand(3, -1, -1) for m in masks.values()]
        for j, t in enumerate(tiles):
            sheet.paste(tensor_to_pil(t), (j * side, head + i * side))
    path = out / "native_masks.jpg"
    sheet.save(path, quality=90)
    for name, fig in spots.items():
        print(f"mask at {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in fig.items()))
    return path


def mask_figures(bilinear: torch.Tensor, guided: torch.Tensor) -> dict[str, float]:
    """How far apart the two masks' 0.5 lines are (px: median and maximum distance of the
    bilinear line's pixels from the guided one's), and how wide each soft edge is (px: pixels
    between 0.05 and 0.95 per pixel of 0.5 line)."""
    from scipy import ndimage

    def line(hard: Any) -> Any:
        return hard ^ ndimage.binary_erosion(hard, border_value=1)

    b, q = bilinear.numpy(), guided.numpy()
    away = ndimage.distance_transform_edt(~line(q > 0.5))[line(b > 0.5)]

    def soft(m: Any) -> float:
        return float(((m > 0.05) & (m < 0.95)).sum() / max(int(line(m > 0.5).sum()), 1))

    return {
        "line apart median": float(np.median(away)) if away.size else float("nan"),
        "max": float(away.max()) if away.size else float("nan"),
        "soft edge bilinear": soft(b),
        "guided": soft(q),
    }


# --- the whole benchmark -----------------------------------------------------------------


def table(rows: Sequence[dict[str, Any]]) -> str:
    cols = ["job", "engine", "blend", "layers", "seconds", "stylize", "composite", "peak_mib"]
    cols += ["sharpness", "style", "structure", "load"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        if "error" in r:
            cells.append(r["error"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", help="megapixels, e.g. 1,4,12,24")
    p.add_argument("--jobs", help=f"of {', '.join(JOBS)}")
    p.add_argument("--modes", default="native,today")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--docs", type=Path, default=DOCS)
    p.add_argument("--sheets-only", action="store_true")
    p.add_argument("--child", nargs=4, metavar=("JOB", "MP", "MODE", "PHOTO"))
    p.add_argument("--masks", type=Path)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        name, mp, mode, photo = args.child
        child(name, int(mp), mode, Path(photo), args.masks, args.out)
        return 0
    out: Path = args.out
    (out / "images").mkdir(parents=True, exist_ok=True)
    sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else list(SIZES_MP)
    names = args.jobs.split(",") if args.jobs else list(JOBS)
    modes = args.modes.split(",")
    files = photos(out, sizes)
    mask_folder = masks(out)
    rows = []
    if not args.sheets_only:
        for name in names:
            for mp in sizes:
                if not args.sizes and mp not in HEAVY.get(name, SIZES_MP):
                    continue
                for mode in modes:
                    job = Job(name, mp, mode)
                    print(f"... {job.key} (load {load()})", file=sys.stderr, flush=True)
                    before = load()[0]
                    row = run_child(job, files[mp], mask_folder, out)
                    row["load"] = f"{before}–{load()[0]}"
                    rows.append(row)
        measure(rows, files, mask_folder)
        done = out / "native.json"  # rows of earlier runs (other jobs or sizes) are kept
        earlier = json.loads(done.read_text())["rows"] if done.exists() else []
        new = {r["job"] for r in rows}
        rows = [r for r in earlier if r["job"] not in new] + rows
        report = {
            "rows": rows,
            "machine": {"cpu": platform.processor(), "cores": os.cpu_count(), "load": load()},
            "torch": torch.__version__,
        }
        done.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(table(rows))
    pictures(out, args.docs, files, mask_folder)
    return 0


def measure(rows: list[dict[str, Any]], files: dict[int, Path], mask_folder: Path) -> None:
    """Sharpness, style and structure of every finished job."""
    from tst_core import metrics
    from tst_core.files import read_image

    try:
        features = metrics.vgg19_features()
    except Exception as exc:
        print(f"style distance n/a: {exc}", file=sys.stderr)
        features = None
    paintings: dict[str, Any] = {}
    for row in rows:
        if "error" in row:
            continue
        name, mp, mode = row["job"].rsplit("_", 2)
        mp_i = int(mp.removesuffix("mp"))
        style = JOBS[name][3]
        if features is not None and style not in paintings:
            source = shared(*(STARRY if style == "starry" else PAINTING))
            paintings[style] = features(read_image(source)[None])
        row.update(
            figures(
                files[mp_i],
                Path(row["output"]),
                mask_folder,
                mode,
                features,
                paintings.get(style),
            )
        )


def pictures(out: Path, docs: Path, files: dict[int, Path], mask_folder: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    images = {}
    for key in SHEET:
        path = out / "images" / f"{key.replace(' ', '_24mp_')}.png"
        if path.exists():
            images[key] = path
    if 24 in files:
        if images:
            print(f"wrote {crops_sheet(images, files[24], docs)}")
        print(f"wrote {masks_sheet(files[24], mask_folder, docs)}")


if __name__ == "__main__":
    sys.exit(main())
