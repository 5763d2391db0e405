"""Wall time of one styling over many photos: a loop of ``tst run`` processes against
``tst batch --jobs 1``, ``--jobs 2`` and ``--executor ray``, and the per-photo cost beyond the
stylising itself.

    python benchmarks/batch.py                                   # 20 photos, 256 px, yolo, gatys
    python benchmarks/batch.py --photos 4 --modes loop,jobs1 --set engine.gatys.iterations=10
    python benchmarks/batch.py --engine fast --style person=../shared/models/fast-style-tf/udnie

The photos are the first ``--photos`` of ``../shared/images/content/`` in which the ``yolo``
segmenter finds a person (so every photo is stylised, none skipped); each run uses ``yolo`` as
its segmenter. Every mode runs the command line in a child process, as a user would, into its
own output folder. Per photo: *stylize* is the engine's time from the reports; *in-photo
overhead* is the rest of the photo's time in its worker (segmenting, selecting, compositing,
hashing the inputs, writing the image and report); *amortised* adds the set-up, start-up and
idle time spread over the photos (``wall × workers / photos − stylize``). The ``rerun`` mode
runs ``--jobs 2`` again over finished outputs: every photo is up to date, so its time per photo
is the machinery alone (fingerprint, record, dispatch). Prints one table and writes
``benchmarks/results/batch.json`` (with the machine load, since timings on a shared machine
are noisy).
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "batch.json"
YOLO_MODEL = Path("models/yolov8n-seg/yolov8n-seg_int8.tflite")
#: mode -> (extra ``tst batch`` arguments, workers); ``loop`` is separate ``tst run`` processes
MODES: dict[str, tuple[list[str], int]] = {
    "loop": ([], 1),
    "jobs1": (["--jobs", "1"], 1),
    "jobs1-prefetch": (["--jobs", "1", "--prefetch", "on"], 1),
    "jobs2": (["--jobs", "2"], 2),
    "ray": (["--executor", "ray", "--jobs", "2"], 2),
    "rerun": (["--jobs", "2"], 2),
}
DEFAULT_MODES = "loop,jobs1,jobs2,ray,rerun"


def shared(*parts: str) -> Path:
    path = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        sys.exit(f"needs {path} (the ../shared assets; set TST_SHARED to their folder)")
    return path


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def pick_photos(count: int, weights: Path, folder: Path) -> list[Path]:
    """The first ``count`` content photos in which yolo finds a person."""
    import tst_core

    picked = []
    for photo in sorted(folder.glob("*.jpg")):
        seg = tst_core.segment(photo, segmenter="yolo", segmenter_options={"weights": weights})
        if "person" in seg.segmentation.labels():
            picked.append(photo)
        if len(picked) == count:
            return picked
    sys.exit(f"only {len(picked)} photos with a person in {folder}; ask for fewer")


def tst(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tst_core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def run_loop(photos: list[Path], out: Path, common: list[str]) -> dict[str, Any]:
    """One ``tst run`` process per photo."""
    out.mkdir(parents=True)
    per_photo = []
    t0 = time.perf_counter()
    for photo in photos:
        t = time.perf_counter()
        proc = tst("run", photo, "-o", out / f"{photo.stem}.png", "--progress", "off", *common)
        if proc.returncode:
            sys.exit(f"tst run failed on {photo}: {proc.stderr.strip()}")
        report = json.loads((out / f"{photo.stem}.json").read_text())
        per_photo.append({"seconds": time.perf_counter() - t, "timings": report["timings"]})
    return {"wall_s": time.perf_counter() - t0, "photos": per_photo, "setups_s": []}


def run_batch(folder: Path, out: Path, common: list[str], extra: list[str]) -> dict[str, Any]:
    """One ``tst batch`` process; per-photo figures from its ``batch.jsonl``."""
    record = out / "batch.jsonl"
    skip = len(record.read_text().splitlines()) if record.exists() else 0
    t0 = time.perf_counter()
    proc = tst("batch", folder, "-o", out, "--progress", "lines", *common, *extra)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"tst batch {' '.join(extra)} failed: {proc.stderr.strip()[-2000:]}")
    lines = [json.loads(x) for x in record.read_text().splitlines()[skip:]]
    setups = [float(m) for m in re.findall(r"plugins built in ([\d.]+) s", proc.stderr)]
    return {
        "wall_s": wall,
        "photos": [{k: r[k] for k in ("seconds", "timings", "status", "reason")} for r in lines],
        "setups_s": setups,
    }


def summarise(mode: str, res: dict[str, Any], workers: int) -> dict[str, Any]:
    photos = res["photos"]
    n = len(photos)
    seconds = [p["seconds"] for p in photos]
    stylize = [p["timings"].get("stylize", 0.0) for p in photos]
    other = {
        stage: statistics.mean(p["timings"].get(stage, 0.0) for p in photos)
        for stage in ("segment", "select", "composite")
    }
    mean_stylize = statistics.mean(stylize)
    in_photo = statistics.mean(seconds) - mean_stylize
    amortised = res["wall_s"] * workers / n - mean_stylize
    return {
        "mode": mode,
        "workers": workers,
        "photos": n,
        "statuses": sorted({p.get("status", "done") for p in photos}),
        "wall_s": round(res["wall_s"], 2),
        "photo_s": round(statistics.mean(seconds), 3),
        "stylize_s": round(mean_stylize, 3),
        "in_photo_overhead_s": round(in_photo, 3),
        "in_photo_overhead_pct": round(100 * in_photo / mean_stylize, 2) if mean_stylize else None,
        "amortised_overhead_s": round(amortised, 3),
        "amortised_overhead_pct": round(100 * amortised / mean_stylize, 1)
        if mean_stylize
        else None,
        "stages_s": {k: round(v, 4) for k, v in other.items()},
        "setup_s": round(statistics.mean(res["setups_s"]), 2) if res["setups_s"] else None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "mode",
        "wall s",
        "vs loop",
        "s/photo in worker",
        "stylize s",
        "in-photo overhead",
        "amortised overhead",
        "seg / select / comp s",
        "set-up s/worker",
        "load (1 min) before -> after",
    )
    loop = next((r["wall_s"] for r in rows if r["mode"] == "loop"), None)
    body = []
    for r in rows:
        pct = r["in_photo_overhead_pct"]
        body.append(
            (
                r["mode"],
                f"{r['wall_s']:.1f}",
                f"{loop / r['wall_s']:.2f}x" if loop else "",
                f"{r['photo_s']:.2f}",
                f"{r['stylize_s']:.2f}",
                f"{r['in_photo_overhead_s']:.3f} s"
                + (f" ({pct:.1f} %)" if pct is not None else ""),
                f"{r['amortised_overhead_s']:.2f} s"
                + (
                    f" ({r['amortised_overhead_pct']:.0f} %)"
                    if r["amortised_overhead_pct"] is not None
                    else ""
                ),
                " / ".join(f"{v:.3f}" for v in r["stages_s"].values()),
                "" if r["setup_s"] is None else f"{r['setup_s']:.1f}",
                f"{r['load'][0][0]:.1f} -> {r['load'][1][0]:.1f}" if "load" in r else "",
            )
        )
    rows_text = [head, *body]
    widths = [max(len(row[i]) for row in rows_text) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows_text]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=20)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--engine", default="gatys")
    p.add_argument("--style", help="the --style (default: person=starry_night.jpg)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--modes", default=DEFAULT_MODES, help=f"of {', '.join(MODES)}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := [m for m in modes if m not in MODES]:
        p.error(f"unknown modes {unknown}; choose from {', '.join(MODES)}")
    weights = shared(*YOLO_MODEL.parts)
    style = args.style or f"person={shared('images', 'style', 'starry_night.jpg')}"
    started = time.perf_counter()
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_at_start": load(),
    }
    with tempfile.TemporaryDirectory(prefix="tst-bench-batch-") as tmp:
        scratch = Path(tmp)
        photos = pick_photos(args.photos, weights, shared("images", "content"))
        folder = scratch / "photos"
        folder.mkdir()
        for photo in photos:
            (folder / photo.name).symlink_to(photo)
        common = ["--segmenter", "yolo", "--weights", weights, "--size", args.size]
        common += ["--engine", args.engine, "--style", style]
        for s in args.sets:
            common += ["--set", s]
        rows = []
        for mode in modes:
            extra, workers = MODES[mode]
            out = scratch / ("jobs2" if mode == "rerun" else mode)
            print(f"{mode}: {len(photos)} photos ...", file=sys.stderr, flush=True)
            before = load()
            if mode == "loop":
                res = run_loop(photos, out, common)
            else:
                res = run_batch(folder, out, common, extra)
            rows.append({**summarise(mode, res, workers), "load": [before, load()]})
            print(f"  {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    machine["load_at_end"] = load()
    result = {
        "machine": machine,
        "photos": [str(p.name) for p in photos],
        "size": args.size,
        "engine": args.engine,
        "style": style,
        "sets": args.sets,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(table(rows))
    print(
        f"\n{len(photos)} photos at {args.size} px, engine {args.engine}, yolo; "
        f"{machine['cores']} cores, load {machine['load_at_start']} -> {machine['load_at_end']}, "
        f"{result['seconds']:.0f} s in all"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
