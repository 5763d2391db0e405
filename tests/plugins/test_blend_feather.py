"""The ``feather`` compositor: the ramp's shape and reach."""

from __future__ import annotations

import pytest
import torch
from tst_blend.feather import FeatherCompositor, FeatherOptions
from tst_blend.hard import HardCompositor

from tests.synthetic import disc, make_targets


def half_plane(radius: float, profile: str = "distance"):
    photo = torch.zeros(3, 8, 64)
    stylized = torch.ones(1, 3, 8, 64)
    mask = torch.zeros(8, 64)
    mask[:, :32] = 1.0
    out = FeatherCompositor(FeatherOptions(radius, profile)).composite(
        photo, stylized, make_targets(mask)
    )
    return out[0, 4]  # alpha along one row: 1 inside (x < 32), 0 outside


@pytest.mark.parametrize("profile", ["distance", "gaussian"])
def test_alpha_falls_monotonically_across_the_edge_and_is_symmetric(profile):
    alpha = half_plane(8.0, profile)
    assert torch.all(alpha[1:] <= alpha[:-1] + 1e-7)
    assert torch.allclose(alpha[:32], 1 - alpha[32:].flip(0), atol=1e-6)
    assert 0.5 < float(alpha[31]) < 1.0 and 0.0 < float(alpha[32]) < 0.5


def test_distance_ramp_reaches_exactly_radius_pixels():
    alpha = half_plane(6.0)
    # pixel centres sit 0.5 from the edge between columns 31 and 32
    assert float(alpha[32 + 5]) > 0.0 and float(alpha[32 + 6]) == 0.0
    assert float(alpha[31 - 5]) < 1.0 and float(alpha[31 - 6]) == 1.0


def test_radius_zero_is_the_hard_cut():
    photo, stylized = torch.rand(3, 40, 40), torch.rand(2, 3, 40, 40)
    targets = make_targets(disc(40, 40, 20, 14, 10), disc(40, 40, 20, 26, 10))
    out = FeatherCompositor(FeatherOptions(radius=0.0)).composite(photo, stylized, targets)
    assert torch.equal(out, HardCompositor().composite(photo, stylized, targets))


def test_touching_targets_blend_into_each_other_with_weights_summing_to_one():
    photo = torch.zeros(3, 8, 64)
    stylized = torch.stack([torch.full((3, 8, 64), 0.2), torch.full((3, 8, 64), 0.8)])
    left, right = torch.zeros(8, 64), torch.zeros(8, 64)
    left[:, :32] = 1.0
    right[:, 32:] = 1.0
    out = FeatherCompositor().composite(photo, stylized, make_targets(left, right))
    row = out[0, 4]
    assert torch.allclose(row[:20], torch.full((20,), 0.2))
    assert torch.allclose(row[44:], torch.full((20,), 0.8))
    assert torch.all(row[1:] >= row[:-1] - 1e-7)


def test_far_from_every_edge_pixels_are_copied_exactly():
    photo, stylized = torch.rand(3, 64, 64), torch.rand(1, 3, 64, 64)
    targets = make_targets(disc(64, 64, 32, 32, 20))
    out = FeatherCompositor(FeatherOptions(radius=4.0)).composite(photo, stylized, targets)
    assert torch.equal(out[:, 30:34, 30:34], stylized[0][:, 30:34, 30:34])
    assert torch.equal(out[:, :4, :4], photo[:, :4, :4])
