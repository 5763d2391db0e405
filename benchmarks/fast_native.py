"""The ``fast`` engine at a photo's native resolution (issue 20): today's path against
``stylize_native`` at the working scale and at the native scale.

The photo is ``images/large/person_woman-bar-beers_6000x4000.jpg`` (24 MP, one person at 12 %
of the frame). The person's mask comes from the ``yolo`` segmenter on a 1200 × 800 copy,
brought to each size with a plain bilinear resize (the pipeline's edge-aware refinement is
another stage's). The style is the ``udnie`` network of ``../shared/models/fast-style-tf``.
Each run is a fresh process, for each *mode*:

* ``today``: the frame resized to the working size (``--size``, 512), ``stylize`` there, the
  layer blended in through the mask, and the picture enlarged to the photo's size (bicubic):
  what a user gets today by enlarging ``tst run``'s output;
* ``working`` (``render = "working"``, the default): ``stylize_native`` on the window (the
  person's box grown by ``roi_margin``, 32 working px): the network at the working scale, its
  rendering enlarged onto the native window, blended in at native size;
* ``native`` (``render = "native"``): ``stylize_native`` with the network on the native pixels,
  tiled exactly within the budget (``--budget-mib``, 2048);
* ``working@1536`` (on the 24 MP photo only, ``--extra``): ``working`` with a working size of
  1536 px, to show what ``--size`` does to strokes and detail.

Figures: seconds of the engine and of the whole job (reading the photo to the final native
picture; the segmenter's seconds are given once); the peak resident memory of the process
(sampled every 5 ms), what the job added to the process's size before it (imports, model),
and what the ``stylize_native`` call itself added (and that less the layers it returns). For
the 24 MP photo: **sharpness** (high-frequency energy — mean square of luma minus its Gaussian
blur, σ = 1 px — inside the person, against the photo's own there: 1 is as detailed as the
photo), the quality benchmark's **style distance** (sliced Wasserstein distance of VGG-19
features to the painting, ``udnie_picabia.jpg`` at 512 px as a default run sees it) and
**structure** (correlation of the luminance edges with the photo's), each at 100 % (the mean
over three native crops: the face, a hand, the hair's edge) and at the frame's scale (the
window shrunk to the run's working size, ``--size``, for every mode); a sheet of the 100 %
crops (``crops_sheet.png``) and one of the windows at 1024 px (``views_sheet.png``). Then the
same job on copies of the photo reduced to 12, 8 and 4 MP, for memory against size at one
budget.

    flock /work/locks/cpu.lock python benchmarks/fast_native.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# the photo's decoded arrays are read-only; every tensor made from them is converted at once
warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results" / "fast_native"
PHOTO = SHARED / "images/large/person_woman-bar-beers_6000x4000.jpg"
YOLO = SHARED / "models/yolov8n-seg/yolov8n-seg_int8.tflite"
NET = SHARED / "models/fast-style-tf/udnie"
PAINTING = SHARED / "images/style/udnie_picabia.jpg"
MODES = ("today", "working", "native")
#: 100 % crops: centre as a fraction of the frame (x, y), side as a fraction of the width
CROPS = {"face": (0.506, 0.27), "hand": (0.333, 0.815), "hair": (0.45, 0.36)}
CROP_SIDE = 640 / 6000


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (as benchmarks/fast.py)."""
    return [round(v, 2) for v in os.getloadavg()]


def rss_mib() -> float:
    page = os.sysconf("SC_PAGE_SIZE") / 2**20
    return int(Path("/proc/self/statm").read_text().split()[1]) * page


class PeakMemory:
    """The process's peak resident memory, sampled every 5 ms inside the block."""

    def __enter__(self) -> PeakMemory:
        self.before = rss_mib()
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


# --- preparation (parent) ----------------------------------------------------------------------


def person_mask() -> tuple[Path, float]:
    """The person's soft mask from ``yolo`` on a 1200 × 800 copy (cached), and its seconds."""
    out = RESULTS / "person_mask_1200.png"
    if out.exists():
        return out, float("nan")
    import tst_core

    small = Image.open(PHOTO).convert("RGB").resize((1200, 800), Image.Resampling.BICUBIC)
    photo = torch.from_numpy(np.array(small)).permute(2, 0, 1).float() / 255.0
    t0 = time.perf_counter()
    seg = tst_core.segment(photo, segmenter="yolo", segmenter_options={"weights": str(YOLO)})
    seconds = time.perf_counter() - t0
    person = next(i for i in seg.segmentation.instances if i.label == "person")
    Image.fromarray((person.mask.numpy() * 255).round().astype(np.uint8)).save(out)
    return out, seconds


def copy_at(megapixels: int) -> Path:
    """The photo reduced to about ``megapixels`` MP (antialiased, JPEG quality 95), cached."""
    if megapixels >= 24:
        return PHOTO
    out = RESULTS / f"bar_{megapixels}mp.jpg"
    if not out.exists():
        im = Image.open(PHOTO).convert("RGB")
        f = math.sqrt(megapixels * 1e6 / (im.width * im.height))
        im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS).save(
            out, quality=95
        )
    return out


# --- one run (child) ---------------------------------------------------------------------------


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(3, H, W)`` float32 in [0, 1] (a new tensor: the array's
    read-only pages are only read)."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float().div_(255.0)


def _uint8(image: torch.Tensor) -> np.ndarray:
    return image.mul(255.0).round_().clamp_(0, 255).byte().permute(1, 2, 0).numpy()


def child(label: str, megapixels: int, size: int, budget_mib: int, quality: bool) -> dict[str, Any]:
    """One run of mode ``label`` (``today``, ``working``, ``native``; ``MODE@SIZE`` overrides
    the working size)."""
    mode, _, at = label.partition("@")
    base_size, size = size, int(at) if at else size
    from tst_fast.engine import FastEngine
    from tst_fast.network import TransformNet
    from tst_fast.options import FeedForwardOptions

    from tst_core.types import ModelStyle, Target, Targets

    engine = FastEngine(FeedForwardOptions(render="native" if mode == "native" else "working"))
    model = engine.model(NET)
    assert isinstance(model.net, TransformNet)
    style = ModelStyle(((str(NET.resolve()), model.styles[0].name, 1.0),))
    path, mask_path = copy_at(megapixels), RESULTS / "person_mask_1200.png"
    budget = budget_mib * 2**20
    load_before = load()[0]
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        h, w = pixels.shape[:2]
        scale = size / max(h, w)
        low = Image.open(mask_path)
        mask = np.asarray(low.resize((w, h), Image.Resampling.BILINEAR))  # plain resize
        ys, xs = np.nonzero(mask)
        grow = math.ceil(engine.options.roi_margin / scale)
        y0, y1 = max(0, ys.min() - grow), min(h, ys.max() + 1 + grow)
        x0, x1 = max(0, xs.min() - grow), min(w, xs.max() + 1 + grow)
        if mode == "today":
            t1 = time.perf_counter()
            result, info = _today(engine, pixels, low, style, size)
            engine_s, in_engine = time.perf_counter() - t1, None
        else:
            window = _tensor(pixels[y0:y1, x0:x1])
            m = torch.from_numpy(mask[y0:y1, x0:x1]).float().div_(255.0)
            targets = Targets((Target("person#0", m, None, model_style=style),), (y1 - y0, x1 - x0))
            t1 = time.perf_counter()
            with PeakMemory() as in_engine:
                res = engine.stylize_native(window, targets, scale=scale, budget=budget)
            engine_s = time.perf_counter() - t1
            layer = res.layers[0]
            blended = layer.sub_(window).mul_(m).add_(window)  # photo + m·(layer − photo)
            result = pixels.copy()
            result[y0:y1, x0:x1] = _uint8(blended)
            info = res.info
            del res, layer, blended, window
    total_s = time.perf_counter() - t0
    if in_engine is not None:  # what the engine call added, and that less the layers it returns
        added = in_engine.peak - in_engine.before
        layers = 3 * (y1 - y0) * (x1 - x0) * 4 / 2**20
        engine_mem = {"engine_added_mib": round(added), "engine_work_mib": round(added - layers)}
    else:
        engine_mem = {}
    row: dict[str, Any] = {
        "mode": label, "working_size": size, **engine_mem, "megapixels": round(h * w / 1e6, 1), "size": [w, h],
        "window": [int(x0), int(y0), int(x1), int(y1)],
        "window_mp": round((y1 - y0) * (x1 - x0) / 1e6, 1), "scale": round(scale, 5),
        "engine_s": round(engine_s, 2), "total_s": round(total_s, 2),
        "peak_mib": round(mem.peak), "added_mib": round(mem.peak - mem.before),
        "before_mib": round(mem.before), "budget_mib": budget_mib,
        "load": [load_before, load()[0]], "threads": torch.get_num_threads(),
        "info": {k: v for k, v in info.items() if k != "models"},
    }  # fmt: skip
    if quality:
        frame_scale = base_size / max(h, w)  # every mode judged at the run's working size
        row.update(_quality(label, pixels, result, mask, (y0, y1, x0, x1), frame_scale))
    return row


def _today(engine: Any, pixels: np.ndarray, low: Image.Image, style: Any, size: int):
    """The frame at the working size, stylised, blended, enlarged to the photo's size."""
    from tst_core.imageops import resize_long_side
    from tst_core.types import Target, Targets

    h, w = pixels.shape[:2]
    full = _tensor(pixels)  # as the pipeline reads a photo today
    small = resize_long_side(full, size).contiguous()
    del full
    hs, ws = small.shape[-2:]
    m = torch.from_numpy(np.asarray(low.resize((ws, hs), Image.Resampling.BILINEAR)))
    m = m.float().div_(255.0)
    res = engine.stylize(
        small, Targets((Target("person#0", m, None, model_style=style),), (hs, ws))
    )
    picture = small + m * (res.layers[0] - small)
    big = F.interpolate(picture[None], size=(h, w), mode="bicubic", align_corners=False)[0]
    return _uint8(big.clamp_(0.0, 1.0)), res.info


# --- quality (child, after the timed part) -----------------------------------------------------


def _shrink(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = F.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]
    return out.clamp_(0.0, 1.0)


def _quality(
    mode: str,
    pixels: np.ndarray,
    result: np.ndarray,
    mask: np.ndarray,
    box: tuple[int, int, int, int],
    scale: float,
) -> dict[str, Any]:
    from tst_core import metrics
    from tst_core.files import read_image
    from tst_core.imageops import resize_long_side
    from tst_core.upsample import detail_energy

    y0, y1, x0, x1 = box
    photo_w = _tensor(pixels[y0:y1, x0:x1])
    result_w = _tensor(result[y0:y1, x0:x1])
    m = torch.from_numpy(mask[y0:y1, x0:x1]).float().div_(255.0)
    sharp = detail_energy(result_w, m) / detail_energy(photo_w, m)
    features = metrics.vgg19_features()
    painting = features(resize_long_side(read_image(PAINTING), 512)[None])

    def distances(
        image: torch.Tensor, photo: torch.Tensor, weights: torch.Tensor
    ) -> tuple[float, float, float]:
        f = features(image[None])
        return (
            metrics.sliced_wasserstein(f, painting, weights),
            metrics.gram_distance(f, painting, weights),
            metrics.structure_score(image, photo, weights),
        )

    h, w = pixels.shape[:2]
    side = round(CROP_SIDE * w)
    at_100, crops = [], {}
    for name, (cx, cy) in CROPS.items():
        cx0, cy0 = round(cx * w - side / 2), round(cy * h - side / 2)
        crop = result[cy0 : cy0 + side, cx0 : cx0 + side]
        Image.fromarray(crop).save(RESULTS / f"crop_{mode}_{name}.png")
        if mode == "today":
            Image.fromarray(pixels[cy0 : cy0 + side, cx0 : cx0 + side]).save(
                RESULTS / f"crop_photo_{name}.png"
            )
        cm = torch.from_numpy(mask[cy0 : cy0 + side, cx0 : cx0 + side]).float().div_(255.0)
        photo_crop = _tensor(pixels[cy0 : cy0 + side, cx0 : cx0 + side])
        at_100.append(distances(_tensor(crop), photo_crop, cm))
        crops[name] = [cx0, cy0, side]
    view = max(y1 - y0, x1 - x0)
    view_size = (round((y1 - y0) * 1024 / view), round((x1 - x0) * 1024 / view))
    Image.fromarray(_uint8(_shrink(result_w, view_size))).save(RESULTS / f"view_{mode}.png")
    small = (max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale)))
    ms = F.interpolate(m[None, None], size=small, mode="area")[0, 0]
    swd_frame, gram_frame, structure_frame = distances(
        _shrink(result_w, small), _shrink(photo_w, small), ms
    )
    return {
        "sharpness": round(sharp, 3),
        "swd_100": round(float(np.mean([d[0] for d in at_100])), 4),
        "gram_100": float(np.mean([d[1] for d in at_100])),
        "swd_frame": round(swd_frame, 4),
        "gram_frame": gram_frame,
        "structure_100": round(float(np.mean([d[2] for d in at_100])), 3),
        "structure_frame": round(structure_frame, 3),
        "crops": crops,
    }


# --- the report --------------------------------------------------------------------------------


def sheet(labels: list[str], scale: float = 0.5) -> Path:
    """Rows face, hand, hair; columns the photo and each run of ``labels`` (each crop at
    ``scale`` of 100 % in the sheet; the crops themselves are in ``RESULTS`` at 100 %)."""
    cols = ["photo", *labels]
    tiles = [[Image.open(RESULTS / f"crop_{c}_{n}.png") for c in cols] for n in CROPS]
    side = round(tiles[0][0].width * scale)
    out = Image.new("RGB", (side * len(cols), side * len(CROPS)), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            out.paste(tile.resize((side, side), Image.Resampling.LANCZOS), (c * side, r * side))
    path = RESULTS / "crops_sheet.png"
    out.save(path)
    views = [Image.open(RESULTS / f"view_{c}.png") for c in labels]
    w, h = views[0].width // 2, views[0].height // 2
    frame = Image.new("RGB", (w * len(views), h), "white")
    for c, view in enumerate(views):
        frame.paste(view.resize((w, h), Image.Resampling.LANCZOS), (c * w, 0))
    frame.save(RESULTS / "views_sheet.png")
    return path


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| MP | mode | window MP | engine s | total s | peak MiB | added MiB | engine MiB "
        "(less output) | tiles | sharpness | swd 100% | swd frame | structure 100% | "
        "structure frame | load |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        tiles = r["info"].get("native_passes", [{}])
        tile = ", ".join(f"{p.get('tiles', 1)}×{p.get('tile', 0)}px" for p in tiles)
        lines.append(
            f"| {r['megapixels']} | {r['mode']} | {r['window_mp']} | {r['engine_s']:.1f} | "
            f"{r['total_s']:.1f} | {r['peak_mib']} | {r['added_mib']} | "
            f"{r.get('engine_added_mib', '')} ({r.get('engine_work_mib', '')}) | {tile} | "
            f"{r.get('sharpness', '')} | {r.get('swd_100', '')} | {r.get('swd_frame', '')} | "
            f"{r.get('structure_100', '')} | {r.get('structure_frame', '')} | "
            f"{r['load'][0]}–{r['load'][1]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512, help="working size (run.size)")
    p.add_argument("--budget-mib", type=int, default=2048, help="the engine's memory budget")
    p.add_argument("--sizes", default="24,12,8,4", help="photo sizes in MP (24: the original)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument(
        "--extra", default="working@1536", help="modes run on the 24 MP photo only (MODE@SIZE)"
    )
    p.add_argument("--out", type=Path, default=RESULTS / "fast_native.json")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        mode, mp, size, budget, quality = args.child
        row = child(mode, int(mp), int(size), int(budget), quality == "1")
        print(json.dumps(row))
        return 0
    if not PHOTO.exists() or not NET.exists():
        print(f"needs {PHOTO} and {NET} (the ../shared assets)", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    t0, load_start = time.perf_counter(), load()
    mask, yolo_s = person_mask()
    sizes = [int(s) for s in args.sizes.split(",")]
    for mp in sizes:
        copy_at(mp)
    rows = []
    for mp in sizes:
        extra = args.extra.split(",") if mp == 24 and args.extra else []
        for mode in args.modes.split(",") + extra:
            quality = "1" if mp == 24 else "0"
            cmd = [sys.executable, __file__, "--child", mode, str(mp), str(args.size)]
            cmd += [str(args.budget_mib), quality]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{mp} MP {mode}: {rows[-1]}", file=sys.stderr, flush=True)
    res = {
        "photo": str(PHOTO.name), "net": NET.name, "size": args.size,
        "budget_mib": args.budget_mib, "yolo_s": yolo_s, "rows": rows,
        "load_at_start": load_start, "load_at_end": load(),
        "seconds": round(time.perf_counter() - t0), "mask": str(mask),
    }  # fmt: skip
    if 24 in sizes:
        res["sheet"] = str(sheet(args.modes.split(",") + args.extra.split(",")))
    print(table(rows))
    print(f"\nload {res['load_at_start']} -> {res['load_at_end']}, {res['seconds']} s in all")
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
