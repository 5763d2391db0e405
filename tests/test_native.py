"""tst_core.native: windows of the photo and working-size arrays cut to them."""

from __future__ import annotations

import torch

from tst_core.boxes import Box
from tst_core.native import crop_resample, low_size, window_boxes


def test_crop_resample_cuts_exactly_on_the_working_grid():
    image = torch.rand(2, 10, 12)
    assert torch.allclose(crop_resample(image, (10, 12), Box(0, 0, 12, 10), (10, 12)), image)
    assert torch.allclose(crop_resample(image, (100, 120), Box(0, 0, 120, 100), (10, 12)), image)
    cut = crop_resample(image, (100, 120), Box(20, 30, 60, 80), (5, 4))
    assert torch.allclose(cut, image[:, 3:8, 2:6], atol=1e-6)
    assert low_size(Box(20, 30, 60, 80), 0.1) == (5, 4)


def test_windows_hold_each_target_and_merge_when_close():
    masks = torch.zeros(2, 20, 30)
    masks[0, 2:5, 2:5] = 1.0
    masks[1, 14:18, 24:28] = 0.6
    far = window_boxes(masks, (200, 300), margin=10)
    assert far == [Box(0, 0, 70, 70), Box(220, 120, 300, 200)]
    near = window_boxes(masks, (200, 300), margin=90)
    assert near == [Box(0, 0, 300, 200)]
    assert window_boxes(torch.zeros(1, 20, 30), (200, 300), margin=10) == []
    assert window_boxes(masks, (200, 300), margin=10, min_gap=200) == [Box(0, 0, 300, 200)]
