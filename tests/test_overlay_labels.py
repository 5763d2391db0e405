"""Overlay labels stay whole inside the picture, also for objects cut by the frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tst_core.boxes import Box
from tst_core.overlay import default_font, overlay
from tst_core.types import Instance, Segmentation


@pytest.mark.parametrize("edge", ["left", "right", "top", "bottom"])
def test_a_label_near_the_edge_is_not_cut(edge):
    h, w = 100, 200
    mask = torch.zeros(h, w)
    region = {
        "left": (slice(20, 80), slice(0, 4)),
        "right": (slice(20, 80), slice(w - 4, w)),
        "top": (slice(0, 2), slice(50, 150)),
        "bottom": (slice(h - 2, h), slice(50, 150)),
    }[edge]
    mask[region] = 1.0
    seg = Segmentation((Instance("traffic light", 0.9, Box.around(mask), mask),), (h, w))
    img = np.asarray(overlay(torch.full((3, h, w), 0.5), seg))
    ys, xs = np.nonzero(img.sum(-1) == 0)  # the label's black backing box
    font = default_font(max(12, round(max(h, w) / 45)))
    draw = ImageDraw.Draw(Image.new("RGB", (w, h)))
    left, top, right, bottom = draw.textbbox((100, 50), "0 traffic light", font=font, anchor="mm")
    assert xs.max() - xs.min() == pytest.approx(right - left + 6, abs=1)
    assert ys.max() - ys.min() == pytest.approx(bottom - top + 4, abs=1)
