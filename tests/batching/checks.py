"""Checks that every executor must pass (local processes, Ray): each takes the executor's
arguments. The photos and masks come from the fixtures in ``conftest.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tst_core.cli import main

from ..conftest import ROOT
from .conftest import records, statuses, write_mask, write_photo


def fill_args(shoot, *extra: str) -> list[str]:
    """Per-photo masks, the flat-colour test engine and the hard compositor at 40 px."""
    return [
        "--segmenter",
        "maskfile",
        "--masks",
        f"{shoot['masks']}/{{stem}}",
        "--engine",
        "fake-fill",
        "--blend",
        "hard",
        "--size",
        "40",
        "--style",
        f"person={shoot['style']}",
        *extra,
    ]


def batch_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["batch", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def mtimes(outdir: Path) -> dict[str, int]:
    return {str(p.relative_to(outdir)): p.stat().st_mtime_ns for p in outdir.rglob("*.png")}


def check_mixed_folder(shoot, capsys, *run_args: str) -> Path:
    """Good photos are done, the photo without a person is skipped, the unreadable one fails
    (exit 1); without the unreadable one a rerun skips everything and exits 0."""
    out = shoot["root"] / "out"
    args = [shoot["photos"], "-o", out, *fill_args(shoot), "--progress", "lines", *run_args]
    code, stdout, err = batch_cli(capsys, *args)
    assert code == 1, err
    st = statuses(out)
    assert st == {
        "a.png": "done",
        "b.png": "done",
        "c.png": "done",
        "nobody.png": "skipped",
        "broken.jpg": "failed",
    }
    by_name = {Path(r["photo"]).name: r for r in records(out)}
    assert "selector 'person' matches nothing" in by_name["nobody.png"]["reason"]
    assert "cannot read photo" in by_name["broken.jpg"]["reason"]
    assert by_name["a.png"]["outputs"] == [str(out / "a.png"), str(out / "a.json")]
    assert by_name["a.png"]["timings"]["stylize"] >= 0 and by_name["a.png"]["seconds"] > 0
    assert (out / "day2" / "c.png").is_file() and (out / "day2" / "c.json").is_file()
    assert not (out / "broken.png").exists() and not (out / "nobody.png").exists()
    assert "5 photos: 3 done, 1 skipped, 1 failed" in stdout
    assert any(
        line.startswith("worker ") and " plugins built in " in line for line in err.splitlines()
    )
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert len(lines) == 5 and lines[-1].startswith("[5/5]") and "ETA 0s" in lines[-1]
    assert "| 3 done, 1 skipped, 1 failed |" in lines[-1]

    assert "to leave one out, move it out of the inputs or rename it to start with '.'" in err
    # as the hint says: renamed hidden, the unreadable photo is left out and the rerun exits 0
    (shoot["photos"] / "broken.jpg").rename(shoot["photos"] / ".broken.jpg")
    before = mtimes(out)
    code, stdout, err = batch_cli(capsys, *args)
    assert code == 0, err
    rerun = {Path(r["photo"]).name: r["reason"] for r in records(out)[5:]}
    assert rerun["a.png"] == rerun["c.png"] == "up to date"
    assert rerun["nobody.png"].endswith("(as before)")
    assert mtimes(out) == before
    assert "4 photos: 0 done, 4 skipped, 0 failed" in stdout
    assert batch_cli(capsys, *args)[0] == 0  # and again: the reason does not grow
    again = {Path(r["photo"]).name: r["reason"] for r in records(out)[9:]}
    assert again["nobody.png"] == rerun["nobody.png"]
    return out


def check_kill_and_rerun(tmp_path, capsys, *run_args: str) -> None:
    """A batch killed (with its workers) after two photos: a rerun finishes the other four and
    leaves the two finished outputs as they were."""
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    for i in range(6):
        write_photo(photos / f"p{i}.png", i)
        write_mask(masks / f"p{i}" / "person.png", (4, 4, 30, 28))
    shoot = {"root": tmp_path, "masks": masks, "style": write_photo(tmp_path / "s.png", 9)}
    out = tmp_path / "out"
    args = [
        photos,
        "-o",
        out,
        *fill_args(shoot, "--set", "engine.fake-fill.seconds=0.4"),
        *run_args,
    ]
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
    child = subprocess.Popen(
        [sys.executable, "-m", "tst_core", "batch", *map(str, args), "--progress", "off"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (out / "batch.jsonl").is_file() and len(records(out)) >= 2:
            break
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
    os.killpg(child.pid, signal.SIGKILL)  # the batch and its worker, at once
    child.wait()
    finished = {Path(r["photo"]).stem for r in records(out)}
    assert 2 <= len(finished) < 6
    assert not list(out.rglob("*.part")), "a kill leaves only complete outputs"
    before = mtimes(out)
    assert {Path(k).stem for k in before} >= finished
    for png in out.rglob("*.png"):
        Image.open(png).load()  # every output that exists is whole

    code, _, err = batch_cli(capsys, *args, "--progress", "off")
    assert code == 0, err
    rerun = {Path(r["photo"]).stem: r for r in records(out)[len(finished) :]}
    assert {k for k, r in rerun.items() if r["reason"] == "up to date"} == finished
    assert {k for k, r in rerun.items() if r["status"] == "done"} == {
        f"p{i}" for i in range(6)
    } - finished
    after = mtimes(out)
    assert all(after[k] == before[k] for k in before if Path(k).stem in finished)
    assert len(after) == 6


def check_killed_worker(shoot, capsys, reason: str, *run_args: str) -> None:
    """A worker killed during the batch costs the photo it was running (failed, exit 1);
    a rerun does that photo only."""
    (shoot["photos"] / "broken.jpg").unlink()
    marker = shoot["root"] / "die"
    marker.touch()
    out = shoot["root"] / "out"
    args = [
        shoot["photos"],
        "-o",
        out,
        *fill_args(shoot, "--set", f"engine.fake-fill.die_if={marker}"),
        "--progress",
        "off",
    ]
    code, stdout, _ = batch_cli(capsys, *args, *run_args)
    assert code == 1 and not marker.exists()
    failed = [r for r in records(out) if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["reason"].startswith(reason), failed[0]["reason"]
    assert "2 done, 1 skipped, 1 failed" in stdout

    code, stdout, _ = batch_cli(capsys, *args, *run_args)
    assert code == 0 and "1 done, 3 skipped, 0 failed" in stdout
    assert statuses(out)[Path(failed[0]["photo"]).name] == "done"


def check_same_pictures(tmp_path: Path, style: Path, capsys, *run_args: str) -> None:
    """The real engine at 32 px: ``run_args`` (another executor, more workers) make the same
    pixels as ``--jobs 1``, whichever worker runs a photo and in whatever order (one thread per
    worker, since the thread count changes float sums)."""
    photos = tmp_path / "photos"
    for i in range(3):
        write_photo(photos / f"p{i}.png", i, (32, 24))
        write_mask(
            tmp_path / "masks" / f"p{i}" / "person.png", (6 * i, 2, 16 + 6 * i, 22), (32, 24)
        )
    common = [
        *(photos, "--segmenter", "maskfile", "--masks", f"{tmp_path}/masks/{{stem}}"),
        *("--style", f"person={style}", "--size", "32", "--seed", "3"),
        *("--set", "engine.gatys.iterations=3", "--set", "engine.gatys.scales=[1.0]"),
        *("--threads", "1", "--progress", "off"),
    ]
    assert batch_cli(capsys, *common, "-o", tmp_path / "one", "--jobs", "1")[0] == 0
    code, stdout, err = batch_cli(capsys, *common, "-o", tmp_path / "two", *run_args)
    assert code == 0 and "3 done" in stdout, err
    for i in range(3):
        a = np.asarray(Image.open(tmp_path / "one" / f"p{i}.png"))
        b = np.asarray(Image.open(tmp_path / "two" / f"p{i}.png"))
        c = np.asarray(Image.open(photos / f"p{i}.png"))
        assert np.array_equal(a, b)
        assert np.abs(a.astype(int) - c).max() > 10  # it was stylised
