"""The overlay picture of `tst segment` (tst_core.overlay)."""

from __future__ import annotations

import numpy as np
import torch

from tst_core.overlay import _shift_inside, overlay
from tst_core.types import Instance, Segmentation


def test_shift_inside_moves_a_span_back_into_the_picture():
    assert _shift_inside(-7, 20, 100) == 7
    assert _shift_inside(90, 110, 100) == -10
    assert _shift_inside(10, 20, 100) == 0


def test_label_of_an_object_at_the_edge_stays_inside():
    h, w = 60, 120
    mask = torch.zeros(h, w)
    mask[20:40, 116:] = 1.0  # a sliver at the right edge: its label centre is near x = 118
    seg = Segmentation((Instance("person", 0.9, (116.0, 20.0, 120.0, 40.0), mask),), (h, w))
    img = np.asarray(overlay(torch.full((3, h, w), 0.5), seg))
    dark = np.nonzero((img[20:40] == 0).all(axis=2))[1]  # the label's black background
    assert dark.size and dark.min() < 90, "the label was cut off by the right edge"
