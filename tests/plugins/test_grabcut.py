"""The ``grabcut`` segmenter on small synthetic photos: cuts, points, labels and bad input."""

from __future__ import annotations

import sys

import pytest
import torch

from tst_core.errors import ConfigError, DependencyError, InputError
from tst_core.option_tables import build
from tst_core.types import Env

pytest.importorskip("cv2")

from tst_grabcut import GrabCutOptions, GrabCutSegmenter


def scene():
    """96×128 noisy green-grey photo with a red disc (centre 40,48, radius 18) and a blue
    square (rows 30..66, columns 80..116); returns the photo and the two true masks."""
    g = torch.Generator().manual_seed(1)
    photo = torch.tensor([0.35, 0.45, 0.35]).view(3, 1, 1) + 0.06 * torch.randn(
        3, 96, 128, generator=g
    )
    ys, xs = torch.meshgrid(torch.arange(96), torch.arange(128), indexing="ij")
    disc = ((ys - 48) ** 2 + (xs - 40) ** 2) <= 18**2
    square = (ys >= 30) & (ys < 66) & (xs >= 80) & (xs < 116)
    photo = torch.where(disc, torch.tensor([0.85, 0.15, 0.1]).view(3, 1, 1), photo)
    photo = torch.where(square, torch.tensor([0.1, 0.2, 0.8]).view(3, 1, 1), photo)
    return photo.clamp(0, 1).float(), disc, square


def iou(mask, truth):
    inside = mask > 0.5
    return float((inside & truth).sum() / (inside | truth).sum())


def grabcut(**options):
    return GrabCutSegmenter(GrabCutOptions(**options), Env(seed=0))


def test_one_instance_per_box_each_mask_on_its_object():
    photo, disc, square = scene()
    seg = grabcut(boxes=((18, 26, 62, 70), (74, 24, 122, 72)), labels=("Ball", "tile")).segment(
        photo
    )
    assert [i.label for i in seg] == ["ball", "tile"]
    assert [i.box for i in seg] == [(18.0, 26.0, 62.0, 70.0), (74.0, 24.0, 122.0, 72.0)]
    assert all(i.score == 1.0 for i in seg)
    assert iou(seg.instances[0].mask, disc) > 0.9
    assert iou(seg.instances[1].mask, square) > 0.9
    for inst in seg:
        assert inst.mask.dtype == torch.float32 and inst.mask.shape == (96, 128)
        assert set(inst.mask.unique().tolist()) <= {0.0, 1.0}


def test_labels_default_to_region_and_results_repeat():
    photo, _, _ = scene()
    a = grabcut(boxes=((18, 26, 62, 70),)).segment(photo)
    b = grabcut(boxes=((18, 26, 62, 70),)).segment(photo)
    assert a.instances[0].label == "region"
    assert torch.equal(a.instances[0].mask, b.instances[0].mask)


def test_a_background_point_removes_what_the_box_wrongly_holds():
    photo, disc, square = scene()
    box = ((16, 22, 122, 74),)  # holds both the disc and the square
    both = grabcut(boxes=box).segment(photo).instances[0].mask
    assert iou(both, disc | square) > 0.85
    only_disc = (
        grabcut(boxes=box, points=((98, 48, 0), (40, 48, 1))).segment(photo).instances[0].mask
    )
    assert iou(only_disc, disc) > 0.9


def test_boxes_are_clipped_to_the_photo():
    photo, disc, _ = scene()
    seg = grabcut(boxes=((-10, 20, 64, 72),)).segment(photo)
    assert seg.instances[0].box == (0.0, 20.0, 64.0, 72.0)
    assert iou(seg.instances[0].mask, disc) > 0.9


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({}, ConfigError, r"needs at least one box .*--box X0,Y0,X1,Y1"),
        ({"boxes": ((1, 2, 3),)}, ConfigError, "needs 4 numbers"),
        ({"boxes": ((10, 10, 5, 20),)}, ConfigError, "X1 > X0"),
        ({"boxes": ((1, 1, 9, 9),), "points": ((1, 1, 2),)}, ConfigError, "FG 0 or 1"),
        ({"boxes": ((1, 1, 9, 9),), "iterations": 0}, ConfigError, "iterations"),
        ({"boxes": ((1, 1, 9, 9),), "labels": ("a", "b")}, ConfigError, "2 labels for 1 boxes"),
    ],
)
def test_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        GrabCutSegmenter(build(GrabCutOptions, options, "[segmenter.grabcut]"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"boxes": ((200, 200, 300, 300),)},
            r"box 0 \(200,200,300,300\) lies outside the 128×96 photo",
        ),
        ({"boxes": ((0, 0, 128, 96),)}, "covers the whole photo"),
        (
            {"boxes": ((18, 26, 62, 70),), "points": ((100, 90),)},
            r"point \(100, 90\) lies in no --box",
        ),
    ],
)
def test_bad_boxes_and_points_for_this_photo(options, message):
    photo, _, _ = scene()
    with pytest.raises(InputError, match=message):
        grabcut(**options).segment(photo)


def test_missing_opencv_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(
        DependencyError, match=r'opencv-python-headless.*"targeted-style-transfer\[grabcut\]"'
    ):
        grabcut(boxes=((1, 1, 9, 9),))
