"""The engine's plan: regions, supersampling, the painting's size per target, and what the
engine does with them (tiny sizes)."""

from __future__ import annotations

import pytest
import torch

from tst_core.boxes import Box
from tst_core.engine.gatys import GatysEngine
from tst_core.engine.options import GatysOptions
from tst_core.engine.plan import grow_masks, masked_regions, painting_side
from tst_core.imageops import resize_long_side
from tst_core.types import Env, Target, TargetOptions, Targets

from .helpers import PAPER, box_mask, photo, stripes


def _targets(masks, options=None):
    options = options or [TargetOptions()] * len(masks)
    items = tuple(
        Target(f"t{k}", m, stripes(), options=o)
        for k, (m, o) in enumerate(zip(masks, options, strict=True))
    )
    return Targets(items, tuple(masks[0].shape))


def test_targets_far_apart_get_their_own_regions_and_near_ones_share_one():
    h, w = 64, 256
    masks = [
        box_mask(h, w, 10, 30, 10, 30),
        box_mask(h, w, 10, 30, 40, 60),  # 10 px from the first: their margins overlap
        box_mask(h, w, 10, 30, 200, 220),
    ]
    t = _targets(masks)
    regions = masked_regions(t.masks(), list(t), GatysOptions(roi_margin=8))
    assert [(r.targets, tuple(r.box)) for r in regions] == [
        ((0, 1), (2, 2, 68, 38)),
        ((2,), (192, 2, 228, 38)),
    ]
    one = masked_regions(t.masks(), list(t), GatysOptions(roi=False))
    assert [(r.targets, tuple(r.box)) for r in one] == [((0, 1, 2), (0, 0, w, h))]


def test_supersampling_reaches_the_side_within_the_frames_budget():
    h = w = 256
    small = box_mask(h, w, 100, 132, 100, 116)  # a 16 × 32 box: side √512 ≈ 22.6 px
    t = _targets([small])
    o = GatysOptions(roi_margin=4, supersample_side=64, supersample_max=8)
    (region,) = masked_regions(t.masks(), list(t), o)
    assert region.factor == pytest.approx(64 / 512**0.5)
    assert region.sampled == (round(40 * region.factor), round(24 * region.factor))
    # a large target cannot grow beyond the frame's pixels, and never below 1
    big = _targets([box_mask(h, w, 8, 248, 8, 248)])
    (region,) = masked_regions(big.masks(), list(big), GatysOptions(supersample_side=1024))
    assert region.factor == pytest.approx(1.0)
    # a target's own @supersample wins over the option (and is not budgeted)
    own = _targets([small], [TargetOptions(supersample=2.0)])
    (region,) = masked_regions(own.masks(), list(own), o)
    assert region.factor == 2.0
    (region,) = masked_regions(t.masks(), list(t), GatysOptions())
    assert region.factor == 1.0  # off by default


def test_the_budget_shrinks_every_automatic_factor_together():
    h, w = 128, 512
    masks = [box_mask(h, w, 10, 70, 10 + 120 * k, 70 + 120 * k) for k in range(4)]
    t = _targets(masks)
    o = GatysOptions(roi_margin=0, supersample_side=240, supersample_max=8)
    regions = masked_regions(t.masks(), list(t), o)
    cost = sum(r.sampled[0] * r.sampled[1] for r in regions)
    assert len(regions) == 4 and len({r.factor for r in regions}) == 1
    assert 1.0 < regions[0].factor < 4.0  # it wanted 4 (60 → 240 px)
    assert cost <= h * w * 1.02  # rounding


def test_the_paintings_size_follows_the_targets_box_its_own_scale_or_style_size():
    t = Target("p", torch.zeros(4, 4), stripes())
    assert painting_side(t, 100, GatysOptions()) is None  # as loaded (the working size)
    assert painting_side(t, 100, GatysOptions(style_scale=1.5)) == 150
    own = Target("p", torch.zeros(4, 4), stripes(), options=TargetOptions(scale=0.5))
    assert painting_side(own, 100, GatysOptions(style_scale=1.5)) == 50
    sized = Target("p", torch.zeros(4, 4), stripes(), options=TargetOptions(style_size=300))
    assert painting_side(sized, 100, GatysOptions(style_scale=1.5)) == 300


def test_the_band_grows_a_mask_but_not_into_another_target():
    left = box_mask(32, 64, 8, 24, 8, 24)
    right = box_mask(32, 64, 8, 24, 26, 40)  # 2 px from the left target
    grown = grow_masks(torch.stack([left, right]), 4)
    assert float(grown[0, 16, 4]) == 1.0 and float(grown[0, 16, 3]) == 0.0  # 4 px to the left
    assert float(grown[0, 16, 25]) == 1.0  # the gap between them
    assert torch.equal(grown[0, 8:24, 26:40], torch.zeros(16, 14))  # not into the other target
    assert torch.equal(grown[:, left > 0], torch.stack([left, right])[:, left > 0])


def _stroke_energy(image, mask):
    """The luminance energy across diagonal stripes (``x + y`` varies) minus that along them:
    the painting's strokes, which noise or speckle (equal both ways) cannot add."""
    y = image.mean(0)
    across = y[1:, 1:] - y[:-1, :-1]
    along = y[1:, :-1] - y[:-1, 1:]
    inside = (mask[1:, 1:] * mask[:-1, :-1]) > 0
    return float(across[inside].pow(2).mean() - along[inside].pow(2).mean())


@pytest.mark.parametrize("options", [{}, PAPER], ids=["defaults", "paper"])
def test_a_supersampled_small_target_gets_the_paintings_fine_strokes(options):
    # A painting whose strokes are finer than its copy at the working size can hold (stripes of
    # period 2 px there: blurred to a flat colour by the resize): supersampling paints them from
    # the larger source, and the target keeps them after the downsampling.
    n = 64
    mask = box_mask(n, n, 20, 44, 20, 44)
    source = stripes(128, 128, period=8.0, colors=((0.95, 0.9, 0.3), (0.1, 0.1, 0.4)))
    style = resize_long_side(source, 32)

    def strokes(factor, style_source):
        o = TargetOptions(supersample=factor)
        t = Targets((Target("t", mask, style, options=o, style_source=style_source),), (n, n))
        eng = GatysEngine(GatysOptions(iterations=20, roi_margin=8, **options), Env("cpu", 0))
        return _stroke_energy(eng.stylize(photo(n, n), t).image, mask)

    plain, supersampled = strokes(1.0, source), strokes(2.0, source)
    assert supersampled > 3 * plain > 0
    # from the style image enlarged instead, the strokes it lost stay lost
    assert strokes(2.0, None) < plain


def test_a_supersampled_target_is_painted_larger_and_returned_at_the_working_size():
    n = 64
    mask = box_mask(n, n, 20, 44, 24, 40)
    base = photo(n, n)
    for factor in (1.0, 2.0):
        t = Targets(
            (Target("t", mask, stripes(), options=TargetOptions(supersample=factor)),), (n, n)
        )
        eng = GatysEngine(
            GatysOptions(iterations=10, scales=(1.0,), roi_margin=8, **PAPER), Env("cpu", 0)
        )
        res = eng.stylize(base, t)
        (region,) = res.info["regions"]
        assert region["supersample"] == factor
        assert region["sizes"] == [[round(40 * factor), round(32 * factor)]]
        assert region["painting_sizes"] == [[round(64 * factor), round(64 * factor)]]
        assert res.image.shape == base.shape
        x0, y0, x1, y1 = region["box"]
        outside = torch.ones(n, n, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert torch.equal(res.image[:, outside], base[:, outside])
        assert float((res.image - base)[:, mask > 0].abs().mean()) > 0.01


def test_a_grey_photo_in_a_grey_painting_stays_grey():
    n = 64
    grey_photo = photo(n, n).mean(0, keepdim=True).expand(3, n, n).contiguous()
    grey_style = stripes().mean(0, keepdim=True).expand(3, 64, 64).contiguous()
    t = Targets((Target("t", box_mask(n, n, 0, n, 0, n // 2), grey_style),), (n, n))
    res = GatysEngine(GatysOptions(iterations=10, scales=(1.0,)), Env("cpu", 0)).stylize(
        grey_photo, t
    )
    spread = (res.image.amax(0) - res.image.amin(0)).max()
    assert float(spread) == 0.0 and res.info["regions"][0]["grey"]
    assert float((res.image - grey_photo).abs().mean()) > 0.01  # it was stylised
    # with a coloured painting the result may take its colours (the paper's loss: tst's detail
    # and chroma TV terms hold the photo's colours back in so few iterations)
    t = Targets((Target("t", box_mask(n, n, 0, n, 0, n // 2), stripes()),), (n, n))
    o = GatysOptions(iterations=10, scales=(1.0,), **PAPER)
    res = GatysEngine(o, Env("cpu", 0)).stylize(grey_photo, t)
    assert not res.info["regions"][0]["grey"]
    assert float((res.image.amax(0) - res.image.amin(0)).max()) > 0.1


def test_boxes_in_the_report_are_x0_y0_x1_y1():
    t = _targets([box_mask(64, 64, 10, 20, 30, 50)])
    eng = GatysEngine(GatysOptions(iterations=1, scales=(1.0,), roi_margin=4), Env("cpu", 0))
    res = eng.stylize(photo(64, 64), t)
    assert res.info["regions"][0]["box"] == list(Box(26, 6, 54, 24))
