from __future__ import annotations

import numpy as np
import torch

from tst_core.regions import boundary, distance_to, label_map, near, paint, seam_band


def test_label_map_takes_the_target_above_threshold():
    masks = torch.zeros(2, 4, 4)
    masks[0, :, :2] = 0.9
    masks[1, :, 3] = 0.6
    masks[1, 0, 0] = 0.4  # below the threshold: target 0 keeps the pixel
    labels = label_map(masks)
    assert labels.dtype == np.int32
    assert labels[0].tolist() == [1, 1, 0, 2]


def test_boundary_marks_both_sides():
    labels = np.zeros((3, 4), dtype=np.int32)
    labels[:, 2:] = 1
    assert boundary(labels)[1].tolist() == [False, True, True, False]


def test_distances_and_bands():
    region = np.zeros((1, 9), dtype=bool)
    region[0, 4] = True
    assert distance_to(region)[0].tolist() == [4, 3, 2, 1, 0, 1, 2, 3, 4]
    assert np.isinf(distance_to(np.zeros((2, 2), bool))).all()
    assert near(region, 2)[0].tolist() == [False, False, True, True, True, True, True, False, False]
    labels = region.astype(np.int32)
    assert seam_band(labels, 0).sum() == 3


def test_paint_is_exact():
    photo, layers = torch.rand(3, 4, 4), torch.rand(2, 3, 4, 4)
    labels = np.array([[0, 1, 2, 0]] * 4, dtype=np.int32)
    out = paint(photo, layers, labels)
    assert torch.equal(out[:, :, 0], photo[:, :, 0])
    assert torch.equal(out[:, :, 1], layers[0][:, :, 1])
    assert torch.equal(out[:, :, 2], layers[1][:, :, 2])
