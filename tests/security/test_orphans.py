"""A batch worker never outlives its batch (issue 23 class 5): ``kill -9`` of ``tst batch``
ends its workers too, and a worker writes a photo only while the output folder's lock still
names its own batch, so nothing lands in a folder another batch holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tst_core.batching import batch
from tst_core.batching.record import LOCK_FILE

from ..batching.checks import fill_args
from ..conftest import ROOT
from .test_paths import snapshot


def _workers(pgid: int) -> list[int]:
    """Process ids of the live batch workers in process group ``pgid``."""
    ps = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True
    )
    rows = [line.split(None, 3) for line in ps.stdout.splitlines()]
    return [
        int(r[0])
        for r in rows
        if len(r) == 4 and int(r[1]) == pgid and not r[2].startswith("Z") and "spawn_main" in r[3]
    ]


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_kill_9_of_the_batch_ends_its_workers_and_they_write_nothing(shoot, plugins_dist):
    (shoot["photos"] / "broken.jpg").unlink()
    out = shoot["root"] / "out"
    args = [shoot["photos"], "-o", out, *fill_args(shoot, "--set", "engine.fake-fill.seconds=6")]
    child = subprocess.Popen(
        [sys.executable, "-m", "tst_core", "batch", *map(str, args), "--jobs", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    record = out / "batch.jsonl"
    try:
        # a.png is done (the record's first line) and b.png runs for 6 s
        started = _wait(lambda: record.is_file() and record.stat().st_size > 0, 120)
        assert started and _workers(child.pid), child.poll()
        before = snapshot(out)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert _wait(lambda: not _workers(child.pid), 3), "a worker outlived its batch"
        time.sleep(4)  # past the end of the photo the worker was running
        after = snapshot(out)
        assert {k for k in after if k.endswith(".png")} == {k for k in before if k.endswith(".png")}
    finally:
        for pid in _workers(child.pid):
            os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_batch_lost_the_folder_writes_nothing(shoot, host, tmp_path):
    """The check before every write: the lock file names another batch (this one was killed
    and a new one holds the folder): the photo fails with one line, nothing is written."""
    (shoot["photos"] / "broken.jpg").unlink()
    out = tmp_path / "out"
    run = batch(
        [shoot["photos"] / "a.png"],
        [f"person={shoot['style']}"],
        output=out,
        executor="inline",
        host=host,
        segmenter="maskfile",
        segmenter_options={"masks": str(shoot["masks"] / "a")},
        engine="fake-fill",
        blend="hard",
        size=40,
    )
    from tst_core.batching.worker import Worker

    out.mkdir()
    (out / LOCK_FILE).write_text("999999 another-batch\n")
    worker = Worker(run.spec, host)
    try:
        result = worker.run(run.jobs[0])
    finally:
        worker.close()
    assert result.status == "failed" and "no longer holds" in result.reason, result
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]


@pytest.mark.parametrize("name", ["batch.jsonl", LOCK_FILE])
def test_a_planted_link_for_the_record_or_the_lock_is_refused(cli, shoot, tmp_path, name):
    """``batch.jsonl`` or ``.batch.lock`` planted as a link to a file elsewhere: tst followed
    it (appending to or truncating that file); now it is one line, exit 2."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / name).symlink_to(victim)
    args = ["batch", shoot["photos"] / "a.png", "-o", out, "--style", f"person={shoot['style']}"]
    args += ["--segmenter", "maskfile", "--masks", shoot["masks"] / "a", "--engine", "fake-fill"]
    code, _, err = cli(*args, "--blend", "hard", "--size", 40, "--executor", "inline")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "symbolic link" in err, err
    assert victim.read_text() == "precious\n"
