"""The native-resolution path of the gatys engines (issue 20): levels up to native pixels or
max_side, the output at native size, planning against a memory budget before the run."""

from __future__ import annotations

import pytest
import torch

from tst_core.engine.gatys import GatysEngine, GatysFullEngine
from tst_core.engine.native import final_factor, native_factors
from tst_core.engine.options import GatysOptions
from tst_core.errors import EngineError
from tst_core.imageops import resize_image
from tst_core.memory import TensorMemory
from tst_core.types import Env, NativeEngine, Painting, Target, Targets, resize_mask

from .helpers import PAPER, box_mask, dots, photo, stripes, style_distance, targets

#: a shallow network (deepest layer relu3_1: halo 12 px), so that 128 px images hold tiles
SHALLOW = {
    "style_layers": ("relu1_1", "relu2_1", "relu3_1"),
    "content_layers": ("conv3_1",),
    "detail_layers": ("relu2_1", "conv3_1"),
}
FAST = {"scale_iterations": (2, 2), "native_iterations": (2,)}


def _engine(**options):
    return GatysEngine(GatysOptions(**{**FAST, **options}), Env("cpu", 0))


def _job(h=128, w=160):
    mask = box_mask(h, w, 24, 104, 40, 112)
    return photo(h, w), targets([mask], [stripes(64, 64)])


def test_the_native_factors_double_up_to_the_region_or_max_side():
    assert native_factors(1.0) == [] and native_factors(1.4) == []
    assert native_factors(2.0) == [2.0]
    assert native_factors(5.6) == [2.8, 5.6]
    assert native_factors(11.72) == [2.93, 5.86, 11.72]
    assert final_factor(300, 1 / 12, 0) == 1.0  # max_side 0: the working size only
    assert final_factor(300, 1 / 12, 1200) == 4.0  # the cap: 300 px at working size → 1200
    assert final_factor(300, 1 / 3, 4000) == 3.0  # the region's native pixels


def test_the_engines_are_native_engines():
    assert isinstance(_engine(), NativeEngine)
    assert isinstance(GatysFullEngine(GatysOptions(**FAST), Env("cpu", 0)), NativeEngine)


def test_native_output_has_the_photos_size_and_is_the_photo_outside_the_region():
    p, t = _job()
    res = _engine(**PAPER, roi_margin=8).stylize_native(p, t, scale=0.5, budget=2**30)
    assert res.layers.shape == (1, 3, 128, 160)
    region = res.info["regions"][0]
    x0, y0, x1, y1 = region["native_box"]
    outside = torch.ones(128, 160, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert bool((res.image[:, outside] == p[:, outside]).all())
    inside = res.image[:, 24:104, 40:112]
    assert float((inside - p[:, 24:104, 40:112]).abs().mean()) > 0.01  # stylised
    # working scales at 0.5 and 1 of the working size, then one native level at 2x (native)
    assert [lv["factor"] for lv in region["levels"]] == [1.0, 1.0, 2.0]
    assert region["sizes"][-1] == [y1 - y0, x1 - x0] and region["upsampled"] is None
    assert res.info["iterations"] == 6 and len(res.losses) == 6


def test_max_side_stops_the_levels_and_the_rest_is_upsampled_with_the_photos_detail():
    p, t = _job()
    res = _engine(**PAPER, max_side=64).stylize_native(p, t, scale=0.25, budget=2**30)
    region = res.info["regions"][0]
    assert region["upsampled"] == "guided"
    assert max(region["sizes"][-1]) <= 64 + 2 * 16  # the region and its frame pads
    assert res.layers.shape == (1, 3, 128, 160)
    zero = _engine(**PAPER, max_side=0).stylize_native(p, t, scale=0.25, budget=2**30)
    assert [lv["factor"] for lv in zero.info["regions"][0]["levels"]] == [1.0, 1.0]


def test_a_job_that_cannot_fit_is_refused_in_one_sentence_before_it_starts():
    p, t = _job()
    seen = []
    with pytest.raises(EngineError) as err:
        _engine().stylize_native(p, t, seen.append, scale=0.5, budget=2 * 2**20)
    message = str(err.value)
    assert "\n" not in message and "raise --max-memory" in message
    assert seen == []  # no iteration ran


def test_the_sliced_loss_is_refused_where_the_budget_needs_tiles():
    p, t = _job()
    engine = _engine(**SHALLOW, style_loss="sliced")
    with pytest.raises(EngineError, match="sliced style loss needs every position at once"):
        engine.stylize_native(p, t, scale=0.5, budget=24 * 2**20)


def test_the_native_run_stays_within_its_budget_by_measurement():
    """The allocations of a whole native run, counted as they happen, stay under a budget that
    the same run without tiles exceeds."""
    p, t = _job()
    with TensorMemory() as free:
        wide = _engine(**SHALLOW).stylize_native(p, t, scale=0.5, budget=2**30)
    assert all(lv["tiles"] == 1 for lv in wide.info["regions"][0]["levels"])
    budget = int(free.peak * 0.6)
    with TensorMemory() as used:
        res = _engine(**SHALLOW).stylize_native(p, t, scale=0.5, budget=budget)
    levels = res.info["regions"][0]["levels"]
    assert levels[-1]["tiles"] > 1
    assert used.peak <= budget < free.peak, (used.peak, budget, free.peak)
    assert res.info["native"]["peak_estimate_mib"] * 2**20 >= used.peak  # the plan is honest
    torch.testing.assert_close(res.image, wide.image, atol=0.02, rtol=0)


def test_gatys_full_runs_native_with_one_layer_per_target():
    p = photo(96, 128)
    t = targets(
        [box_mask(96, 128, 8, 40, 8, 40), box_mask(96, 128, 50, 90, 60, 120)], [stripes(), dots()]
    )
    res = GatysFullEngine(GatysOptions(**{**FAST, **PAPER}), Env("cpu", 0)).stylize_native(
        p, t, scale=0.5, budget=2**30
    )
    assert res.layers.shape == (2, 3, 96, 128)
    assert float((res.layers[0] - res.layers[1]).abs().max()) > 0  # two whole-frame runs


def test_a_mix_of_two_paintings_runs_native():
    """The native path mixes too: at 1/0 it is the first painting's run exactly; at 50/50 the
    region's style distance to each painting lies between the two single runs'."""
    p, single = _job()
    mask = single[0].mask

    def mixed(share):
        a, b = stripes(64, 64), dots(64, 64)
        mix = (Painting(a, share), Painting(b, 1.0 - share))
        return Targets((Target("t0", mask, a, mix=mix),), single.size)

    def native(t):
        options = {**PAPER, "scale_iterations": (10, 10), "native_iterations": (5,)}
        return _engine(**options, style_weight=1e3).stylize_native(p, t, scale=0.5, budget=2**30)

    one, mix = native(single), native(mixed(1.0))
    assert torch.equal(mix.image, one.image) and mix.losses == one.losses
    half = native(mixed(0.5))
    assert half.info["regions"][0]["painting_sizes"] == [[64, 64], [64, 64]]
    runs = {1.0: one.image, 0.5: half.image, 0.0: native(mixed(0.0)).image}
    # measured at the working size, where the paintings' strokes have their own size
    work = (64, 80)
    small = resize_mask(mask, work)
    for painting, near, far in ((stripes(64, 64), 1.0, 0.0), (dots(64, 64), 0.0, 1.0)):
        d = {s: style_distance(resize_image(x, work), small, painting) for s, x in runs.items()}
        assert d[near] < d[0.5] < d[far], d
