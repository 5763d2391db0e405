"""Issue 20's first acceptance on real photos: ``tst run`` on every photo of
``../shared/images/large/`` writes the photo at its own size (after EXIF orientation), with the
pixels outside the targets' windows equal to the photo's decoded pixels bit for bit, its ICC
profile kept, its bit depth kept (the 16-bit PNG and TIFF stay 16-bit) and EXIF orientation 1.

    flock /work/locks/cpu.lock python benchmarks/large_photos.py              # engine fast
    flock /work/locks/cpu.lock python benchmarks/large_photos.py --engine gatys --only woman-bar

Each photo is one ``tst run`` process with the defaults except the engine (``--engine``,
``fast`` with the ``udnie`` network of ``../shared``; ``gatys`` takes ``starry_night.jpg``) and
the segmenter (``yolo``, the one whose weights are in ``../shared``; ``torchvision``'s are not
on this machine): the style goes to ``id:0``, the instance yolo scores highest (a person on
every photo that has one in front, else the car, the cat, the dog, the motorcycle). yolo finds
nothing on the aerial photo of palms (nor does ``grabcut`` on its central third): it gets a
disc on its centre, a third of its short side across, through ``maskfile``. The
output has the photo's own format family, lossless so that "bit for bit" can be checked on the
file: PNG for the JPEG and PNG photos, TIFF for the TIFF (a JPEG output is re-encoded, so its
pixels cannot equal the photo's; the JPEG path's metadata is in ``tests/test_native_run.py``).

Checks per photo, from the written file read back with :func:`tst_core.photo.read_photo` and
the run's JSON report: ``size`` (output (H, W) = the photo's after orientation), ``outside``
(every pixel outside the report's windows equal to the photo's, and the fraction of the photo
that is), ``changed`` (some pixel inside a window differs: the target was painted), ``icc``
(the output's profile = the photo's, byte for byte, or both none), ``bits`` (8 or 16, as the
photo), ``orient`` (the output's EXIF orientation is 1 or absent). Seconds and the peak
resident memory of each ``tst run`` process (``wait4``'s ``ru_maxrss``) and the load average
are printed beside them; the table goes to stdout and ``--out/large_photos.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "large_photos"
YOLO = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
STYLES = {
    "fast": ("models", "fast-style-tf", "udnie"),
    "cin": ("models", "fast-style-tf", "udnie"),
    "gatys": ("images", "style", "starry_night.jpg"),
}


def shared(*parts: str) -> Path:
    path = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"benchmarks/large_photos.py needs {path} (../shared)")
    return path


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def command(photo: Path, out: Path, engine: str, extra: list[str]) -> list[str]:
    """The ``tst run`` command line for one photo."""
    from tst_core.photo import read_photo

    style = shared(*STYLES[engine])
    cmd = [sys.executable, "-m", "tst_core", "run", str(photo), "--engine", engine]
    cmd += ["-o", str(out), "--progress", "off", *extra]
    if "aerial" in photo.name:  # yolo finds nothing on it: a disc drawn on its centre
        folder = out.parent / f"{photo.stem}_masks"
        if not folder.exists():
            from PIL import Image

            h, w = read_photo(photo).size
            yy, xx = np.mgrid[0:h, 0:w]
            disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 6) ** 2
            folder.mkdir()
            Image.fromarray((disc * 255).astype(np.uint8)).save(folder / "000_region.png")
        masks = ["--segmenter", "maskfile", "--masks", str(folder)]
        return cmd + masks + ["--style", f"region={style}"]
    cmd += ["--segmenter", "yolo", "--weights", str(shared(*YOLO))]
    return [*cmd, "--style", f"id:0={style}"]


def run(cmd: list[str]) -> tuple[int, float, float, str]:
    """Run ``cmd``; its exit code, seconds, peak resident MiB and the last line of stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = (err.strip().splitlines() or [""])[-1]
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024, tail


def check(photo: Path, out: Path) -> dict[str, Any]:
    """The figures of one written output against its photo."""
    from PIL import ExifTags, Image

    from tst_core.photo import read_photo

    source, written = read_photo(photo), read_photo(out)
    report = json.loads(out.with_suffix(".json").read_text())
    keep = np.ones(source.size, bool)
    for w in report["windows"]:
        x0, y0, x1, y1 = w["box"]
        keep[y0:y1, x0:x1] = False
    mine = source.pixels
    if mine.shape[2] == 1 and written.pixels.shape[2] == 3:  # grey photos come back as RGB
        mine = np.repeat(mine, 3, axis=2)
    same_size = written.size == source.size
    outside = same_size and bool(np.array_equal(written.pixels[keep], mine[keep]))
    changed = same_size and bool((written.pixels[~keep] != mine[~keep]).any())
    orientation = Image.open(out).getexif().get(ExifTags.Base.Orientation, 1)
    with Image.open(photo) as img:
        stored = img.size[::-1]
    return {
        "stored": list(stored),
        "size": list(source.size),
        "out_size": list(written.size),
        "size_ok": same_size,
        "outside_ok": outside,
        "outside_share": round(float(keep.mean()), 3),
        "changed": changed,
        "icc_ok": written.icc == source.icc,
        "icc": "none" if source.icc is None else f"{len(source.icc)} B",
        "bits": f"{source.bits}->{written.bits}",
        "bits_ok": written.bits == source.bits,
        "orient_ok": orientation == 1,
        "windows": len(report["windows"]),
        "working": report.get("working_size"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = ["photo", "stored", "size", "size_ok", "outside_ok", "outside_share", "changed"]
    cols += ["icc", "icc_ok", "bits", "bits_ok", "orient_ok", "seconds", "peak_mib", "load"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if isinstance(v, list):
                v = "×".join(str(x) for x in v[::-1])  # W×H as photographers write it
            cells.append(f"{v:.1f}" if isinstance(v, float) and c != "outside_share" else str(v))
        lines.append("| " + " | ".join(cells) + " |" + (f" {r['error']}" if "error" in r else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", default="fast", choices=sorted(STYLES))
    p.add_argument("--only", help="run only the photos whose name contains this")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--set", action="append", default=[], help="passed to tst run")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    extra = [x for s in args.set for x in ("--set", s)]
    rows = []
    for photo in sorted(shared("images", "large").iterdir()):
        if args.only and args.only not in photo.name:
            continue
        suffix = ".tif" if photo.suffix.lower() in (".tif", ".tiff") else ".png"
        out = args.out / f"{photo.stem}_{args.engine}{suffix}"
        for old in (out, out.with_suffix(".json")):
            old.unlink(missing_ok=True)
        before = load()
        code, seconds, peak, tail = run(command(photo, out, args.engine, extra))
        row: dict[str, Any] = {"photo": photo.name, "seconds": seconds, "peak_mib": peak}
        row["load"] = f"{before} / {load()}"
        if code != 0:
            row["error"] = f"exit {code}: {tail}"
        else:
            row.update(check(photo, out))
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    (args.out / f"large_photos_{args.engine}.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    keys = ("size_ok", "outside_ok", "changed", "icc_ok", "bits_ok", "orient_ok")
    ok = all("error" not in r and all(r[k] for k in keys) for r in rows)
    print(f"all checks {'pass' if ok else 'FAIL'} ({len(rows)} photos, engine {args.engine})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
