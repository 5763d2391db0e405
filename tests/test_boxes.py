"""The one box type (tst_core.boxes.Box): from a mask, to slices and rows/columns, grown."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tst_core.boxes import Box
from tst_core.types import Instance


def test_the_box_around_a_region_grown_and_clipped_as_slices():
    region = np.zeros((10, 10), dtype=bool)
    region[2:4, 5:7] = True
    assert Box.around(region).grown(3, region.shape).slices() == (slice(0, 7), slice(2, 10))
    empty = Box.around(np.zeros((3, 3), bool))
    assert empty.grown(3, (3, 3)).slices() == (slice(0, 0), slice(0, 0))


def test_around_a_tensor_mask_by_threshold():
    mask = torch.zeros(5, 6)
    mask[1:3, 2:5] = 0.7
    mask[4, 0] = 0.2
    assert Box.around(mask) == (2.0, 1.0, 5.0, 3.0)
    assert Box.around(mask, threshold=0.0) == (0.0, 1.0, 5.0, 5.0)  # every non-zero value
    assert Box.around(mask, threshold=0.8) == (0.0, 0.0, 0.0, 0.0)
    assert all(isinstance(v, float) for v in Box.around(mask))


def test_the_pixels_a_fractional_box_covers():
    box = Box(1.2, 0.5, 3.3, 4.0)
    assert box.pixels() == (1, 0, 4, 4)
    assert box.rows_cols() == (0, 4, 1, 4)  # (y0, y1, x0, x1)
    image = torch.arange(3 * 5 * 6).reshape(3, 5, 6)
    rows, cols = box.slices()
    assert torch.equal(image[:, rows, cols], image[:, 0:4, 1:4])


@pytest.mark.parametrize(
    ("box", "clipped"),
    [
        (Box(-10, 20, 64, 72), (0.0, 20.0, 64.0, 72.0)),
        (Box(70, 80, 90, 99), (64.0, 72.0, 64.0, 72.0)),  # outside: empty
    ],
)
def test_clipped_to_the_frame(box, clipped):
    out = box.clipped((72, 64))
    assert out == clipped and out.empty == (clipped[0] == clipped[2])


def test_size_scaling_and_points():
    box = Box(2, 4, 10, 8)
    assert (box.width, box.height) == (8, 4)
    assert box.scaled(0.5, 2.0) == (1.0, 8.0, 5.0, 16.0)
    assert box.contains(2, 4) and not box.contains(10, 5) and not box.contains(5, 8)


def test_an_instance_box_is_a_box_and_still_a_plain_tuple():
    inst = Instance("dog", 0.9, (1.0, 2.0, 3.0, 4.0), torch.zeros(5, 5))
    assert isinstance(inst.box, Box) and inst.box.x1 == 3.0
    x0, y0, x1, y1 = inst.box
    assert (x0, y0, x1, y1) == (1.0, 2.0, 3.0, 4.0)
    assert json.loads(json.dumps({"box": inst.box})) == {"box": [1.0, 2.0, 3.0, 4.0]}
