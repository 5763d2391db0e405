"""Feed-forward engines against ``gatys``: speed and memory on bus.jpg, quality on held-out photos.

(a) **Speed**: seconds to stylise the two people of ``bus.jpg`` (hand-drawn masks of
    ``tests/bus_people.py``) at 512 and 1024 px with ``fast`` (udnie and scream nets from
    ``../shared``, one pass each), ``cin`` (the trained recipe model, both people in one pass)
    and ``gatys`` (starry_night and the_scream, its defaults), each in a fresh process, with
    the resident memory that stylising adds (sampled every 5 ms). ``fast``/``cin``: the median
    of 3 runs after the first (cold) one. Targets: feed-forward ≥ 100× faster than ``gatys`` at
    512 px, 1024 px within 3 s.
(b) **Quality**: on the recipe's held-out photos (whole frame, ``--quality-size`` px), the
    masked Gram distance (``tst_core.metrics.style_distance``) of each painting's rendering to
    that painting, for the untouched ``--init-from`` network, the ``cin`` model at each kept
    checkpoint (a training curve), ``gatys`` (on ``--gatys-photos`` of them) and, where
    ``../shared`` has one, the Johnson network trained on that painting.
(c) **Training**: steps, seconds and images/s of the recipe run, from the model's metadata.

    python benchmarks/fast.py --model benchmarks/results/cin4/cin4.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from _common import ROOT, PeakRss, load

SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
BUS = SHARED / "images/content/bus.jpg"
NETS = SHARED / "models/fast-style-tf"
STYLE_DIR = SHARED / "images/style"
#: Johnson nets in ../shared trained on (about) these paintings
DEDICATED = {"the_scream": "scream", "great_wave": "wave"}


def masks_folder() -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.bus_people import write

    return write(RESULTS / "bus_people_masks")


def speed_styles(engine: str, model: Path) -> list[str]:
    if engine == "fast":
        return [f"person#0={NETS / 'udnie'}", f"person#1={NETS / 'scream'}"]
    if engine == "cin":
        return ["person#0=starry_night", "person#1=the_scream"]
    return [
        f"person#0={STYLE_DIR / 'starry_night.jpg'}",
        f"person#1={STYLE_DIR / 'the_scream.jpg'}",
    ]


def child_speed(engine: str, size: int, model: Path, reps: int) -> dict[str, Any]:
    """In a fresh process: stylise time (cold, then warm runs) and memory of one engine."""
    from tst_core.api import Pipeline, session, style_requests

    sets = [f"engine.cin.model={model}"] if engine == "cin" else []
    sess = session(
        engine=engine, segmenter="maskfile", size=size, sets=sets,
        segmenter_options={"masks": str(masks_folder())},
    )  # fmt: skip
    pipe = Pipeline(sess)
    from tst_core.api import load_photo

    full = load_photo(BUS)
    seg = pipe.segment(full)
    image, targets = pipe.targets(full, seg, style_requests(speed_styles(engine, model)))
    stylize = pipe.plugin("engine").stylize
    load_before = load()[0]
    with PeakRss() as mem:
        t0 = time.perf_counter()
        res = stylize(image, targets)
        cold = time.perf_counter() - t0
    before, peak = mem.before / 2**20, mem.peak / 2**20
    layers = res.layers
    picture = pipe.plugin("blend").composite(image, layers, targets).clamp(0, 1)
    from tst_core.files import write_image

    write_image(RESULTS / f"fast_{engine}_{size}.png", picture)
    warm = []
    for _ in range(reps):
        t0 = time.perf_counter()
        stylize(image, targets)
        warm.append(time.perf_counter() - t0)
    return {
        "engine": engine, "size": size, "working": list(image.shape[-2:]), "cold_s": cold,
        "warm_s": statistics.median(warm) if warm else None, "added_mib": peak - before,
        "passes": res.info.get("passes"), "rois": res.info.get("rois"), "peak_mib": peak,
        "load": [load_before, load()[0]],
    }  # fmt: skip


def section_speed(model: Path, sizes: list[int], gatys_sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        for engine in ("fast", "cin", "gatys"):
            if engine == "gatys" and size not in gatys_sizes:
                continue
            reps = 0 if engine == "gatys" else 3
            cmd = [sys.executable, __file__, "--child", engine, str(size), str(model), str(reps)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"speed {engine} {size}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def section_quality(model_path: Path, size: int, gatys_photos: int) -> dict[str, Any]:
    from tst_fast.formats import load_model

    from tst_core.api import run
    from tst_core.files import read_image
    from tst_core.imageops import resize_long_side
    from tst_core.metrics import vgg19_features
    from tst_core.types import Target, Targets

    model = load_model(model_path)
    held = [SHARED / "images/content" / n for n in model.training["held_out"]]
    new = [s for s in model.styles if s.sha256 and s.name != model.styles[0].name]
    features = vgg19_features()
    folder = model_path.parent
    stem = model_path.stem
    checkpoints = sorted(folder.glob(f"{stem}.step*.safetensors"))
    candidates: list[tuple[str, Any]] = [("init: " + model.styles[0].name, None)]
    candidates += [(f"cin step {int(p.stem.split('step')[-1])}", p) for p in checkpoints]
    if not any(p.stem.endswith(f"step{model.training['step']:06d}") for p in checkpoints):
        candidates.append((f"cin step {model.training['step']} (final)", model_path))
    paintings = {s.name: resize_long_side(read_image(STYLE_DIR / s.image), size) for s in new}
    photos = {p.name: resize_long_side(read_image(p), size) for p in held}

    def distance(out: torch.Tensor, name: str) -> float:
        h, w = out.shape[-2:]
        t = Targets((Target("all", torch.ones(h, w), paintings[name]),), (h, w))
        from tst_core.metrics import style_distance

        return style_distance(out, t, features)[0]

    rows: dict[str, dict[str, list[float]]] = {}
    init = load_model(model_path).net  # rows[0] of any checkpoint is the untouched network
    for label, path in candidates:
        net = init if path is None else load_model(path).net
        rows[label] = {}
        for s in new:
            index = 0 if path is None else [x.name for x in model.styles].index(s.name)
            w = torch.zeros(1, net.styles)
            w[0, index] = 1.0
            with torch.inference_mode():
                dists = [distance(net(p[None], w)[0], s.name) for p in photos.values()]
            rows[label][s.name] = dists
        print(f"quality {label}: done", file=sys.stderr, flush=True)
    for painting, net_name in DEDICATED.items():
        if painting in paintings and (NETS / net_name).is_dir():
            net = load_model(NETS / net_name).net
            with torch.inference_mode():
                dists = [
                    distance(net(p[None], torch.ones(1, 1))[0], painting) for p in photos.values()
                ]
            rows.setdefault(f"Johnson net trained on it ({', '.join(DEDICATED.values())})", {})[
                painting
            ] = dists
    if gatys_photos:
        label = f"gatys ({gatys_photos} photos)"
        rows[label] = {}
        for s in new:
            dists = []
            for name in list(photos)[:gatys_photos]:
                res = run(photos[name], [f"all={STYLE_DIR / s.image}"], segmenter="maskfile",
                          segmentation=_whole(photos[name]), size=size)  # fmt: skip
                dists.append(distance(res.image, s.name))
            rows[label][s.name] = dists
            print(f"quality gatys {s.name}: {dists}", file=sys.stderr, flush=True)
    return {
        "size": size,
        "held_out": list(photos),
        "paintings": [s.name for s in new],
        "rows": rows,
    }


#: the sheet's panels after the photo: (label, engine, styles); gatys and fast come from (a)
SHEET = [
    ("fast: udnie / scream nets", "fast", None),
    ("cin: starry_night / the_scream", "cin", ["person#0=starry_night", "person#1=the_scream"]),
    ("cin: great_wave / kandinsky", "cin", ["person#0=great_wave", "person#1=kandinsky_composition_vii"]),
    ("cin: starry+scream 50/50 / udnie", "cin", ["person#0=starry_night*0.5+the_scream*0.5", "person#1=udnie"]),
    ("gatys: starry_night / the_scream", "gatys", None),
]  # fmt: skip


def section_sheet(model: Path, size: int = 512, scale: int = 2) -> Path:
    """The same photo with one person per style, enlarged: photo, fast, cin (three pairs), gatys."""
    from PIL import Image, ImageDraw

    from tst_core import run
    from tst_core.files import read_image, tensor_to_pil
    from tst_core.imageops import resize_long_side
    from tst_core.overlay import default_font

    photo = tensor_to_pil(resize_long_side(read_image(BUS), size))
    panels = [("photo", photo)]
    for label, engine, styles in SHEET:
        if styles is None:
            path = RESULTS / f"fast_{engine}_{size}.png"
            if path.is_file():
                panels.append((label, Image.open(path).convert("RGB")))
            continue
        res = run(BUS, styles, engine=engine, segmenter="maskfile", size=size,
                  segmenter_options={"masks": str(masks_folder())}, sets=[f"engine.cin.model={model}"])  # fmt: skip
        panels.append((label, res.to_pil()))
    box = (0, 150, 200, 470) if size == 512 else None  # the two people at 512 px
    font = default_font(18)
    tiles = []
    for label, img in panels:
        tile = img.crop(box).resize(
            ((box[2] - box[0]) * scale, (box[3] - box[1]) * scale), Image.LANCZOS
        )
        draw = ImageDraw.Draw(tile)
        draw.rectangle((0, 0, tile.width, 26), fill=(0, 0, 0))
        draw.text((6, 3), label, fill=(255, 255, 255), font=font)
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles), tiles[0].height), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width
    out = RESULTS / "fast_sheet.png"
    sheet.save(out)
    return out


def _whole(photo: torch.Tensor) -> Any:
    from tst_core.types import Segmentation

    return Segmentation((), (int(photo.shape[-2]), int(photo.shape[-1])))


def table(res: dict[str, Any]) -> str:
    lines = ["| engine | size px | working px | stylise s (warm) | first run s | passes | added MiB "
             "| peak RSS MiB | load (1 min) |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["speed"]:
        warm = f"{r['warm_s']:.3f}" if r["warm_s"] is not None else ""
        peak = f"{r['peak_mib']:.0f}" if "peak_mib" in r else ""
        load = f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}" if "load" in r else ""
        lines.append(
            f"| {r['engine']} | {r['size']} | {r['working'][1]}×{r['working'][0]} | {warm} | "
            f"{r['cold_s']:.2f} | {r['passes'] or ''} | {r['added_mib']:.0f} | {peak} | {load} |"
        )
    gatys = {r["size"]: r["cold_s"] for r in res["speed"] if r["engine"] == "gatys"}
    for r in res["speed"]:
        if r["engine"] != "gatys" and r["size"] in gatys:
            lines.append(
                f"\n{r['engine']} at {r['size']} px: {gatys[r['size']] / r['warm_s']:.0f}× faster than gatys"
            )
    q = res.get("quality")
    if q:
        names = q["paintings"]
        lines += ["", f"| rendering (held-out photos, {q['size']} px) | " + " | ".join(names) + " | mean |",
                  "|---|" + "---|" * (len(names) + 1)]  # fmt: skip
        for label, cols in q["rows"].items():
            means = {n: statistics.mean(cols[n]) for n in names if n in cols}
            cells = [f"{means[n]:.3g}" if n in means else "" for n in names]
            overall = f"{statistics.mean(means.values()):.3g}" if len(means) == len(names) else ""
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {overall} |")
    t = res.get("training")
    if t:
        lines.append(
            f"\ntraining: {t['step']} steps × batch {t['batch']} at {t['size']} px in {t['seconds']:.0f} s "
            f"({t['step'] * t['batch'] / t['seconds']:.2f} images/s, {t['train']}, {t['train_photos']} photos, "
            f"{len(t['held_out'])} held out)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=RESULTS / "cin4/cin4.safetensors")
    p.add_argument("--sizes", default="512,1024")
    p.add_argument("--gatys-sizes", default="512,1024")
    p.add_argument("--quality-size", type=int, default=256)
    p.add_argument("--gatys-photos", type=int, default=2)
    p.add_argument("--skip", default="", help="sections to skip: speed,quality,sheet")
    p.add_argument("--out", type=Path, default=RESULTS / "fast.json")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        engine, size, model, reps = args.child
        print(json.dumps(child_speed(engine, int(size), Path(model), int(reps))))
        return 0
    from tst_fast.formats import load_model

    started = time.perf_counter()
    res: dict[str, Any] = {
        "load_at_start": load(),
        "threads": torch.get_num_threads(),
    }
    skip = set(args.skip.split(","))
    ints = lambda text: [int(v) for v in text.split(",") if v]  # noqa: E731
    if "speed" not in skip:
        res["speed"] = section_speed(args.model, ints(args.sizes), ints(args.gatys_sizes))
    else:
        res["speed"] = []
    if "quality" not in skip:
        before = load()
        res["quality"] = section_quality(args.model, args.quality_size, args.gatys_photos)
        res["quality"]["load"] = [before, load()]
    if "sheet" not in skip:
        res["sheet"] = str(section_sheet(args.model))
    res["training"] = load_model(args.model).training
    res["seconds"] = round(time.perf_counter() - started, 1)
    res["load_at_end"] = load()
    print(table(res))
    print(f"\nload {res['load_at_start']} -> {res['load_at_end']}, {res['seconds']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
