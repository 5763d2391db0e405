"""sam plugin: options and prompt grouping (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
from tst_sam.options import SamOptions
from tst_sam.prompts import build_prompts

from tst_core.errors import ConfigError, InputError
from tst_core.option_tables import build

SIZE = (48, 64)  # (H, W)


def test_each_box_is_one_prompt_in_order_with_labels():
    prompts = build_prompts((), ((0, 0, 10, 10), (20, 5, 40, 30)), ("Car",), SIZE)
    assert [p.label for p in prompts] == ["car", "region"]
    np.testing.assert_array_equal(prompts[1].box, [20, 5, 40, 30])
    assert all(p.points is None and not p.ambiguous for p in prompts)


def test_points_group_by_third_value_and_background_goes_with_every_group():
    points = ((1, 2), (3, 4, 1), (50, 40, 2), (9, 9, 0))
    prompts = build_prompts(points, (), ("a", "b"), SIZE)
    assert [p.label for p in prompts] == ["a", "b"]
    np.testing.assert_array_equal(prompts[0].points, [[1, 2], [3, 4], [9, 9]])
    np.testing.assert_array_equal(prompts[0].point_labels, [1, 1, 0])
    np.testing.assert_array_equal(prompts[1].points, [[50, 40], [9, 9]])
    np.testing.assert_array_equal(prompts[1].point_labels, [1, 0])
    assert not prompts[0].ambiguous and not prompts[1].ambiguous


def test_a_single_click_is_ambiguous():
    (prompt,) = build_prompts(((5, 6),), (), (), SIZE)
    assert prompt.ambiguous and prompt.box is None


def test_boxes_come_first_and_get_only_the_background_points_inside_them():
    points = ((5, 5, 0), (30, 30, 0), (60, 40))
    prompts = build_prompts(points, ((0, 0, 10, 10),), (), SIZE)
    assert len(prompts) == 2
    box, group = prompts
    np.testing.assert_array_equal(box.points, [[5, 5]])
    np.testing.assert_array_equal(box.point_labels, [0])
    np.testing.assert_array_equal(group.point_labels, [1, 0, 0])


def test_boxes_are_clipped_to_the_photo():
    (prompt,) = build_prompts((), ((-5, -5, 100, 20),), (), SIZE)
    np.testing.assert_array_equal(prompt.box, [0, 0, 64, 20])


@pytest.mark.parametrize(
    ("points", "boxes", "error"),
    [
        (((70, 5),), (), InputError),  # outside the 64-px-wide photo
        ((), ((70, 0, 80, 10),), InputError),
        (((5, 5, 0),), (), ConfigError),  # background only
    ],
)
def test_bad_prompts_are_clear_errors(points, boxes, error):
    with pytest.raises(error):
        build_prompts(points, boxes, (), SIZE)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"points": ((1, 2, 3, 4),)},
        {"points": ((1, 2, 0.5),)},
        {"points": ((1, 2, -1),)},
        {"boxes": ((10, 0, 5, 10),)},
        {"boxes": ((0, 0, 10),)},
        {"mode": "automatic", "boxes": ((0, 0, 10, 10),)},
        {"mode": "refine", "points": ((1, 2),)},
        {"source": "sam"},
        {"points_per_side": 0},
        {"pred_iou_thresh": 1.5},
        {"min_region_area": -1},
    ],
)
def test_invalid_options_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match=r"^\[segmenter.sam\] "):
        build(SamOptions, kwargs, "[segmenter.sam]")


def test_default_options_are_valid():
    assert SamOptions().mode == "prompts"
    assert SamOptions().model_type == "vit_b"
