"""Seconds and peak memory of every installed segmenter on one photo (default: bus.jpg), on CPU.

    python benchmarks/segmenters.py                  # every registered segmenter
    python benchmarks/segmenters.py --only yolo grabcut --repeat 5
    python benchmarks/segmenters.py --only semantic semantic+crf

Segmenters are discovered through the plugin registry. Each one runs in its own child process,
so that its peak resident memory (``ru_maxrss``) is its own; the table shows the peak and how
far it rose above the process's resident memory before the segmenter was built (Python, torch
and the photo). A segmenter that cannot run here (a package missing) is listed with the
reason; a checkpoint that is not cached is not fetched (unless ``--fetch``): the same
architecture runs with random weights, marked in the table. ``semantic+crf`` is the ``semantic``
segmenter with its CRF refinement on. How each known segmenter is made runnable offline is in :data:`RECIPES`;
others run with their default options. Prints one table and writes
``benchmarks/results/segmenters.json`` (with the machine load, since timings on a shared
machine are noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tst_core.errors import TstError, WeightsError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
YOLO_MODEL = Path("models/yolov8n-seg/yolov8n-seg_int8.tflite")
#: objects of bus.jpg (554×740) for segmenters that take boxes: the person in sunglasses, the bus
BUS_BOXES = ((150.0, 280.0, 235.0, 590.0), (15.0, 155.0, 548.0, 500.0))


_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []


def scratch() -> Path:
    """A temporary folder removed when the process ends."""
    _SCRATCH.append(tempfile.TemporaryDirectory(prefix="tst-bench-"))
    return Path(_SCRATCH[-1].name)


class CannotRun(Exception):
    """The segmenter cannot run on this machine; the message says why."""


def shared_root() -> Path:
    return Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))


def rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb(*seen: float) -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux).

    Linux updates ``ru_maxrss`` lazily, so it can lag a ``VmRSS`` read a moment earlier by a few
    pages; the peak is never reported below the current ``VmRSS`` or any value in ``seen``.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return max(peak_mb, rss_mb(), *seen)


def with_fields(options: Any, **values: Any) -> Any:
    """``options`` with those of ``values`` set whose fields exist (others are ignored)."""
    names = {f.name for f in dataclasses.fields(options)}
    return dataclasses.replace(options, **{k: v for k, v in values.items() if k in names})


# --- recipes: how to make a segmenter runnable offline ----------------------------------------
# A recipe gets the registry entry and an Env and returns (segmenter object, note for the table).


def recipe_yolo(entry: Any, env: Any) -> tuple[Any, str]:
    model = shared_root() / YOLO_MODEL
    if not model.is_file():
        raise CannotRun(f"needs {model} (the ../shared assets)")
    return entry.build(with_fields(entry.options(), weights=model), env), f"{model.name}, TFLite"


def recipe_grabcut(entry: Any, env: Any) -> tuple[Any, str]:
    options = with_fields(entry.options(), boxes=BUS_BOXES, labels=("person", "bus"))
    return entry.build(options, env), f"{len(BUS_BOXES)} boxes (a person, the bus)"


def recipe_torchvision(entry: Any, env: Any) -> tuple[Any, str]:
    options = entry.options()
    try:
        return entry.build(options, env), f"Mask R-CNN {options.model}, COCO checkpoint"
    except WeightsError:
        pass  # absent offline
    from tst_torchvision.segmenter import TorchvisionSegmenter, build_model

    # the checkpoint is absent offline: the same architecture with random weights costs the
    # same per proposal, but finds a different number of instances than the trained model
    model = build_model(options, pretrained=False)
    return (
        TorchvisionSegmenter(options, env, model=model),
        f"Mask R-CNN {options.model}, RANDOM weights (checkpoint not cached)",
    )


def recipe_sam(entry: Any, env: Any) -> tuple[Any, str]:
    if importlib.util.find_spec("segment_anything") is None:
        raise CannotRun("segment-anything is not installed (pip install '.[sam]')")
    from tst_sam.model import build_sam
    from tst_sam.segmenter import SamSegmenter

    # SAM checkpoints are absent offline: a randomly initialised vit_b costs the same per pass.
    # Refine mode (SAM cuts out each box yolo finds) is how SAM is used with the detector that
    # runs here; automatic mode (a 32×32 point grid) took about 6 minutes per photo on 2 cores.
    options = with_fields(entry.options(), model_type="vit_b", mode="refine", source="yolo")
    source_env = dataclasses.replace(env, make=lambda kind, name: build_for(name, env)[0])
    model = build_sam("vit_b", pretrained=False, seed=env.seed or 0)
    return (
        SamSegmenter(options, source_env, model=model),
        "vit_b, RANDOM weights, refine the yolo boxes",
    )


def recipe_detectron2(entry: Any, env: Any) -> tuple[Any, str]:
    if importlib.util.find_spec("detectron2") is None:
        raise CannotRun("detectron2 is not installed (it comes from its source repository)")
    options = entry.options()
    try:
        return entry.build(options, env), "model-zoo checkpoint"
    except TstError:
        pass  # the checkpoint is absent offline
    from tst_detectron2.model import build
    from tst_detectron2.segmenter import Detectron2Segmenter

    from tst_core.device import resolve_device

    model = build(options, resolve_device(env.device), env.seed or 0, pretrained=False)
    return Detectron2Segmenter(options, env, model=model), "RANDOM weights (checkpoint not here)"


def recipe_semantic(entry: Any, env: Any, *, crf: bool = False) -> tuple[Any, str]:
    options = dataclasses.replace(entry.options(), crf=crf)
    what = f"{options.model}{', CRF ' + str(options.crf_iterations) + ' iterations' if crf else ''}"
    try:
        return entry.build(options, env), f"{what}, VOC checkpoint"
    except WeightsError:
        pass  # absent offline
    from tst_semantic.segmenter import SemanticSegmenter, build_model

    # random weights cost the same per pass; the CRF's cost depends on how many classes reach
    # min_probability somewhere (a random model spreads its probability over all 21)
    model = build_model(options, pretrained=False)
    return SemanticSegmenter(options, env, model=model), f"{what}, RANDOM weights"


def recipe_maskfile(entry: Any, env: Any) -> tuple[Any, str]:
    # masks exported from a synthetic segmentation: what maskfile costs is reading the PNGs
    import torch

    from tst_core.files import mask_to_pil

    folder = scratch()
    h, w = 740, 554
    for i, (x0, y0, x1, y1) in enumerate(BUS_BOXES):
        mask = torch.zeros(h, w)
        mask[int(y0) : int(y1), int(x0) : int(x1)] = 1.0
        mask_to_pil(mask).save(folder / f"{i:03d}_object.png")
    return entry.build(with_fields(entry.options(), masks=folder), env), "2 PNG masks (740×554)"


RECIPES: dict[str, Callable[[Any, Any], tuple[Any, str]]] = {
    "yolo": recipe_yolo,
    "grabcut": recipe_grabcut,
    "torchvision": recipe_torchvision,
    "sam": recipe_sam,
    "detectron2": recipe_detectron2,
    "maskfile": recipe_maskfile,
    "semantic": recipe_semantic,
    "semantic+crf": lambda entry, env: recipe_semantic(entry, env, crf=True),
}
#: rows that run a registered segmenter with other options: row name → segmenter name
VARIANTS = {"semantic+crf": "semantic"}


def default_recipe(entry: Any, env: Any) -> tuple[Any, str]:
    return entry.build(entry.options(), env), "default options"


def build_for(name: str, env: Any) -> tuple[Any, str]:
    """Segmenter ``name`` made runnable here by its recipe, and the note for the table."""
    from tst_core.plugins import default_host

    entry = default_host().entry("segmenter", VARIANTS.get(name, name))
    return RECIPES.get(name, default_recipe)(entry, env)


# --- one segmenter, in a child process ---------------------------------------------------------


def measure(name: str, photo_path: Path, repeat: int) -> dict[str, Any]:
    """Build segmenter ``name`` and time ``segment`` (first call, then ``repeat`` more)."""
    from tst_core.files import read_image
    from tst_core.plugins import default_host
    from tst_core.types import Env

    photo = read_image(photo_path)
    entry = default_host().entry("segmenter", VARIANTS.get(name, name))
    env = Env(device="cpu", seed=0)
    baseline = rss_mb()
    row: dict[str, Any] = {"name": name, "plugin": entry.plugin, "baseline_rss_mb": baseline}
    t0 = time.perf_counter()
    try:
        segmenter, note = build_for(name, env)
        row["build_s"] = time.perf_counter() - t0
        row["note"] = note
        t0 = time.perf_counter()
        seg = segmenter.segment(photo)
        row["first_s"] = time.perf_counter() - t0
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            segmenter.segment(photo)
            times.append(time.perf_counter() - t0)
    except (CannotRun, TstError, ImportError) as exc:
        return {**row, "status": "cannot run", "reason": " ".join(str(exc).split())}
    labels = [inst.label for inst in seg]
    if getattr(segmenter, "crf_seconds", 0.0):
        row["note"] += f" (CRF {segmenter.crf_seconds:.2f} s of the last call)"
    return {
        **row,
        "status": "ok",
        "times_s": times,
        "median_s": statistics.median(times) if times else row["first_s"],
        "peak_rss_mb": (peak := peak_rss_mb(baseline)),
        "peak_above_baseline_mb": peak - baseline,
        "instances": len(seg),
        "labels": {label: labels.count(label) for label in dict.fromkeys(labels)},
    }


def run_child(name: str, photo: Path, repeat: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--photo",
        str(photo),
        "--repeat",
        str(repeat),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "status": "failed", "reason": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'segmenter':<12} {'build s':>7} {'first s':>7} {'median s':>8} {'peak MiB':>8} {'+MiB':>6} {'found':>5}  notes"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["status"] != "ok":
            lines.append(
                f"{r['name']:<12} {'-':>7} {'-':>7} {'-':>8} {'-':>8} {'-':>6} {'-':>5}  {r['status']}: {r['reason']}"
            )
            continue
        lines.append(
            f"{r['name']:<12} {r['build_s']:>7.2f} {r['first_s']:>7.2f} {r['median_s']:>8.2f} "
            f"{r['peak_rss_mb']:>8.0f} {r['peak_above_baseline_mb']:>6.0f} {r['instances']:>5}  {r['note']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=None, help="default: ../shared bus.jpg")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls after the first")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="segmenters to run")
    parser.add_argument("--out", type=Path, default=RESULTS / "segmenters.json")
    parser.add_argument(
        "--fetch", action="store_true", help="fetch missing checkpoints (default: random weights)"
    )
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    photo = args.photo or shared_root() / "images" / "content" / "bus.jpg"
    if not args.fetch:  # checkpoints not in the cache run with random weights instead
        os.environ["TST_OFFLINE"] = "1"
    if args.child:
        print(json.dumps(measure(args.child, photo, args.repeat)))
        return 0
    if not photo.is_file():
        print(f"needs the photo {photo} (set TST_SHARED or pass --photo)", file=sys.stderr)
        return 2
    import torch

    from tst_core.plugins import default_host

    registry = default_host().registry("segmenter")
    names = args.only or registry.names()
    if not args.only:  # each variant after its segmenter
        names = [v for n in names for v in (n, *(k for k, b in VARIANTS.items() if b == n))]
    load_before = os.getloadavg()
    rows = []
    for name in names:
        if VARIANTS.get(name, name) not in registry:
            rows.append({"name": name, "status": "not installed", "reason": "not in the registry"})
            continue
        rows.append(run_child(name, photo, args.repeat))
        print(f"  {name}: {rows[-1]['status']}", file=sys.stderr, flush=True)
    broken = [f"{p.name} ({p.reason})" for p in default_host().plugins if p.status == "broken"]
    print(table(rows))
    if broken:
        print("broken plugins (not benchmarked): " + "; ".join(broken))
    report = {
        "photo": str(photo),
        "repeat": args.repeat,
        "device": "cpu",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "segmenters": rows,
        "broken_plugins": broken,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"wrote {args.out} (load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
