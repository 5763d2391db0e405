"""Soak: many tiny ``tst`` runs over good and bad inputs, some killed at random moments.

Not a test: it runs ``tst`` as a user would, in child processes, ``--runs`` times (200) at a
tiny size (``--size`` 32 px, 3 L-BFGS steps), over photos and paintings cycled from
``../shared`` plus generated bad files (truncated and text-as-image files, a PNG bomb, a FIFO,
a link to ``/dev/zero``, a checkpoint that runs code, a config with an unknown key, an
``instances.json`` whose score is a word, an output over an input or onto a folder, NaN
strengths, huge seeds). A run is ``tst run`` (most), ``tst segment --overlay --export-masks``
or ``tst compare``; some are two runs at once writing the same ``-o``; ``--kill`` of them get
SIGINT, SIGTERM or SIGKILL after a random delay.

After every run it checks the outputs: each image and its report (a sheet and its two tables)
are there together or not at all, decode, are strict JSON and describe the same run (the
image's size is the report's working size). At the end it counts the temporaries left
anywhere it wrote or read (``.*.tst-PID-*.part``/``.bak``, ``*.part``) and the inputs whose
SHA-256 changed. Both must be 0.

Then ``--batch`` cases of ``tst batch --manifest`` (good, hostile, killed; inline or two worker
processes) and ``--ui`` cases against one ``tst ui`` (see ``soak_surfaces.py``): a batch must
write only inside ``-o`` and leave no worker alive (**orphans**), a UI answer is never a 5xx and
the server's uploads are gone when it stops. Prints a table per surface (cases, passed,
temporaries left, inputs changed, orphans) and writes ``benchmarks/results/soak.json``.

    flock /work/locks/cpu.lock python benchmarks/soak.py       # 200 runs + 40 batches + 60 UI
    python benchmarks/soak.py --runs 20 --kill 0.5 --batch 5 --ui 10   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from soak_surfaces import BatchSoak, UiSoak, make_bad_uploads

from tst_core.results import image_matches_report

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
MODEL = SHARED / "models" / "yolov8n-seg" / "yolov8n-seg_int8.tflite"
PHOTOS = ["bus.jpg", "dog.jpg", "astronaut.jpg", "chicago.jpg", "skateboarding.webp", "truck.jpg"]
STYLES = ["starry_night.jpg", "the_scream.jpg", "great_wave.jpg", "candy.jpg", "mosaic.jpg"]
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@dataclass
class Work:
    """The soak's folders: generated inputs (``inputs/``) and outputs (``out/``)."""

    root: Path
    photos: list[Path]
    styles: list[Path]
    masks: dict[Path, Path] = field(default_factory=dict)  # photo -> its mask folder
    bad: dict[str, Path] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return self.root / "out"


def prepare(root: Path) -> Work:
    """Find the shared photos and styles; write mask folders and the bad files."""
    content, style = SHARED / "images" / "content", SHARED / "images" / "style"
    photos = [content / n for n in PHOTOS if (content / n).exists()]
    styles = [style / n for n in STYLES if (style / n).exists()]
    if not photos or not styles:
        sys.exit(f"needs photos and paintings under {SHARED}/images (set TST_SHARED)")
    work = Work(root, photos, styles)
    (root / "inputs").mkdir(parents=True)
    work.out.mkdir()
    for photo in photos:
        with Image.open(photo) as img:
            w, h = img.size
        folder = root / "inputs" / f"masks_{photo.stem}"
        folder.mkdir()
        entries = []
        for i, (x0, x1) in enumerate([(0.1, 0.45), (0.55, 0.9)]):
            arr = np.zeros((h, w), np.uint8)
            arr[int(0.2 * h) : int(0.9 * h), int(x0 * w) : int(x1 * w)] = 255
            name = f"{i:03d}_person.png"
            Image.fromarray(arr).save(folder / name)
            entries.append({"file": name, "label": "person", "score": 0.9 - 0.1 * i})
        (folder / "instances.json").write_text(json.dumps({"instances": entries}))
        work.masks[photo] = folder
    work.bad = make_bad_files(root / "inputs", photos[0], work.masks[photos[0]])
    return work


def make_bad_files(folder: Path, photo: Path, masks: Path) -> dict[str, Path]:
    bad: dict[str, Path] = {}
    data = photo.read_bytes()
    bad["truncated"] = folder / "truncated.jpg"
    bad["truncated"].write_bytes(data[: len(data) // 3])
    bad["text"] = folder / "text.png"
    bad["text"].write_text("this is not an image\n")
    bad["empty"] = folder / "empty.jpg"
    bad["empty"].write_bytes(b"")
    bad["bomb"] = folder / "bomb.png"
    Image.new("L", (1, 1)).save(bad["bomb"])  # a header claiming 100000 × 100000:
    raw = bytearray(bad["bomb"].read_bytes())
    raw[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width, height (CRC left wrong too)
    bad["bomb"].write_bytes(bytes(raw))
    bad["fifo"] = folder / "fifo.png"
    os.mkfifo(bad["fifo"])
    bad["zero masks"] = folder / "zero_masks"
    shutil.copytree(masks, bad["zero masks"])
    (bad["zero masks"] / "000_person.png").unlink()
    (bad["zero masks"] / "000_person.png").symlink_to("/dev/zero")
    bad["score masks"] = folder / "score_masks"
    shutil.copytree(masks, bad["score masks"])
    index = json.loads((masks / "instances.json").read_text())
    index["instances"][0]["score"] = "high"
    (bad["score masks"] / "instances.json").write_text(json.dumps(index))
    bad["evil weights"] = folder / "evil.pth"
    torch.save({"x": _Evil()}, bad["evil weights"])
    bad["config"] = folder / "bad.toml"
    bad["config"].write_text("[run]\nsise = 32\n")
    bad["photo copy"] = folder / "photo_copy.png"  # -o aims here: it must never be replaced
    shutil.copy(photo, bad["photo copy"])
    bad["folder.png"] = folder / "folder.png"
    bad["folder.png"].mkdir()
    return bad


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tst-soak-pwned",))


def engine_args(size: int) -> list[str]:
    return [
        "--size",
        str(size),
        "--style-size",
        str(size),
        "--set",
        "engine.gatys.iterations=3",
        "--set",
        "engine.gatys.scales=[1.0]",
        "--progress",
        "off",
    ]


def scenario(
    rng: random.Random, work: Work, n: int, size: int
) -> tuple[str, list[str], Path | None]:
    """A (name, argv, main output) for run ``n``: mostly good runs, a third bad ones."""
    photo = work.photos[n % len(work.photos)]
    style = work.styles[n % len(work.styles)]
    out = work.out / f"o{n % 4}.png"
    masks = ["--segmenter", "maskfile", "--masks", str(work.masks[photo])]
    run = ["run", str(photo), *masks, "--style", f"person#0={style}", *engine_args(size)]
    kind = rng.choices(["run", "yolo", "segment", "compare", "bad"], weights=[40, 10, 10, 7, 33])[0]
    if kind == "run":
        return "run", [*run, "-o", str(out)], out
    if kind == "yolo" and MODEL.exists():
        yolo = ["--segmenter", "yolo", "--weights", str(MODEL)]
        argv = ["run", str(photo), *yolo, "--style", f"all={style}", *engine_args(size)]
        return "run (yolo)", [*argv, "-o", str(out)], out
    if kind == "segment":
        masks_out = work.out / f"masks{n}"
        argv = ["segment", str(photo), *masks, "--overlay", str(masks_out / "ids.png")]
        return "segment", [*argv, "--export-masks", str(masks_out)], masks_out / "ids.png"
    if kind == "compare":
        sheet = work.out / f"sheet{n % 2}.png"
        argv = ["compare", *run[1:], "--blend", "hard,feather", "-o", str(sheet)]
        return "compare", argv, sheet
    return bad_scenario(rng, work, run, photo, style, out)


def bad_scenario(rng, work, run, photo, style, out) -> tuple[str, list[str], Path | None]:
    b = work.bad
    cases = {
        "truncated photo": replace(run, str(photo), str(b["truncated"])),
        "text as photo": replace(run, str(photo), str(b["text"])),
        "empty style": replace(run, f"person#0={style}", f"person#0={b['empty']}"),
        "PNG bomb photo": replace(run, str(photo), str(b["bomb"])),
        "FIFO photo": replace(run, str(photo), str(b["fifo"])),
        "mask -> /dev/zero": replace(run, str(work.masks[photo]), str(b["zero masks"])),
        "score 'high'": replace(run, str(work.masks[photo]), str(b["score masks"])),
        "checkpoint with code": [*run, "--set", f"engine.gatys.weights={b['evil weights']}"],
        "bad config key": [*run, "--config", str(b["config"])],
        "nan strength": replace(run, f"person#0={style}", f"person#0={style}:nan"),
        "huge seed": [*run, "--seed", str(2**70)],
        "-o over the photo": [
            *replace(run, str(photo), str(b["photo copy"])),
            "-o",
            str(b["photo copy"]),
        ],
        "-o into the masks": [*run, "-o", str(work.masks[photo] / "001_person.png")],
        "-o a folder": [*run, "-o", str(b["folder.png"])],
    }
    name = rng.choice(sorted(cases))
    argv = cases[name]
    if "-o" in argv:  # aimed at an input or a folder: the checksums and the exit code tell
        return f"bad: {name}", argv, None
    return f"bad: {name}", [*argv, "-o", str(out)], out


def replace(argv: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else a for a in argv]


def start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tst_core", *argv],
        cwd=ROOT,
        # a shell without job control starts background commands with SIGINT ignored, and a
        # child inherits that: give tst the Ctrl-C a terminal user's tst has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TST_MAX_PIXELS": "80000000"},
    )


def finish(proc: subprocess.Popen[str], kill: tuple[str, float] | None) -> tuple[int, str]:
    if kill is not None:
        name, delay = kill
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(SIGNALS[name])
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:  # a run that hangs (a FIFO read) is a failure too
        proc.kill()
        _, err = proc.communicate()
        return -999, "hung"
    return proc.returncode, err


def companions(main: Path) -> list[Path]:
    """The files written together with ``main``: the report, or the sheet's tables."""
    if main.name == "ids.png":
        return [main.parent / "instances.json"]
    if main.stem.startswith("sheet"):
        return [main.with_suffix(".json"), main.with_suffix(".csv")]
    return [main.with_suffix(".json")]


def check_outputs(main: Path) -> str:
    """``complete``, ``none`` or what is wrong with the files written with ``main``."""
    group = [main, *companions(main)]
    present = [p.exists() for p in group]
    if not any(present):
        return "none"
    if not all(present):
        return "partial: " + ", ".join(p.name for p, ok in zip(group, present, strict=True) if ok)
    try:
        with Image.open(main) as img:
            img.load()
            size = [img.height, img.width]
        report = json.loads(group[1].read_text(), parse_constant=_not_json)
    except Exception as exc:
        return f"unreadable: {type(exc).__name__}: {exc}"
    if main.stem.startswith("o") and report.get("working_size") != size:
        return f"mismatch: image {size}, report {report.get('working_size')}"
    if main.stem.startswith("o") and not image_matches_report(main, report):
        return "mismatch: the report's image_sha256 is not the image's"
    return "complete"


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def temporaries(folders: list[Path]) -> list[Path]:
    found = []
    for folder in folders:
        for p in folder.rglob("*"):
            if ".tst-" in p.name or p.name.endswith(".part"):
                found.append(p)
    return found


def checksums(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        if p.is_file() and not p.is_symlink():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--kill", type=float, default=0.3, help="fraction of runs sent a signal")
    ap.add_argument("--pairs", type=float, default=0.1, help="fraction run twice at once")
    ap.add_argument("--max-delay", type=float, default=8.0, help="latest kill, seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--batch", type=int, default=40, help="tst batch --manifest cases")
    ap.add_argument("--ui", type=int, default=60, help="tst ui request cases")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="tst-soak-"))
    work = prepare(root)
    Path("/tmp/tst-soak-pwned").unlink(missing_ok=True)
    inputs = [*work.photos, *work.styles, *(MODEL,) * MODEL.exists()]
    inputs += [p for p in (root / "inputs").rglob("*") if p.is_file() and not p.is_symlink()]
    before = checksums(inputs)
    exits: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    problems: list[str] = []
    reaped_later = 0
    t0 = time.perf_counter()
    processes = 0
    for n in range(args.runs):
        name, argv, main_out = scenario(rng, work, n, args.size)
        kill = None
        if rng.random() < args.kill:
            kill = (rng.choice(sorted(SIGNALS)), rng.uniform(0.2, args.max_delay))
        argvs = [argv]
        if name.startswith("run") and rng.random() < args.pairs:
            argvs.append(replace(argv, str(args.size), str(args.size + 16)))  # same -o
        procs = [start(a) for a in argvs]
        results = [finish(p, kill) for p in procs]
        processes += len(procs)
        for code, err in results:
            label = str(code)
            if kill and code in (-SIGNALS[kill[0]], 130, 143):
                label = f"{code} ({kill[0]})"
            exits[label] += 1
            lines = err.strip().splitlines()
            if code == 2 and len(lines) != 1:
                problems.append(f"run {n} {name}: exit 2 with {len(lines)} lines: {err[:200]!r}")
            if code in (1, -999):
                problems.append(f"run {n} {name}: exit {code}: {err.strip()[-300:]!r}")
        kinds[name.split(":")[0]] += 1
        state = check_outputs(main_out) if main_out is not None else "none"
        if main_out is not None and any(c == 0 for c, _ in results) and state != "complete":
            problems.append(f"run {n} {name}: exit 0 but outputs {state}")
        outcome["complete" if state == "complete" else state.split(":")[0]] += 1
        if state not in ("complete", "none"):
            problems.append(f"run {n} {name}: outputs {state}")
        left = temporaries([work.out])
        if left and kill and kill[0] == "SIGKILL":
            reaped_later += len(left)  # a SIGKILL'd writer's; the next write there removes them
        elif left:
            problems.append(f"run {n} {name}: temporaries left {[p.name for p in left]}")
        print(
            f"{n + 1:>4}/{args.runs} {name:<28} exit {[c for c, _ in results]} {state}", flush=True
        )
    # one last run into the output folder, as the next user run would be
    final = [
        "run",
        str(work.photos[0]),
        "--segmenter",
        "maskfile",
        "--masks",
        str(work.masks[work.photos[0]]),
        "--style",
        f"all={work.styles[0]}",
        *engine_args(args.size),
        "-o",
        str(work.out / "o0.png"),
    ]
    final_code, _ = finish(start(final), None)
    failed_runs = len({p.split(":")[0] for p in problems})
    surfaces = {"run, segment, compare": {"cases": args.runs, "passed": args.runs - failed_runs}}
    for name, part in (("batch manifest", _batch_part), ("ui", _ui_part)):
        found = part(args, rng, work, root)
        surfaces[name] = found["summary"]
        problems += found["problems"]
    seconds = time.perf_counter() - t0
    orphans = temporaries([root, SHARED / "images", MODEL.parent])
    after = checksums(inputs)
    changed = sorted(k for k in before if after.get(k) != before[k])
    first = surfaces["run, segment, compare"]
    first.update({"temporaries left": len(orphans), "inputs changed": len(changed), "orphans": 0})
    pwned = Path("/tmp/tst-soak-pwned").exists()
    summary = {
        "runs": args.runs,
        "processes": processes,
        "size": args.size,
        "seconds": round(seconds, 1),
        "kinds": dict(kinds),
        "exits": dict(sorted(exits.items())),
        "outputs": dict(outcome),
        "sigkill temporaries reaped by a later run": reaped_later,
        "orphaned temporaries": len(orphans),
        "inputs checked": len(before),
        "inputs changed": len(changed),
        "code run from a checkpoint": pwned,
        "final run exit": final_code,
        "surfaces": surfaces,
        "problems": problems,
        "changed": changed,
        "orphans": [str(p) for p in orphans],
        "load": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    print_table(summary)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"work folder kept: {root}")


def print_table(s: dict) -> None:
    exits = ", ".join(f"{k}: {v}" for k, v in s["exits"].items())
    outs = ", ".join(f"{k}: {v}" for k, v in s["outputs"].items())
    rows = [
        ("runs (processes)", f"{s['runs']} ({s['processes']})"),
        ("kinds", ", ".join(f"{k}: {v}" for k, v in s["kinds"].items())),
        ("exits by code", exits),
        ("outputs after each run", outs),
        (
            "temporaries a SIGKILL left, reaped by a later run",
            s["sigkill temporaries reaped by a later run"],
        ),
        ("orphaned temporaries at the end", s["orphaned temporaries"]),
        ("inputs changed (SHA-256, of checked)", f"{s['inputs changed']} of {s['inputs checked']}"),
        ("code run from a checkpoint", "yes" if s["code run from a checkpoint"] else "no"),
        ("problems", len(s["problems"])),
        ("seconds", s["seconds"]),
    ]
    print("\n| soak | |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    cols = ["cases", "passed", "temporaries left", "inputs changed", "orphans"]
    print("\n| surface | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for name, part in s["surfaces"].items():
        print(f"| {name} | " + " | ".join(str(part.get(c, "")) for c in cols) + " |")
    for name, part in s["surfaces"].items():
        extra = {k: v for k, v in part.items() if k not in cols}
        if extra:
            print(f"{name}: " + "; ".join(f"{k} {v}" for k, v in extra.items()))
    for p in s["problems"]:
        print("problem:", p)


def _batch_part(args: argparse.Namespace, rng: random.Random, work: Work, root: Path) -> dict:
    """``args.batch`` manifest cases (see ``soak_surfaces.BatchSoak``)."""
    soak = BatchSoak(root / "batch", work.photos, work.masks, work.styles, engine_args(args.size))
    problems, passed, kinds = [], 0, Counter()
    for n in range(args.batch):
        kill = None
        if rng.random() < args.kill:
            kill = (rng.choice(sorted(SIGNALS)), rng.uniform(0.5, args.max_delay))
        result = soak.case(rng, n, kill)
        kinds[result["kind"]] += 1
        passed += not result["problems"]
        problems += [f"batch {n} {result['kind']}: {p}" for p in result["problems"]]
        print(
            f"batch {n + 1:>3}/{args.batch} {result['kind']:<34} exit {result['code']} "
            f"{'ok' if not result['problems'] else result['problems']}",
            flush=True,
        )
    left = temporaries([root / "batch"])
    summary = {
        "cases": args.batch,
        "passed": passed,
        "temporaries left": len(left),
        "inputs changed": soak.inputs_changed,
        "orphans": soak.orphans,
        "written outside -o": soak.outside_writes,
        "kinds": dict(kinds),
    }
    return {"summary": summary, "problems": problems}


def _ui_part(args: argparse.Namespace, rng: random.Random, work: Work, root: Path) -> dict:
    """``args.ui`` request cases against one ``tst ui`` (see ``soak_surfaces.UiSoak``)."""
    if args.ui <= 0:
        return {"summary": {"cases": 0, "passed": 0}, "problems": []}
    config = root / "inputs" / "tiny.toml"
    config.write_text(
        f"[run]\nsize = {args.size}\n\n[engine.gatys]\niterations = 3\nscales = [1.0]\n"
    )
    styles = root / "inputs" / "ui_styles"
    styles.mkdir()
    for s in work.styles[:2]:
        shutil.copy(s, styles / s.name)
    photo = work.photos[0]
    soak = UiSoak(root / "ui", photo, work.masks[photo], styles, config)
    bad = make_bad_uploads(root / "inputs" / "ui_bad", photo)
    watched = [photo, config, *styles.iterdir(), *work.masks[photo].iterdir(), *bad.values()]
    before = checksums(watched)
    soak.start()
    problems, passed, kinds = [], 0, Counter()
    try:
        for n in range(args.ui):
            result = soak.case(rng, n, bad)
            kinds[result["kind"]] += 1
            passed += not result["problems"]
            problems += [f"ui {n} {result['kind']}: {p}" for p in result["problems"]]
            print(
                f"ui {n + 1:>3}/{args.ui} {result['kind']:<34} "
                f"{'ok' if not result['problems'] else result['problems']}",
                flush=True,
            )
    finally:
        stopped = soak.stop()
    problems += [f"ui stop: {p}" for p in stopped]
    left = temporaries([root / "ui"])
    after = checksums([Path(k) for k in before])
    changed = [k for k in before if after.get(k) != before[k]]
    problems += [f"ui: input changed: {k}" for k in changed]
    summary = {
        "cases": args.ui,
        "passed": passed,
        "temporaries left": len(left),
        "inputs changed": len(changed),
        "orphans": 0,
        "uploads left after stop": sum("uploads left" in p for p in stopped),
        "kinds": dict(kinds),
    }
    return {"summary": summary, "problems": problems}


if __name__ == "__main__":
    main()
