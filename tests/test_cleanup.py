"""Mask clean-up: holes, edges near the frame, ragged edges; and the pipeline applies it."""

from __future__ import annotations

import pytest
import torch

import tst_core
from tst_core.cleanup import clean_targets, fill_holes, smooth_edges, snap_edges
from tst_core.errors import ConfigError
from tst_core.types import Instance, Segmentation, Target, Targets


def _person(h=40, w=30):
    m = torch.zeros(h, w)
    m[4:36, 6:24] = 1.0
    return m


def test_fill_holes_fills_a_small_hole_and_leaves_the_rest_of_the_mask():
    m = _person()
    m[10:12, 10:12] = 0.0  # 4 px: 0.7 % of the region
    m[20:30, 8:20] = 0.0  # 120 px: 21 %, a real gap (an arm on the hip)
    out = fill_holes(m, 0.02)
    assert torch.equal(out[10:12, 10:12], torch.ones(2, 2))
    assert torch.equal(out[20:30, 8:20], torch.zeros(10, 12))
    changed = out != m
    assert int(changed.sum()) == 4  # nothing else moved
    assert torch.equal(fill_holes(m, 0.0), m)


def test_a_gap_open_to_the_background_is_not_a_hole():
    m = _person()
    m[20:36, 12:16] = 0.0  # between the legs, open at the bottom
    assert torch.equal(fill_holes(m, 1.0), m)


def test_snap_extends_an_edge_that_stops_short_of_the_frame():
    m = torch.zeros(20, 20)
    m[5:15, 3:18] = 0.8  # 3 px from the left, 2 from the right (soft values kept)
    out = snap_edges(m, 3)
    assert torch.equal(out[5:15, :3], torch.full((10, 3), 0.8))
    assert torch.equal(out[5:15, 18:], torch.full((10, 2), 0.8))
    assert torch.equal(out[:5], torch.zeros(5, 20))  # 5 px from the top: too far
    assert torch.equal(snap_edges(m, 1), m)


def test_smooth_edges_rounds_a_ragged_edge_and_keeps_a_hard_mask_hard():
    m = _person()
    m[4:36:2, 24] = 1.0  # a comb of one-pixel teeth
    out = smooth_edges(m, 1.5)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert float(out[4:36, 24].sum()) < float(m[4:36, 24].sum())
    assert abs(float(out.sum()) - float(m.sum())) < 0.1 * float(m.sum())
    soft = smooth_edges(m * 0.5, 1.5)
    assert 0.0 < float(soft.max()) <= 0.5


def test_clean_targets_keeps_later_targets_winning():
    a = _person()
    a[10:14, 10:14] = 0.0
    b = torch.zeros(40, 30)
    b[10:14, 10:14] = 1.0  # the later target sits in a's hole
    t = Targets(
        (Target("a", a, torch.zeros(3, 4, 4)), Target("b", b, torch.zeros(3, 4, 4))), (40, 30)
    )
    out = clean_targets(t, fill=0.5)
    assert torch.equal(out[1].mask, b)
    assert float(out[0].mask[10:14, 10:14].max()) == 0.0  # filled, then b won it back
    assert clean_targets(t) is t


def test_the_pipeline_cleans_targets_before_the_engine():
    photo = torch.rand(3, 40, 30)
    mask = _person()
    mask[10:12, 10:12] = 0.0
    seg = Segmentation((Instance("person", 0.9, (6, 4, 24, 36), mask),), (40, 30))
    sets = ["engine.gatys.iterations=1", "engine.gatys.scales=[1.0]"]
    style = {"person": torch.rand(3, 32, 32)}
    kept = tst_core.run(photo, style, size=40, segmentation=seg, sets=[*sets, "run.fill_holes=0"])
    assert float(kept.targets[0].mask[10:12, 10:12].max()) == 0.0
    res = tst_core.run(photo, style, size=40, segmentation=seg, sets=[*sets, "run.fill_holes=0.05"])
    assert float(res.targets[0].mask[10:12, 10:12].min()) == 1.0
    with pytest.raises(ConfigError, match="fill_holes"):
        tst_core.session(sets=["run.fill_holes=2"])
