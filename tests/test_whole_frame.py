"""Whole-frame runs (``--style all=...`` or a bare ``--style STYLE``) build no segmenter, so they
need no checkpoint and no network: the README's first command on a fresh machine."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import tst_core
from tst_core.errors import WeightsError

from .conftest import run_tst, shared_path
from .synthetic import random_pictures

STYLE = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))


def test_all_builds_no_segmenter_and_the_report_says_so(host):
    # fake-weights raises a WeightsError as soon as it is built without a checkpoint
    photo = torch.rand(3, 24, 32)
    res = tst_core.run(
        photo, {"all": STYLE}, segmenter="fake-weights", engine="fake-fill", host=host
    )
    assert res.report["segmenter"] == {
        "name": None,
        "ran": False,
        "why": "every target is the whole frame (all), so no segmenter was built",
    }
    assert res.report["instances"] == [] and len(res.segmentation) == 0
    assert res.report["targets"][0]["area"] == 1.0
    assert "fake-weights" not in res.report["versions"]


def test_any_other_selector_still_runs_the_segmenter(host):
    with pytest.raises(WeightsError, match="fake segmenter weights are missing"):
        tst_core.run(
            torch.rand(3, 24, 32),
            ["all=x.jpg", "background=y.jpg"],
            segmenter="fake-weights",
            engine="fake-fill",
            host=host,
        )
    res = tst_core.run(
        torch.rand(3, 24, 32), {"person": STYLE}, segmenter="fake-boxes", engine="fake-fill",
        host=host,
    )  # fmt: skip
    assert res.report["segmenter"] == {"name": "fake-boxes", "ran": True}


@pytest.fixture
def pictures(tmp_path):
    return random_pictures(tmp_path, (30, 40), (20, 20), seed=1)


def test_a_bare_style_on_the_command_line_is_the_whole_frame(cli, pictures):
    out = pictures / "out.png"
    code, stdout, err = cli(
        "run", pictures / "p.png", "--style", pictures / "s.png", "--segmenter", "fake-weights",
        "--engine", "fake-fill", "--blend", "hard", "--size", 32, "-o", out,
    )  # fmt: skip
    assert code == 0, err
    assert "no segmenter: whole frame" in stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["targets"][0]["selector"] == "all" and not report["segmenter"]["ran"]


@pytest.mark.parametrize("segmenter", ["grabcut", "maskfile"])
def test_grabcut_and_maskfile_targets_need_no_checkpoint(cli, pictures, monkeypatch, segmenter):
    """The quick start's other ways to run with nothing fetched: a --box for grabcut, or your
    own mask PNG (TST_OFFLINE=1 is the suite's setting; the cache stays empty)."""
    monkeypatch.setenv("TORCH_HOME", str(pictures / "torch-home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    photo = Image.new("RGB", (40, 30), (90, 140, 90))  # a red block on green, for grabcut
    photo.paste((200, 30, 30), (12, 9, 27, 23))
    photo.save(pictures / "p.png")
    (pictures / "masks").mkdir()
    mask = Image.new("L", (40, 30), 0)
    mask.paste(255, (8, 6, 30, 26))
    mask.save(pictures / "masks" / "thing.png")
    how = {
        "grabcut": ["--box", "8,6,30,26", "--style", f"id:0={pictures / 's.png'}"],
        "maskfile": ["--masks", pictures / "masks", "--style", f"thing={pictures / 's.png'}"],
    }[segmenter]
    out = pictures / "out.png"
    code, _, err = cli(
        "run", pictures / "p.png", "--segmenter", segmenter, *how, "--size", 32, "-o", out,
        "--set", "engine.gatys.iterations=2", "--set", "engine.gatys.scales=[1.0]",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["segmenter"] == {"name": segmenter, "ran": True}
    assert report["config"]["run"]["engine"] == "gatys" and report["final_losses"]["style/0"] > 0
    assert not (pictures / "torch-home").exists()


NO_NETWORK = """\
import socket

def _refuse(self, *args, **kwargs):
    raise RuntimeError("this test run must not touch the network")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
"""


def _fresh_machine(tmp_path):
    """An empty $TORCH_HOME, TST_OFFLINE=1, and a sitecustomize that makes any connect fail."""
    guard = tmp_path / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    env = {"TORCH_HOME": str(tmp_path / "torch-home"), "TST_OFFLINE": "1"}
    return guard, env


def _first_command(photo, style, out, tmp_path, *extra):
    guard, env = _fresh_machine(tmp_path)
    return run_tst(
        "run", photo, "--style", f"all={style}", "-o", out, *extra,
        pythonpath=[guard], env=env,
    )  # fmt: skip


def test_first_command_on_a_fresh_machine_offline(tmp_path, pictures):
    """The default segmenter (Mask R-CNN, whose checkpoint is absent) is never built; the
    embedded VGG-19 stylises."""
    out = tmp_path / "out.png"
    proc = _first_command(
        pictures / "p.png", pictures / "s.png", out, tmp_path,
        "--size", 32, "--set", "engine.gatys.iterations=2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "no segmenter: whole frame" in proc.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["config"]["run"]["segmenter"] == "torchvision"
    assert report["segmenter"]["ran"] is False and report["config"]["run"]["engine"] == "gatys"
    assert report["final_losses"]["style/0"] > 0
    assert not any((tmp_path / "torch-home").rglob("*.pth"))
    # the next command needs the segmenter: one line naming the file, the URL and the fetch command
    guard, env = _fresh_machine(tmp_path)
    proc = run_tst(
        "run", pictures / "p.png", "--style", f"person={pictures / 's.png'}", "-o", out,
        pythonpath=[guard], env=env,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in proc.stderr
    assert "https://download.pytorch.org/models/" in proc.stderr
    assert "`tst weights fetch maskrcnn-v2-coco`" in proc.stderr


@pytest.mark.needs_shared
def test_readme_first_command_with_the_shared_pictures(tmp_path):
    """The acceptance command (at 64 px and 3 iterations instead of 512 px and 200)."""
    photo = shared_path("images", "content", "tubingen.jpg")
    style = shared_path("images", "style", "starry_night.jpg")
    out = tmp_path / "out.png"
    proc = _first_command(
        photo, style, out, tmp_path, "--size", 64, "--set", "engine.gatys.iterations=3",
        "--set", "engine.gatys.max_side=0",  # no native levels: the working size, upsampled
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == Image.open(photo).size  # the photo's own size; 64 is working
    assert json.loads(out.with_suffix(".json").read_text())["segmenter"]["ran"] is False


@pytest.mark.parametrize("prefetch", ["off", "on"])
def test_a_whole_frame_batch_builds_no_segmenter(host, tmp_path, prefetch):
    """Neither the worker's setup nor its segment-ahead step (``prefetch``, which prepares
    photo i+1 while photo i is stylised) builds the segmenter for whole-frame jobs."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        random_pictures(tmp_path, (24, 32), (16, 16))
        (tmp_path / "p.png").rename(photos / name)
    run = tst_core.batch(
        [photos], [f"all={tmp_path / 's.png'}"], output=tmp_path / "out", executor="inline",
        host=host, segmenter="fake-weights", engine="fake-fill", blend="hard", size=32,
        prefetch=prefetch,
    )  # fmt: skip
    results = list(run)
    assert [r.status for r in results] == ["done"] * 3, [r.reason for r in results]
    assert not any("segment_ahead" in r.timings for r in results)
    report = json.loads((tmp_path / "out" / "a.json").read_text())
    assert report["segmenter"]["ran"] is False
