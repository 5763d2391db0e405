"""The ``gatys`` and ``gatys-full`` engines on small synthetic images: results, options and the
direction in which each option moves the result."""

from __future__ import annotations

import re

import pytest
import torch

from tst_core import option_tables
from tst_core.engine.canvas import cover
from tst_core.engine.gatys import GatysEngine, GatysFullEngine, divergence_cause
from tst_core.engine.losses import TVLoss
from tst_core.engine.options import GatysOptions
from tst_core.errors import ConfigError, EngineError
from tst_core.imageops import chroma_iq, rgb_to_yiq
from tst_core.types import Env, Painting, Target, TargetOptions, Targets

from .helpers import PAPER, box_mask, dots, photo, stripes, style_distance, targets

N = 64


def run(targets_, engine=GatysEngine, seed=0, progress=None, defaults=PAPER, **options):
    """Stylise the 64 px test photo; single-scale unless ``scales`` is given; the paper's
    objective unless ``defaults={}`` (tst's defaults)."""
    options = {"iterations": 8, "scales": (1.0,), **defaults, **options}
    eng = engine(GatysOptions(**options), Env("cpu", seed))
    return eng.stylize(photo(N, N), targets_, progress)


def half_target(style=None, strength=1.0):
    return targets(
        [box_mask(N, N, 0, N, 0, N // 2)], [style if style is not None else stripes()], [strength]
    )


def sizes(info):
    """The image sizes of the one region a run optimised, one per scale."""
    assert len(info["regions"]) == 1, info["regions"]
    return info["regions"][0]["sizes"]


def inside(image, mask):
    return image[:, mask > 0.5]


def test_result_shape_views_and_report():
    t = targets([box_mask(N, N, 0, 32, 0, 32), box_mask(N, N, 32, 64, 32, 64)], [stripes(), dots()])
    res = run(t, iterations=3, defaults={})  # tst's defaults
    assert res.layers.shape == (2, 3, N, N) and res.layers.dtype == torch.float32
    assert res.layers.data_ptr() == res.layers[1].data_ptr()  # K views of one image
    assert float(res.layers.min()) >= 0.0 and float(res.layers.max()) <= 1.0
    terms = {"total", "content", "detail", "chroma_tv", "style/0", "style/1"}
    assert len(res.losses) == 3 and terms <= set(res.losses[0])
    info = res.info
    assert info["engine"] == "gatys" and info["device"] == "cpu" and info["iterations"] == 3
    assert info["precision"] == "fp32" and info["seed"] == 0
    # the targets touch every border: the region is optimised 16 px beyond each, then cropped
    assert sizes(info) == [[N + 32, N + 32]] and info["regions"][0]["frame_pads"] == [16] * 4


def test_loss_decreases_and_region_moves_towards_its_style():
    t = half_target()
    res = run(t, iterations=15)
    assert res.losses[-1]["total"] < 0.8 * res.losses[0]["total"]
    mask = t[0].mask
    assert style_distance(res.image, mask, stripes()) < 0.7 * style_distance(
        photo(N, N), mask, stripes()
    )


def test_seeded_runs_are_reproducible_and_seeds_differ():
    t = half_target()
    a = run(t, init="noise", iterations=3, seed=5).image
    b = run(t, init="noise", iterations=3, seed=5).image
    c = run(t, init="noise", iterations=3, seed=6).image
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_two_targets_take_their_own_styles():
    left, right = box_mask(N, N, 0, N, 0, 32), box_mask(N, N, 0, N, 32, 64)
    res = run(targets([left, right], [stripes(), dots()]), iterations=20)
    img = res.image
    assert style_distance(img, left, stripes()) < style_distance(img, left, dots())
    assert style_distance(img, right, dots()) < style_distance(img, right, stripes())


@pytest.mark.parametrize("option", ["strength", "style_weight"])
def test_more_style_weight_or_strength_moves_further_towards_the_style(option):
    t = half_target()
    weak = run(t, iterations=10, style_weight=1.0).image
    if option == "strength":
        strong = run(half_target(strength=30.0), iterations=10, style_weight=1.0).image
    else:
        strong = run(t, iterations=10, style_weight=30.0).image
    mask = t[0].mask
    assert style_distance(strong, mask, stripes()) < style_distance(weak, mask, stripes())


def test_more_content_weight_stays_closer_to_the_photo():
    t = half_target()
    loose = run(t, iterations=10, content_weight=0.1).image
    tight = run(t, iterations=10, content_weight=10.0).image
    p = photo(N, N)
    assert float((tight - p).abs().mean()) < float((loose - p).abs().mean())


def test_tv_weight_smooths_the_result():
    t = half_target(dots())
    rough = run(t, iterations=10, tv_weight=0.0).image
    smooth = run(t, iterations=10, tv_weight=1e4).image
    tv = TVLoss()
    assert float(tv(smooth[None])) < 0.7 * float(tv(rough[None]))


def test_chroma_tv_calms_the_colour_and_keeps_the_luminance_edges():
    t = half_target(dots())
    p = photo(N, N)
    free = run(t, iterations=10).image - p  # what the stylising added
    calm = run(t, iterations=10, chroma_tv_weight=1e4).image - p
    tv = TVLoss()
    colour = float(tv(chroma_iq(calm[None]))) / float(tv(chroma_iq(free[None])))
    lum_free, lum_calm = (rgb_to_yiq(x)[:1][None] for x in (free, calm))
    light = float(tv(lum_calm)) / float(tv(lum_free))
    # the colour's variation falls by more than half, the luminance's far less
    assert colour < 0.5 and light > colour + 0.15, (colour, light)


def test_detail_layers_keep_more_of_the_photo_inside_the_targets():
    t = half_target()
    mask = t[0].mask
    p = photo(N, N)
    plain = run(t, iterations=10).image
    kept = run(t, iterations=10, detail_layers=("relu3_1",), detail_weight=5.0).image
    assert float((inside(kept, mask) - inside(p, mask)).abs().mean()) < 0.8 * float(
        (inside(plain, mask) - inside(p, mask)).abs().mean()
    )
    res = run(t, iterations=2, detail_layers=("relu3_1",))
    assert "detail" in res.losses[0]
    assert "detail" not in run(t, iterations=2).losses[0]


def test_init_modes_start_where_documented():
    """With a vanishing Adam step the result is the start image."""
    t = half_target()
    mask = t[0].mask
    p = photo(N, N)
    quiet = {"iterations": 1, "optimizer": "adam", "lr": 1e-9, "roi": False}
    content = run(t, init="content", **quiet).image
    noise = run(t, init="noise", **quiet).image
    style = run(t, init="style", **quiet).image
    torch.testing.assert_close(content, p, atol=1e-6, rtol=0)
    torch.testing.assert_close(noise[:, :, 32:], p[:, :, 32:], atol=1e-6, rtol=0)
    assert 0.2 < float(inside(noise, mask).std()) < 0.4  # white noise inside the target
    torch.testing.assert_close(
        style[:, :, :32], cover(stripes(), (N, N))[:, :, :32], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_other_optimizers_reduce_the_loss(optimizer):
    res = run(half_target(), optimizer=optimizer, iterations=15)
    assert res.losses[-1]["total"] < 0.8 * res.losses[0]["total"]
    assert res.info["optimizer"] == optimizer


def test_nan_guard_stops_with_a_clear_error():
    with pytest.raises(
        EngineError, match=r"diverged: the loss became (NaN|infinite) at iteration \d+"
    ):
        run(half_target(), lr=1000.0, iterations=5)


def test_a_divergence_from_an_enormous_strength_says_so():
    with pytest.raises(EngineError, match="diverged") as err:
        run(half_target(strength=1e36), iterations=3)
    message = str(err.value)
    assert "strength 1e+36 times style_weight 10" in message and "at most 100000" in message
    assert "lower the step size" not in message


def test_the_divergence_cause_names_non_finite_inputs():
    nan_style = stripes()
    nan_style[0, 0, 0] = float("nan")
    assert divergence_cause(photo(8, 8), half_target(), GatysOptions()) is None
    assert "photo holds NaN" in divergence_cause(
        photo(8, 8) * float("inf"), half_target(), GatysOptions()
    )
    assert "style image of 't0' holds NaN" in divergence_cause(
        photo(8, 8), half_target(nan_style), GatysOptions()
    )
    assert "style_weight 1e+20" in divergence_cause(
        photo(8, 8), half_target(), GatysOptions(style_weight=1e20)
    )


def test_roi_optimises_only_the_box_around_the_targets():
    small = box_mask(N * 2, N * 2, 8, 24, 10, 30)
    t = targets([small], [stripes()])
    eng = GatysEngine(GatysOptions(iterations=3, roi_margin=8, scales=(1.0,)), Env("cpu", 0))
    p = photo(N * 2, N * 2)
    res = eng.stylize(p, t)
    # x0, y0, x1, y1: the box grown by 8 px, clipped
    assert [r["box"] for r in res.info["regions"]] == [[2, 0, 38, 32]]
    assert sizes(res.info) == [[32 + 16, 36]]  # it touches the top: frame_pad adds 16 px there
    outside = torch.ones(N * 2, N * 2, dtype=torch.bool)
    outside[0:32, 2:38] = False
    assert torch.equal(res.image[:, outside], p[:, outside])
    assert not torch.equal(res.image[:, ~outside], p[:, ~outside])
    full = GatysEngine(GatysOptions(iterations=1, roi=False, scales=(1.0,)), Env("cpu", 0))
    full = full.stylize(p, t)
    assert full.info["regions"][0]["box"] == [0, 0, N * 2, N * 2]
    assert sizes(full.info) == [[N * 2 + 32, N * 2 + 32]]  # and 16 px beyond each border


def test_preserve_color_keeps_the_photos_colours():
    t = half_target()
    mask = t[0].mask
    p_iq = inside(rgb_to_yiq(photo(N, N))[1:], mask)
    kept = run(t, iterations=15, style_weight=100.0, preserve_color=True).image
    free = run(t, iterations=15, style_weight=100.0).image
    kept_shift = float((inside(rgb_to_yiq(kept)[1:], mask) - p_iq).abs().mean())
    free_shift = float((inside(rgb_to_yiq(free)[1:], mask) - p_iq).abs().mean())
    assert kept_shift < 0.01 and kept_shift < 0.2 * free_shift
    assert float((kept - photo(N, N)).abs().mean()) > 0.01  # the luminance did change


def test_coarse_to_fine_scales_start_from_the_upsampled_coarse_result():
    t = half_target()
    res = run(t, scales=(0.5, 1.0), scale_iterations=(10, 4))
    assert sizes(res.info) == [[32, 32], [N, N]] and res.info["iterations"] == 14
    single = run(t, iterations=4)
    # the fine scale starts from a stylised picture, so after as many fine steps it is further on
    mask = t[0].mask
    assert style_distance(res.image, mask, stripes()) < style_distance(
        single.image, mask, stripes()
    )


def test_pooling_and_padding_change_the_result():
    t = half_target()
    base = run(t, iterations=4).image
    assert float((run(t, iterations=4, pooling="avg").image - base).abs().max()) > 1e-3
    assert float((run(t, iterations=4, padding="reflect").image - base).abs().max()) > 1e-3


@pytest.mark.slow  # emulated, 10-50x slower, on CPUs without half-precision instructions
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_runs_and_stays_close_to_fp32(precision):
    t = targets([box_mask(32, 32, 0, 32, 0, 16)], [stripes(32, 32)])
    p = photo(32, 32)
    images = {}
    for mode in ("fp32", precision):
        eng = GatysEngine(GatysOptions(iterations=3, precision=mode, scales=(1.0,)), Env("cpu", 0))
        res = eng.stylize(p, t)
        assert res.info["precision"] == mode
        images[mode] = res.image
    assert float((images[precision] - images["fp32"]).abs().mean()) < 0.05


def test_progress_once_per_iteration_with_snapshots_every_n():
    seen = []
    run(half_target(), iterations=6, snapshot_every=3, progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    assert all(p.total == 6 and p.stage == "stylize" and "total" in p.losses for p in seen)
    assert [p.snapshot is not None for p in seen] == [False, False, True, False, False, True]
    assert seen[2].snapshot.shape == (3, N, N)
    assert seen[-1].elapsed >= seen[0].elapsed > 0


def test_threads_option_is_used_and_restored():
    before = torch.get_num_threads()
    res = run(half_target(), iterations=1, threads=1)
    assert res.info["threads"] == 1 and torch.get_num_threads() == before


def test_full_baseline_stylises_the_whole_frame_once_per_target():
    t = targets([box_mask(N, N, 0, 32, 0, N), box_mask(N, N, 32, N, 0, N)], [stripes(), dots()])
    seen = []
    res = run(t, engine=GatysFullEngine, iterations=12, progress=seen.append)
    assert res.layers.shape == (2, 3, N, N) and res.info["engine"] == "gatys-full"
    assert res.info["iterations"] == 24 and [p.step for p in seen] == list(range(1, 25))
    assert "style/0" in res.losses[0] and "style/1" in res.losses[-1]
    a, b = res.layers
    assert style_distance(a, None, stripes()) < style_distance(b, None, stripes())
    assert style_distance(b, None, dots()) < style_distance(a, None, dots())


def test_full_baseline_reports_the_scales_any_run_skipped():
    masks = [box_mask(N, N, 0, 32, 0, N), box_mask(N, N, 32, N, 0, N)]
    t = targets(masks, [stripes(), dots(32, 32)])  # at 0.25 the 32 px style is 8 px: skipped
    res = run(t, engine=GatysFullEngine, iterations=1, scales=(0.25, 1.0))
    assert res.info["skipped_scales"] == [0.25] and res.info["iterations"] == 3


def test_an_all_ones_target_matches_the_full_baseline():
    t = targets([torch.ones(N, N)], [stripes()])
    masked = run(t, iterations=5).image
    plain = run(t, engine=GatysFullEngine, iterations=5).image
    assert float((masked - plain).abs().max()) < 2e-3


def test_an_empty_target_is_skipped_and_reported():
    t = targets([box_mask(N, N, 0, N, 0, 32), torch.zeros(N, N)], [stripes(), dots()])
    res = run(t, iterations=2)
    assert res.info["empty_targets"] == [1]
    assert "style/0" in res.losses[-1] and "style/1" not in res.losses[-1]


def test_engine_errors():
    with pytest.raises(EngineError, match="every target's mask is empty"):
        run(targets([torch.zeros(N, N)], [stripes()]))
    with pytest.raises(EngineError, match="a style image is 12×12 px, smaller than the 16 px"):
        run(half_target(stripes(12, 12)))


def test_defaults_are_coarse_to_fine_and_too_small_scales_are_skipped():
    seen = []
    res = run(half_target(), progress=seen.append, scales=GatysOptions().scales, iterations=2)
    assert sizes(res.info) == [[32, 32], [N, N]] and res.info["skipped_scales"] == []
    assert res.info["iterations"] == 4 and seen[-1].total == 4
    seen.clear()
    res = run(half_target(), progress=seen.append, scales=(0.125, 0.5, 1.0), iterations=2)
    assert res.info["skipped_scales"] == [0.125]  # 8 px: under relu5_1's stride
    assert sizes(res.info) == [[32, 32], [N, N]] and seen[-1].total == 4


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scales": (1.0, 0.5)}, "scales must increase and end with 1.0"),
        ({"scales": (0.5, 1.0), "scale_iterations": (3,)}, "one per scale"),
        ({"style_layer_weights": (1.0, 2.0)}, "one per layer"),
        ({"style_layers": ("relu6_1",)}, "unknown layer 'relu6_1'"),
        ({"iterations": 0}, "at least 1"),
        ({"tv_weight": -1.0}, "tv_weight must be zero or positive"),
        ({"lr": 0.0}, "lr must be above 0"),
        ({"lr": 1e300}, "lr must be above 0 and at most 1000"),
        ({"style_scale": 0.01}, "style_scale must be 0 (off) or from 0.05 to 16"),
        ({"supersample_side": -1}, "supersample_side must be from 0 (off) to 4096"),
        ({"supersample_max": 0.5}, "supersample_max must be from 1 to 8"),
        ({"detail_weight": -1.0}, "detail_weight must be zero or positive"),
        ({"detail_layers": ("relu9_1",)}, "detail_layers: unknown layer 'relu9_1'"),
        ({"style_loss": "fancy"}, "style_loss"),
    ],
)
def test_invalid_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        option_tables.build(GatysOptions, options, "[engine.gatys]")


def _border_step(image, rows=slice(12, 52)):
    """Distance between the mean colour of the last column and of columns -12..-4 (RGB)."""
    border = image[:, rows, -1].mean(1)
    inner = image[:, rows, -12:-4].mean((1, 2))
    return float((border - inner).norm())


def test_a_target_touching_the_frame_edge_leaves_no_strip():
    h, w = 64, 96
    t = targets([box_mask(h, w, 8, 56, 64, 96)], [stripes()])  # touches the right edge

    def step(**options):
        o = GatysOptions(**{"iterations": 30, "scales": (1.0,), **options})
        return _border_step(GatysEngine(o, Env("cpu", 0)).stylize(photo(h, w), t).image)

    strip = step(**PAPER)  # the network's zero padding paints a band along the border
    padded = step(**{**PAPER, "frame_pad": 16})
    assert strip > 0.12 and padded < 0.1, (strip, padded)
    assert step() < 0.1  # tst's defaults


def mixed(a_share, a=None, b=None):
    """The left half styled with a mix of two paintings (``a_share`` of ``a``, default the
    stripes; the rest of ``b``, default the dots)."""
    a = stripes() if a is None else a
    b = dots() if b is None else b
    mask = box_mask(N, N, 0, N, 0, N // 2)
    mix = (Painting(a, a_share), Painting(b, 1.0 - a_share))
    return Targets((Target("t0", mask, a, mix=mix),), (N, N))


@pytest.mark.parametrize("loss", ["gram", "meancov", "sliced"])
def test_a_mix_at_one_and_zero_is_that_paintings_run_exactly(loss):
    assert GatysEngine.mixes_paintings is True
    for share, alone in ((1.0, stripes()), (0.0, dots())):
        mix = run(mixed(share), iterations=4, style_loss=loss)
        one = run(half_target(alone), iterations=4, style_loss=loss)
        assert torch.equal(mix.image, one.image), (loss, share)
        assert mix.losses == one.losses
    assert mix.info["regions"][0]["painting_sizes"] == [[N, N], [N, N]]


def test_a_half_and_half_mix_lies_between_the_two_paintings():
    """The mix's style distance to each painting lies between the two single runs' (the run of
    that painting is nearest, the other painting's run farthest)."""
    mask = box_mask(N, N, 0, N, 0, N // 2)
    options = {"iterations": 20, "style_weight": 1e3}
    runs = {share: run(mixed(share), **options).image for share in (1.0, 0.5, 0.0)}
    for painting, near, far in ((stripes(), 1.0, 0.0), (dots(), 0.0, 1.0)):
        d = {share: style_distance(image, mask, painting) for share, image in runs.items()}
        assert d[near] < d[0.5] < d[far], d


def test_color_keep_matches_the_paintings_luminance_to_the_photos():
    """``@color=keep``: the target is stylised against its painting's luminance matched to the
    photo's there (Gatys et al. 2017), so a black-and-white painting keeps the target's own
    contrast (the photo's spread of luminance there, 0.11); with the painting's colours the
    spread doubles."""
    contrast = stripes(colors=((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    mask = box_mask(N, N, 0, N, 0, N // 2)
    inside = mask > 0.5

    def luminance(color):
        t = Targets((Target("t0", mask, contrast, options=TargetOptions(color=color)),), (N, N))
        y = rgb_to_yiq(run(t, iterations=15, style_weight=1e3).image)[0][inside]
        return float(y.mean()), float(y.std())

    y0 = rgb_to_yiq(photo(N, N))[0][inside]
    (kept_mean, kept_std), (_, painted_std) = luminance("keep"), luminance(None)
    assert kept_std < 1.3 * float(y0.std()) < painted_std / 1.5, (kept_std, y0.std(), painted_std)
    assert abs(kept_mean - float(y0.mean())) < 0.03
