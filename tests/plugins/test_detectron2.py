"""detectron2 plugin.

The conversion of predictions, the input convention and checkpoint reading are tested
everywhere; the model itself (a randomly initialised model-zoo architecture) only where
detectron2 is importable — it is installed from source, so CI usually skips those.
"""

from __future__ import annotations

import pickle
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from tst_detectron2 import Detectron2Options, Detectron2Segmenter
from tst_detectron2.checkpoint import read_checkpoint
from tst_detectron2.model import build, import_detectron2
from tst_detectron2.segmenter import label_of, model_input, to_instances

from tst_core import option_tables
from tst_core.errors import ConfigError, DependencyError, WeightsError
from tst_core.types import Env

H, W = 48, 64
COCO_SOME = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"]
COCO_SOME += ["boat", "traffic light"]


# --- everywhere ---------------------------------------------------------------------------


def test_predictions_become_instances_with_labels_boxes_and_float_masks():
    masks = torch.zeros(3, H, W, dtype=torch.bool)
    masks[0, 10:20, 5:15] = True
    masks[1, :, :] = True
    boxes = torch.tensor([[5.0, 10.0, 15.0, 20.0], [-3.0, -1.0, 70.0, 50.0], [1, 2, 3, 4]])
    out = to_instances(
        masks, torch.tensor([0, 5, 42]), torch.tensor([0.9, 0.6, 0.3]), boxes, COCO_SOME, (H, W)
    )
    assert [i.label for i in out] == ["person", "bus", "class 42"]
    assert [i.score for i in out] == pytest.approx([0.9, 0.6, 0.3])
    assert out[0].box == (5.0, 10.0, 15.0, 20.0)
    assert out[1].box == (0.0, 0.0, float(W), float(H))  # clipped to the photo
    assert out[0].mask.dtype == torch.float32 and out[0].mask.shape == (H, W)
    assert out[0].mask.sum() == 100 and out[1].mask.sum() == H * W


def test_labels_are_lower_case_with_spaces():
    assert label_of(0, ["Traffic_Light"]) == "traffic light"
    assert label_of(1, ["person"]) == "class 1"


def test_model_input_is_uint8_in_the_models_channel_order():
    photo = torch.zeros(3, 2, 3)
    photo[0], photo[1], photo[2] = 1.0, 0.5, 0.0  # orange
    bgr = model_input(photo, "BGR")
    assert bgr.shape == (2, 3, 3) and bgr.dtype == np.uint8
    assert bgr[0, 0].tolist() == [0, 128, 255]
    assert model_input(photo, "RGB")[0, 0].tolist() == [255, 128, 0]


def test_zoo_pickles_of_numpy_arrays_are_read(tmp_path):
    state = OrderedDict(w=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.zeros(2))
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps({"model": state, "__author__": "Detectron2 Model Zoo"}))
    data = read_checkpoint(path)
    assert data["__author__"] == "Detectron2 Model Zoo"
    np.testing.assert_array_equal(data["model"]["w"], state["w"])


def test_caffe2_pickles_are_marked_for_name_matching(tmp_path):
    path = tmp_path / "c2.pkl"
    blobs = {"conv1_w": np.ones(2), "conv1_w_momentum": np.ones(2)}
    path.write_bytes(pickle.dumps({"blobs": blobs}))
    data = read_checkpoint(path)
    assert data["matching_heuristics"] and list(data["model"]) == ["conv1_w"]


class Evil:
    def __reduce__(self):
        return (print, ("this must not run",))


@pytest.mark.parametrize("suffix", [".pkl", ".pth"])
def test_checkpoints_with_code_are_refused(tmp_path, suffix):
    path = tmp_path / f"evil{suffix}"
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps({"model": {"x": Evil()}, "__author__": "x"}))
    else:
        torch.save({"x": Evil()}, path)
    with pytest.raises(
        WeightsError, match="Detectron2 checkpoint .*the Python global '(builtins[.])?print'"
    ):
        read_checkpoint(path)


def test_pth_checkpoints_are_wrapped(tmp_path):
    path = tmp_path / "m.pth"
    torch.save({"w": torch.ones(2)}, path)
    assert list(read_checkpoint(path)) == ["model"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score_threshold": -0.1},
        {"score_threshold": 1.0},  # [0, 1) as the other segmenters: 1 keeps nothing
        {"min_size": 8},
        {"config": " "},
    ],
)
def test_invalid_options(kwargs):
    with pytest.raises(ConfigError, match=r"^\[segmenter.detectron2\] "):
        option_tables.build(Detectron2Options, kwargs, "[segmenter.detectron2]")


def test_missing_detectron2_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)
    with pytest.raises(DependencyError) as err:
        Detectron2Segmenter(Detectron2Options())
    assert "not on PyPI" in str(err.value)
    assert "git+https://github.com/facebookresearch/detectron2.git" in str(err.value)


# --- with detectron2 ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def d2():
    pytest.importorskip("detectron2", reason="detectron2 is not installed (install from source)")
    return import_detectron2()


@pytest.fixture
def photo():
    return torch.rand(3, H, W)


def random_model(options: Detectron2Options):
    """The model of ``options`` with its random initialisation (seed 0), no checkpoint."""
    return build(options, torch.device("cpu"), 0, pretrained=False)


def random_segmenter(**kwargs) -> Detectron2Segmenter:
    """A random model-zoo Mask R-CNN, its classifier tamed: the random backbone's activations
    are so large that the class softmax would give every foreground class a score of 0."""
    options = Detectron2Options(min_size=H, **kwargs)
    segmenter = Detectron2Segmenter(options, Env(device="cpu", seed=0), model=random_model(options))
    heads = segmenter.model.net.roi_heads
    predictor = heads.box_predictor if hasattr(heads, "box_predictor") else heads.box_predictors[-1]
    torch.nn.init.normal_(predictor.cls_score.weight, std=1e-4)
    return segmenter


def spy_inputs(segmenter: Detectron2Segmenter) -> list[dict]:
    seen: list[dict] = []
    forward = segmenter.model.net.forward

    def spy(batch):
        seen.extend(batch)
        return forward(batch)

    segmenter.model.net.forward = spy
    return seen


def test_random_zoo_model_returns_coco_instances(d2, photo):
    from detectron2.data import MetadataCatalog

    seg = random_segmenter(score_threshold=0.0).segment(photo)
    coco = MetadataCatalog.get("coco_2017_val").thing_classes
    assert len(coco) == 80 and len(seg) > 0
    assert seg.size == (H, W)
    for inst in seg:
        assert inst.label in coco
        assert inst.mask.shape == (H, W) and inst.mask.dtype == torch.float32
        assert set(inst.mask.unique().tolist()) <= {0.0, 1.0}
        assert 0.0 <= inst.score <= 1.0
        x0, y0, x1, y1 = inst.box
        assert 0 <= x0 <= x1 <= W and 0 <= y0 <= y1 <= H


def test_the_model_gets_the_photo_in_bgr_0_255(d2, photo):
    segmenter = random_segmenter()
    seen = spy_inputs(segmenter)
    segmenter.segment(photo)
    (batch,) = seen
    assert (batch["height"], batch["width"]) == (H, W)
    expected = (photo.flip(0) * 255).round()
    assert torch.equal(batch["image"], expected)


def test_min_size_sets_the_shorter_side_the_model_sees(d2, photo):
    segmenter = random_segmenter()
    segmenter.model.augmentations[0].short_edge_length = (96, 96)
    seen = spy_inputs(segmenter)
    seg = segmenter.segment(photo)
    assert tuple(seen[0]["image"].shape) == (3, 96, 128)
    assert seg.size == (H, W)  # masks come back at the photo's size


def test_score_threshold_drops_low_scores(d2, photo):
    low = random_segmenter(score_threshold=0.0).segment(photo)
    cut = max(i.score for i in low) / 2
    high = random_segmenter(score_threshold=cut).segment(photo)
    assert all(i.score >= cut for i in high)
    assert len(high) < len(low)


def test_class_indices_map_to_dataset_names(d2, photo):
    from detectron2.structures import Boxes, Instances

    segmenter = random_segmenter()
    fixed = Instances((H, W))
    fixed.pred_masks = torch.ones(3, H, W, dtype=torch.bool)
    fixed.pred_classes = torch.tensor([0, 5, 9])
    fixed.scores = torch.tensor([0.9, 0.8, 0.7])
    fixed.pred_boxes = Boxes(torch.tensor([[0.0, 0, 10, 10]] * 3))
    segmenter.model.net.forward = lambda batch: [{"instances": fixed}]
    assert segmenter.segment(photo).labels() == ["person", "bus", "traffic light"]
    segmenter.model.class_names = ["a_b"] * 10
    assert segmenter.segment(photo).labels() == ["a b"]


def test_labels_option_replaces_the_dataset_names(d2):
    segmenter = random_segmenter(labels=("cat", "dog"))
    assert segmenter.model.class_names == ["cat", "dog"]


def test_checkpoints_load_through_detectron2s_checkpointer(d2, tmp_path, photo):
    a, b = random_segmenter(), random_segmenter()
    for p in b.model.net.parameters():
        torch.nn.init.zeros_(p)
    pkl = tmp_path / "model.pkl"
    state = OrderedDict((k, v.numpy()) for k, v in a.model.net.state_dict().items())
    pkl.write_bytes(pickle.dumps({"model": state, "__author__": "Detectron2 Model Zoo"}))
    loaded = Detectron2Segmenter(
        Detectron2Options(weights=pkl, min_size=H), Env(device="cpu")
    ).model.net.state_dict()
    for key, value in a.model.net.state_dict().items():
        assert torch.equal(loaded[key], value), key


def test_a_checkpoint_of_another_model_is_a_clear_error(d2, tmp_path):
    state = random_segmenter().model.net.state_dict()
    state["roi_heads.box_predictor.cls_score.weight"] = torch.zeros(3, 1024)
    path = tmp_path / "other.pth"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError, match="does not fit this Detectron2 config"):
        Detectron2Segmenter(Detectron2Options(weights=path), Env(device="cpu"))


def test_a_config_file_needs_weights(d2, tmp_path):
    from detectron2 import model_zoo

    path = tmp_path / "mine.yaml"
    path.write_text(Path(model_zoo.get_config_file("Base-RCNN-FPN.yaml")).read_text())
    (tmp_path / "Base-RCNN-FPN.yaml").write_text(path.read_text())
    path.write_text('_BASE_: "Base-RCNN-FPN.yaml"\nMODEL:\n  MASK_ON: True\n')
    with pytest.raises(WeightsError, match=r"names no checkpoint file.*--weights FILE"):
        Detectron2Segmenter(Detectron2Options(config=str(path)), Env(device="cpu"))
    options = Detectron2Options(config=str(path), min_size=H)
    seg = Detectron2Segmenter(options, Env(device="cpu"), model=random_model(options))
    assert seg.model.input_format == "BGR"


def test_a_config_without_masks_is_refused(d2):
    options = Detectron2Options(config="COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml")
    with pytest.raises(ConfigError, match="predicts no masks"):
        Detectron2Segmenter(options, Env(device="cpu"), model=random_model(options))


def test_a_lazyconfig_zoo_model_runs(d2, photo):
    segmenter = random_segmenter(
        config="new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py", score_threshold=0.0
    )
    seg = segmenter.segment(photo)
    assert seg.size == (H, W)
    assert all(i.mask.shape == (H, W) for i in seg)


def test_a_zoo_model_without_checkpoint_names_the_file(d2, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=r"model_final_f10217\.pkl.*never downloads"):
        Detectron2Segmenter(Detectron2Options(), Env(device="cpu"))


@pytest.mark.needs_weights
@pytest.mark.needs_shared
def test_the_real_zoo_model_finds_the_people_and_the_bus(d2, shared):
    from tst_core.api import load_photo

    try:
        segmenter = Detectron2Segmenter(Detectron2Options(), Env(device="cpu"))
    except WeightsError as exc:
        pytest.skip(f"needs the real Detectron2 checkpoint: {exc}")
    seg = segmenter.segment(load_photo(shared("images/content/bus.jpg")))
    labels = [i.label for i in seg]
    assert labels.count("person") >= 3 and "bus" in labels
    bus = next(i for i in seg if i.label == "bus")
    x0, y0, x1, y1 = bus.box
    assert x0 < 60 and y0 < 200 and x1 > 500 and y1 > 450  # the bus fills the middle band
