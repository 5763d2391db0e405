"""The ``gatys`` engine at native resolution (issue 20): prints tables, writes JSON.

    flock /work/locks/cpu.lock python benchmarks/engine_native.py           # about an hour
    python benchmarks/engine_native.py --quick     # tiles at 384/512 px, native on 4 MP, 4 its

Needs ``images/large/person_woman-bar-beers_6000x4000.jpg``, ``starry_night.jpg`` and the
YOLOv8n-seg weights from ``../shared`` (or ``$TST_SHARED``). Measures:

(a) **exact tiling**: the default objective's value and gradient at 512, 768 and 1024 px, in
    one pass and tile by tile within half the one pass's memory: seconds per evaluation, the
    peak of the tensors allocated (:class:`~tst_core.memory.TensorMemory`), the plan's
    estimate, and the largest gradient difference relative to the gradient's largest value.
(b) **the native schedule** on 4, 12 and 24 MP crops of the photo with one person (its mask
    from ``yolo`` at 1024 px, brought to native size with a plain resize): ``gatys`` defaults
    at native size within ``--budget`` against today's path (the crop at 512 px, stylised, then
    resized up bicubically), each in a fresh process: seconds, peak resident memory (sampled
    every 5 ms), and the sharpness inside the person (high-frequency energy of the result
    against the photo's, :func:`tst_core.upsample.detail_energy`), for the native result with
    its ``max_side`` remainder brought up by the guided upsampling and by a plain bicubic
    resize, and for today's path with either. 100 % crops of the face, a hand and the hair's
    edge are written beside the JSON (``engine_native/*.png``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from _common import ROOT, PeakRss, load, shared

OUT = ROOT / "benchmarks" / "results" / "engine_native.json"
PHOTO = ("images", "large", "person_woman-bar-beers_6000x4000.jpg")
STYLE = ("images", "style", "starry_night.jpg")
YOLO = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
#: crops of the photo (6000 × 4000) by megapixels: (x0, y0, x1, y1), 3:2, the person inside
CROPS = {
    4: (1776, 480, 4225, 2113),
    12: (879, 586, 5122, 3414),
    24: (0, 0, 6000, 4000),
}
#: 100 % crops (centre x, y in the full photo's pixels): the face, the right hand, the hair's
#: edge against the bar
DETAILS = {"face": (3050, 1150), "hand": (4330, 3230), "hair": (2700, 1330)}
DETAIL_SIDE = 320
SIZE = 512  # the working size (tst's default --size)


# --- (a) exact tiling -----------------------------------------------------------------------


def section_tiles(sizes: list[int]) -> list[dict[str, Any]]:
    from tst_core.engine.native import footprint
    from tst_core.engine.objective import Objective, style_targets
    from tst_core.engine.options import GatysOptions
    from tst_core.engine.vgg import build_network
    from tst_core.files import read_image
    from tst_core.memory import TensorMemory
    from tst_core.photo import read_photo
    from tst_core.types import resize_mask

    o = GatysOptions()
    layers = list(dict.fromkeys((*o.content_layers, *o.detail_layers, *o.style_layers)))
    net = build_network(layers=layers)
    fp = footprint(net, (*o.content_layers, *o.detail_layers), layers)
    full = read_photo(shared(*PHOTO)).tensor(size=2048)
    style = _resize(read_image(shared(*STYLE)), SIZE)
    styles = [style_targets(net, style, o)]
    rows = []
    for size in sizes:
        photo = _resize(full, size)
        h, w = photo.shape[-2:]
        mask = torch.zeros(h, w)
        mask[int(0.25 * h) :, int(0.38 * w) : int(0.65 * w)] = 1.0  # the person's box, roughly
        masks = resize_mask(mask, (h, w))[None]
        x = (photo * 0.9 + 0.05)[None]
        row: dict[str, Any] = {"size": [w, h]}
        grads = []
        for mode in ("untiled", "tiled"):
            tiling = None
            if mode == "tiled":
                plan, budget = tiled_plan(
                    row["untiled"]["peak_mib"] * 2**20, (h, w), net, layers, fp
                )
                tiling = plan.tiling
                row["budget_mib"] = round(budget / 2**20, 1)
                row["estimate_mib"] = round(plan.estimate / 2**20, 1)
            objective = Objective(net, photo, masks, styles, [1.0], o, tiling=tiling)
            objective.evaluate(x)  # warm up
            with TensorMemory() as used:
                t0 = time.perf_counter()
                _, grad = objective.evaluate(x)
                seconds = time.perf_counter() - t0
            times = [seconds]
            for _ in range(2):
                t0 = time.perf_counter()
                objective.evaluate(x)
                times.append(time.perf_counter() - t0)
            grads.append(grad)
            row[mode] = {
                "s_per_eval": round(sorted(times)[1], 3),
                "peak_mib": round(used.peak / 2**20, 1),
                "tiles": 1 if objective.tiling is None else objective.tiling.count,
                "core": None if objective.tiling is None else objective.tiling.core,
                "load": load(),
            }
            del objective
        diff = float((grads[1] - grads[0]).abs().max() / grads[0].abs().max())
        row["grad_max_rel_diff"] = diff
        row["ratio_time"] = round(row["tiled"]["s_per_eval"] / row["untiled"]["s_per_eval"], 2)
        row["ratio_peak"] = round(row["tiled"]["peak_mib"] / row["untiled"]["peak_mib"], 2)
        rows.append(row)
        print(f"  tiles {w}×{h}: {json.dumps(row)}", flush=True)
    return rows


def tiled_plan(
    untiled: float, size: tuple[int, int], net: Any, layers: list[str], fp: Any
) -> tuple[Any, int]:
    """The level's plan and its budget: at half the untiled peak, or at the least share of it (in tenths) that tiles
    and fits: at small sizes the level's fixed part leaves half too little for any tile."""
    from tst_core.engine.native import plan_level
    from tst_core.errors import EngineError

    for share in (0.5, 0.6, 0.7, 0.8, 0.9):
        budget = int(untiled * share)
        try:
            plan = plan_level(
                net, layers, fp, size, channels=3, masks=1, paintings=[], budget=budget
            )
        except EngineError:
            continue
        if not plan.tiling.whole:
            return plan, budget
    raise SystemExit(f"no budget below the untiled peak tiles {size[1]}×{size[0]}")


def _resize(image: torch.Tensor, side: int) -> torch.Tensor:
    from tst_core.imageops import resize_long_side

    return resize_long_side(image, side).clamp(0.0, 1.0)


# --- (b) the native schedule, one run per process -------------------------------------------


def child(mode: str, mp: int, budget: str, quick: bool, folder: Path) -> dict[str, Any]:
    """Run ``mode`` (``native`` or ``today``) on the crop of ``mp`` megapixels; print JSON."""
    cmd = [sys.executable, __file__, "--child", mode, str(mp), budget, str(folder)]
    if quick:
        cmd.append("--quick")
    import subprocess

    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {mode} {mp} MP failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(mode: str, mp: int, budget_text: str, folder: Path, quick: bool) -> None:
    from tst_core.boxes import Box
    from tst_core.engine.gatys import GatysEngine
    from tst_core.engine.options import GatysOptions
    from tst_core.files import read_image
    from tst_core.memory import parse_size
    from tst_core.photo import read_photo
    from tst_core.types import Env, Target, Targets
    from tst_core.upsample import detail_energy, upsample_image

    box = CROPS[mp]
    photo = read_photo(shared(*PHOTO)).tensor(box=Box(*box))
    h, w = photo.shape[-2:]
    mask = person_mask(photo)
    style_file = read_image(shared(*STYLE))
    style = _resize(style_file, SIZE)
    source = _resize(style_file, min(max(style_file.shape[-2:]), 4 * SIZE))
    targets = Targets((Target("person#0", mask, style, style_source=source),), (h, w))
    options: dict[str, Any] = {}
    if quick:
        options = {"scale_iterations": (2, 2), "native_iterations": (2, 2)}
    scale = SIZE / max(h, w)
    captured: dict[str, torch.Tensor] = {}

    class Engine(GatysEngine):
        def _to_native(self, job: Any, x: torch.Tensor) -> torch.Tensor:
            captured["low"], captured["guide"] = x.detach().cpu(), job.content.cpu()
            captured["pads"] = torch.tensor(job.pads)
            return super()._to_native(job, x)

    engine = Engine(GatysOptions(**options), Env("cpu", 0))
    with PeakRss() as mem:
        t0 = time.perf_counter()
        if mode == "native":
            budget = parse_size(budget_text)
            res = engine.stylize_native(photo, targets, scale=scale, budget=budget)
            image = res.image
        else:
            small = _resize(photo, SIZE)
            res = engine.stylize(small, targets.resized((small.shape[-2], small.shape[-1])))
            image = upsample_image(res.image, photo, method="bicubic")
        seconds = time.perf_counter() - t0
    variants = {f"{mode}": image}
    if mode == "native" and "low" in captured:  # the same run, its remainder bicubic
        up = upsample_image(captured["low"], captured["guide"], method="bicubic")
        variants["native-bicubic"] = _paste_like(image, up, captured["pads"], res.info)
    if mode == "today":
        variants["today-guided"] = upsample_image(res.image, photo, method="guided")
    inside = (mask > 0.5).float()
    energy = {name: detail_energy(v, inside) for name, v in variants.items()}
    energy["photo"] = detail_energy(photo, inside)
    for name, v in variants.items():
        save_details(v, box, folder / f"{mp}mp-{name}")
    if mode == "today":
        save_details(photo, box, folder / f"{mp}mp-photo")
    info = res.info
    print(
        json.dumps(
            {
                "mode": mode,
                "mp": mp,
                "size": [w, h],
                "seconds": round(seconds, 1),
                "rss_before_mib": round(mem.before / 2**20),
                "rss_peak_mib": round(mem.peak / 2**20),
                "energy": {k: round(v, 6) for k, v in energy.items()},
                "sharpness": {k: round(v / energy["photo"], 3) for k, v in energy.items()},
                "load": load(),
                "iterations": info["iterations"],
                "regions": info["regions"],
                "native": info.get("native"),
            }
        )
    )


def _paste_like(
    image: torch.Tensor, up: torch.Tensor, pads: torch.Tensor, info: dict[str, Any]
) -> torch.Tensor:
    """``image`` with the region replaced by ``up`` (the window's upsampling, with pads)."""
    out = image.clone()
    x0, y0, x1, y1 = info["regions"][0]["native_box"]
    left, right, top, bottom = (int(v) for v in pads)
    region = up[:, top : up.shape[-2] - bottom, left : up.shape[-1] - right]
    out[:, y0:y1, x0:x1] = region.clamp(0, 1)
    return out


def person_mask(photo: torch.Tensor) -> torch.Tensor:
    """The highest-scoring person's mask ``(H, W)``: ``yolo`` at 1024 px, resized plainly."""
    from tst_core.api import segment
    from tst_core.types import resize_mask

    small = _resize(photo, 1024)
    seg = segment(small, segmenter="yolo", segmenter_options={"weights": str(shared(*YOLO))})
    people = [i for i in seg.segmentation if i.label == "person"]
    if not people:
        raise SystemExit("no person found")
    return resize_mask(people[0].mask, (photo.shape[-2], photo.shape[-1]))


def save_details(image: torch.Tensor, box: tuple[int, int, int, int], stem: Path) -> None:
    """100 % crops of :data:`DETAILS` that lie inside the crop ``box``, side by side."""
    from tst_core.files import write_image

    x0, y0 = box[0], box[1]
    tiles = []
    for cx, cy in DETAILS.values():
        lx, ly = cx - x0 - DETAIL_SIDE // 2, cy - y0 - DETAIL_SIDE // 2
        if (
            lx < 0
            or ly < 0
            or lx + DETAIL_SIDE > image.shape[-1]
            or ly + DETAIL_SIDE > image.shape[-2]
        ):
            continue
        tiles.append(image[:, ly : ly + DETAIL_SIDE, lx : lx + DETAIL_SIDE])
    if tiles:
        write_image(stem.with_suffix(".png"), torch.cat(tiles, dim=-1).clamp(0, 1))


# --- report ----------------------------------------------------------------------------------


def table(res: dict[str, Any]) -> str:
    lines = ["(a) exact tiling: one evaluation of the default objective (value and gradient)"]
    lines.append(
        f"{'size':>11} {'untiled s':>9} {'tiled s':>8} {'x':>5} {'untiled MiB':>11} "
        f"{'tiled MiB':>9} {'budget':>7} {'tiles':>5} {'grad diff':>9}"
    )
    for r in res.get("tiles", []):
        u, t = r["untiled"], r["tiled"]
        lines.append(
            f"{r['size'][0]:>5}×{r['size'][1]:<5} {u['s_per_eval']:>9.2f} {t['s_per_eval']:>8.2f} "
            f"{r['ratio_time']:>5.2f} {u['peak_mib']:>11.0f} {t['peak_mib']:>9.0f} "
            f"{r['budget_mib']:>7.0f} {t['tiles']:>5} {r['grad_max_rel_diff']:>9.1e}"
        )
    lines.append("")
    lines.append("(b) native schedule vs today's path (512 px, then resized up), one person")
    lines.append(
        f"{'MP':>3} {'mode':>7} {'seconds':>8} {'peak RSS MiB':>12} {'sharpness':>9} "
        f"{'(plain)':>8} {'levels':<40} load"
    )
    for r in res.get("native", []):
        sharp = r["sharpness"]
        main = sharp[r["mode"]]
        other = sharp.get("native-bicubic", sharp.get("today-guided"))
        levels = " ".join(
            "x".join(str(v) for v in lv.get("size", []))
            + (f"/{lv['tiles']}t" if lv.get("tiles", 1) > 1 else "")
            for lv in r["regions"][0].get("levels", [])
        )
        lines.append(
            f"{r['mp']:>3} {r['mode']:>7} {r['seconds']:>8.0f} {r['rss_peak_mib']:>12} "
            f"{main:>9.3f} {other:>8.3f} {levels:<40} {r['load']}"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--budget", default="2GiB", help="the native runs' memory budget")
    p.add_argument("--sizes", default="", help="MP of the crops (default 4,12,24; 0: none)")
    p.add_argument("--skip-tiles", action="store_true")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        mode, mp, budget, folder = args.child
        run_child(mode, int(mp), budget, Path(folder), args.quick)
        return
    folder = args.out.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"load_start": load(), "budget": args.budget, "quick": args.quick}
    if not args.skip_tiles:
        res["tiles"] = section_tiles([384, 512] if args.quick else [512, 768, 1024])
    sizes = [int(s) for s in args.sizes.split(",") if s] or ([4] if args.quick else [4, 12, 24])
    sizes = [mp for mp in sizes if mp]
    res["native"] = []
    for mp in sizes:
        for mode in ("native", "today"):
            row = child(mode, mp, args.budget, args.quick, folder)
            print(f"  {mp} MP {mode}: {json.dumps(row)}", flush=True)
            res["native"].append(row)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(res, indent=1))  # each row as soon as it is done
    res["load_end"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"wrote {args.out}; crops in {folder}/")


if __name__ == "__main__":
    main()
