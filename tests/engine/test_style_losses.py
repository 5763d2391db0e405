"""The mean-and-covariance and sliced Wasserstein style losses against their closed forms on
tiny feature maps, their masks, and their gradients."""

from __future__ import annotations

import itertools
import math
import typing

import pytest
import torch

from tst_core.boxes import Box
from tst_core.engine.losses import ContentLoss
from tst_core.engine.options import GatysOptions
from tst_core.engine.style_losses import (
    STYLE_LOSSES,
    Cells,
    MeanCovStyleLoss,
    SlicedStyleLoss,
    _quantiles,
    style_loss,
    style_statistics,
    trace_sqrt,
)


def _plus_pattern(means, spreads):
    """Features ``(1, 2, 2, 2)`` whose 4 positions have exactly ``means`` and the diagonal
    covariance ``spreads²`` (the pattern (±1, ±1) scaled and shifted)."""
    sx, sy = spreads
    x = torch.tensor([1.0, -1.0, 1.0, -1.0]) * sx + means[0]
    y = torch.tensor([1.0, 1.0, -1.0, -1.0]) * sy + means[1]
    return torch.stack([x, y]).view(1, 2, 2, 2)


def test_meancov_is_the_gaussian_wasserstein_distance_in_closed_form():
    f = _plus_pattern((0.5, -1.0), (2.0, 0.5))
    mean_s, var_s = torch.tensor([1.5, 0.0]), torch.tensor([1.0, 4.0])
    loss = MeanCovStyleLoss([(mean_s, torch.diag(var_s))], [None])
    # commuting (diagonal) covariances: |μ − μs|² + Σ (σ − σs)²
    w2 = (0.5 - 1.5) ** 2 + (-1.0 - 0.0) ** 2 + (2.0 - 1.0) ** 2 + (0.5 - 2.0) ** 2
    norm = float(mean_s.square().sum() + var_s.sum())
    torch.testing.assert_close(loss(f), torch.tensor([w2 / norm]))


def test_meancov_of_the_same_features_is_zero_and_its_statistics_are_the_samples():
    f = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(0))
    mean, cov = style_statistics(f[0], "meancov")
    flat = f[0].flatten(1)
    torch.testing.assert_close(mean, flat.mean(1))
    torch.testing.assert_close(cov, torch.cov(flat, correction=0), atol=1e-5, rtol=1e-5)
    assert float(MeanCovStyleLoss([(mean, cov)], [None])(f)[0]) < 1e-4


def test_a_masked_meancov_sees_only_its_region():
    f = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    style = style_statistics(
        torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(2)), "meancov"
    )
    mask = torch.zeros(8, 8)
    mask[2:6, 1:4] = 1.0
    inside = MeanCovStyleLoss([style], [None])(f[:, :, 2:6, 1:4].contiguous())
    torch.testing.assert_close(MeanCovStyleLoss([style], [mask])(f), inside)


def test_trace_sqrt_is_the_sum_of_the_square_roots_of_the_eigenvalues():
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(3)))
    values = torch.tensor([4.0, 9.0, 0.25, 1.0])
    m = q @ torch.diag(values) @ q.T
    torch.testing.assert_close(trace_sqrt(m), torch.tensor(2.0 + 3.0 + 0.5 + 1.0))


def test_sliced_in_one_dimension_is_the_sorted_difference():
    x = torch.tensor([3.0, -1.0, 0.5, 2.0, 7.0, -4.0])
    y = torch.tensor([1.0, 0.0, 2.0, -2.0, 5.0, 1.5])
    loss = SlicedStyleLoss([y[None]], [None], torch.Generator().manual_seed(0))
    want = (x.sort().values - y.sort().values).square().mean() / y.square().mean()
    torch.testing.assert_close(loss(x.view(1, 1, 2, 3)), want[None])


def test_sliced_ignores_the_order_of_positions_but_not_the_values():
    g = torch.Generator().manual_seed(4)
    f = torch.randn(1, 5, 6, 6, generator=g)
    loss = SlicedStyleLoss([f[0].flatten(1)], [None], torch.Generator().manual_seed(0))
    shuffled = f.flatten(2)[:, :, torch.randperm(36, generator=g)].view(1, 5, 6, 6)
    assert float(loss(shuffled)[0]) < 1e-10
    assert float(loss(-f)[0]) > 0.1  # a Gram matrix cannot tell F from −F; this loss can


def test_sliced_reads_the_style_at_the_regions_quantiles():
    sorted_values = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    torch.testing.assert_close(_quantiles(sorted_values, 2), torch.tensor([[0.5, 2.5]]))
    torch.testing.assert_close(_quantiles(sorted_values, 4), sorted_values)
    mask = torch.zeros(4, 4)
    mask[:2, :2] = 1.0  # 4 positions of a region against 16 of the style
    style = torch.arange(16.0)[None]
    f = torch.zeros(1, 1, 4, 4)
    f[0, 0, :2, :2] = torch.tensor([[1.5, 5.5], [9.5, 13.5]])  # the style's quartile centres
    loss = SlicedStyleLoss([style], [mask], torch.Generator().manual_seed(0))
    assert float(loss(f)[0]) < 1e-10


def test_the_new_losses_have_gradients_that_lower_them():
    g = torch.Generator().manual_seed(5)
    style = torch.rand(3, 8, 8, generator=g)
    for kind, cls in (("meancov", MeanCovStyleLoss), ("sliced", SlicedStyleLoss)):
        stats = style_statistics(style, kind)
        args = (torch.Generator().manual_seed(0),) if kind == "sliced" else ()
        loss = cls([stats], [None], *args)
        x = torch.rand(1, 3, 8, 8, generator=g).requires_grad_(True)
        value = loss(x)[0]
        value.backward()
        before = float(value.detach())
        with torch.no_grad():
            after = loss(x - 0.05 * x.grad / x.grad.abs().max())[0]
        assert math.isfinite(before) and float(after) < before, kind


def test_the_table_names_the_losses_of_the_option_and_an_unknown_name_is_an_error():
    hints = typing.get_type_hints(GatysOptions)
    assert set(STYLE_LOSSES) == set(typing.get_args(hints["style_loss"]))
    with pytest.raises(ValueError, match="style_loss must be one of gram, meancov, sliced"):
        GatysOptions(style_loss="fancy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got 'fancy'"):
        style_loss("fancy")


def _tiles(h, w, rows, cols):
    """Cells of an ``h × w`` map split at ``rows`` and ``cols``, each with a halo of 2 cells."""
    ys, xs = [0, *rows, h], [0, *cols, w]
    for y0, y1 in itertools.pairwise(ys):
        for x0, x1 in itertools.pairwise(xs):
            oy, ox = max(0, y0 - 2), max(0, x0 - 2)
            window = (slice(oy, min(h, y1 + 2)), slice(ox, min(w, x1 + 2)))
            yield window, Cells((oy, ox), Box(x0, y0, x1, y1), (h, w))


def _masks(h, w):
    g = torch.Generator().manual_seed(8)
    soft = torch.zeros(h, w)
    soft[1:9, 2:11] = torch.rand(8, 9, generator=g) + 0.1
    hard = torch.zeros(h, w)
    hard[7:14, 0:6] = 1.0
    return [soft, hard, None]


@pytest.mark.parametrize("kind", ["gram", "meancov"])
def test_additive_statistics_add_up_over_tiles_to_the_whole_maps(kind):
    """What tiling needs: the statistics of the tiles' cells sum to the whole map's, for the
    regions' losses and for a style image's own statistics."""
    g = torch.Generator().manual_seed(9)
    h, w = 14, 12
    f = torch.rand(1, 5, h, w, generator=g) * 3
    row = style_loss(kind)
    assert row.additive
    styles = [row.statistics(torch.rand(5, 6, 6, generator=g)) for _ in range(3)]
    masks = _masks(h, w)
    loss = row.module(styles, masks, None)
    whole = loss.partial(f)
    totals = [torch.zeros_like(s) for s in whole]
    sums = [torch.zeros_like(s) for s in row.sums(f, masks[0], None)]
    for window, cells in _tiles(h, w, rows=[5, 9], cols=[7]):
        tile = f[(..., *window)].contiguous()
        totals = [t + p for t, p in zip(totals, loss.partial(tile, cells), strict=True)]
        sums = [t + p for t, p in zip(sums, row.sums(tile, masks[0], cells), strict=True)]
    for got, want in zip(totals, whole, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.value(tuple(totals)), loss(f), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        row.finish(tuple(sums)), row.statistics(f[0], masks[0]), rtol=1e-5, atol=1e-6
    )


def test_the_sliced_loss_is_not_additive_and_refuses_a_tile():
    row = style_loss("sliced")
    assert not row.additive
    f = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(10))
    loss = row.module([row.statistics(f[0])], [None], torch.Generator().manual_seed(0))
    torch.testing.assert_close(loss.value(loss.partial(f, Cells.whole(f))), loss(f))
    with pytest.raises(ValueError, match="whole feature map"):
        loss.partial(f[..., :4, :], Cells((0, 0), Box(0, 0, 8, 4), (8, 8)))


@pytest.mark.parametrize("weighted", [False, True])
def test_content_shares_of_tiles_add_up_to_the_whole_loss(weighted):
    g = torch.Generator().manual_seed(11)
    h, w = 14, 12
    target, f = torch.rand(1, 4, h, w, generator=g), torch.rand(1, 4, h, w, generator=g)
    loss = ContentLoss(target, _masks(h, w)[0] if weighted else None)
    total = sum(
        loss.partial(f[(..., *window)].contiguous(), cells)[0]
        for window, cells in _tiles(h, w, rows=[4], cols=[3, 8])
    )
    torch.testing.assert_close(total, loss(f), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["gram", "meancov", "sliced"])
def test_a_mix_has_the_statistics_of_its_paintings_features_mixture(kind):
    """A quarter of the feature vectors from ``a``, three quarters from ``b``: Gram matrices
    mix linearly, meancov's covariance includes the spread between the two means, sliced keeps
    positions in those proportions; a share of 1 (the other 0) is that painting's own."""
    g = torch.Generator().manual_seed(12)
    a, b = torch.rand(4, 8, 8, generator=g), torch.rand(4, 8, 8, generator=g) + 1.0
    row = style_loss(kind)
    gathered = [row.gather(f, generator=g) for f in (a, b)]
    mixed = row.mixture(gathered, [0.25, 0.75], g)
    fa, fb = a.flatten(1), b.flatten(1)
    if kind == "gram":
        expected = 0.25 * (fa @ fa.T) / 64 + 0.75 * (fb @ fb.T) / 64
        torch.testing.assert_close(mixed, expected)
    elif kind == "meancov":
        mean = 0.25 * fa.mean(1) + 0.75 * fb.mean(1)
        torch.testing.assert_close(mixed[0], mean)
        gap = fa.mean(1) - fb.mean(1)
        within = 0.25 * row.statistics(a)[1] + 0.75 * row.statistics(b)[1]
        torch.testing.assert_close(mixed[1], within + 0.25 * 0.75 * torch.outer(gap, gap))
    else:  # all 64 of b's positions (the scarcer for its share), 21 of a's: 25 % of 85
        assert mixed.shape == (4, 85)
        assert float(mixed[:, :21].max()) < 1.0 <= float(mixed[:, 21:].min())
    for shares, alone in (([1.0, 0.0], a), ([0.0, 1.0], b)):
        got, want = row.mixture(gathered, shares, g), row.statistics(alone)
        for x, y in zip(_tensors(got), _tensors(want), strict=True):
            assert torch.equal(x, y), (kind, shares)  # exactly, not only closely


def _tensors(stats):
    return stats if isinstance(stats, tuple) else (stats,)


def test_a_mix_needs_a_share_per_painting():
    row = style_loss("gram")
    with pytest.raises(ValueError, match="2 paintings' statistics for 1 shares"):
        row.mixture([row.gather(torch.rand(2, 3, 3))] * 2, [1.0])
