"""Helpers of tst_core.types used by segmenters."""

from __future__ import annotations

import torch

from tst_core.types import Segmentation, make_instances


def test_make_instances_thresholds_drops_empty_and_clamps():
    masks = torch.zeros(3, 4, 5)
    masks[0, 1:3, 1:4] = 0.9
    masks[0, 0, 0] = 0.4  # below the threshold: background
    masks[1] = 0.3  # nothing above 0.5: dropped
    masks[2, 2:, :2] = 0.6
    out = make_instances(
        ["person", "car", "dog"], torch.tensor([0.9, 0.8, 1.2]), torch.zeros(3, 4), masks
    )
    assert [i.label for i in out] == ["person", "dog"]
    assert out[1].score == 1.0 and out[0].box == (0.0, 0.0, 0.0, 0.0)
    assert torch.equal(out[0].mask, (masks[0] > 0.5).float())
    assert Segmentation(out, (4, 5)).labels() == ["dog", "person"]


def test_make_instances_keeps_soft_masks_when_asked():
    masks = torch.zeros(2, 4, 5)
    masks[0, :2] = 0.7
    masks[1] = 0.4
    out = make_instances(["a", "b"], [0.5, 0.4], [(0, 0, 5, 2), (0, 0, 5, 4)], masks, None)
    assert [i.label for i in out] == ["a"]
    assert torch.equal(out[0].mask, masks[0]) and out[0].box == (0.0, 0.0, 5.0, 2.0)
