"""The mean-and-covariance and sliced Wasserstein style losses against their closed forms on
tiny feature maps, their masks, and their gradients."""

from __future__ import annotations

import math

import torch

from tst_core.engine.losses import (
    MeanCovStyleLoss,
    SlicedStyleLoss,
    _quantiles,
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
