"""Compositor speed: ``mrf`` on a 1024 × 1024 photo with a target covering a third (< 2 s).

The photo is ``tubingen.jpg`` from ``../shared`` resized to N × N (a smooth synthetic image when
the assets are absent); the "stylised" layer is a cheap stand-in (posterised, colour-shifted,
with noise), since only the time matters here. Targets: an ellipse and a wavy blob, each
covering a third of the frame. Prints one table (band pixels = graph nodes, graph edges, seconds
per compositor, the best of ``--repeat`` runs) and writes ``benchmarks/results/blend.json``.

    python benchmarks/blend.py                    # 1024 px, the acceptance figure
    python benchmarks/blend.py --sizes 512,1024,2048 --blend mrf
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from tst_core.files import read_image
from tst_core.imageops import resize_long_side
from tst_core.plugins import load_host
from tst_core.types import Target, Targets

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
PHOTO = SHARED / "images" / "content" / "tubingen.jpg"
RESULTS = ROOT / "benchmarks" / "results"
TARGET_MS = 2000.0


def photo_at(n: int) -> tuple[torch.Tensor, str]:
    if PHOTO.exists():
        img = resize_long_side(read_image(PHOTO), n)[None]
        img = torch.nn.functional.interpolate(img, size=(n, n), mode="bilinear", antialias=True)
        return img[0].clamp(0, 1), PHOTO.name
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    return torch.stack([0.2 + 0.6 * xx, 0.2 + 0.6 * yy, 0.5 + 0.3 * (xx - yy)]), "synthetic"


def fake_style(photo: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    poster = (photo * 4).round() / 4
    return (0.7 * poster + 0.2 + 0.08 * torch.rand(photo.shape, generator=gen)).clamp(0, 1)


def shape_mask(n: int, shape: str) -> torch.Tensor:
    """A mask covering a third of an n × n frame."""
    yy, xx = torch.meshgrid(torch.arange(n) / n - 0.5, torch.arange(n) / n - 0.5, indexing="ij")
    if shape == "ellipse":
        a = math.sqrt(1 / (3 * math.pi * 0.8))  # area π·a·0.8a = 1/3
        return ((xx / a) ** 2 + (yy / (0.8 * a)) ** 2 < 1).float()
    # wavy blob: a disc whose radius wobbles; bisect the base radius to cover a third
    angle = torch.atan2(yy, xx)
    radius = torch.sqrt(xx**2 + yy**2)
    lo, hi = 0.1, 0.6
    for _ in range(30):
        mid = (lo + hi) / 2
        mask = radius < mid * (1 + 0.25 * torch.sin(7 * angle))
        lo, hi = (mid, hi) if float(mask.float().mean()) < 1 / 3 else (lo, mid)
    return mask.float()


def bench(name: str, comp, photo, layers, targets, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        comp.composite(photo, layers, targets)
        times.append(time.perf_counter() - t0)
    row = {"blend": name, "seconds_min": min(times), "seconds_median": statistics.median(times)}
    info = getattr(comp, "info", None)
    if info:
        row.update(
            band_pixels=info["band_pixels"],
            edges=info["edges"],
            changed_pixels=info.get("changed_pixels"),
            energy_hard=info.get("energy_hard"),
            energy=info.get("energy"),
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024", help="comma-separated N of N × N frames")
    parser.add_argument("--shapes", default="ellipse,blob")
    parser.add_argument("--blend", default="hard,feather,mrf,poisson")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    host = load_host()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        photo, source = photo_at(n)
        layers = fake_style(photo)[None]
        for shape in args.shapes.split(","):
            mask = shape_mask(n, shape)
            targets = Targets((Target(shape, mask, torch.rand(3, 8, 8)),), (n, n))
            for name in args.blend.split(","):
                comp = host.entry("blend", name).build()
                row = bench(name, comp, photo, layers, targets, args.repeat)
                row.update(size=n, shape=shape, coverage=float(mask.mean()), photo=source)
                rows.append(row)

    head = f"{'size':>5}  {'shape':<8} {'blend':<8} {'band px':>8} {'edges':>8} {'best s':>7} {'median s':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['size']:>5}  {r['shape']:<8} {r['blend']:<8} {r.get('band_pixels', ''):>8} "
            f"{r.get('edges', ''):>8} {r['seconds_min']:>7.3f} {r['seconds_median']:>8.3f}"
        )
    mrf_1024 = [r for r in rows if r["blend"] == "mrf" and r["size"] == 1024]
    verdict = None
    if mrf_1024:
        worst = max(r["seconds_median"] for r in mrf_1024)
        verdict = worst * 1000 < TARGET_MS
        print(f"mrf at 1024 px, a third covered: {worst:.3f} s median (target < 2 s): "
              f"{'met' if verdict else 'NOT met'}")  # fmt: skip
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "blend.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "blend",
                "rows": rows,
                "target_seconds": TARGET_MS / 1000,
                "target_met": verdict,
                "loadavg": load,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
