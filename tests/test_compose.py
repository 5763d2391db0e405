"""tst_core.compose: the result at the photo's own size, window by window."""

from __future__ import annotations

import numpy as np
import torch
from tst_blend.feather import FeatherCompositor, FeatherOptions
from tst_blend.hard import HardCompositor

from tests.synthetic import disc, make_targets
from tst_core.compose import Plan, compose, window_targets
from tst_core.native import at_scale
from tst_core.photo import Photo

H, W = 120, 160


def photo16() -> Photo:
    """A smooth 16-bit photo with a little noise (every value its own, none a multiple of 257)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    ramp = np.stack([0.3 + 0.4 * xx / W, 0.3 + 0.4 * yy / H, 0.5 + 0 * xx], axis=-1)
    noisy = ramp + rng.normal(0, 0.01, ramp.shape)
    return Photo(np.clip(np.rint(noisy * 65535), 0, 65535).astype(np.uint16), bits=16)


def working_targets():
    """Two discs at the working size 60 × 80 (scale 0.5), far apart."""
    return make_targets(disc(60, 80, 15, 15, 8), disc(60, 80, 45, 65, 6))


def test_only_what_the_compositor_changes_is_written_the_rest_is_the_photo_bit_for_bit():
    photo = photo16()
    targets = working_targets()
    layers = torch.stack([torch.full((3, 60, 80), 0.25), torch.full((3, 60, 80), 0.75)])
    compositor = FeatherCompositor(at_scale(FeatherOptions(radius=2.0), 2.0))
    plan = Plan(targets, 0.5, compositor, reach=6.0, layers=layers, upsample="bicubic")
    done = compose(photo, plan)
    assert done.pixels.dtype == np.uint16 and done.pixels.shape == (H, W, 3)
    assert len(done.windows) == 2  # the two far-apart discs are worked separately
    touched = np.zeros((H, W), bool)
    for fact in done.windows:
        x0, y0, x1, y1 = fact["box"]
        touched[y0:y1, x0:x1] = True
    assert np.array_equal(done.pixels[~touched], photo.pixels[~touched])
    changed = (done.pixels != photo.pixels).any(-1)
    # (a blended value may round back to the photo's own level)
    assert 0 < changed.sum() <= sum(f["changed_pixels"] for f in done.windows)
    assert (done.pixels[30, 30] == round(0.25 * 65535)).all()  # inside the first disc
    assert (done.pixels[90, 130] == round(0.75 * 65535)).all()  # inside the second


def test_an_engine_with_stylize_native_gets_the_native_window_and_refined_masks():
    seen = []

    class Native:
        def stylize_native(self, photo, targets, progress=None, *, scale, budget):
            from tst_core.types import StylizeResult

            seen.append((tuple(photo.shape), targets.size, scale, budget))
            return StylizeResult(torch.zeros(len(targets), *photo.shape))

    photo = photo16()
    plan = Plan(
        working_targets(), 0.5, HardCompositor(), reach=0.0, engine=Native(), budget=1 << 30
    )
    done = compose(photo, plan)
    assert [s[2] for s in seen] == [0.5, 0.5]
    # what the window's pixels and masks leave: the compositor's memory comes after the engine's
    assert [s[3] for s in seen] == [
        (1 << 30) - 4 * (3 + 2) * h * w for _, h, w in (s[0] for s in seen)
    ]
    assert all(s[0][1:] == s[1] for s in seen)  # masks at the window's native size
    assert [w["layers"] for w in done.windows] == ["native", "native"]
    assert (done.pixels[30, 30] == 0).all() and np.array_equal(
        done.pixels[0, 0], photo.pixels[0, 0]
    )


def test_window_masks_follow_the_photo_and_sum_to_at_most_one():
    photo = photo16().tensor()
    targets = make_targets(disc(60, 80, 30, 30, 10), disc(60, 80, 30, 45, 10))
    from tst_core.boxes import Box

    native = window_targets(targets, (H, W), Box(20, 20, 120, 100), photo[:, 20:100, 20:120], 0.5)
    assert native.size == (80, 100)
    assert float(native.masks().sum(0).max()) <= 1.0 + 1e-6


def test_a_native_engine_s_layers_of_the_wrong_size_are_one_error_naming_it():
    import pytest

    from tst_core.errors import PluginError
    from tst_core.registry import Entry
    from tst_core.types import StylizeResult

    class Working:  # returns layers at the working size, not the window's
        def stylize_native(self, photo, targets, progress=None, *, scale, budget):
            h, w = photo.shape[-2:]
            return StylizeResult(torch.zeros(len(targets), 3, h // 2, w // 2))

    def entry(kind, name):
        return Entry(kind, name, lambda o, e: None, object, "", plugin=f"tst_{name}")

    plan = Plan(
        working_targets(), 0.5, HardCompositor(), reach=0.0, engine=Working(), budget=1 << 30,
        entries=(entry("engine", "halfsize"), entry("blend", "hard")),
    )  # fmt: skip
    with pytest.raises(PluginError, match=r"engine 'halfsize' \(plugin 'tst_halfsize'\)"):
        compose(photo16(), plan)
