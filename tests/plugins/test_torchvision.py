"""The ``torchvision`` segmenter (Mask R-CNN) with randomly initialised models of the same
architecture (the COCO checkpoints are not available offline), and with the real checkpoint
when it is in the ``$TORCH_HOME`` cache."""

from __future__ import annotations

import copy

import pytest
import torch
from tst_torchvision.segmenter import (
    TorchvisionOptions,
    TorchvisionSegmenter,
    build_model,
    coco_weights,
    load_state,
)

from tst_core.errors import ConfigError, WeightsError
from tst_core.types import Env
from tst_core.weights import cache_dir

from ..conftest import shared_path

# small inputs and few proposals keep a random Mask R-CNN fast on a CPU
SMALL = {"min_size": 64, "max_size": 128, "max_detections": 10}


def small_net(model: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model(TorchvisionOptions(model=model), pretrained=False)
    net.rpn._pre_nms_top_n["testing"] = 200
    net.rpn._post_nms_top_n["testing"] = 50
    return net


@pytest.fixture(scope="module")
def nets():
    return {}


@pytest.fixture
def net(nets):
    """A fresh copy of a random v1 Mask R-CNN (built once per module)."""
    if "v1" not in nets:
        nets["v1"] = small_net("v1")
    return copy.deepcopy(nets["v1"])


def photo(h=48, w=64):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(3))


def segmenter(net, **options):
    opts = TorchvisionOptions(**{"model": "v1", "score_threshold": 0.0, **SMALL, **options})
    return TorchvisionSegmenter(opts, Env(device="cpu"), model=net)


@pytest.mark.parametrize("model", ["v1", "v2"])
def test_random_model_instances_follow_the_contract(nets, model):
    if model not in nets:
        nets[model] = small_net(model)
    seg = segmenter(copy.deepcopy(nets[model]), model=model).segment(photo())
    assert len(seg) > 0 and seg.size == (48, 64)
    scores = [i.score for i in seg]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    names = {n.lower() for n in coco_weights(model).meta["categories"]}
    for inst in seg:
        assert inst.label in names or inst.label.startswith("class ")
        assert inst.mask.shape == (48, 64) and inst.mask.dtype == torch.float32
        assert set(inst.mask.unique().tolist()) <= {0.0, 1.0} and inst.mask.max() == 1.0
        x0, y0, x1, y1 = inst.box
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 48


@pytest.mark.parametrize(
    ("index", "label"), [(1, "person"), (6, "bus"), (10, "traffic light"), (90, "toothbrush")]
)
def test_category_index_maps_to_the_coco_name(net, index, label):
    with torch.no_grad():  # make one category win every box
        net.roi_heads.box_predictor.cls_score.bias[index] = 30.0
    seg = segmenter(net).segment(photo())
    assert len(seg) > 0 and {i.label for i in seg} == {label}
    assert min(i.score for i in seg) > 0.99


def test_score_threshold_keeps_exactly_the_higher_scores(net):
    low = segmenter(net, max_detections=30).segment(photo())
    cut = sorted(i.score for i in low)[len(low) // 2]
    high = segmenter(net, max_detections=30, score_threshold=cut).segment(photo())
    assert 0 < len(high) < len(low)
    assert [(i.label, i.box) for i in high] == [(i.label, i.box) for i in low if i.score > cut]


def test_mask_threshold_or_soft_masks(net):
    soft = segmenter(net, mask_threshold=None).segment(photo())
    hard = segmenter(net, mask_threshold=0.5).segment(photo())
    assert any(bool(((i.mask > 0.0) & (i.mask < 1.0)).any()) for i in soft)
    assert [i.label for i in soft] == [i.label for i in hard]
    for s, h in zip(soft, hard, strict=True):
        assert torch.equal((s.mask > 0.5).float(), h.mask)
    with torch.no_grad():  # every mask logit very negative: no instance has a region
        net.roi_heads.mask_predictor.mask_fcn_logits.weight.zero_()
        net.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(-30.0)
    assert len(segmenter(net).segment(photo())) == 0


def test_device_option(net):
    seg = segmenter(net, device="cpu")
    assert next(seg.model.parameters()).device.type == "cpu"
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        TorchvisionOptions(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is available"):
            segmenter(net, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_cuda_and_returns_cpu_masks(net):
    seg = segmenter(net, device="cuda").segment(photo())
    assert all(i.mask.device.type == "cpu" for i in seg)


def test_checkpoint_from_an_explicit_path(net, tmp_path):
    torch.save(net.state_dict(), tmp_path / "random.pth")
    expected = segmenter(net).segment(photo())
    loaded = build_model(TorchvisionOptions(model="v1", weights=tmp_path / "random.pth"))
    loaded.rpn._pre_nms_top_n["testing"] = 200
    loaded.rpn._post_nms_top_n["testing"] = 50
    got = segmenter(loaded).segment(photo())
    assert [(i.label, i.score, i.box) for i in got] == [(i.label, i.score, i.box) for i in expected]


def test_checkpoint_of_a_training_run_is_unwrapped(tmp_path):
    state = {"backbone.body.conv1.weight": torch.zeros(1)}
    torch.save({"model": state, "epoch": 3}, tmp_path / "training.pth")
    path, got = load_state(TorchvisionOptions(weights=tmp_path / "training.pth"))
    assert path == tmp_path / "training.pth" and torch.equal(
        got["backbone.body.conv1.weight"], torch.zeros(1)
    )


def test_checkpoint_of_the_other_version_is_refused(net, tmp_path):
    torch.save(net.state_dict(), tmp_path / "v1.pth")
    with pytest.raises(WeightsError, match=r"does not fit Mask R-CNN v2 .*model=v1 or v2"):
        build_model(TorchvisionOptions(model="v2", weights=tmp_path / "v1.pth"))


@pytest.mark.parametrize(
    ("model", "filename"),
    [
        ("v1", "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"),
        ("v2", "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"),
    ],
)
def test_missing_checkpoint_names_the_file_the_cache_and_the_alternatives(
    tmp_path, monkeypatch, model, filename
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError) as err:
        TorchvisionSegmenter(TorchvisionOptions(model=model), Env(device="cpu"))
    text = str(err.value)
    assert f"'{filename}' is not in {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in text
    assert "TST_OFFLINE=1" in text and "--weights FILE" in text and "--segmenter yolo" in text
    assert f"https://download.pytorch.org/models/{filename}" in text
    assert f"`tst weights fetch maskrcnn-{model}-coco`" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"score_threshold": 1.0},
        {"mask_threshold": -0.5},
        {"max_detections": 0},
        {"min_size": 16},
        {"min_size": 900, "max_size": 800},
        {"model": "v3"},
    ],
)
def test_bad_options_are_config_errors(bad):
    from tst_core.option_tables import build

    with pytest.raises(ConfigError, match="segmenter.torchvision"):
        build(TorchvisionOptions, bad, "[segmenter.torchvision]")


@pytest.mark.needs_weights
@pytest.mark.parametrize("model", ["v1", "v2"])
def test_real_checkpoint_finds_the_people_and_the_bus(model):
    filename = coco_weights(model).url.rsplit("/", 1)[-1]
    if not (cache_dir() / filename).is_file():
        pytest.skip(
            f"needs the Mask R-CNN {model} checkpoint {cache_dir() / filename} (offline here)"
        )
    from tst_core.files import read_image

    bus = read_image(shared_path("images", "content", "bus.jpg"))
    seg = TorchvisionSegmenter(TorchvisionOptions(model=model), Env(device="auto")).segment(bus)
    labels = [i.label for i in seg]
    assert labels.count("person") >= 4 and labels.count("bus") == 1, labels
