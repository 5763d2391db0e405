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
  :mod:`.style_losses`).
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
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..imageops import chroma_iq
from ..types import Tensor
from .layer_masks import layer_mask
from .losses import ContentLoss, TVLoss
from .options import GatysOptions
from .precision import autocast
from .style_losses import Stats, TermLoss, style_loss
from .tiles import Tiling, accumulate, backward, stitched_features
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
    tiling: Tiling | None = None,
) -> dict[str, Any]:
    """A style image's statistics at the style layers, for the ``style_loss`` option (computed
    once per style and size).

    :param style: ``(3, h, w)`` RGB in [0, 1] on the network's device.
    :param mask: optional ``(h, w)`` mask of the style image: only that part is the style.
    :param tiling: take them tile by tile (a large painting; an additive loss only).
    :returns: ``{layer: statistics}`` (see :meth:`~.style_losses.StyleLoss.statistics`).
    """
    gathered = painting_statistics(
        net, style, options, mask=mask, generator=generator, tiling=tiling
    )
    return mixed_targets([gathered], [1.0], options, generator)


def painting_statistics(
    net: FeatureNet,
    style: Tensor,
    options: GatysOptions,
    *,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    tiling: Tiling | None = None,
) -> dict[str, Any]:
    """What one painting gives its target's statistics at each style layer, before they are
    finished or mixed with another painting's (:meth:`~.style_losses.StyleLoss.gather`; the
    arguments as :func:`style_targets`'): ``{layer: gathered}``."""
    layers = options.style_layers
    kind = style_loss(options.style_loss)
    masks = {n: None if mask is None else layer_mask(mask, _stride(net, n)) for n in layers}
    if tiling is not None and not tiling.whole:
        if kind.sums is None:
            raise ValueError(f"the {options.style_loss} style loss cannot be taken in tiles")
        sums: dict[str, Stats] = {}
        with torch.no_grad():
            for tile in tiling.tiles():
                with autocast(style.device, options.precision):
                    feats = net(tile.crop(style)[None], layers)
                for n in layers:
                    cells = tiling.cells(tile, net, n, feats[n])
                    part = kind.sums(feats[n], masks[n], cells)
                    sums[n] = part if n not in sums else tuple(map(torch.add, sums[n], part))
        return sums
    with torch.no_grad(), autocast(style.device, options.precision):
        feats = net(style[None], layers)
    return {n: kind.gather(feats[n][0], masks[n], generator) for n in layers}


def mixed_targets(
    gathered: Sequence[Mapping[str, Any]],
    weights: Sequence[float],
    options: GatysOptions,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """The style statistics of a target whose style mixes paintings, at each style layer: of
    the mixture of their features, each painting in its share (``weights``, summing to 1; see
    :meth:`~.style_losses.StyleLoss.mixture`); one painting at ``[1.0]``: its own.

    :param gathered: each painting's :func:`painting_statistics`.
    :returns: ``{layer: statistics}``, as :func:`style_targets`.
    """
    kind = style_loss(options.style_loss)
    return {
        n: kind.mixture([g[n] for g in gathered], weights, generator) for n in options.style_layers
    }


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
        (supersampling, native levels): the TV terms count differences per working-image pixel
        (times ``factor²``), so a colour step weighs as much at any sampling.
    :param tiling: compute the photo's features and :meth:`evaluate` tile by tile
        (:mod:`.tiles`); ``None``: in one pass.
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
        tiling: Tiling | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.tv_scale = factor * factor
        self.options = options
        self.tiling = None if tiling is None or tiling.whole else tiling
        self.ids = list(range(len(styles)) if ids is None else ids)
        self.content_layers = list(options.content_layers)
        self.detail_layers = list(options.detail_layers) if masks is not None else []
        self.style_layers = list(options.style_layers)
        layers = self.content_layers + self.detail_layers
        if self.tiling is None:
            with torch.no_grad():
                feats = self.features(content[None], layers)
        else:
            feats = stitched_features(self.features, net, content[None], layers, self.tiling)
        self.content_losses = [ContentLoss(feats[n]) for n in self.content_layers]
        inside = None if masks is None else masks.sum(0).clamp(0.0, 1.0)
        self.detail_losses = [
            ContentLoss(feats[n], _mask_like(inside, _stride(net, n), feats[n]))  # type: ignore[arg-type]
            for n in self.detail_layers
        ]
        self._registered = nn.ModuleList([*self.content_losses, *self.detail_losses])
        del feats
        self.tv = TVLoss()
        areas = [1.0 if masks is None else float(masks[k].mean()) for k in range(len(styles))]
        #: each target's weight: style weight × strength × area (0: the target is empty)
        self.weights = [options.style_weight * s * a for s, a in zip(strengths, areas, strict=True)]
        layer_weight = dict(zip(self.style_layers, options.layer_weights, strict=True))
        kind = style_loss(options.style_loss)
        #: per style layer: (name, weight, the targets present there, their losses)
        self.style_losses: list[tuple[str, float, list[int], TermLoss]] = []
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
                loss = kind.module(stats, layer_masks, generator)
                self.add_module(f"style_{name}", cast(nn.Module, loss))
                self.style_losses.append((name, layer_weight[name], present, loss))

    def features(self, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """The network's features of ``image`` ``(1, C, H, W)`` (grey: one channel) at
        ``layers``, with the precision option's autocast."""
        with autocast(image.device, self.options.precision):
            return self.net(_rgb(image), layers)

    @property
    def term_modules(self) -> dict[str, tuple[str, TermLoss]]:
        """Every weighted loss module that reads features: ``{key: (layer, module)}`` with keys
        ``content/i``, ``detail/i`` and ``style/LAYER``."""
        o = self.options
        out: dict[str, tuple[str, TermLoss]] = {}
        for key, names, losses, weight in (
            ("content", self.content_layers, self.content_losses, o.content_weight),
            ("detail", self.detail_layers, self.detail_losses, o.detail_weight),
        ):
            if weight > 0:
                for i, (name, loss) in enumerate(zip(names, losses, strict=True)):
                    out[f"{key}/{i}"] = (name, loss)
        for name, _, _, style in self.style_losses:
            out[f"style/{name}"] = (name, style)
        return out

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Loss terms of ``image`` ``(1, 3, H, W)`` in one pass: ``total``, ``content``,
        ``detail``, ``style/k``, ``tv``, ``chroma_tv``.

        Every term is already multiplied by its weight, so they add up to ``total``.
        """
        modules = self.term_modules
        feats = self.features(image, self.content_layers + self.detail_layers + self.style_layers)
        stats = {key: loss.partial(feats[layer]) for key, (layer, loss) in modules.items()}
        return self.terms(stats, image)

    def terms(self, stats: Mapping[str, Stats], image: Tensor | None) -> dict[str, Tensor]:
        """The loss terms from each module's statistics over the whole frame (``stats``, keyed
        as :attr:`term_modules`) and, for the TV terms, the image ``(1, C, H, W)`` (``None``:
        without them)."""
        o = self.options
        terms: dict[str, Tensor] = {}
        for key, names, losses, weight in (
            ("content", self.content_layers, self.content_losses, o.content_weight),
            ("detail", self.detail_layers, self.detail_losses, o.detail_weight),
        ):
            if names and weight > 0:
                c = sum(loss.value(stats[f"{key}/{i}"]) for i, loss in enumerate(losses))
                terms[key] = weight * torch.as_tensor(c) / len(names)
        style: dict[int, Tensor] = {}
        for name, layer_weight, present, loss in self.style_losses:
            errors = layer_weight * loss.value(stats[f"style/{name}"])
            for i, k in enumerate(present):
                style[k] = style[k] + errors[i] if k in style else errors[i]
        for k in sorted(style):
            terms[f"style/{self.ids[k]}"] = self.weights[k] * style[k]
        if image is not None:
            rgb = _rgb(image)
            if o.tv_weight > 0:
                terms["tv"] = o.tv_weight * self.tv_scale * self.tv(rgb)
            if o.chroma_tv_weight > 0:
                terms["chroma_tv"] = o.chroma_tv_weight * self.tv_scale * self.tv(chroma_iq(rgb))
        total = torch.zeros((), dtype=torch.float32, device=self.net_device)
        for term in terms.values():
            total = total + term.float()
        terms["total"] = total
        return terms

    @property
    def net_device(self) -> torch.device:
        """The device the network (and every loss buffer) lives on."""
        return self.net.normalize.scale.device

    def evaluate(self, image: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """The loss terms of ``image`` ``(1, C, H, W)`` (detached) and the gradient of their
        total with respect to it, in one pass or tile by tile (the same values; see
        :mod:`.tiles`)."""
        x = image.detach().requires_grad_(True)
        if self.tiling is None:
            terms = self(x)
            (grad,) = torch.autograd.grad(terms["total"], x)
            return {k: v.detach() for k, v in terms.items()}, grad
        modules = self.term_modules
        totals = accumulate(self.features, self.net, x.detach(), _style_only(modules), self.tiling)
        leaves = {key: tuple(t.requires_grad_(True) for t in s) for key, s in totals.items()}
        for key in modules:
            if key not in leaves:  # content and detail: linear in their sums
                leaves[key] = (torch.zeros((), device=self.net_device, requires_grad=True),)
        flat = [t for key in modules for t in leaves[key]]
        total = self.terms(leaves, None)["total"]
        grads = torch.autograd.grad(total, flat, allow_unused=True) if total.requires_grad else ()
        upstream: dict[str, list[Tensor | None]] = {}
        it = iter(grads)
        for key in modules:
            upstream[key] = [next(it, None) for _ in leaves[key]]
        grad, local = backward(self.features, self.net, x.detach(), modules, upstream, self.tiling)
        terms = self.terms({**local, **totals}, x)  # the style sums from pass 1, as the upstream
        if terms["total"].requires_grad:  # the TV terms, on the whole image
            grad = grad + torch.autograd.grad(terms["total"], x)[0]
        return {k: v.detach() for k, v in terms.items()}, grad


def _style_only(modules: Mapping[str, tuple[str, TermLoss]]) -> dict[str, tuple[str, TermLoss]]:
    return {k: v for k, v in modules.items() if k.startswith("style/")}


def _rgb(image: Tensor) -> Tensor:
    """A one-channel (grey) image ``(..., 1, h, w)`` as three equal channels; RGB as it is."""
    return image.expand(*image.shape[:-3], 3, *image.shape[-2:]) if image.shape[-3] == 1 else image
