"""`tst batch` on local worker processes: statuses and exit codes, resuming, reruns, --jobs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tst_core.cli import main

from ..conftest import ROOT
from .checks import (
    batch_cli,
    check_kill_and_rerun,
    check_killed_worker,
    check_mixed_folder,
    check_same_pictures,
    fill_args,
    mtimes,
)
from .conftest import records, write_mask


def test_mixed_folder_done_skipped_failed(shoot, plugins_dist, capsys):
    check_mixed_folder(shoot, capsys, "--jobs", "2", "--prefetch", "on")


def test_changed_style_reruns_all_and_changed_mask_reruns_one(shoot, plugins_dist, capsys):
    (shoot["photos"] / "broken.jpg").unlink()
    out = shoot["root"] / "out"
    # which photos rerun is the workers' decision, the same in every executor: test it inline
    base = [shoot["photos"], "-o", out, "--progress", "off", "--executor", "inline"]
    assert batch_cli(capsys, *base, *fill_args(shoot))[0] == 0
    first = mtimes(out)

    write_mask(shoot["masks"] / "b" / "person.png", (1, 1, 30, 18))  # one photo's input changed
    assert batch_cli(capsys, *base, *fill_args(shoot))[0] == 0
    second = mtimes(out)
    assert [k for k in first if first[k] != second[k]] == ["b.png"]

    new_style = [*fill_args(shoot)[:-1], f"person={shoot['root'] / 'style2.png'}"]
    assert batch_cli(capsys, *base, *new_style)[0] == 0
    third = mtimes(out)
    assert all(third[k] != second[k] for k in second) and len(third) == 3

    code, stdout, _ = batch_cli(capsys, *base, *new_style, "--force")
    assert code == 0 and "3 done, 1 skipped" in stdout
    assert all(mtimes(out)[k] != third[k] for k in third)


def test_kill_and_rerun_finishes_the_rest(tmp_path, plugins_dist, capsys):
    check_kill_and_rerun(tmp_path, capsys)


def test_a_killed_worker_costs_its_photo_only(shoot, plugins_dist, capsys):
    reason = "the worker process was killed by signal 9 while running this photo"
    check_killed_worker(shoot, capsys, reason, "--jobs", "2", "--prefetch", "on")


def test_each_worker_builds_the_engine_once_for_all_its_photos(shoot, plugins_dist, capsys):
    """Every photo has its own masks (so its own segmenter options), yet each worker process
    builds the engine once and keeps it: no model reload per photo."""
    (shoot["photos"] / "broken.jpg").unlink()
    log = shoot["root"] / "builds.log"
    args = [shoot["photos"], "-o", shoot["root"] / "out", "--progress", "off", "--jobs", "2"]
    code, stdout, err = batch_cli(
        capsys, *args, *fill_args(shoot, "--set", f"engine.fake-fill.build_log={log}")
    )
    assert code == 0 and "3 done, 1 skipped" in stdout, err
    builds = log.read_text().split()
    workers = {r["worker"].rsplit(":", 1)[1] for r in records(shoot["root"] / "out")}
    assert sorted(builds) == sorted(set(builds)), f"a worker built the engine twice: {builds}"
    assert workers <= set(builds) and len(builds) <= 2  # a worker may start after the last photo


@pytest.mark.needs_shared
def test_jobs_2_gives_the_pictures_of_jobs_1(tmp_path, shared, plugins_dist, capsys):
    style = shared("images", "style", "starry_night.jpg")
    check_same_pictures(tmp_path, style, capsys, "--jobs", "2")


@pytest.mark.slow
@pytest.mark.needs_shared
def test_jobs_2_paints_the_pixels_of_jobs_1_and_of_tst_run(tmp_path, shared, capsys):
    """Same seed, same picture, whatever the parallelism: ``--jobs 1`` (one worker with every
    CPU thread), ``--jobs 2`` (two workers sharing them) and ``tst run`` give equal pixels.
    At 48 px, 10 L-BFGS steps on a real photo, one thread against two changes thousands of
    pixel values: the engine computes with the count one process would use in every worker."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("bus.jpg", "tubingen.jpg"):
        (photos / name).write_bytes(shared("images", "content", name).read_bytes())
    style = shared("images", "style", "starry_night.jpg")
    common = [
        *("--style", f"all={style}", "--size", "48", "--seed", "3", "--progress", "off"),
        *("--set", "engine.gatys.iterations=10", "--set", "engine.gatys.scales=[1.0]"),
        *("--output-size", "48"),  # at the photos' own sizes gatys would add its native levels
    ]
    for jobs in ("1", "2"):
        code, stdout, err = batch_cli(
            capsys, photos, "-o", tmp_path / jobs, "--jobs", jobs, *common
        )
        assert code == 0 and "2 done" in stdout, err
    assert main(["run", str(photos / "bus.jpg"), "-o", str(tmp_path / "run.png"), *common]) == 0
    for name in ("bus", "tubingen"):
        one = np.asarray(Image.open(tmp_path / "1" / f"{name}.png"))
        assert np.array_equal(one, np.asarray(Image.open(tmp_path / "2" / f"{name}.png"))), name
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "1" / "bus.png")),
        np.asarray(Image.open(tmp_path / "run.png")),
    )


#: how ``tst`` ends on each signal, as every command does (tst_core/cli/signals.py)
STOPPED = {signal.SIGINT: (130, "tst: interrupted"), signal.SIGTERM: (143, "tst: terminated")}


@pytest.mark.parametrize(
    ("sig", "to_group", "when"),
    [
        (signal.SIGINT, True, "starting"),  # Ctrl-C in a terminal reaches the workers too
        (signal.SIGTERM, False, "starting"),
        (signal.SIGINT, False, "running"),
        (signal.SIGTERM, True, "running"),
    ],
)
def test_interrupting_the_batch_stops_its_workers(shoot, plugins_dist, sig, to_group, when):
    """Ctrl-C (or SIGTERM), to the batch or to its whole process group, while its workers
    start or while they run photos: it stops its workers, exits 130 (143) and prints one line."""
    (shoot["photos"] / "broken.jpg").unlink()
    out = shoot["root"] / "out"
    args = [shoot["photos"], "-o", out, *fill_args(shoot, "--set", "engine.fake-fill.seconds=3")]
    child = subprocess.Popen(
        [sys.executable, "-m", "tst_core", "batch", *map(str, args), "--jobs", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    # the record appears before the workers start; the first line once they run (nobody.png
    # is skipped at once, the others take 3 s each)
    started = (lambda: records(out)) if when == "running" else (out / "batch.jsonl").is_file
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if started():
                break
        time.sleep(0.02)
    os.killpg(child.pid, sig) if to_group else child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == STOPPED[sig][0], err
    assert err.splitlines()[-1] == STOPPED[sig][1] and "Traceback" not in err, err
    # no worker is left behind: the batch joined every worker it started before it exited
    assert [args for args in _group(child.pid) if "spawn_main" in args] == []
    deadline = time.monotonic() + 30  # multiprocessing's resource tracker exits on its own
    while _group(child.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(child.pid) == []
    assert len(records(out)) < 4


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_worker_stopped_while_it_writes_leaves_no_temporary(shoot, plugins_dist, sig):
    """Ctrl-C (or SIGTERM) to the batch while a worker writes a photo's files: the worker,
    stopped with SIGTERM, removes its temporaries (issue 10, item 4) and no half pair is left."""
    (shoot["photos"] / "broken.jpg").unlink()
    out, flag = shoot["root"] / "out", shoot["root"] / "writing"
    args = [
        shoot["photos"],
        "-o",
        out,
        *fill_args(shoot, "--set", f"engine.fake-fill.stall_save={flag}"),
    ]
    child = subprocess.Popen(
        [sys.executable, "-m", "tst_core", "batch", *map(str, args), "--jobs", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), child.stderr.read() if child.stderr else ""
    assert [p.name for p in out.rglob("*.part")], "the worker is writing its temporary"
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert (child.returncode, err.splitlines()[-1]) == STOPPED[sig], err
    assert [p.name for p in out.rglob("*.part")] == []
    assert sorted(p.name for p in out.rglob("*.png")) == []  # no image, so no half pair


def _group(pgid: int) -> list[str]:
    """The command lines of the live (not zombie) processes of process group ``pgid``."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pgid=,stat=,args="], capture_output=True, text=True)
    rows = [line.split(None, 2) for line in ps.stdout.splitlines()]
    return [r[2] for r in rows if int(r[0]) == pgid and not r[1].startswith("Z")]


def test_a_signal_while_a_worker_starts_waits_until_the_batch_knows_it(
    shoot, plugins_dist, capfd, monkeypatch
):
    """The race under load: Ctrl-C after the worker process is spawned but before it is sent
    its arguments. It must not cut that handover (the child would die of ``EOFError: Ran out
    of input``, a traceback on the batch's stderr, and the batch would not know to stop it)."""
    import multiprocessing.util

    import tst_core
    from tst_core.batching.local import LocalExecutor

    spawn = multiprocessing.util.spawnv_passfds

    def spawn_then_interrupt(path, args, passfds):
        pid = spawn(path, args, passfds)
        if any("spawn_main" in os.fsdecode(a) for a in args):  # a worker, not the resource tracker
            signal.raise_signal(signal.SIGINT)
        return pid

    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", spawn_then_interrupt)
    run = tst_core.batch(
        [shoot["photos"] / "a.png"],
        [f"person={shoot['style']}"],
        output=shoot["root"] / "out",
        segmenter="maskfile",
        segmenter_options={"masks": f"{shoot['masks']}/{{stem}}"},
        engine="fake-fill",
    )
    executor = LocalExecutor(run.spec, workers=1, threads=1)
    with pytest.raises(KeyboardInterrupt):
        executor._start(run.jobs[0])
    (proc,) = executor._procs.values()  # the interrupt came after the batch knew its worker
    executor._stop_all()
    assert proc.process.exitcode == -signal.SIGKILL  # stopped while it loaded
    assert "Traceback" not in capfd.readouterr().err


_SECOND_SIGTERM = """
import atexit, os, signal, time
from tst_core.batching.local import _stopped

def late():  # the batch stopping its workers while this one already exits
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)

atexit.register(late)
signal.signal(signal.SIGTERM, _stopped)
os.kill(os.getpid(), signal.SIGTERM)  # the group's SIGTERM: the worker unwinds
time.sleep(5)
"""


def test_a_second_sigterm_while_a_worker_unwinds_prints_nothing():
    """A worker's SIGTERM handler unwinds it once; a second SIGTERM, during its clean-up or
    its exit handlers, is no traceback on the batch's stderr."""
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_SIGTERM], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 143 and done.stderr == "", done.stderr
