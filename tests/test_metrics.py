from __future__ import annotations

import itertools

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
    assert torch.allclose(metrics.gram(f, torch.ones(5, 5)), metrics.gram(f))


def test_vgg_features_plug_in_point():
    """Until the engine's VGG-19 is plugged in, a clear error; afterwards, the named layers."""
    try:
        feats = metrics.vgg19_features()
    except DependencyError as exc:
        assert "VGG-19" in str(exc)
        return
    out = feats(torch.rand(1, 3, 64, 64))
    assert set(metrics.STYLE_LAYERS + metrics.CONTENT_LAYERS) <= set(out)
