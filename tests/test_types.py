"""Helpers of tst_core.types used by segmenters."""

from __future__ import annotations

import pytest
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


def test_instance_masks_may_be_at_the_segmenters_size():
    """A 24 MP photo's instances keep the masks the segmenter computed (here 1/4 size), boxes
    in photo pixels; each stage asks for the size it needs."""
    from tst_core.boxes import Box
    from tst_core.select import build_targets, parse_style_arg
    from tst_core.types import Instance, Segmentation

    small = torch.zeros(30, 40)
    small[10:20, 5:15] = 1.0
    inst = Instance("person", 0.9, Box(20, 40, 60, 80), small)
    seg = Segmentation((inst,), (120, 160))
    assert seg.mask_size == (30, 40) and inst.mask_size == (30, 40)
    full = inst.mask_at((120, 160))
    assert full.shape == (120, 160) and float(full[60, 40]) == 1.0 and float(full[5, 5]) == 0.0
    assert seg.covered((60, 80)).shape == (60, 80)
    assert seg.covered().shape == (120, 160)
    targets = build_targets(
        seg, [parse_style_arg("background=s.png")], lambda s: torch.rand(3, 4, 4), size=(60, 80)
    )
    assert targets.size == (60, 80)
    assert float(targets[0].mask[30, 20]) == 0.0 and float(targets[0].mask[2, 2]) == 1.0


@pytest.mark.parametrize("shape", [(121, 160), (30, 60), (240, 320)])
def test_instance_masks_larger_or_of_another_aspect_are_refused(shape):
    from tst_core.boxes import Box
    from tst_core.types import Instance, Segmentation

    inst = Instance("person", 0.9, Box(0, 0, 1, 1), torch.zeros(shape))
    with pytest.raises(ValueError, match="must cover the 120x160 photo"):
        Segmentation((inst,), (120, 160))
