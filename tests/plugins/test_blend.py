"""Invariants every compositor keeps, and the registration of the first-party ones."""

from __future__ import annotations

import pytest
import torch

from tests.synthetic import disc, make_targets, smooth_photo
from tst_core.config import load_config
from tst_core.errors import ConfigError
from tst_core.metrics import leakage
from tst_core.plugins import load_host

FIRST_PARTY = ("hard", "feather", "mrf", "poisson")

# every compositor, and the options that take a different code path
VARIANTS = [
    ("hard", {}),
    ("feather", {}),
    ("feather", {"profile": "gaussian"}),
    ("feather", {"profile": "gaussian", "soft_masks": True}),
    ("feather", {"radius": 0.0}),
    ("mrf", {}),
    ("mrf", {"seam_cost": "euclidean"}),
    ("mrf", {"whole_frame": True, "unary_weight": 1.0}),
    ("poisson", {}),
    ("poisson", {"gradients": "mixed", "margin": 0}),
]


def build(name: str, **options):
    entry = load_host().entry("blend", name)
    return entry.build(entry.options(**options))


def random_case(k: int = 2, h: int = 48, w: int = 64):
    photo = torch.rand(3, h, w)
    stylized = torch.rand(k, 3, h, w)
    return photo, stylized


def test_first_party_compositors_are_registered():
    reg = load_host().registry("blend")
    for name in FIRST_PARTY:
        entry = reg.get(name)
        assert entry.plugin == "blend"
        assert entry.description


@pytest.mark.parametrize(("name", "options"), VARIANTS)
def test_all_zero_mask_returns_the_photo_bit_for_bit(name, options):
    photo, stylized = random_case()
    zero = torch.zeros(photo.shape[-2:])
    out = build(name, **options).composite(photo, stylized, make_targets(zero, zero.clone()))
    assert torch.equal(out, photo)


@pytest.mark.parametrize(("name", "options"), VARIANTS)
def test_all_one_mask_returns_the_stylised_image(name, options):
    photo, stylized = random_case(k=1)
    one = torch.ones(photo.shape[-2:])
    out = build(name, **options).composite(photo, stylized, make_targets(one))
    assert torch.equal(out, stylized[0])


@pytest.mark.parametrize(("name", "options"), VARIANTS)
def test_result_is_an_image_in_range(name, options):
    photo, stylized = random_case()
    h, w = photo.shape[-2:]
    targets = make_targets(disc(h, w, 24, 20, 12), disc(h, w, 24, 40, 12))
    out = build(name, **options).composite(photo, stylized, targets)
    assert out.shape == photo.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, photo)


@pytest.mark.parametrize(("name", "options"), [v for v in VARIANTS if not v[1].get("whole_frame")])
def test_no_leakage_beyond_the_band(name, options):
    """Default reach (feather radius·√2, mrf band, poisson margin) stays inside 16 px."""
    photo, stylized = random_case(h=96, w=96)
    targets = make_targets(disc(96, 96, 40, 35, 16), disc(96, 96, 50, 60, 14))
    out = build(name, **options).composite(photo, stylized, targets)
    assert leakage(out, photo, targets, width=16) == 0.0


def test_soft_mask_values_stay_where_they_are_with_hard_edges():
    """Below the 0.5 threshold a mask does not blend in, except for ``soft_masks``."""
    photo, stylized = random_case(k=1)
    faint = torch.full(photo.shape[-2:], 0.3)
    targets = make_targets(faint)
    for name in FIRST_PARTY:
        assert torch.equal(build(name).composite(photo, stylized, targets), photo)
    soft = build("feather", profile="gaussian", soft_masks=True).composite(photo, stylized, targets)
    assert torch.allclose(soft, 0.7 * photo + 0.3 * stylized[0], atol=1e-5)


def test_smooth_blends_lower_the_step_of_a_hard_seam():
    photo = smooth_photo(64, 64)
    stylized = (photo + 0.3).clamp(0, 1)[None]
    targets = make_targets(disc(64, 64, 32, 32, 18))
    hard = build("hard").composite(photo, stylized, targets)
    feather = build("feather").composite(photo, stylized, targets)
    step = lambda img: float((img[:, :, 1:] - img[:, :, :-1]).abs().max())  # noqa: E731
    assert step(feather) < 0.5 * step(hard)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("blend.feather.radius", "-1"),
        ("blend.feather.profile", "box"),
        ("blend.feather.soft_masks", "true"),  # needs the gaussian profile
        ("blend.mrf.band", "-2"),
        ("blend.mrf.unary_weight", "-1"),
        ("blend.mrf.max_cycles", "0"),
        ("blend.mrf.seam_cost", "abs"),
        ("blend.poisson.margin", "-1"),
        ("blend.poisson.gradients", "photo"),
    ],
)
def test_bad_options_are_config_errors(key, value):
    with pytest.raises(ConfigError):
        load_config(load_host(), None, [f"{key}={value}"])


def test_options_come_from_config_overrides():
    host = load_host()
    cfg = load_config(host, None, ["blend.mrf.band=3", "blend.feather.profile=gaussian"])
    assert cfg.options_for(host, "blend", "mrf").band == 3
    assert cfg.options_for(host, "blend", "feather").profile == "gaussian"


def test_wells_preset_uses_mrf():
    host = load_host()
    cfg = load_config(host, "wells")
    assert cfg.run.blend == "mrf"
    assert cfg.options_for(host, "blend", "mrf").band >= 1
