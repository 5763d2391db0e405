"""Loss modules and how masks reach the layers."""

from __future__ import annotations

import torch

from tst_core.engine.layer_masks import layer_mask, roi_box, support_window
from tst_core.engine.losses import ContentLoss, TVLoss, gram_matrix
from tst_core.engine.style_losses import GramStyleLoss
from tst_core.engine.vgg import build_network, receptive_field

from .helpers import STYLE_LAYERS


def _features(c=8, h=12, w=10, seed=0):
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_all_ones_mask_equals_the_unmasked_gram_and_loss():
    f = _features()
    flat = f[0].flatten(1)
    plain = flat @ flat.T / flat.shape[1]  # Gatys' Gram matrix, normalised by the positions
    ones = torch.ones(12, 10)
    torch.testing.assert_close(gram_matrix(f[0], ones), plain)
    torch.testing.assert_close(gram_matrix(f[0]), plain)
    style = gram_matrix(_features(seed=1)[0])
    masked, unmasked = GramStyleLoss([style], [ones])(f), GramStyleLoss([style], [None])(f)
    want = ((plain - style) ** 2).mean() / (style**2).mean()
    torch.testing.assert_close(masked, want[None])
    torch.testing.assert_close(unmasked, want[None])


def test_masked_gram_is_normalised_by_the_region_area():
    """A region's Gram matrix equals the Gram matrix of that region cut out, whatever its size."""
    f = _features(h=20, w=20)
    for y0, y1, x0, x1 in ((2, 6, 3, 7), (0, 20, 5, 15), (10, 11, 10, 11)):
        mask = torch.zeros(20, 20)
        mask[y0:y1, x0:x1] = 1.0
        torch.testing.assert_close(gram_matrix(f[0], mask), gram_matrix(f[0, :, y0:y1, x0:x1]))


def test_soft_mask_weights_positions_and_uniform_softness_cancels():
    f = _features()
    torch.testing.assert_close(gram_matrix(f[0], torch.full((12, 10), 0.3)), gram_matrix(f[0]))
    half = torch.ones(12, 10)
    half[:, 5:] = 0.5  # right half counts a quarter (weights are m²)
    left, right = gram_matrix(f[0, :, :, :5]), gram_matrix(f[0, :, :, 5:])
    torch.testing.assert_close(gram_matrix(f[0], half), (left + 0.25 * right) / 1.25)


def test_gram_is_float32_for_half_precision_features():
    f = _features().to(torch.bfloat16)
    assert gram_matrix(f[0], torch.ones(12, 10)).dtype == torch.float32


def test_style_loss_reads_only_the_window_of_its_mask():
    f = _features(h=20, w=20)
    mask = torch.zeros(20, 20)
    mask[4:9, 2:7] = 1.0
    loss = GramStyleLoss([gram_matrix(_features(seed=2)[0])], [mask])
    assert [w.rows_cols() for w in loss.windows] == [(4, 9, 2, 7)]
    g = f.clone()
    g[..., 10:, :] = 100.0  # far outside the window
    g[..., :, 8:] = -5.0
    torch.testing.assert_close(loss(f), loss(g))
    assert float(loss(f)) > 0


def test_k_region_losses_and_gradients_equal_plain_autograd():
    """The hand-written backward of the K-region Gram matrices matches autograd's."""
    f = _features(c=6, h=16, w=14, seed=3).double()
    soft = torch.zeros(16, 14, dtype=torch.double)
    soft[2:9, 3:12] = torch.rand(7, 9, dtype=torch.double) + 0.1
    hard = torch.zeros(16, 14, dtype=torch.double)
    hard[10:16, 0:5] = 1.0
    masks = [soft, hard, None]
    styles = [gram_matrix(_features(c=6, seed=s)[0]).double() for s in (4, 5, 6)]
    loss = GramStyleLoss(styles, masks).double()
    x = f.clone().requires_grad_(True)
    (loss(x) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.double)).sum().backward()
    y = f.clone().requires_grad_(True)
    want = torch.stack(
        [
            ((gram_matrix(y[0], m).double() - s) ** 2).mean() / (s**2).mean()
            for m, s in zip(masks, styles, strict=True)
        ]
    )
    (want * torch.tensor([1.0, 2.0, 3.0], dtype=torch.double)).sum().backward()
    torch.testing.assert_close(loss(f), want.detach())
    torch.testing.assert_close(x.grad, y.grad)
    z = f.clone().requires_grad_(True)
    GramStyleLoss(styles[:2], masks[:2]).double()(z).sum().backward()
    assert float(z.grad[0, :, :, 12:].abs().max()) == 0.0  # outside both masked regions
    assert float(z.grad[0, :, 2:9, 3:12].abs().min()) > 0.0


def test_content_loss_is_relative_and_zero_at_the_target():
    p = _features()
    loss = ContentLoss(p)
    assert float(loss(p)) == 0.0
    x = _features(seed=5)
    torch.testing.assert_close(ContentLoss(p * 300)(x * 300), loss(x))  # scale-free
    assert float(loss(x)) > 0


def test_tv_loss_is_zero_on_flat_images_and_larger_on_noise():
    tv = TVLoss()
    assert float(tv(torch.full((1, 3, 16, 16), 0.4))) == 0.0
    smooth = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    assert float(tv(torch.rand(1, 3, 16, 16))) > 10 * float(tv(smooth))


def test_layer_masks_have_the_feature_maps_sizes():
    net = build_network(layers=STYLE_LAYERS)
    for h, w in ((37, 53), (64, 48), (33, 17)):
        feats = net(torch.rand(1, 3, h, w), STYLE_LAYERS)
        for name in STYLE_LAYERS:
            m = layer_mask(torch.ones(h, w), receptive_field(name).stride)
            assert tuple(m.shape) == tuple(feats[name].shape[-2:]), (name, h, w)


def test_layer_mask_is_the_fraction_of_each_block_inside():
    mask = torch.zeros(8, 8)
    mask[:, :3] = 1.0  # three columns
    m = layer_mask(mask, 4)
    torch.testing.assert_close(m, torch.tensor([[0.75, 0.0], [0.75, 0.0]]))
    stack = layer_mask(torch.stack([mask, 1 - mask]), 2)
    assert stack.shape == (2, 4, 4)
    torch.testing.assert_close(stack.sum(0), torch.ones(4, 4))


def test_support_window_and_roi_box():
    mask = torch.zeros(2, 50, 60)
    mask[0, 10:20, 5:15] = 1.0
    mask[1, 30:35, 40:45] = 0.2
    assert support_window(mask[0]).rows_cols() == (10, 20, 5, 15)
    assert support_window(torch.zeros(4, 4)) is None
    assert roi_box(mask, 8).rows_cols() == (2, 43, 0, 53)
    assert roi_box(mask, 100).rows_cols() == (0, 50, 0, 60)
    assert roi_box(torch.zeros(1, 5, 5), 2) is None
