"""Exact tiling (issue 20 item 3): the objective's terms and gradient computed tile by tile
equal the untiled ones, and only one tile's activations exist at a time."""

from __future__ import annotations

import pytest
import torch

from tst_core.engine.objective import Objective, style_targets
from tst_core.engine.options import GatysOptions
from tst_core.engine.tiles import Tiling, halo, plan_tiling
from tst_core.engine.vgg import build_network

from .helpers import box_mask, dots, photo, stripes

#: a shallow network (deepest layer relu3_1: stride 4, receptive field 24 px), so that small
#: images hold many tiles whose halos lie inside the image
SHALLOW = {
    "style_layers": ("relu1_1", "relu2_1", "relu3_1"),
    "content_layers": ("conv3_1",),
    "detail_layers": ("relu2_1", "conv3_1"),
}


def _objective(h, w, tiling=None, masked=True, dtype=torch.float32, **options):
    o = GatysOptions(**{"tv_weight": 0.5, **options})
    net = build_network(layers=(*o.content_layers, *o.detail_layers, *o.style_layers)).to(dtype)
    styles = [style_targets(net, s.to(dtype), o) for s in (stripes(40, 56), dots(48, 40))]
    masks = None
    if masked:
        soft = box_mask(h, w, 10, h - 20, 6, w // 2) * 0.7
        masks = torch.stack([soft, box_mask(h, w, h // 3, h, w // 2, w)])
    content = photo(h, w).to(dtype)
    return Objective(net, content, masks, styles, [1.0, 2.0], o, tiling=tiling), content


def _compare(h, w, tiling, masked=True, dtype=torch.float32, **options):
    """Terms and gradient of the untiled and the tiled objective at one image."""
    plain, content = _objective(h, w, None, masked, dtype, **options)
    tiled, _ = _objective(h, w, tiling, masked, dtype, **options)
    assert tiled.tiling is not None and tiling.count > 1
    x = (
        content * 0.8 + 0.1 * torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    )[None]
    want_terms, want = plain.evaluate(x)
    got_terms, got = tiled.evaluate(x)
    return want_terms, want, got_terms, got


#: meancov in float64: its covariance is a difference of two large moments (ReLU features have
#: large means), so in float32 any change of summation order, tiled or not, moves its gradient
#: by about 1e-3 relative; in float64 tiled and untiled agree to 1e-7
@pytest.mark.parametrize("loss, dtype", [("gram", torch.float32), ("meancov", torch.float64)])
def test_tiled_gradient_equals_the_untiled_one(loss, dtype):
    h, w = 96, 128
    net = build_network(layers=SHALLOW["style_layers"])
    reach, align = halo(net, [*SHALLOW["style_layers"], *SHALLOW["detail_layers"]])
    assert (reach, align) == (12, 4)  # relu3_1: (24 - 4) / 2 = 10 cells' reach, to a stride of 4
    tiling = Tiling((h, w), core=32, halo=reach, align=align)
    assert tiling.count == 12
    want_terms, want, got_terms, got = _compare(
        h, w, tiling, True, dtype, style_loss=loss, **SHALLOW
    )
    assert set(got_terms) == set(want_terms)
    for key in want_terms:
        torch.testing.assert_close(got_terms[key], want_terms[key], rtol=1e-5, atol=1e-7)
    assert got.dtype == want.dtype == dtype
    assert float(want.abs().max()) > 0
    assert float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())


def test_tiled_gradient_with_the_default_layers_and_unmasked():
    h, w = 112, 128
    net = build_network(layers=GatysOptions().style_layers)
    reach, align = halo(net, [*GatysOptions().style_layers, *GatysOptions().detail_layers])
    assert (reach, align) == (80, 16)  # relu5_1: receptive field 156 px, stride 16
    for masked in (True, False):
        tiling = Tiling((h, w), core=64, halo=reach, align=align)
        want_terms, want, got_terms, got = _compare(h, w, tiling, masked)
        torch.testing.assert_close(got_terms["total"], want_terms["total"], rtol=1e-5, atol=0)
        assert float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())


def test_a_halo_short_of_the_receptive_field_gives_a_wrong_gradient():
    """The exactness above comes from the halo: without it the tiles see their own borders."""
    tiling = Tiling((96, 128), core=32, halo=4, align=4)
    _, want, _, got = _compare(96, 128, tiling, **SHALLOW)
    assert float((got - want).abs().max()) > 1e-2 * float(want.abs().max())


def test_tiles_partition_the_image_and_their_windows_stay_inside():
    tiling = Tiling((100, 70), core=32, halo=16, align=16)
    seen = torch.zeros(100, 70)
    for tile in tiling.tiles():
        rows, cols = tile.core.slices()
        seen[rows, cols] += 1
        x0, y0, x1, y1 = tile.window
        assert min(x0, y0) >= 0 and x1 <= 70 and y1 <= 100
        assert x0 % 16 == 0 and y0 % 16 == 0
    assert bool((seen == 1).all()) and tiling.count == 12


def test_the_planned_tiling_has_the_largest_cores_that_fit():
    assert plan_tiling((100, 120), 100 * 120, 80, 16).whole
    t = plan_tiling((1000, 1500), 400 * 400, 80, 16)
    assert t.window_pixels <= 400 * 400 < Tiling((1000, 1500), t.core + 16, 80, 16).window_pixels
    assert t.core == 240
