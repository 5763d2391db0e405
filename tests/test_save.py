"""Issue 10, item 4: what ``tst run``, ``tst compare`` and ``tst segment`` write is all or
none, checked before the work, locked against a second writer, kept whole through SIGINT and
SIGTERM, and never left as a temporary.

These go through the commands and the public API (``RunResult.save``, ``CompareResult.save``,
``files.write_image``), so they show the behaviour, not one implementation of it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest
import torch

import tst_core
from tst_core.errors import InputError
from tst_core.files import read_image

from .conftest import ROOT, run_args

FAIL_IF_STYLISED = ("--set", "engine.fake-fill.fail=true")  # the engine fails if it is reached


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def one_line(code, err):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- checked before any stylising ------------------------------------------------------------


def test_a_full_disk_is_one_line_before_stylising(cli, files, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 10_000))
    line = one_line(*cli(*run_args(files), *FAIL_IF_STYLISED)[::2])
    assert "not enough disk space for -o" in line
    assert listing(files / "out") == []


def test_a_read_only_folder_is_one_line_before_stylising(cli, files, monkeypatch):
    real = os.open
    out = str(files / "out")

    def read_only(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and str(path).startswith(out):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    line = one_line(*cli(*run_args(files), *FAIL_IF_STYLISED)[::2])
    assert "is not writable (Read-only file system)" in line
    assert listing(files / "out") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder(cli, files):
    (files / "out").chmod(0o555)
    try:
        line = one_line(*cli(*run_args(files), *FAIL_IF_STYLISED)[::2])
    finally:
        (files / "out").chmod(0o755)
    assert "is not writable" in line


LONG_NAME_CASES = {
    # 240 bytes: a name the file system takes, but not its temporary (.NAME.tst-PID-TOKEN.part)
    "-o, 240 bytes": lambda f: [*run_args(f), "-o", f / "out" / ("x" * 236 + ".png")],
    "-o, 300 bytes": lambda f: [*run_args(f), "-o", f / "out" / ("x" * 296 + ".png")],
    "--overlay, 240 bytes": lambda f: [
        *("segment", f / "photo.png", "--segmenter", "maskfile", "--masks", f / "masks"),
        *("--overlay", f / "out" / ("x" * 236 + ".png")),
    ],
    "--export-masks, 240 bytes": lambda f: [
        *("segment", f / "photo.png", "--segmenter", "maskfile", "--masks", f / "masks"),
        *("--export-masks", f / "out" / ("x" * 240)),
    ],
}


@pytest.mark.parametrize("case", sorted(LONG_NAME_CASES))
def test_a_name_too_long_for_its_temporary_is_one_line_before_the_work(cli, files, case):
    line = one_line(*cli(*LONG_NAME_CASES[case](files), *FAIL_IF_STYLISED)[::2])
    assert "the file name is too long" in line and "at most 228 here" in line
    assert listing(files / "out") == []


def test_the_longest_name_allowed_is_written(cli, files):
    image = files / "out" / ("x" * 223 + ".png")  # its report, .json, has the 228 bytes
    code, _, err = cli(*run_args(files), "-o", image)
    assert code == 0, err
    assert listing(files / "out") == sorted([image.name, image.with_suffix(".json").name])


def test_compare_checks_its_three_files_before_stylising(cli, files):
    (files / "out" / "sheet.csv").mkdir()
    args = ["compare", *run_args(files)[1:], "-o", files / "out" / "sheet.png"]
    line = one_line(*cli(*args, *FAIL_IF_STYLISED)[::2])
    assert "the CSV table of -o '" in line and "sheet.csv' is a folder" in line


def test_segment_checks_overlay_and_masks_before_segmenting(cli, files):
    (files / "out" / "ids.png").mkdir()
    code, _, err = cli(
        "segment",
        files / "photo.png",
        "--segmenter",
        "fake-weights",  # would fail: no checkpoint
        "--overlay",
        files / "out" / "ids.png",
    )
    assert "--overlay '" in one_line(code, err) and "is a folder" in err


# --- all or none after the work ---------------------------------------------------------------


@pytest.fixture
def result(host, files):
    return tst_core.run(
        files / "photo.png",
        {"person": str(files / "style.jpg")},
        host=host,
        segmenter="maskfile",
        segmenter_options={"masks": files / "masks"},
        engine="fake-fill",
        blend="hard",
        size=32,
    )


@pytest.fixture
def old_pair(files):
    out = files / "out"
    (out / "out.png").write_bytes(b"old image")
    (out / "out.json").write_text("old report")
    return out


def second_replace(action):
    """``os.replace`` that does ``action()`` on its second call."""
    real = os.replace
    calls = []

    def replace(src, dst, **kwargs):
        calls.append(dst)
        if len(calls) == 2:
            action(real, src, dst)
        else:
            real(src, dst, **kwargs)

    return replace


def test_a_failed_rename_puts_the_old_pair_back(result, old_pair, monkeypatch):
    def fail(real, src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", second_replace(fail))
    with pytest.raises(InputError, match="Input/output error"):
        result.save(old_pair / "out.png")
    monkeypatch.undo()
    assert listing(old_pair) == ["out.json", "out.png"]
    assert (old_pair / "out.png").read_bytes() == b"old image"
    assert (old_pair / "out.json").read_text() == "old report"


def test_a_failed_rename_of_a_new_pair_leaves_nothing(result, files, monkeypatch):
    def fail(real, src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", second_replace(fail))
    with pytest.raises(InputError):
        result.save(files / "out" / "out.png")
    assert listing(files / "out") == []


def test_sigint_between_the_renames_leaves_a_whole_pair(result, old_pair, monkeypatch):
    def interrupt(real, src, dst):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C after the image, before the report
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_replace(interrupt))
    # Ctrl-C raises KeyboardInterrupt, as in a fresh process (a library may have changed it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            result.save(old_pair / "out.png")
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert listing(old_pair) == ["out.json", "out.png"]
    report = json.loads((old_pair / "out.json").read_text())
    assert report["working_size"] == [21, 32]
    assert read_image(old_pair / "out.png").shape == (3, 40, 60)  # the photo's own size


SIGTERM_SCRIPT = """
import os, signal, sys
from pathlib import Path
import torch
from tst_core import cli, files
from tst_core.cli import config

def slow_writer(image, fmt):
    def write(tmp):
        Path(tmp).write_bytes(b"half an image")
        os.kill(os.getpid(), signal.SIGTERM)  # the run is told to stop while writing
        Path(tmp).write_bytes(b"more")
    return write

def command(args):
    files.write_image(Path(sys.argv[1]) / "out.png", torch.rand(3, 8, 8))

files.image_writer = slow_writer
config.presets = command
sys.exit(cli.main(["config", "presets"]))
"""


def test_sigterm_while_writing_leaves_no_temporary(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 143, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "tst: terminated"
    assert listing(tmp_path) == []


def test_a_second_writer_waits_for_the_first_ones_lock(result, files):
    """Two runs writing one ``-o`` take turns on the folder's lock (``flock``), so the image
    and the report on disk always come from one run."""
    out = files / "out"
    done = threading.Event()

    def save():
        result.save(out / "out.png")
        done.set()

    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the first writer
        thread = threading.Thread(target=save)
        thread.start()
        time.sleep(0.5)
        assert not done.is_set() and listing(out) == []
    finally:
        os.close(fd)
    thread.join(timeout=60)
    assert done.is_set() and listing(out) == ["out.json", "out.png"]


def features(x):
    """A stand-in for VGG-19 in the compare metrics: one fixed layer."""
    conv = torch.nn.Conv2d(3, 4, 3)
    torch.nn.init.constant_(conv.weight, 0.1)
    return {"relu1_1": torch.relu(conv(x)), "conv4_2": conv(x)}


def test_compare_writes_its_three_files_or_none(host, files, monkeypatch):
    from tst_core.compare import compare

    res = compare(
        files / "photo.png",
        [f"person={files / 'style.jpg'}"],
        engines=["fake-fill"],
        blends=["hard"],
        host=host,
        segmenter="maskfile",
        segmenter_options={"masks": files / "masks"},
        size=32,
        features=features,
    )

    def fail(real, src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", second_replace(fail))
    with pytest.raises(InputError, match="No space left on device"):
        res.save(files / "out" / "sheet.png")
    assert listing(files / "out") == []


def test_an_overlay_and_its_mask_folder_are_written_together(cli, files):
    masks = files / "out" / "new" / "masks"
    code, _, err = cli(
        "segment",
        files / "photo.png",
        "--segmenter",
        "fake-boxes",
        "--export-masks",
        masks,
        "--overlay",
        masks / "ids.png",
    )
    assert code == 0, err
    assert listing(masks) == [
        "000_person.png",
        "001_person.png",
        "002_car.png",
        "ids.png",
        "instances.json",
    ]
    code, out, err = cli(
        "segment", files / "photo.png", "--segmenter", "maskfile", "--masks", masks, "--json"
    )
    assert code == 0, err
    assert [i["label"] for i in json.loads(out)["instances"]] == ["person", "person", "car"]


# --- what stays on disk ---------------------------------------------------------------------


def test_replacing_an_output_keeps_its_file_mode(cli, files):
    (files / "out" / "out.png").write_bytes(b"old")
    (files / "out" / "out.png").chmod(0o640)
    code, _, err = cli(*run_args(files))
    assert code == 0, err
    assert (files / "out" / "out.png").stat().st_mode & 0o777 == 0o640


def test_the_report_is_strict_json(result, files):
    result.report["final_losses"] = {"total": float("nan"), "style/0": float("inf")}
    result.save(files / "out" / "out.png")
    text = (files / "out" / "out.json").read_text()

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    report = json.loads(text, parse_constant=refuse)
    assert report["final_losses"] == {"total": None, "style/0": None}


def test_temporaries_a_killed_run_left_are_removed_by_the_next_run(cli, files):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a process id that is gone
    orphan = files / "out" / f".out.png.tst-{proc.pid}-0badcafe.part"
    orphan.write_bytes(b"half")
    code, _, err = cli(*run_args(files))
    assert code == 0, err
    assert listing(files / "out") == ["out.json", "out.png"]
