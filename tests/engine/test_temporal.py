"""The temporal input of the ``gatys`` engine (video): the warped start and the temporal loss."""

from __future__ import annotations

import pytest
import torch

from tst_core.engine.gatys import GatysEngine
from tst_core.engine.options import GatysOptions
from tst_core.engine.temporal import TemporalInput, TemporalLoss
from tst_core.types import Env

from .helpers import PAPER, box_mask, photo, stripes, targets

N = 64


def run(target, temporal=None, **options):
    options = {"iterations": 8, "scales": (1.0,), **PAPER, **options}
    engine = GatysEngine(GatysOptions(**options), Env("cpu", 0))
    return engine.stylize(photo(N, N), target, None, temporal=temporal)


def half():
    return targets([box_mask(N, N, 0, N, 0, N // 2)], [stripes()])


def test_the_loss_is_the_mean_squared_difference_over_the_trusted_pixels():
    previous = torch.rand(3, 8, 8)
    weight = torch.zeros(8, 8)
    weight[:, :4] = 1.0
    loss = TemporalLoss(previous, weight)
    assert float(loss(previous[None])) == 0.0
    image = previous.clone()
    image[:, :, 4:] += 0.5  # only where the weight is zero
    assert float(loss(image[None])) == 0.0
    image[:, :, :4] += 0.1
    assert float(loss(image[None])) == pytest.approx(0.01, rel=1e-4)
    assert float(TemporalLoss(previous, torch.zeros(8, 8))(image[None])) == 0.0


def test_the_input_is_checked():
    with pytest.raises(ValueError, match="weight must be"):
        TemporalInput(torch.rand(3, 8, 8), torch.ones(4, 4))
    with pytest.raises(ValueError, match="loss_weight"):
        TemporalInput(torch.rand(3, 8, 8), torch.ones(8, 8), loss_weight=-1.0)


def test_the_warped_start_is_the_previous_result_inside_the_targets():
    t = half()
    previous = stripes(N, N, period=5.0)
    quiet = {"iterations": 1, "optimizer": "adam", "lr": 1e-9, "roi": False, "frame_pad": 0}
    result = run(t, TemporalInput(previous, torch.zeros(N, N), 0.0, init=True), **quiet).image
    torch.testing.assert_close(result[:, :, :28], previous[:, :, :28], atol=1e-5, rtol=0)
    torch.testing.assert_close(result[:, :, 36:], photo(N, N)[:, :, 36:], atol=1e-5, rtol=0)
    cold = run(t, TemporalInput(previous, torch.zeros(N, N), 0.0, init=False), **quiet).image
    torch.testing.assert_close(cold, photo(N, N), atol=1e-5, rtol=0)


def test_the_temporal_loss_pulls_the_result_towards_the_previous_one():
    t = half()
    mask = t[0].mask
    previous = photo(N, N).clone()
    previous[:, mask > 0.5] = torch.tensor([0.9, 0.8, 0.1]).view(3, 1)  # another frame's paint
    free = run(t, iterations=10)
    held = run(t, TemporalInput(previous, mask, loss_weight=200.0, init=False), iterations=10)
    inside = mask > 0.5
    d_free = float((free.image - previous)[:, inside].abs().mean())
    d_held = float((held.image - previous)[:, inside].abs().mean())
    assert d_held < 0.6 * d_free, (d_held, d_free)
    assert "temporal" in held.losses[-1] and "temporal" not in free.losses[-1]
    assert held.losses[-1]["total"] == pytest.approx(
        sum(v for k, v in held.losses[-1].items() if k != "total"), rel=1e-5
    )
