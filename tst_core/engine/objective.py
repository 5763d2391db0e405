"""The total loss of one optimisation at one image size, for K targets at once.

``total = content_weight · content
        + Σ_k style_weight · strength_k · area_k · Σ_l w_l · style_kl
        + tv_weight · tv``

* ``content`` is the mean relative error over the content layers, over the whole frame, so
  pixels outside every target keep the content term only.
* ``style_kl`` compares target k's masked Gram matrix at layer l with its style image's.
* ``area_k`` is the fraction of the frame target k covers. The masked Gram matrix is a mean over
  the region (so a small region can match the style as well as a large one), which makes each
  pixel's pull towards the style proportional to 1 / area; weighting by the area restores the
  same balance between content and style per pixel for every region, so an object gets the
  look that a whole-frame stylisation would give it, whatever its size.

One forward pass of the image feeds every term: the features are computed once and each
target's loss reads only the window around its own region.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

from ..types import Tensor
from .layer_masks import layer_mask
from .losses import ContentLoss, MaskedStyleLoss, TVLoss, gram_matrix
from .options import GatysOptions
from .vgg import FeatureNet, receptive_field

#: the autocast dtype of each half-precision mode
HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """Autocast context for the network's forward pass (``fp32``: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=HALF_DTYPES[precision])


def style_grams(
    net: FeatureNet,
    style: Tensor,
    layers: Sequence[str],
    *,
    mask: Tensor | None = None,
    precision: str = "fp32",
) -> dict[str, Tensor]:
    """Gram matrices of a style image at ``layers`` (computed once per style and size).

    :param style: ``(3, h, w)`` RGB in [0, 1] on the network's device.
    :param mask: optional ``(h, w)`` mask of the style image: only that part is the style.
    :returns: ``{layer: (C, C)}`` float32.
    """
    with torch.no_grad(), autocast(style.device, precision):
        feats = net(style[None], layers)
    out = {}
    for name in layers:
        m = None if mask is None else layer_mask(mask, _stride(net, name))
        out[name] = gram_matrix(feats[name][0], m)
    return out


def _stride(net: FeatureNet, layer: str) -> int:
    return receptive_field(layer, net.arch).stride


class Objective(nn.Module):
    """The loss of one frame: content everywhere, each target's masked style, TV.

    :param net: the feature network.
    :param content: the photo ``(3, H, W)`` on the network's device.
    :param masks: ``(K, H, W)`` in [0, 1]; ``None``: every target covers the whole frame
        (the unmasked Gatys loss).
    :param grams: for each target, the style's Gram matrices by layer (:func:`style_grams`).
    :param strengths: for each target, the multiplier of its style weight.
    """

    def __init__(
        self,
        net: FeatureNet,
        content: Tensor,
        masks: Tensor | None,
        grams: Sequence[dict[str, Tensor]],
        strengths: Sequence[float],
        options: GatysOptions,
    ) -> None:
        super().__init__()
        self.net = net
        self.options = options
        self.content_layers = list(options.content_layers)
        self.style_layers = list(options.style_layers)
        with torch.no_grad(), autocast(content.device, options.precision):
            feats = net(content[None], self.content_layers)
        self.content_losses = nn.ModuleList(ContentLoss(feats[n]) for n in self.content_layers)
        self.tv = TVLoss()
        areas = [1.0 if masks is None else float(masks[k].mean()) for k in range(len(grams))]
        #: each target's weight: style weight × strength × area (0: the target is empty)
        self.weights = [options.style_weight * s * a for s, a in zip(strengths, areas, strict=True)]
        layer_weight = dict(zip(self.style_layers, options.layer_weights, strict=True))
        #: per style layer: (name, weight, the targets present there, their losses)
        self.style_losses: list[tuple[str, float, list[int], MaskedStyleLoss]] = []
        for name in self.style_layers:
            stack = None if masks is None else layer_mask(masks, _stride(net, name))
            present, layer_masks = [], []
            for k in range(len(grams)):
                m = None if stack is None else stack[k]
                if areas[k] > 0 and (m is None or float(m.amax()) > 0.0):
                    present.append(k)
                    layer_masks.append(m)
            if present:
                loss = MaskedStyleLoss([grams[k][name] for k in present], layer_masks)
                self.add_module(f"style_{name}", loss)
                self.style_losses.append((name, layer_weight[name], present, loss))

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Loss terms of ``image`` ``(1, 3, H, W)``: ``total``, ``content``, ``style/k``, ``tv``.

        Every term is already multiplied by its weight, so they add up to ``total``.
        """
        o = self.options
        with autocast(image.device, o.precision):
            feats = self.net(image, self.content_layers + self.style_layers)
        terms: dict[str, Tensor] = {}
        if self.content_layers and o.content_weight > 0:
            c = sum(
                loss(feats[n])
                for n, loss in zip(self.content_layers, self.content_losses, strict=True)
            )
            terms["content"] = o.content_weight * torch.as_tensor(c) / len(self.content_layers)
        style: dict[int, Tensor] = {}
        for name, layer_weight, present, loss in self.style_losses:
            errors = layer_weight * loss(feats[name])
            for i, k in enumerate(present):
                style[k] = style[k] + errors[i] if k in style else errors[i]
        for k in sorted(style):
            terms[f"style/{k}"] = self.weights[k] * style[k]
        if o.tv_weight > 0:
            terms["tv"] = o.tv_weight * self.tv(image)
        total = image.new_zeros((), dtype=torch.float32)
        for term in terms.values():
            total = total + term.float()
        terms["total"] = total
        return terms
