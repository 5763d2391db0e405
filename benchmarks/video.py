"""``tst video``: speed, memory, temporal consistency and style on the clips of ``../shared``.

Each job is a clip of ``../shared/videos`` with one selector, one style and one engine at one
working size. It runs, each in a fresh process (``tst_core.video`` writing an MP4, as a user
would), these methods:

* ``per-frame``: every frame stylised on its own (``temporal="off"``, ``mask_smoothing=0``);
* ``tst``: tst's defaults (the temporal stage the engine gets with ``temporal="auto"``);
* one run per ``--variant NAME:KEY=VALUE,...`` (video options, or ``engine.KEY`` for the
  engine's), to choose defaults by measurement;

and reports for each: the wall seconds of the whole call (decode, track, segment, stylise,
composite, encode, both passes, models loaded), frames per second, the peak resident memory
of the process, and on the decoded output, inside the job's targets:

* **warping error** (Lai et al. 2018): per consecutive pair, the mean absolute RGB difference
  (in [0, 1]) between frame ``t`` and frame ``t − 1`` warped to it by the *photo's* optical
  flow (DIS ``medium``), over the pixels inside the targets (the tracks' masks at ``t``,
  hard) where the forward–backward check passes; the mean over the clip. ``photo`` is the
  source clip's own (the floor: what the scene's motion leaves);
* **style distance**: the quality benchmark's sliced Wasserstein distance
  (:func:`tst_core.metrics.sliced_wasserstein` on VGG-19's style layers) between the result
  inside the targets and the painting at the working size, the mean over every
  ``--swd-every``-th frame, so that consistency is not bought by painting less;
* **painted** (distance from the photo): the same distance between the result inside the
  targets and the photo's own frame there (0 for the photo). On the bunny with ``udnie`` the
  photo itself is as close to the painting as the stylised frames are (the network paints the
  grey bunny in flat white and grey planes, not in the painting's colours), so the distance to
  the painting cannot tell painting less from painting more there; this one can.

Acceptance (issue 21): ``bunny-fast`` (640 px, the whole clip): tst's warping error at most
half of per-frame's, its style distance within 10 % of per-frame's, at least 2 frames per
second; ``bunny-gatys`` (256 px, the first 24 frames, 40 steps per scale for both methods):
the same warping-error ratio. Writes
``video.json``, the MP4s and a strip of frames per job into ``--out``.

    flock /work/locks/cpu.lock python benchmarks/video.py --runs-only   # the timed runs
    python benchmarks/video.py --measure-only                           # then the metrics
    python benchmarks/video.py --jobs bunny-fast --variant b6:temporal_blend=0.6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "video"
YOLO = SHARED / "models/yolov8n-seg/yolov8n-seg_int8.tflite"
NETS = SHARED / "models/fast-style-tf"
STYLES = SHARED / "images/style"
VIDEOS = SHARED / "videos"


@dataclass(frozen=True)
class Job:
    """One clip, selector, style and engine at one size.

    :param painting: the painting the style distance compares with.
    :param options: video options and engine options (``engine.KEY``) for every method.
    """

    name: str
    clip: Path
    selector: str
    style: Path
    painting: Path
    engine: str
    size: int
    end: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


def jobs() -> dict[str, Job]:
    udnie, udnie_painting = NETS / "udnie", STYLES / "udnie_picabia.jpg"
    starry = STYLES / "starry_night.jpg"
    fast = {"engine.precision": "bf16"}
    # 40 steps per scale, not the engine's 100, for both methods: 24 frames of per-frame
    # gatys at the defaults take a quarter of an hour of this 2-core CPU
    gatys = {"engine.iterations": 40}
    bunny, bikes, carphone = (
        VIDEOS / "bigbuckbunny.mp4",
        VIDEOS / "bikes.mp4",
        VIDEOS / "carphone_pristine.mp4",
    )
    # YOLO calls the bunny a cat, a bird, a cow or a sheep from frame to frame: its track is
    # id 0 (labelled by its most frequent label, cat), which is what the selector names
    return {
        "bunny-fast": Job(
            "bunny-fast", bunny, "id:0", udnie, udnie_painting, "fast", 640, None, fast
        ),
        "bikes-fast": Job(
            "bikes-fast", bikes, "bicycle", udnie, udnie_painting, "fast", 640, None, fast
        ),
        "carphone-fast": Job(
            "carphone-fast", carphone, "person#0", udnie, udnie_painting, "fast", 640, None, fast
        ),
        "bunny-gatys": Job(
            "bunny-gatys", bunny, "id:0", starry, starry, "gatys", 256, 24 / 25, gatys
        ),
        "bikes-gatys": Job(
            "bikes-gatys", bikes, "bicycle", starry, starry, "gatys", 256, 24 / 25, gatys
        ),
        "carphone-gatys": Job(
            "carphone-gatys",
            carphone,
            "person#0",
            starry,
            starry,
            "gatys",
            256,
            24 / 30000 * 1001,
            gatys,
        ),
    }


ACCEPTANCE = ("bunny-fast", "bunny-gatys")
METHODS: dict[str, dict[str, Any]] = {
    "per-frame": {"temporal": "off", "mask_smoothing": 0.0},
    "tst": {},
}


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (as the other benchmarks)."""
    return [round(v, 2) for v in os.getloadavg()]


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:KEY=VALUE,...`` → ``(NAME, {KEY: value})`` (JSON values, else text)."""
    name, _, rest = text.partition(":")
    out: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return name, out


# --- the child: one method of one job ------------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``tst_core.video`` once (in this fresh process) and save the targets' masks."""
    import torch

    import tst_core
    from tst_core.clips.selection import choose, frame_masks
    from tst_core.select import parse_style_arg

    options = dict(spec["options"])
    sets = [
        f"engine.{spec['engine']}.{k[7:]}={v}"
        for k, v in options.items()
        if k.startswith("engine.")
    ]
    video = {k: v for k, v in options.items() if not k.startswith("engine.")}
    out = Path(spec["output"])
    for p in (out, out.with_suffix(".json")):
        p.unlink(missing_ok=True)
    styles = [f"{spec['selector']}={spec['style']}"]
    t0 = time.perf_counter()
    result = tst_core.video(
        spec["clip"],
        styles,
        output=out,
        engine=spec["engine"],
        size=spec["size"],
        segmenter="yolo",
        segmenter_options={"weights": str(YOLO)},
        sets=sets,
        end=spec["end"],
        **video,
    )
    seconds = time.perf_counter() - t0
    log = result.tracks
    chosen = choose(log, [parse_style_arg(s) for s in styles], None)
    masks = np.stack([frame_masks(log, chosen, i).amax(0).numpy() > 0.5 for i in range(len(log))])
    np.save(out.with_suffix(".masks.npy"), np.packbits(masks, axis=-1))
    return {
        "seconds": seconds,
        "frames": result.frames,
        "fps": result.frames / seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "timings": result.report["timings"],
        "temporal": result.report["temporal"],
        "shape": list(masks.shape),
        "threads": torch.get_num_threads(),
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{spec['output']}: the run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- metrics -------------------------------------------------------------------------------


def decoded(
    path: Path, size: tuple[int, int] | None = None, end: float | None = None
) -> list[np.ndarray]:
    from tst_core.clips.read import Span, read_frames

    return [f.image for f in read_frames(path, Span(0.0, end), size)]


def warping_errors(frames: list[np.ndarray], motions: list[Any], masks: np.ndarray) -> Any:
    """The clip's :class:`~tst_core.clips.flow.ClipWarpingError` inside ``masks``."""
    from tst_core.clips.flow import clip_warping_error

    return clip_warping_error(frames, motions, masks)


def style_distances(
    photo: list[np.ndarray],
    results: dict[str, list[np.ndarray]],
    masks: np.ndarray,
    painting: Path,
    every: int,
) -> dict[str, tuple[float, float]]:
    """Per method (and ``photo``): the mean over every ``every``-th frame, inside the targets,
    of the sliced Wasserstein distance of its VGG features to the painting's, and to the
    photo's own features there (how far it was painted away from the photo: 0 for the photo)."""
    import torch

    from tst_core.files import load_photo
    from tst_core.imageops import resize_long_side
    from tst_core.metrics import SwdReference, sliced_wasserstein, vgg19_features

    features = vgg19_features()
    h, w = photo[0].shape[:2]
    art = resize_long_side(load_photo(painting), max(h, w))

    def tensor(image: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(image).permute(2, 0, 1).float() / 255)[None]

    every_method = {"photo": photo, **results}
    painted: dict[str, list[float]] = {k: [] for k in every_method}
    moved: dict[str, list[float]] = {k: [] for k in every_method}
    with torch.no_grad():
        # the references, computed once (at 640 px the painting's is most of each distance)
        style = SwdReference.of(features(art[None]))
        for t in range(0, len(photo), every):
            if not masks[t].any():
                continue
            mask = torch.from_numpy(masks[t].astype(np.float32))
            own = SwdReference.of(features(tensor(photo[t])), mask)
            for name, frames in every_method.items():
                f = features(tensor(frames[t]))
                painted[name].append(sliced_wasserstein(f, style, mask))
                moved[name].append(sliced_wasserstein(f, own, mask))
    return {k: (float(np.mean(painted[k])), float(np.mean(moved[k]))) for k in every_method}


def measure(job: Job, results: dict[str, dict[str, Any]], out: Path, swd_every: int) -> None:
    """Warping error and style distances of every method of ``job`` (and the photo's)."""
    from tst_core.clips.flow import FlowEstimator, grey

    first = next(iter(results.values()))
    n, h = first["shape"][0], first["shape"][1]
    masks = np.unpackbits(np.load(out / f"{job.name}-per-frame.masks.npy"), axis=-1)[
        ..., : first["shape"][2]
    ].astype(bool)
    size = (h, first["shape"][2])
    photo = decoded(job.clip, size, job.end)[:n]
    flow = FlowEstimator("medium")
    motions = [flow.motion(grey(photo[t - 1]), grey(photo[t])) for t in range(1, n)]
    # measured at the working size (the tracks' masks' size), whatever size was written
    outputs = {name: decoded(out / f"{job.name}-{name}.mp4", size)[:n] for name in results}
    results["photo"] = {}
    for name, frames in {"photo": photo, **outputs}.items():
        werr = warping_errors(frames, motions, masks)
        results[name]["warping_error"] = werr.mean
        results[name]["warping_pairs"] = len(werr.errors)
        results[name]["warping_cuts"] = list(werr.cuts)
        if werr.mean is None:
            results[name]["warping_none"] = werr.why_none()
    for name, (painted, moved) in style_distances(
        photo, outputs, masks, job.painting, swd_every
    ).items():
        results[name]["style_distance"] = painted
        results[name]["from_photo"] = moved


def strip(job: Job, out: Path, methods: list[str], count: int = 5) -> Path:
    """Frames of the clip and of each method, a row each, evenly over the clip (PNG)."""
    from PIL import Image

    rows = []
    size = decoded(out / f"{job.name}-{methods[0]}.mp4")[0].shape[:2]
    for name in ["photo", *methods]:
        if name == "photo":
            first = decoded(out / f"{job.name}-{methods[0]}.mp4")
            frames = decoded(job.clip, first[0].shape[:2], job.end)[: len(first)]
        else:
            frames = decoded(out / f"{job.name}-{name}.mp4", size)
        picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
        rows.append(np.concatenate([frames[i] for i in picks], axis=1))
    path = out / f"{job.name}-strip.png"
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    return path


# --- the table -----------------------------------------------------------------------------


def table(all_results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        f"{'job':<15} {'method':<12} {'frames':>6} {'s':>8} {'fps':>6} {'peak MiB':>8} "
        f"{'warp err':>9} {'/per-frame':>10} {'swd':>7} {'/per-frame':>10} {'painted':>7} "
        f"{'/per-frame':>10} {'load':>5}"
    ]
    for job, results in all_results.items():
        base = results.get("per-frame", {})
        for name, r in results.items():
            werr, swd, moved = r.get("warping_error"), r.get("style_distance"), r.get("from_photo")
            wr = _ratio(werr, base.get("warping_error"))
            sr = _ratio(swd, base.get("style_distance"))
            lines.append(
                f"{job:<15} {name:<12} {r.get('frames', ''):>6} {_f(r.get('seconds'), 1):>8} "
                f"{_f(r.get('fps'), 2):>6} {_f(r.get('peak_mib'), 0):>8} {_f(werr, 4):>9} "
                f"{_f(wr, 3):>10} {_f(swd, 4):>7} {_f(sr, 3):>10} {_f(moved, 4):>7} "
                f"{_f(_ratio(moved, base.get('from_photo')), 3):>10} "
                f"{_f(r['load'][0] if 'load' in r else None, 1):>5}"
            )
    return "\n".join(lines)


def _ratio(v: float | None, base: float | None) -> float | None:
    return v / base if v is not None and base else None


def _f(v: Any, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def notes(all_results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """What the warping errors leave out: the pairs at scene cuts, and why a figure is missing."""
    out = []
    for job, results in all_results.items():
        photo = results.get("photo", {})
        if photo.get("warping_cuts"):
            cuts = photo["warping_cuts"]
            out.append(
                f"{job}: warping errors over {photo['warping_pairs']} frame pairs; "
                f"{len(cuts)} pairs with the target where no pixel of it passes the flow's "
                f"check (scene cuts) left out: t = {', '.join(map(str, cuts))}"
            )
        for name, r in results.items():
            if r.get("warping_none"):
                out.append(f"{job} {name}: no warping error: {r['warping_none']}")
    return out


def acceptance(all_results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    out = []
    for job in ACCEPTANCE:
        if job not in all_results:
            continue
        r, base = all_results[job]["tst"], all_results[job]["per-frame"]
        ratio = r["warping_error"] / base["warping_error"]
        out.append(
            f"{job}: warping error {ratio:.3f} of per-frame's (<= 0.5: {'pass' if ratio <= 0.5 else 'FAIL'})"
        )
        if job == "bunny-fast":
            # painting less moves the result towards the photo: its distance to the painting
            # up (more than 10 % above per-frame's fails), its distance from the photo down
            swd = r["style_distance"] / base["style_distance"] - 1
            out.append(
                f"{job}: style distance to the painting {swd:+.1%} of per-frame's "
                f"(at most +10 %: {'pass' if swd <= 0.1 else 'FAIL'}; within ±10 %: "
                f"{'yes' if abs(swd) <= 0.1 else 'no'})"
            )
            moved = r["from_photo"] / base["from_photo"] - 1
            out.append(
                f"{job}: distance from the photo {moved:+.1%} of per-frame's "
                f"(at least -10 %: {'pass' if moved >= -0.1 else 'FAIL'})"
            )
            out.append(
                f"{job}: {r['fps']:.2f} frames/s end to end (>= 2: {'pass' if r['fps'] >= 2 else 'FAIL'})"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", default=",".join(ACCEPTANCE), help="comma-separated job names")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...")
    p.add_argument(
        "--no-defaults", action="store_true", help="run only the variants (and per-frame)"
    )
    p.add_argument(
        "--measure-only",
        action="store_true",
        help="measure the outputs an earlier run left in --out (its timings kept), run nothing",
    )
    p.add_argument(
        "--runs-only",
        action="store_true",
        help="the timed runs only (under the cpu lock); --measure-only measures them after",
    )
    p.add_argument("--swd-every", type=int, default=2, help="style distance on every N-th frame")
    p.add_argument("--end", type=float, help="override every job's end time (seconds)")
    p.add_argument(
        "--size",
        type=int,
        help="override every job's working size (its results are named JOB@SIZE)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    known = jobs()
    methods = dict(METHODS)
    if args.no_defaults:
        methods.pop("tst")
    methods.update(parse_variant(v) for v in args.variant)
    all_results: dict[str, dict[str, dict[str, Any]]] = {}
    meta = {"load_before": load(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for name in args.jobs.split(","):
        job = known[name]
        if args.size is not None:
            job = replace(job, name=f"{job.name}@{args.size}", size=args.size)
        end = args.end if args.end is not None else job.end
        results: dict[str, dict[str, Any]] = {}
        for method, extra in methods.items():
            spec = {
                "clip": str(job.clip),
                "selector": job.selector,
                "style": str(job.style),
                "engine": job.engine,
                "size": job.size,
                "end": end,
                "options": {**job.options, **extra},
                "output": str(args.out / f"{job.name}-{method}.mp4"),
            }
            saved = args.out / f"{job.name}-{method}.run.json"
            if args.measure_only:
                results[method] = json.loads(saved.read_text())
                continue
            results[method] = {"options": spec["options"], "load": load(), **run_child(spec)}
            saved.write_text(json.dumps(results[method]))
            print(
                f"{job.name} {method}: {results[method]['seconds']:.1f} s, load {load()}",
                file=sys.stderr,
            )
        all_results[job.name] = results
        if args.runs_only:
            continue
        measure(job, results, args.out, args.swd_every)
        strip(job, args.out, [m for m in methods if m in results])
    meta["load_after"] = load()
    print(table(all_results))
    if not args.runs_only:
        for line in notes(all_results) + acceptance(all_results):
            print(line)
    print(f"load average before {meta['load_before']}, after {meta['load_after']}")
    if args.measure_only:  # the load of the timed runs is in each run's figures
        meta = {"measured": meta["started"]}
    (args.out / "video.json").write_text(json.dumps({**meta, "jobs": all_results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
