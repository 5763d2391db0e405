from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from tests.synthetic import disc, make_targets, smooth_photo
from tst_core import metrics
from tst_core.errors import DependencyError
from tst_core.regions import label_map, paint
from tst_core.types import Target, Targets


def seam_case(step: float):
    photo = smooth_photo(64, 64)
    stylized = (photo + step).clamp(0, 1)[None]
    targets = make_targets(disc(64, 64, 32, 32, 16))
    result = paint(photo, stylized, label_map(targets.masks()))
    return result, photo, stylized, targets


def test_identical_images_score_zero():
    photo = torch.rand(3, 32, 32)
    targets = make_targets(disc(32, 32, 16, 16, 8))
    assert metrics.seam_visibility(photo, photo, photo[None], targets) == [0.0]
    assert metrics.leakage(photo, photo, targets) == 0.0


def test_seam_visibility_grows_with_the_step():
    values = [metrics.seam_visibility(*seam_case(step))[0] for step in (0.0, 0.05, 0.1, 0.2)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert all(a < b for a, b in itertools.pairwise(values))


def test_seam_visibility_of_a_hard_step_is_its_squared_height():
    """A step of δ on every channel: e = |δ|·√3 minus the photo's own small gradient."""
    value = metrics.seam_visibility(*seam_case(0.2))[0]
    assert 0.5 * 3 * 0.2**2 < value < 2 * 3 * 0.2**2


def test_seam_visibility_ignores_texture_the_sources_have():
    """Stylised texture inside the target is no seam: it is in the layer too."""
    photo = smooth_photo(64, 64)
    stylized = photo[None].clone()
    stylized[0, :, ::2, :] += 0.2  # stripes, equal to the photo on every other row
    targets = make_targets(disc(64, 64, 32, 32, 16))
    result = paint(photo, stylized, label_map(targets.masks()))
    assert metrics.seam_visibility(result, photo, stylized, targets)[0] < 0.5 * 3 * 0.2**2


def test_seam_of_each_target_and_an_empty_one():
    photo = smooth_photo(64, 64)
    stylized = torch.stack([(photo + 0.2).clamp(0, 1), photo])
    targets = make_targets(disc(64, 64, 20, 20, 8), disc(64, 64, 44, 44, 8))
    result = paint(photo, stylized, label_map(targets.masks()))
    first, second = metrics.seam_visibility(result, photo, stylized, targets)
    assert first > 0.05 and second == 0.0
    empty = make_targets(torch.zeros(64, 64))
    assert metrics.seam_visibility(photo, photo, photo[None], empty) == [0.0]


def test_leakage_counts_only_far_pixels():
    photo = torch.rand(3, 64, 64)
    targets = make_targets(disc(64, 64, 32, 32, 10))
    near_change = photo.clone()
    near_change[:, 32, 32 + 10 + 5] += 0.5  # 5 px outside the edge, inside a 16 px band
    assert metrics.leakage(near_change, photo, targets, width=16) == 0.0
    far_change = photo.clone()
    far_change[:, 0, 0] += 0.5
    leak = metrics.leakage(far_change, photo, targets, width=16)
    assert leak > 0.0
    whole = make_targets(torch.ones(64, 64))
    assert metrics.leakage(far_change, photo, whole) == 0.0


class RandomFeatures(nn.Module):
    """A small random conv net standing in for VGG-19: two named layers."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 16, 3, padding=1, stride=2)

    def forward(self, x):
        fa = torch.relu(self.a(x))
        return {"relu1_1": fa, "conv4_2": self.b(fa)}


def test_content_distance_is_zero_for_the_photo_and_grows_with_change():
    feats = RandomFeatures()
    photo = torch.rand(3, 32, 32)
    assert metrics.content_distance(photo, photo, feats) == 0.0
    small = metrics.content_distance((photo + 0.05).clamp(0, 1), photo, feats)
    large = metrics.content_distance((photo + 0.3).clamp(0, 1), photo, feats)
    assert 0.0 < small < large


def test_style_distance_is_zero_for_the_style_itself_and_masked():
    feats = RandomFeatures()
    style = torch.rand(3, 32, 32)
    other = smooth_photo(32, 32)
    whole = Targets((Target("all", torch.ones(32, 32), style),), (32, 32))
    assert metrics.style_distance(style, whole, feats) == [pytest.approx(0.0, abs=1e-10)]
    # left half is the style texture, right half a smooth ramp: the mask picks which is measured
    mixed = torch.cat([style[:, :, :16], other[:, :, 16:]], dim=2)
    left, right = torch.zeros(32, 32), torch.zeros(32, 32)
    left[:, :16], right[:, 16:] = 1.0, 1.0
    on_style = metrics.style_distance(mixed, Targets((Target("l", left, style),), (32, 32)), feats)
    off_style = metrics.style_distance(
        mixed, Targets((Target("r", right, style),), (32, 32)), feats
    )
    assert on_style[0] < off_style[0]


def test_feature_metrics_check_layer_names():
    photo = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match="no layer"):
        metrics.content_distance(photo, photo, RandomFeatures(), layers=["relu9_9"])


def test_gram_with_weights():
    f = torch.rand(1, 4, 5, 5)
    assert torch.allclose(metrics.weighted_gram(f, torch.ones(5, 5)), metrics.weighted_gram(f))


def test_vgg_features_plug_in_point():
    """Until the engine's VGG-19 is plugged in, a clear error; afterwards, the named layers."""
    try:
        feats = metrics.vgg19_features()
    except DependencyError as exc:
        assert "VGG-19" in str(exc)
        return
    out = feats(torch.rand(1, 3, 64, 64))
    assert set(metrics.STYLE_LAYERS + metrics.CONTENT_LAYERS) <= set(out)


# --- the quality benchmark's per-target metrics -----------------------------------------------


def feats(x: torch.Tensor, name: str = "relu1_1") -> dict[str, torch.Tensor]:
    """Features that are the values themselves: ``(C, h, w)`` → ``{name: (1, C, h, w)}``."""
    return {name: x[None]}


def test_gram_distance_is_the_style_distance():
    net = RandomFeatures()
    style, result = torch.rand(3, 16, 16), torch.rand(3, 32, 32)
    mask = disc(32, 32, 16, 16, 9)
    targets = Targets((Target("t", mask, style),), (32, 32))
    expected = metrics.style_distance(result, targets, net)[0]
    got = metrics.gram_distance(net(result[None]), net(style[None]), mask)
    assert got == pytest.approx(expected) and got > 0


def test_weighted_quantiles_equal_weights_and_interpolation():
    values = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    levels = torch.tensor([0.125, 0.375, 0.5, 0.875, 0.01, 0.99])
    q = metrics.weighted_quantiles(values, torch.ones(4), levels)
    # sorted 0, 1, 2, 3 sit at 1/8, 3/8, 5/8, 7/8; between them linear, beyond them constant
    assert torch.allclose(q, torch.tensor([[0.0, 1.0, 1.5, 3.0, 0.0, 3.0]]))
    # a sample of weight 3 counts as three: 0 (w 1) at 1/8, 1 (w 3) at 5/8
    q = metrics.weighted_quantiles(torch.tensor([[1.0, 0.0]]), torch.tensor([3.0, 1.0]), levels)
    assert torch.allclose(q[0, :3], torch.tensor([0.0, 0.5, 0.75]))


def test_swd_is_zero_for_the_same_distribution_in_any_order():
    x = torch.rand(8, 12, 12)
    shuffled = x.flatten(1)[:, torch.randperm(144)].view(8, 12, 12)
    assert metrics.sliced_wasserstein(feats(x), feats(x), None) == pytest.approx(0.0, abs=1e-12)
    assert metrics.sliced_wasserstein(feats(shuffled), feats(x), None) == pytest.approx(
        0.0, abs=1e-10
    )


def test_swd_of_a_shift_is_its_closed_form():
    """One channel: every direction is ±1, so a shift by δ moves each quantile by δ."""
    b = torch.rand(1, 10, 10) + 1.0
    a = b + 0.3
    levels = (torch.arange(256) + 0.5) / 256
    qs = metrics.weighted_quantiles(b.flatten()[None], torch.ones(100), levels)
    expected = 0.3**2 / float((qs**2).mean())
    assert metrics.sliced_wasserstein(feats(a), feats(b), None) == pytest.approx(expected, rel=1e-4)
    smaller = metrics.sliced_wasserstein(feats(b + 0.1), feats(b), None)
    assert 0 < smaller < expected


def test_swd_compares_different_sample_counts():
    """The same uniform distribution sampled at 16 × 16 and 8 × 8: close; shifted: far."""
    gen = torch.Generator().manual_seed(1)
    big = torch.rand(4, 16, 16, generator=gen)
    small = torch.rand(4, 8, 8, generator=gen)
    same = metrics.sliced_wasserstein(feats(small), feats(big), None)
    other = metrics.sliced_wasserstein(feats(small * 0.5), feats(big), None)
    assert same < 0.05 < other


def test_swd_sees_what_the_gram_matrix_cannot():
    """``F`` and ``−F`` have one Gram matrix but two distributions."""
    x = torch.rand(4, 8, 8) + 0.5
    mask = torch.ones(8, 8)
    assert metrics.gram_distance(feats(-x), feats(x), mask) == pytest.approx(0.0, abs=1e-6)
    assert metrics.sliced_wasserstein(feats(-x), feats(x), mask) > 1.0


def test_swd_measures_inside_the_mask_only():
    style = torch.rand(4, 16, 16)
    result = torch.cat([style[:, :, :8], torch.zeros(4, 16, 8)], dim=2)
    left, right = torch.zeros(16, 16), torch.zeros(16, 16)
    left[:, :8], right[:, 8:] = 1.0, 1.0
    on = metrics.sliced_wasserstein(feats(result), feats(style), left)
    off = metrics.sliced_wasserstein(feats(result), feats(style), right)
    assert on < 0.05 and off > 0.5
    assert math.isnan(metrics.sliced_wasserstein(feats(result), feats(style), torch.zeros(16, 16)))


def test_masked_content_distance():
    photo = torch.rand(8, 16, 16) + 0.1
    mask = torch.zeros(16, 16)
    mask[4:12, 4:12] = 1.0
    p = feats(photo, "conv4_2")
    assert metrics.masked_content_distance(p, p, mask) == 0.0
    # a change outside the mask is not counted; inside, x(1 + ε) gives ε²
    outside = photo.clone()
    outside[:, :2, :] += 1.0
    assert metrics.masked_content_distance(feats(outside, "conv4_2"), p, mask) == 0.0
    for eps in (0.1, 0.5):
        changed = feats(photo * (1 + eps), "conv4_2")
        assert metrics.masked_content_distance(changed, p, mask) == pytest.approx(eps**2, rel=1e-5)
    assert math.isnan(metrics.masked_content_distance(p, p, torch.zeros(16, 16)))
    with pytest.raises(ValueError, match="no layer"):
        metrics.masked_content_distance(p, p, mask, layer="relu3_1")


def test_structure_score_falls_as_the_edges_go():
    gen = torch.Generator().manual_seed(0)
    photo = smooth_photo(48, 48)
    photo[:, 10:38, 20:28] = 0.9  # a bright bar: edges inside the target
    mask = disc(48, 48, 24, 24, 20)
    assert metrics.structure_score(photo, photo, mask) == pytest.approx(1.0)
    scores = []
    for amount in (0.05, 0.2, 0.6):
        noise = torch.rand(3, 48, 48, generator=gen) - 0.5
        scores.append(metrics.structure_score((photo + amount * noise).clamp(0, 1), photo, mask))
    assert 1.0 > scores[0] > scores[1] > scores[2]
    # the same edges at another contrast are the same structure; a flat result has none
    assert metrics.structure_score(0.5 * photo, photo, mask) == pytest.approx(1.0)
    assert metrics.structure_score(torch.full((3, 48, 48), 0.5), photo, mask) == 0.0


def test_structure_score_ignores_the_seam():
    """A result that differs from the photo only outside the target keeps all of its edges."""
    photo = smooth_photo(48, 48)
    photo[:, 10:38, 20:28] = 0.9
    mask = disc(48, 48, 24, 24, 18)
    result = torch.where(mask.bool(), photo, torch.zeros(3, 48, 48))
    assert metrics.structure_score(result, photo, mask) == pytest.approx(1.0)


def test_colour_speckle():
    gen = torch.Generator().manual_seed(0)
    smooth = smooth_photo(48, 48)
    assert metrics.colour_speckle(smooth) < 1e-5
    grey_noise = torch.rand(1, 48, 48, generator=gen).expand(3, -1, -1)
    assert metrics.colour_speckle(grey_noise) < 1e-10  # luminance texture is not speckle
    values = []
    for amount in (0.05, 0.1, 0.2):
        noise = torch.rand(3, 48, 48, generator=gen) - 0.5
        values.append(metrics.colour_speckle((smooth + amount * noise).clamp(0, 1)))
    assert 1e-5 < values[0] < values[1] < values[2]


def test_colour_speckle_inside_the_mask_only():
    gen = torch.Generator().manual_seed(0)
    image = smooth_photo(48, 48)
    image[:, :, :24] += 0.2 * (torch.rand(3, 48, 24, generator=gen) - 0.5)
    left, right = torch.zeros(48, 48), torch.zeros(48, 48)
    left[:, :24], right[:, 24:] = 1.0, 1.0
    noisy, clean = metrics.colour_speckle(image, left), metrics.colour_speckle(image, right)
    assert clean < 1e-5 < noisy  # the eroded right half sees none of the noise next door
    assert math.isnan(metrics.colour_speckle(image, torch.zeros(48, 48)))
