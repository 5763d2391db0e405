"""Guided filtering and the native-size enlargements of tst_core.upsample, on synthetic images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tst_core.upsample import (
    _Enlarger,
    box_mean,
    detail_energy,
    guided_filter,
    refine_masks,
    shrink,
    upsample_image,
)

SIZE = 240


def wavy_disc(size: int = SIZE, waves: int = 40) -> torch.Tensor:
    """A disc whose edge wavers faster than a low-resolution grid resolves, ``(size, size)``."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    c = size / 2
    radius = 0.3 * size + 0.02 * size * torch.sin(torch.atan2(yy - c, xx - c) * waves)
    return ((yy - c) ** 2 + (xx - c) ** 2 < radius**2).float()


def textured(size: int = SIZE, seed: int = 0) -> torch.Tensor:
    """A photo ``(3, size, size)`` with detail at every scale down to the pixel."""
    g = torch.Generator().manual_seed(seed)
    noise = F.avg_pool2d(torch.rand(1, 3, size, size, generator=g), 3, 1, 1)[0]
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    base = 0.5 + 0.25 * torch.sin(xx / 20) * torch.cos(yy / 15)
    return (base + 0.6 * (noise - 0.5)).clamp(0, 1)


def object_photo(mask: torch.Tensor) -> torch.Tensor:
    """A red textured object on a green-blue textured background."""
    yy, xx = torch.meshgrid(
        torch.arange(mask.shape[0]).float(), torch.arange(mask.shape[1]).float(), indexing="ij"
    )
    bg = torch.stack([0.3 + 0.1 * torch.sin(xx / 3), 0.5 + 0.1 * torch.cos(yy / 2.5), 0.4 + 0 * xx])
    fg = torch.stack([0.8 + 0.05 * torch.sin((xx + yy) / 2), 0.3 + 0 * xx, 0.2 + 0 * xx])
    return (mask * fg + (1 - mask) * bg).clamp(0, 1)


@pytest.mark.parametrize("radius", [1, 3, 10, 400])
def test_box_mean_is_the_window_mean_clipped_to_the_frame(radius):
    x = torch.rand(2, 23, 31)
    out = box_mean(x, radius)
    for y, xx in ((0, 0), (11, 15), (22, 30), (5, 29)):
        ys = slice(max(0, y - radius), y + radius + 1)
        xs = slice(max(0, xx - radius), xx + radius + 1)
        assert torch.allclose(out[:, y, xx], x[:, ys, xs].mean(dim=(-2, -1)), atol=1e-6)


@pytest.mark.parametrize("kernel", ["bilinear", "bicubic"])
def test_tiled_enlargement_equals_torch_interpolate(kernel):
    low = torch.rand(2, 13, 19)
    ref = F.interpolate(low[None], size=(101, 77), mode=kernel, align_corners=False)[0]
    enlarge = _Enlarger((13, 19), (101, 77), kernel)
    out = torch.empty_like(ref)
    for rows in (slice(0, 40), slice(40, 101)):
        for cols in (slice(0, 33), slice(33, 77)):
            out[:, rows, cols] = enlarge.tile(low, rows, cols)
    assert torch.allclose(out, ref, atol=1e-5)


def test_guided_filter_keeps_the_guide_and_flattens_what_it_cannot_explain():
    guide = textured(64)
    assert torch.allclose(guided_filter(guide, guide, 2, 1e-8), guide, atol=1e-3)
    flat = torch.full((3, 64, 64), 0.5)
    src = torch.rand(1, 64, 64)  # a constant guide explains nothing: b's window mean is left
    expected = box_mean(box_mean(src, 2), 2)
    assert torch.allclose(guided_filter(flat, src, 2, 1e-3), expected, atol=1e-5)
    grey = guide[:1]
    assert torch.allclose(guided_filter(grey, grey, 2, 1e-8), grey, atol=1e-3)


@pytest.mark.parametrize("factor", [4, 8])
def test_refined_mask_follows_the_native_edge_far_better_than_bilinear(factor):
    true = wavy_disc()
    photo = object_photo(true)
    low = shrink(true[None], (SIZE // factor, SIZE // factor))
    bilinear = upsample_image(low, photo, method="bilinear")[0]
    refined = refine_masks(low, photo)[0]
    band = (
        F.max_pool2d(true[None, None], 2 * factor + 1, 1, factor)[0, 0]
        > -F.max_pool2d(-true[None, None], 2 * factor + 1, 1, factor)[0, 0]
    )
    err_bilinear = float((bilinear - true).abs()[band].mean())
    err_refined = float((refined - true).abs()[band].mean())
    assert err_refined < err_bilinear / 3, (err_refined, err_bilinear)
    assert float(refined.min()) >= 0.0 and float(refined.max()) <= 1.0


def test_refinement_does_not_depend_on_the_tiles():
    true = wavy_disc(120)
    photo = object_photo(true)
    low = shrink(torch.stack([true, 1 - true]), (30, 30))
    assert torch.allclose(refine_masks(low, photo, tile=17), refine_masks(low, photo), atol=1e-5)
    grey = photo[:1]
    assert refine_masks(low, grey, tile=23).shape == (2, 120, 120)


def test_guided_upsampling_brings_back_the_photo_detail_a_resize_loses():
    photo = textured()
    small = shrink(photo, (SIZE // 8, SIZE // 8))  # an identity "stylisation" at 1/8 the size
    guided = upsample_image(small, photo)
    bicubic = upsample_image(small, photo, method="bicubic")
    own = detail_energy(photo)
    assert detail_energy(guided) > 0.5 * own
    assert detail_energy(bicubic) < 0.05 * own
    assert float((guided - photo).abs().mean()) < 0.6 * float((bicubic - photo).abs().mean())
    tiled = upsample_image(small, photo, tile=29)
    assert torch.allclose(tiled, guided, atol=1e-5)


def test_guided_upsampling_adds_no_photo_detail_where_the_painting_has_no_structure():
    photo = textured()
    painted = torch.tensor([0.2, 0.6, 0.9]).view(3, 1, 1).expand(3, 30, 30).contiguous()
    out = upsample_image(painted, photo)
    assert torch.allclose(out, painted[:, :1, :1].expand(3, SIZE, SIZE), atol=1e-5)


def test_detail_energy_weighs_the_mask():
    image = torch.zeros(3, 32, 32)
    image[:, :, 16:] = torch.rand(3, 32, 16)
    left = torch.zeros(32, 32)
    left[:, :12] = 1
    assert detail_energy(image, left) < 1e-12 < detail_energy(image, 1 - left)


def test_upsample_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="method"):
        upsample_image(torch.rand(3, 4, 4), torch.rand(3, 8, 8), method="nearest")  # type: ignore[arg-type]
