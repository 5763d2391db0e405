"""The total loss of one optimisation at one image size, for K targets at once.

``total = content_weight · content
        + detail_weight · detail
        + Σ_k style_weight · strength_k · area_k · Σ_l w_l · style_kl
        + tv_weight · tv + chroma_tv_weight · tv(chroma)``

* ``content`` is the mean relative error over the content layers, over the whole frame, so
  pixels outside every target keep the content term only.
* ``detail`` is the same error on the ``detail_layers``, inside the targets only (weighted by
  their masks): fine structure such as faces and hands, which the deeper content layer alone
  lets the style wash out.
* ``style_kl`` compares target k's features inside its mask at layer l with its style image's
  (the ``style_loss`` option: Gram matrices, mean and covariance, or sliced Wasserstein; see
  :mod:`.losses`).
* ``tv(chroma)`` is the total variation of the image's colour alone (the I and Q channels of
  YIQ): it calms the colour speckle that an optimisation free in RGB leaves inside small
  targets, without blurring their luminance edges as ``tv`` does.
* ``area_k`` is the fraction of the frame target k covers. The masked style statistics are
  means over the region (so a small region can match the style as well as a large one), which
  makes each pixel's pull towards the style proportional to 1 / area; weighting by the area
  restores the same balance between content and style per pixel for every region, so an object
  gets the look that a whole-frame stylisation would give it, whatever its size.

One forward pass of the image feeds every term: the features are computed once and each
target's loss reads only the window around its own region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..imageops import chroma_iq
from ..types import Tensor
from .layer_masks import layer_mask
from .losses import (
    ContentLoss,
    MaskedStyleLoss,
    MeanCovStyleLoss,
    SlicedStyleLoss,
    TVLoss,
    style_statistics,
)
from .options import GatysOptions
from .precision import autocast
from .vgg import FeatureNet, receptive_field

#: one target's style statistics by layer (see :func:`style_targets`)
StyleStats = Mapping[str, Any]


def style_targets(
    net: FeatureNet,
    style: Tensor,
    options: GatysOptions,
    *,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """A style image's statistics at the style layers, for the ``style_loss`` option (computed
    once per style and size).

    :param style: ``(3, h, w)`` RGB in [0, 1] on the network's device.
    :param mask: optional ``(h, w)`` mask of the style image: only that part is the style.
    :returns: ``{layer: statistics}`` (see :func:`~.losses.style_statistics`).
    """
    layers = options.style_layers
    with torch.no_grad(), autocast(style.device, options.precision):
        feats = net(style[None], layers)
    out = {}
    for name in layers:
        m = None if mask is None else layer_mask(mask, _stride(net, name))
        out[name] = style_statistics(feats[name][0], options.style_loss, m, generator)
    return out


def _stride(net: FeatureNet, layer: str) -> int:
    return receptive_field(layer, net.arch).stride


def _mask_like(mask: Tensor, stride: int, features: Tensor) -> Tensor:
    """``mask`` ``(H, W)`` at a layer of ``stride``, zero-padded to the size of ``features``
    ``(1, C, h, w)``: a strided convolution (ResNet) rounds up where pooling (VGG) rounds down,
    and the extra cells lie beyond the whole cells the mask covers."""
    m = layer_mask(mask, stride)
    h, w = features.shape[-2:]
    return F.pad(m[:h, :w], (0, w - min(w, m.shape[-1]), 0, h - min(h, m.shape[-2])))


class Objective(nn.Module):
    """The loss of one frame: content everywhere, detail and each target's style inside the
    targets, TV.

    :param net: the feature network.
    :param content: the photo ``(3, H, W)`` on the network's device.
    :param masks: ``(K, H, W)`` in [0, 1]; ``None``: every target covers the whole frame
        (the unmasked Gatys loss).
    :param styles: for each target, its style's statistics by layer (:func:`style_targets`).
    :param strengths: for each target, the multiplier of its style weight.
    :param ids: the targets' numbers in the loss names (``style/{id}``); default ``0..K-1``.
    :param generator: the sliced loss's random directions.
    :param factor: how many times finer than the working image ``content`` is sampled
        (supersampling): the TV terms count differences per working-image pixel (times
        ``factor²``), so a colour step weighs as much supersampled as it would unsupersampled.
    """

    def __init__(
        self,
        net: FeatureNet,
        content: Tensor,
        masks: Tensor | None,
        styles: Sequence[StyleStats],
        strengths: Sequence[float],
        options: GatysOptions,
        *,
        ids: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
        factor: float = 1.0,
    ) -> None:
        super().__init__()
        self.net = net
        self.tv_scale = factor * factor
        self.options = options
        self.ids = list(range(len(styles)) if ids is None else ids)
        self.content_layers = list(options.content_layers)
        self.detail_layers = list(options.detail_layers) if masks is not None else []
        self.style_layers = list(options.style_layers)
        with torch.no_grad(), autocast(content.device, options.precision):
            feats = net(content[None], self.content_layers + self.detail_layers)
        self.content_losses = nn.ModuleList(ContentLoss(feats[n]) for n in self.content_layers)
        inside = None if masks is None else masks.sum(0).clamp(0.0, 1.0)
        self.detail_losses = nn.ModuleList(
            ContentLoss(feats[n], _mask_like(inside, _stride(net, n), feats[n]))  # type: ignore[arg-type]
            for n in self.detail_layers
        )
        self.tv = TVLoss()
        areas = [1.0 if masks is None else float(masks[k].mean()) for k in range(len(styles))]
        #: each target's weight: style weight × strength × area (0: the target is empty)
        self.weights = [options.style_weight * s * a for s, a in zip(strengths, areas, strict=True)]
        layer_weight = dict(zip(self.style_layers, options.layer_weights, strict=True))
        #: per style layer: (name, weight, the targets present there, their losses)
        self.style_losses: list[tuple[str, float, list[int], nn.Module]] = []
        for name in self.style_layers:
            stack = None if masks is None else layer_mask(masks, _stride(net, name))
            present, layer_masks = [], []
            for k in range(len(styles)):
                m = None if stack is None else stack[k]
                if areas[k] > 0 and (m is None or float(m.amax()) > 0.0):
                    present.append(k)
                    layer_masks.append(m)
            if present:
                stats = [styles[k][name] for k in present]
                loss = _style_loss(options.style_loss, stats, layer_masks, generator)
                self.add_module(f"style_{name}", loss)
                self.style_losses.append((name, layer_weight[name], present, loss))

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Loss terms of ``image`` ``(1, 3, H, W)``: ``total``, ``content``, ``detail``,
        ``style/k``, ``tv``, ``chroma_tv``.

        Every term is already multiplied by its weight, so they add up to ``total``.
        """
        o = self.options
        with autocast(image.device, o.precision):
            feats = self.net(image, self.content_layers + self.detail_layers + self.style_layers)
        terms: dict[str, Tensor] = {}
        for key, names, losses, weight in (
            ("content", self.content_layers, self.content_losses, o.content_weight),
            ("detail", self.detail_layers, self.detail_losses, o.detail_weight),
        ):
            if names and weight > 0:
                c = sum(loss(feats[n]) for n, loss in zip(names, losses, strict=True))
                terms[key] = weight * torch.as_tensor(c) / len(names)
        style: dict[int, Tensor] = {}
        for name, layer_weight, present, loss in self.style_losses:
            errors = layer_weight * loss(feats[name])
            for i, k in enumerate(present):
                style[k] = style[k] + errors[i] if k in style else errors[i]
        for k in sorted(style):
            terms[f"style/{self.ids[k]}"] = self.weights[k] * style[k]
        if o.tv_weight > 0:
            terms["tv"] = o.tv_weight * self.tv_scale * self.tv(image)
        if o.chroma_tv_weight > 0:
            terms["chroma_tv"] = o.chroma_tv_weight * self.tv_scale * self.tv(chroma_iq(image))
        total = image.new_zeros((), dtype=torch.float32)
        for term in terms.values():
            total = total + term.float()
        terms["total"] = total
        return terms


def _style_loss(
    kind: str,
    stats: list[Any],
    masks: list[Tensor | None],
    generator: torch.Generator | None,
) -> nn.Module:
    if kind == "meancov":
        return MeanCovStyleLoss(stats, masks)
    if kind == "sliced":
        return SlicedStyleLoss(stats, masks, generator or torch.Generator().manual_seed(0))
    return MaskedStyleLoss(stats, masks)
