"""The ``yolo`` segmenter: the real YOLOv8n-seg TFLite model on real photos, the ONNX path on
small ONNX graphs with the same output layout, and every missing-piece error."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile

import numpy as np
import pytest
import torch
from tst_yolo import YoloOptions, YoloSegmenter
from tst_yolo.decode import Letterbox, split_outputs

from tst_core.errors import ConfigError, DependencyError, InputError, WeightsError
from tst_core.files import read_image
from tst_core.option_tables import build
from tst_core.plugins import load_host

from ..conftest import shared_path
from .yolo_onnx import constant_model, red_model

MODEL = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
BUS = ("images", "content", "bus.jpg")

# Objects one can see in bus.jpg (554×740), boxes x0, y0, x1, y1 read off the photo by eye.
BUS_OBJECTS = {
    "person in the middle (sunglasses)": ("person", (150, 280, 235, 590)),
    "person on the left (white coat)": ("person", (35, 270, 165, 620)),
    "person cut by the right edge": ("person", (460, 270, 554, 600)),
    "person cut by the left edge": ("person", (0, 380, 50, 600)),
    "bus": ("bus", (15, 155, 548, 500)),
}


def yolo(**options):
    return YoloSegmenter(YoloOptions(weights=shared_path(*MODEL), **options))


@pytest.fixture(scope="module")
def bus():
    return read_image(shared_path(*BUS))


@pytest.fixture(scope="module")
def bus_seg(bus):
    return yolo().segment(bus)


def within(mask, box, grow=15):
    """Fraction of the mask inside the box grown by ``grow`` pixels, and of the box it covers."""
    x0, y0, x1, y1 = box
    h, w = mask.shape
    total = float(mask.sum())
    grown = mask[max(0, y0 - grow) : min(h, y1 + grow), max(0, x0 - grow) : min(w, x1 + grow)]
    return float(grown.sum()) / total, float(mask[y0:y1, x0:x1].mean())


@pytest.mark.needs_shared
def test_finds_the_four_people_and_the_bus_each_mask_on_its_object(bus_seg):
    labels = [inst.label for inst in bus_seg]
    assert labels.count("person") >= 4 and labels.count("bus") == 1, labels
    used = set()
    for name, (label, box) in BUS_OBJECTS.items():
        found = [
            i
            for i, inst in enumerate(bus_seg)
            if inst.label == label
            and i not in used
            and within(inst.mask_at(bus_seg.size), box)[0] > 0.95
            # a person is about half of its box (arms, legs), the bus most of its box
            and within(inst.mask_at(bus_seg.size), box)[1] > (0.5 if label == "bus" else 0.25)
        ]
        assert found, f"no {label} mask on the {name}"
        used.add(found[0])
    person = next(
        i
        for i in bus_seg
        if i.label == "person" and within(i.mask_at(bus_seg.size), (150, 280, 235, 590))[0] > 0.95
    )
    the_bus = next(i for i in bus_seg if i.label == "bus")
    face, window = person.mask_at(bus_seg.size), the_bus.mask_at(bus_seg.size)
    assert face[300, 193] == 1.0  # the face of the person in sunglasses
    assert window[250, 400] == 1.0 and face[250, 400] == 0.0  # a bus window


@pytest.mark.needs_shared
def test_instances_follow_the_contract(bus, bus_seg):
    assert bus_seg.size == (740, 554)
    scores = [inst.score for inst in bus_seg]
    assert scores == sorted(scores, reverse=True) and all(0.2 < s <= 1.0 for s in scores)
    for inst in bus_seg:
        # masks at the size the photo had in the 640-pixel input, not blown up to the photo's
        assert inst.mask.dtype == torch.float32 and inst.mask.shape == (640, 479)
        assert set(inst.mask.unique().tolist()) == {0.0, 1.0}
        x0, y0, x1, y1 = inst.box
        assert 0 <= x0 < x1 <= 554 and 0 <= y0 < y1 <= 740
        ys, xs = torch.nonzero(inst.mask_at(bus_seg.size) > 0.5, as_tuple=True)
        assert xs.min() >= x0 - 1 and xs.max() < x1 + 1 and ys.min() >= y0 - 1 and ys.max() < y1 + 1


@pytest.mark.needs_shared
def test_a_photo_without_coco_objects_gives_nothing():
    seg = yolo()
    assert len(seg.segment(read_image(shared_path("images", "content", "chicago.jpg")))) == 0
    assert len(seg.segment(torch.full((3, 120, 200), 0.5))) == 0


@pytest.mark.needs_shared
def test_thresholds_filter_and_soft_masks(bus, bus_seg):
    strict = yolo(score_threshold=0.5).segment(bus)
    assert [(i.label, i.box) for i in strict] == [
        (i.label, i.box) for i in bus_seg if i.score > 0.5
    ]
    soft = yolo(mask_threshold=None).segment(bus)
    assert len(soft) == len(bus_seg)
    for s, b in zip(soft, bus_seg, strict=True):
        values = s.mask[s.mask > 0]
        assert float(values.min()) < 0.5 < float(values.max()) <= 1.0
        assert torch.equal((s.mask > 0.5).float(), b.mask)


@pytest.mark.needs_shared
def test_class_names_from_the_option_and_from_ultralytics_metadata(bus, tmp_path):
    names = [f"thing {i}" for i in range(80)]
    assert {i.label for i in yolo(labels=tuple(names)).segment(bus)} >= {"thing 0", "thing 5"}
    with pytest.raises(ConfigError, match="80 classes but 2 names"):
        yolo(labels=("a", "b")).segment(bus)
    # Ultralytics appends its metadata to TFLite exports as a zip archive
    model = tmp_path / "named.tflite"
    shutil.copy(shared_path(*MODEL), model)
    with zipfile.ZipFile(model, "a") as zf:
        zf.writestr("metadata.json", json.dumps({"names": {str(i): f"Kind{i}" for i in range(80)}}))
    seg = YoloSegmenter(YoloOptions(weights=model)).segment(bus)
    assert {i.label for i in seg} >= {"kind0", "kind5"}


def square_photo():
    """48×64 grey photo with a red square at rows 12..36, columns 20..44."""
    photo = torch.full((3, 48, 64), 0.3)
    photo[:, 12:36, 20:44] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    return photo


def test_onnx_model_mask_comes_from_the_input(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    # 2 classes, 1 prototype, 16 anchors; the photo sits at input rows 8..56 (letterbox)
    preds = np.zeros((1, 7, 16), np.float32)
    preds[0, 0] = np.linspace(0, 60, 16)
    preds[0, :7, 0] = (32, 32, 40, 40, 0.9, 0.0, 1.0)  # box around the square, class 0
    preds[0, :7, 1] = (33, 32, 40, 40, 0.8, 0.0, 1.0)  # its duplicate: suppressed
    preds[0, :7, 2] = (10, 50, 8, 8, 0.0, 0.6, 1.0)  # class 1 on grey, no red: empty mask
    model = red_model(tmp_path / "m.onnx", preds, names=["Square", "other"])
    seg = YoloSegmenter(YoloOptions(weights=model)).segment(square_photo())
    assert [i.label for i in seg] == ["square"]  # the empty-mask instance is dropped
    inst = seg.instances[0]
    assert inst.score == pytest.approx(0.9)
    assert inst.box == pytest.approx((12.0, 4.0, 52.0, 44.0))
    expected = torch.zeros(48, 64, dtype=torch.bool)
    expected[12:36, 20:44] = True
    inside = inst.mask > 0.5
    assert (inside & expected).sum() / (inside | expected).sum() > 0.85


@pytest.mark.needs_shared
def test_onnx_path_matches_the_tflite_path_on_the_same_outputs(bus, bus_seg, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    tflite = yolo()
    outputs = tflite.runner(Letterbox.fit(bus_seg.size, (640, 640)).apply(bus))
    preds, protos = split_outputs(outputs)
    # an ONNX export gives boxes in input pixels and NCHW prototypes
    preds[:4] *= 640
    model = constant_model(tmp_path / "bus.onnx", preds[None].numpy(), protos[None].numpy(), 640)
    seg = YoloSegmenter(YoloOptions(weights=model)).segment(bus)
    assert [i.label for i in seg] == [i.label for i in bus_seg]
    for a, b in zip(seg, bus_seg, strict=True):
        assert a.score == pytest.approx(b.score)
        assert a.box == pytest.approx(b.box, abs=1e-3)
        assert float((a.mask != b.mask).float().mean()) < 1e-4


def test_missing_model_file_options(tmp_path):
    # without --weights: the examples' model, which offline (the suite) cannot be fetched
    with pytest.raises(WeightsError, match="yolov8n-seg_int8.tflite.*--weights MODEL.tflite"):
        YoloSegmenter(YoloOptions())
    with pytest.raises(WeightsError, match="YOLO model '.*nope.tflite' does not exist"):
        YoloSegmenter(YoloOptions(weights=tmp_path / "nope.tflite"))
    (tmp_path / "junk.tflite").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot load YOLO model .*junk.tflite"):
        YoloSegmenter(YoloOptions(weights=tmp_path / "junk.tflite"))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot load YOLO model .*junk.onnx"):
        YoloSegmenter(YoloOptions(weights=tmp_path / "junk.onnx"))
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(InputError, match=r"neither \.tflite nor \.onnx"):
        YoloSegmenter(YoloOptions(weights=tmp_path / "m.pt"))


@pytest.mark.parametrize(
    ("suffix", "modules", "package"),
    [
        (
            ".tflite",
            ["ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime"],
            "ai-edge-litert",
        ),
        (".onnx", ["onnxruntime"], "onnxruntime"),
    ],
)
def test_missing_runtime_says_how_to_install(tmp_path, monkeypatch, suffix, modules, package):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    (tmp_path / f"m{suffix}").write_bytes(b"x")
    with pytest.raises(DependencyError) as err:
        YoloSegmenter(YoloOptions(weights=tmp_path / f"m{suffix}"))
    assert f"needs the Python package '{package}'" in str(err.value)
    assert 'pip install "targeted-style-transfer[yolo]"' in str(err.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"score_threshold": 1.0},
        {"iou_threshold": -0.1},
        {"mask_threshold": 1.5},
        {"max_detections": 0},
        {"threads": 0},
    ],
)
def test_bad_options_are_config_errors(bad):
    with pytest.raises(ConfigError, match="segmenter.yolo"):
        build(YoloOptions, bad, "[segmenter.yolo]")


def test_registered_through_the_entry_point():
    entry = load_host().entry("segmenter", "yolo")
    assert entry.plugin == "yolo" and entry.options is YoloOptions


@pytest.mark.needs_shared
def test_masks_made_in_batches_equal_masks_made_at_once(bus, bus_seg, monkeypatch):
    import tst_yolo.segmenter

    monkeypatch.setattr(tst_yolo.segmenter, "MASK_BATCH", 2)
    batched = yolo().segment(bus)
    assert [(i.label, i.score, i.box) for i in batched] == [
        (i.label, i.score, i.box) for i in bus_seg
    ]
    assert all(torch.equal(a.mask, b.mask) for a, b in zip(batched, bus_seg, strict=True))
