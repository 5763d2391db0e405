"""``tst segment`` and ``tst run`` with the yolo, grabcut, torchvision and maskfile segmenters:
the table, the overlay, ``--export-masks`` read back unchanged by ``maskfile``, and one-line
errors with exit status 2 for every missing dependency, model or checkpoint."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tst_core.files import read_image

from ..conftest import run_tst, shared_path

MODEL = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")


def table_labels(out: str) -> list[str]:
    """Labels of the instance rows of ``tst segment``'s table (labels may hold a space)."""
    rows = [line.split() for line in out.splitlines()[2:]]
    return [" ".join(r[1:-6]) for r in rows]


@pytest.fixture
def bus():
    return shared_path("images", "content", "bus.jpg")


@pytest.fixture
def yolo_args():
    return ["--segmenter", "yolo", "--weights", shared_path(*MODEL)]


@pytest.mark.needs_shared
def test_yolo_on_the_bus_prints_the_people_and_the_bus_and_draws_the_overlay(
    cli, bus, yolo_args, tmp_path
):
    code, out, err = cli("segment", bus, *yolo_args, "--overlay", tmp_path / "o.png")
    assert code == 0, err
    assert out.splitlines()[0].endswith("s)") and "(yolo," in out.splitlines()[0]
    labels = table_labels(out)
    assert labels.count("person") >= 4 and labels.count("bus") == 1, out
    overlay = np.asarray(Image.open(tmp_path / "o.png"), dtype=np.int16)
    photo = np.asarray(Image.open(bus).convert("RGB"), dtype=np.int16)
    assert overlay.shape == photo.shape == (740, 554, 3)
    assert np.abs(overlay[450, 193] - photo[450, 193]).sum() > 30  # tinted: a person's coat
    assert np.abs(overlay[700, 300] - photo[700, 300]).sum() == 0  # the pavement stays


def round_trip(cli, photo, args, tmp_path):
    """Segment with ``args`` and export, read the export back with maskfile: both --json."""
    export = tmp_path / "masks"
    code, first, err = cli("segment", photo, *args, "--json", "--export-masks", export)
    assert code == 0, err
    code, again, err = cli("segment", photo, "--segmenter", "maskfile", "--masks", export, "--json")
    assert code == 0, err
    first_rows = json.loads(first)["instances"]  # --json keeps stdout pure JSON
    again_rows = json.loads(again)["instances"]
    return first_rows, again_rows, export


@pytest.mark.needs_shared
def test_yolo_export_reads_back_unchanged(cli, bus, yolo_args, tmp_path):
    first, again, export = round_trip(cli, bus, yolo_args, tmp_path)
    assert len(first) >= 5 and again == first
    # the masks themselves, pixel for pixel
    photo = read_image(bus)
    from tst_core.api import segment

    seg = segment(photo, segmenter="yolo", segmenter_options={"weights": shared_path(*MODEL)})
    for row, inst in zip(first, seg.segmentation, strict=True):
        name = f"{row['id']:03d}_{row['label']}.png"
        assert torch.equal(read_image(export / name)[0], inst.mask)


def scene(tmp_path):
    photo = np.full((60, 80, 3), (90, 110, 90), np.uint8)
    photo += np.random.default_rng(0).integers(0, 20, photo.shape, dtype=np.uint8)
    photo[15:45, 10:35] = (220, 40, 30)
    photo[20:50, 50:72] = (30, 50, 210)
    Image.fromarray(photo).save(tmp_path / "scene.png")
    return tmp_path / "scene.png"


def test_grabcut_table_overlay_and_round_trip(cli, tmp_path):
    photo = scene(tmp_path)
    args = ["--segmenter", "grabcut", "--box", "5,10,40,50", "--box", "45,15,77,55"]
    args += ["--set", 'segmenter.grabcut.labels=["red card", "blue card"]']
    code, out, err = cli("segment", photo, *args, "--overlay", tmp_path / "ids.png")
    assert code == 0, err
    assert table_labels(out) == ["red card", "blue card"]
    assert Image.open(tmp_path / "ids.png").size == (80, 60)
    first, again, export = round_trip(cli, photo, args, tmp_path)
    assert again == first and [r["label"] for r in first] == ["red card", "blue card"]
    assert sorted(p.name for p in export.iterdir()) == [
        "000_red card.png",
        "001_blue card.png",
        "instances.json",
    ]


def test_torchvision_with_a_checkpoint_file_round_trips(cli, tmp_path):
    from tst_torchvision.segmenter import TorchvisionOptions, build_model

    torch.manual_seed(0)
    net = build_model(TorchvisionOptions(model="v1"), pretrained=False)
    torch.save(net.state_dict(), tmp_path / "random-maskrcnn.pth")
    photo = scene(tmp_path)
    args = ["--segmenter", "torchvision", "--weights", tmp_path / "random-maskrcnn.pth"]
    args += [
        "--set",
        "segmenter.torchvision.model=v1",
        "--set",
        "segmenter.torchvision.min_size=64",
    ]
    args += ["--set", "segmenter.torchvision.max_detections=5", "--device", "cpu"]
    args += ["--set", "segmenter.torchvision.score_threshold=0.0"]
    first, again, _ = round_trip(cli, photo, args, tmp_path)
    assert len(first) > 0 and again == first


def test_maskfile_export_round_trips_itself(cli, tmp_path):
    photo = scene(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    m = np.zeros((60, 80), np.uint8)
    m[10:30, 5:25] = 255
    Image.fromarray(m).save(src / "dog.png")
    m[:] = 0
    m[35:55, 40:70] = 128  # a soft mask survives too
    Image.fromarray(m).save(src / "cat_2.png")
    first, again, _ = round_trip(cli, photo, ["--segmenter", "maskfile", "--masks", src], tmp_path)
    assert [r["label"] for r in first] == ["cat", "dog"] and again == first


def test_maskfile_drops_a_recorded_box_the_edited_mask_has_left(cli, tmp_path):
    photo = scene(tmp_path)
    args = ["--segmenter", "grabcut", "--box", "5,10,40,50"]
    first, _, export = round_trip(cli, photo, args, tmp_path)
    assert first[0]["box"] == [5.0, 10.0, 40.0, 50.0]
    edited = np.zeros((60, 80), np.uint8)
    edited[2:58, 2:78] = 255  # the user painted the mask far beyond the box
    Image.fromarray(edited).save(export / "000_region.png")
    code, out, _ = cli("segment", photo, "--segmenter", "maskfile", "--masks", export, "--json")
    assert code == 0 and json.loads(out)["instances"][0]["box"] == [2.0, 2.0, 78.0, 58.0]


# case: (args after the photo, monkeypatched missing modules, message regex)
MISSING = {
    "yolo without a model": (
        ["--segmenter", "yolo"],
        [],
        r"yolov8n-seg_int8.tflite.*TST_OFFLINE=1.*`tst weights fetch yolov8n-seg-int8`",
    ),
    "yolo model file missing": (
        ["--segmenter", "yolo", "--weights", "{tmp}/nope.tflite"],
        [],
        "YOLO model '.*nope.tflite' does not exist",
    ),
    "yolo model file broken": (
        ["--segmenter", "yolo", "--weights", "{tmp}/junk.tflite"],
        [],
        "cannot load YOLO model .*junk.tflite",
    ),
    "yolo runtime missing": (
        ["--segmenter", "yolo", "--weights", "{tmp}/junk.tflite"],
        ["ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime"],
        r"needs the Python package 'ai-edge-litert'.*\[yolo\]",
    ),
    "onnxruntime missing": (
        ["--segmenter", "yolo", "--weights", "{tmp}/junk.onnx"],
        ["onnxruntime"],
        r"needs the Python package 'onnxruntime'.*\[yolo\]",
    ),
    "grabcut without a box": (["--segmenter", "grabcut"], [], "needs at least one box"),
    "grabcut box outside": (
        ["--segmenter", "grabcut", "--box", "500,500,600,600"],
        [],
        "lies outside the 80×60 photo",
    ),
    "opencv missing": (
        ["--segmenter", "grabcut", "--box", "1,1,9,9"],
        ["cv2"],
        r"needs the Python package 'opencv-python-headless'.*\[grabcut\]",
    ),
    "torchvision checkpoint missing": (
        ["--segmenter", "torchvision"],
        [],
        "Mask R-CNN ResNet-50-FPN v2, COCO .*'maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth' "
        "is not in .*TST_OFFLINE=1.*`tst weights fetch maskrcnn-v2-coco`.*--weights FILE, "
        "or use --segmenter yolo",
    ),
    "torchvision checkpoint path missing": (
        ["--segmenter", "torchvision", "--weights", "{tmp}/none.pth"],
        [],
        "checkpoint '.*none.pth' does not exist",
    ),
    "torchvision checkpoint broken": (
        ["--segmenter", "torchvision", "--weights", "{tmp}/junk.tflite"],
        [],
        "cannot load Mask R-CNN v2 COCO checkpoint .*: it is not a PyTorch checkpoint",
    ),
    "a flag the segmenter lacks": (
        ["--segmenter", "grabcut", "--box", "1,1,9,9", "--masks", "x"],
        [],
        r"unknown key 'masks' in \[segmenter.grabcut\]",
    ),
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_missing_pieces_are_one_line_and_exit_2(cli, tmp_path, monkeypatch, case):
    args, modules, message = MISSING[case]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    photo = scene(tmp_path)
    (tmp_path / "junk.tflite").write_bytes(b"not a model")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = cli(
        "segment",
        photo,
        *[a.replace("{tmp}", str(tmp_path)) for a in args],
        "--overlay",
        out_dir / "o.png",
        "--export-masks",
        out_dir / "masks",
    )
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(message, lines[0]), lines[0]
    assert list(out_dir.iterdir()) == [], "a failed segment left files behind"


@pytest.mark.needs_shared
def test_run_with_yolo_and_the_test_engine(cli, bus, yolo_args, tmp_path):
    for name, colour in (("red.png", (250, 0, 0)), ("blue.png", (0, 0, 250))):
        Image.new("RGB", (16, 16), colour).save(tmp_path / name)
    out = tmp_path / "out.png"
    code, _, err = cli(
        "run",
        bus,
        *yolo_args,
        "--style",
        f"person#0={tmp_path / 'red.png'}",
        "--style",
        f"person#1={tmp_path / 'blue.png'}",
        "--engine",
        "fake-fill",
        "--blend",
        "hard",
        "--size",
        128,
        "-o",
        out,
    )
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["config"]["run"]["segmenter"] == "yolo"
    people = [r for r in report["instances"] if r["label"] == "person"]
    assert len(people) >= 4
    targets = report["targets"]
    assert [t["instance_ids"] for t in targets] == [[people[0]["id"]], [people[1]["id"]]]
    assert all(t["area"] > 0.01 for t in targets)
    image = np.asarray(Image.open(out), dtype=np.int16)
    assert image.shape == (740, 554, 3)  # the photo's own size (--size is the working size)
    # the person in sunglasses (photo pixel 193, 450) is person#0: red there, photo elsewhere
    red = image[450, 193]
    assert red[0] > 200 and red[2] < 40
    photo = np.asarray(Image.open(bus).convert("RGB"), dtype=np.int16)
    assert np.array_equal(image[717, 277], photo[717, 277])  # the pavement is the photo's own


@pytest.mark.needs_shared
def test_the_acceptance_command_in_a_real_process_prints_only_the_table(tmp_path):
    model = shared_path(*MODEL)
    photo = shared_path("images", "content", "bus.jpg")
    args = ["segment", photo, "--segmenter", "yolo", "--weights", model]
    proc = run_tst(*args, "--overlay", tmp_path / "o.png")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # LiteRT's native INFO line is silenced
    labels = table_labels(proc.stdout)
    assert labels.count("person") >= 4 and labels.count("bus") == 1
    assert (tmp_path / "o.png").is_file()
