"""The ``poisson`` compositor: boundary values from the photo, gradients from the layer."""

from __future__ import annotations

import torch
from tst_blend.poisson import PoissonCompositor, PoissonOptions

from tests.synthetic import disc, make_targets, smooth_photo
from tst_core.regions import label_map, near


def test_photo_is_preserved_outside_the_region():
    photo, stylized = torch.rand(3, 48, 48), torch.rand(1, 3, 48, 48)
    targets = make_targets(disc(48, 48, 24, 24, 10))
    out = PoissonCompositor(PoissonOptions(margin=3)).composite(photo, stylized, targets)
    region = torch.from_numpy(near(label_map(targets.masks()) > 0, 3))
    assert torch.equal(out[:, ~region], photo[:, ~region])
    assert not torch.equal(out[:, region], photo[:, region])


def test_a_constant_offset_is_removed_and_texture_kept():
    """Layer = photo + texture + offset: the solution is photo + texture, shifted to fit."""
    photo = smooth_photo(48, 48)
    texture = 0.05 * torch.sin(torch.arange(48.0) / 2)[None, None, :].expand(3, 48, 48)
    stylized = (photo + texture + 0.2).clamp(0, 1)[None]
    mask = torch.zeros(48, 48)
    mask[12:36, 12:36] = 1.0
    out = PoissonCompositor(PoissonOptions(margin=0)).composite(photo, stylized, make_targets(mask))
    inner = (slice(None), slice(18, 30), slice(18, 30))
    # gradients inside follow the layer ...
    grad = lambda x: x[:, :, 1:] - x[:, :, :-1]  # noqa: E731
    assert torch.allclose(grad(out[inner]), grad(stylized[0][inner]), atol=0.02)
    # ... and the offset that a hard cut would show at the edge is gone
    assert float((out[inner] - (photo + texture)[inner]).abs().mean()) < 0.03
    assert float((stylized[0][inner] - (photo + texture)[inner]).abs().mean()) > 0.15


def test_touching_targets_are_solved_together():
    photo = smooth_photo(40, 40)
    stylized = torch.stack([(photo + 0.2).clamp(0, 1), (photo - 0.2).clamp(0, 1)])
    targets = make_targets(disc(40, 40, 20, 13, 9), disc(40, 40, 20, 27, 9))
    out = PoissonCompositor().composite(photo, stylized, targets)
    # every layer is the photo shifted by a constant: the blend gives the photo back
    assert torch.allclose(out, photo, atol=2e-3)


def test_whole_frame_with_two_targets_has_a_unique_solution():
    photo = smooth_photo(24, 24)
    stylized = torch.stack([(photo + 0.1).clamp(0, 1), (photo + 0.1).clamp(0, 1)])
    left = torch.zeros(24, 24)
    left[:, :12] = 1.0
    targets = make_targets(left, 1 - left)
    out = PoissonCompositor().composite(photo, stylized, targets)
    assert torch.allclose(out, stylized[0], atol=1e-3)
