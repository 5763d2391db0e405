"""The K-target loss: locality of each target's style term, the content-free gradient, and one
forward pass per evaluation for every target."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tst_core.engine.objective import Objective, style_targets
from tst_core.engine.options import GatysOptions
from tst_core.engine.vgg import build_network, receptive_field

from .helpers import PAPER, box_mask, dots, photo, stripes

H, W = 64, 256
#: the deepest default style layer: relu5_1, receptive field 156 px
FIELD = receptive_field("relu5_1").field


def _objective(masks, styles, **options):
    o = GatysOptions(**{**PAPER, **options})
    net = build_network(layers=(*o.content_layers, *o.style_layers))
    grams = [style_targets(net, s, o) for s in styles]
    return Objective(net, photo(H, W), masks, grams, [1.0] * len(styles), o)


def test_target_style_loss_ignores_pixels_beyond_the_receptive_field():
    left = box_mask(H, W, 8, 56, 0, 32)
    right = box_mask(H, W, 8, 56, 224, 256)
    objective = _objective(torch.stack([left, right]), [stripes(), dots()])
    image = photo(H, W)[None]
    changed = image.clone()
    changed[..., 32 + FIELD :] = torch.rand(3, H, W - 32 - FIELD)  # far from the left target
    before, after = objective(image), objective(changed)
    torch.testing.assert_close(after["style/0"], before["style/0"], rtol=1e-5, atol=0)
    assert float((after["style/1"] - before["style/1"]).abs()) > 1e-3  # near the right one
    # and a change next to the left target does move its loss (the test can fail)
    near = image.clone()
    near[..., 32:40] = 1.0
    assert float((objective(near)["style/0"] - before["style/0"]).abs()) > 1e-4


def test_without_content_the_gradient_vanishes_beyond_every_targets_field():
    left = box_mask(H, W, 8, 56, 0, 32)
    objective = _objective(left[None], [stripes()], content_weight=0.0, tv_weight=0.0)
    image = photo(H, W)[None].requires_grad_(True)
    objective(image)["total"].backward()
    grad = image.grad.abs()[0].amax(dim=(0, 1))  # per column
    assert float(grad[32 + FIELD :].max()) == 0.0
    assert float(grad[:32].min()) > 0.0
    # with content, every column is pulled back towards the photo
    objective = _objective(left[None], [stripes()], tv_weight=0.0)
    image = (photo(H, W)[None] + 0.05).requires_grad_(True)
    objective(image)["total"].backward()
    assert float(image.grad.abs()[0].amax(dim=(0, 1))[32 + FIELD :].min()) > 0.0


def test_all_ones_target_equals_the_unmasked_objective():
    masked = _objective(torch.ones(1, H, W), [stripes()])
    plain = _objective(None, [stripes()])
    x = photo(H, W)[None] * 0.8
    a, b = masked(x), plain(x)
    for key in ("content", "style/0", "total"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_terms_add_up_and_are_weighted_by_strength_and_area():
    small = box_mask(H, W, 0, 32, 0, 64)  # 1/8 of the frame
    objective = _objective(small[None], [stripes()], tv_weight=1.0)
    x = photo(H, W)[None] * 0.9
    terms = objective(x)
    parts = terms["content"] + terms["style/0"] + terms["tv"]
    torch.testing.assert_close(terms["total"], parts)
    o = GatysOptions()
    net = objective.net
    grams = [style_targets(net, stripes(), o)]
    strong = Objective(net, photo(H, W), small[None], grams, [4.0], o)(x)["style/0"]
    torch.testing.assert_close(strong, 4 * terms["style/0"])
    whole = _objective(None, [stripes()])(x)["style/0"]
    assert float(terms["style/0"]) < float(whole)  # area 1/8 weighs less than the whole frame
    # tst's additions (the defaults) are terms of the same sum
    more = _objective(small[None], [stripes()], **{k: getattr(o, k) for k in PAPER})(x)
    assert float(more["detail"]) > 0 and float(more["chroma_tv"]) > 0
    torch.testing.assert_close(
        more["total"], more["content"] + more["detail"] + more["style/0"] + more["chroma_tv"]
    )


def test_one_forward_pass_per_evaluation_for_any_number_of_targets():
    masks = torch.stack([box_mask(H, W, 0, 64, 64 * k, 64 * k + 64) for k in range(3)])
    objective = _objective(masks, [stripes(), dots(), stripes(period=4)])
    calls = []
    objective.net.register_forward_hook(lambda *_: calls.append(1))
    terms = objective(photo(H, W)[None].requires_grad_(True))
    assert {"style/0", "style/1", "style/2"} <= set(terms)
    assert len(calls) == 1


def test_tv_terms_weigh_a_supersampled_image_as_the_image_it_stands_for():
    # the same colour field at the working size and sampled twice as finely: per optimised
    # pixel its steps are half as large; the factor's square puts the terms back level
    o = GatysOptions(**{**PAPER, "tv_weight": 1.0, "chroma_tv_weight": 1.0})
    net = build_network(layers=(*o.content_layers, *o.style_layers))
    coarse = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    field = F.interpolate(coarse[None], size=(32, 32), mode="bilinear", align_corners=True)
    fine = F.interpolate(field, size=(64, 64), mode="bilinear", align_corners=True)
    styles = [style_targets(net, stripes(), o)]

    def terms(image, factor):
        objective = Objective(net, image[0], None, styles, [1.0], o, factor=factor)
        return objective(image)

    working, plain, supersampled = terms(field, 1.0), terms(fine, 1.0), terms(fine, 2.0)
    for name in ("tv", "chroma_tv"):
        assert float(plain[name]) < 0.3 * float(working[name])  # unscaled: far weaker
        torch.testing.assert_close(supersampled[name], working[name], rtol=0.15, atol=0)
