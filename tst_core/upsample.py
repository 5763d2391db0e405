"""From the working size to the photo's own size: guided filtering (He, Sun & Tang 2013).

Stages that compute at a working size (a segmenter at 640 px, an engine at 512 px) hand back
arrays smaller than the photo. This module brings them to the photo's size with the photo's
own pixels as the guide, so edges and detail come from the native photo instead of an
enlargement:

* :func:`refine_masks`: soft masks ``(K, h, w)`` → ``(K, H, W)`` that follow the photo's edges
  (the *fast guided filter* of He & Sun 2015: the local linear model ``q = A·I + b`` is fitted
  between the low-resolution mask and the photo shrunk to its size, then ``A`` and ``b`` are
  enlarged and applied to the native photo);
* :func:`upsample_image`: a stylised image ``(3, h, w)`` → ``(3, H, W)`` that keeps the
  stylisation at its own scale exactly and adds the photo's finer detail where the two agree
  locally: ``q = up(p) + up(A)·(I − up(I↓))``, ``A`` the same local linear model (a *detail
  transfer*; ``method="bicubic"`` or ``"bilinear"`` is the plain resize it is measured against);
* :func:`guided_filter`: the plain guided filter at one resolution, which both build on.

Every function works on float32 ``(C, H, W)`` tensors; the guide has 1 or 3 channels in
[0, 1]. The native side is computed in square tiles of :data:`TILE` pixels, each from the
low-resolution coefficients it needs (separable interpolation weights, exact at tile
borders), so beyond its input and output a call holds about 40 low-resolution planes and
``(4K + 8)`` tiles of floats, whatever the photo's size.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from .imageops import resize_image
from .types import Tensor

#: Side in native pixels of the tiles in which the native-size result is computed.
TILE = 512

Kernel = Literal["bilinear", "bicubic"]


def box_mean(x: Tensor, radius: int) -> Tensor:
    """The mean of ``x`` ``(C, H, W)`` over each ``(2r + 1)²`` window, clipped to the frame.

    Separable cumulative sums (float64, so long rows lose no precision) over the planes padded
    with zeros, read back by slicing: the cost does not depend on ``radius``. Returns float32
    ``(C, H, W)``.
    """
    if radius <= 0:
        return x.float().clone()
    out = x.double()
    for dim in (-2, -1):
        out = _box_sum(out, radius, dim)
    h, w = x.shape[-2:]
    count = _window_count(h, radius)[:, None] * _window_count(w, radius)[None, :]
    return (out / count).float()


def _box_sum(x: Tensor, radius: int, dim: int) -> Tensor:
    """Sums over ``x[i − r .. i + r]`` along ``dim`` (the window clipped to the array), read
    from one cumulative sum ``c`` by slicing: ``c[min(i + r, n − 1)] − c[i − r − 1]``."""
    n = x.shape[dim]
    c = torch.cumsum(x, dim)
    out = c.narrow(dim, n - 1, 1).expand_as(c).clone()  # windows that reach the array's end
    inner = n - radius  # outputs whose window ends inside the array
    if inner > 0:
        out.narrow(dim, 0, inner).copy_(c.narrow(dim, radius, inner))
    if inner > 1:  # outputs whose window starts after the array's start
        out.narrow(dim, radius + 1, inner - 1).sub_(c.narrow(dim, 0, inner - 1))
    return out


def _window_count(n: int, radius: int) -> Tensor:
    idx = torch.arange(n, dtype=torch.float64)
    return (idx + radius + 1).clamp(max=n) - (idx - radius).clamp(min=0)


def linear_coefficients(
    guide: Tensor, src: Tensor, radius: int, eps: float
) -> tuple[Tensor, Tensor]:
    """The guided filter's local linear model ``src ≈ A·guide + b``, box-averaged.

    :param guide: ``(C, h, w)``, C = 1 or 3, in [0, 1].
    :param src: ``(K, h, w)``: K images (masks, colour channels) filtered with the same guide.
    :param radius: window radius in pixels of this resolution.
    :param eps: regularisation of the fit (variance units of [0, 1] values): edges with a
        contrast well above ``√eps`` are followed, weaker ones smoothed.
    :returns: ``A`` ``(K, C, h, w)`` and ``b`` ``(K, h, w)``, each averaged over the window
        (He et al.'s ``mean_a``, ``mean_b``).
    """
    c = guide.shape[0]
    if c not in (1, 3):
        raise ValueError(f"the guide must have 1 or 3 channels, got {c}")
    # centring the guide keeps the variances accurate in float32
    guide = guide - guide.mean(dim=(-2, -1), keepdim=True)
    k = src.shape[0]
    pairs = [(i, j) for i in range(c) for j in range(i, c)]  # the guide's (co)variances
    products = [guide, src, *(guide[j] * src for j in range(c))]
    products += [guide[i : i + 1] * guide[j : j + 1] for i, j in pairs]
    means = box_mean(torch.cat(products), radius)  # every window mean in one pass
    mean_i, mean_p = means[:c], means[c : c + k]  # (C, h, w), (K, h, w)
    cross = means[c + k : c + k + c * k].view(c, k, *means.shape[-2:]).transpose(0, 1)
    cov_ip = cross - mean_i[None] * mean_p[:, None]  # (K, C, h, w)
    second = means[c + k + c * k :]  # E[I_i I_j] for each pair
    if c == 1:
        var = second - mean_i * mean_i
        a = cov_ip / (var[None] + eps)
    else:
        inv = _inverse3(_covariance3(second, mean_i, pairs, eps))
        a = torch.einsum("ijhw,kjhw->kihw", inv, cov_ip)
    b = mean_p - (a * mean_i[None]).sum(1)
    smooth = box_mean(torch.cat([a.flatten(0, 1), b]), radius)
    return smooth[: k * c].view_as(a), smooth[k * c :]


def _covariance3(second: Tensor, mean: Tensor, pairs: list[tuple[int, int]], eps: float) -> Tensor:
    """``Σ + eps·I`` ``(3, 3, h, w)`` of a 3-channel guide over each window, from the window
    means ``second`` ``(6, h, w)`` of ``I_i I_j`` for ``pairs`` and ``mean`` ``(3, h, w)``."""
    cov = second.new_empty((3, 3, *second.shape[-2:]))
    for n, (i, j) in enumerate(pairs):
        v = second[n] - mean[i] * mean[j]
        cov[i, j] = v
        cov[j, i] = v
    for i in range(3):
        cov[i, i] += eps
    return cov


def _inverse3(m: Tensor) -> Tensor:
    """Inverse of symmetric positive definite ``(3, 3, h, w)`` matrices (the adjugate)."""
    a, b, c = m[0, 0], m[0, 1], m[0, 2]
    d, e, f = m[1, 1], m[1, 2], m[2, 2]
    adj = torch.stack(
        [
            torch.stack([d * f - e * e, c * e - b * f, b * e - c * d]),
            torch.stack([c * e - b * f, a * f - c * c, b * c - a * e]),
            torch.stack([b * e - c * d, b * c - a * e, a * d - b * b]),
        ]
    )
    det = a * adj[0, 0] + b * adj[1, 0] + c * adj[2, 0]
    return adj / det


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float) -> Tensor:
    """He et al.'s guided filter at one resolution: ``(K, H, W)`` edge-aware smoothing of
    ``src`` ``(K, H, W)`` by ``guide`` ``(C, H, W)`` (C = 1 or 3, values in [0, 1])."""
    a, b = linear_coefficients(guide, src, radius, eps)
    centred = guide - guide.mean(dim=(-2, -1), keepdim=True)
    return (a * centred[None]).sum(1) + b


# --- native size, tile by tile ----------------------------------------------------------------


def resize_weights(n_in: int, n_out: int, start: int, stop: int, kernel: Kernel) -> Tensor:
    """Interpolation weights ``(stop − start, n_in)`` from ``n_in`` samples to output samples
    ``start..stop`` of ``n_out`` (pixel centres aligned as ``align_corners=False``; borders
    replicated; ``bicubic`` is Keys' cubic with ``a = −0.75``, as in PyTorch)."""
    out = torch.arange(start, stop, dtype=torch.float64)
    x = (out + 0.5) * (n_in / n_out) - 0.5
    base = torch.floor(x)
    t = x - base
    if kernel == "bilinear":
        taps = [(0, 1 - t), (1, t)]
    else:
        taps = [(k, _cubic(t - k)) for k in (-1, 0, 1, 2)]
    weights = torch.zeros((stop - start, n_in), dtype=torch.float64)
    rows = torch.arange(stop - start)
    for offset, w in taps:
        idx = (base + offset).clamp(0, n_in - 1).long()
        weights.index_put_((rows, idx), w, accumulate=True)
    return weights.float()


def _cubic(x: Tensor, a: float = -0.75) -> Tensor:
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return torch.where(x <= 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def _span(weights: Tensor) -> slice:
    cols = torch.nonzero(weights.abs().sum(0)).flatten()
    return slice(int(cols[0]), int(cols[-1]) + 1)


def _tiles(n: int, tile: int) -> list[slice]:
    return [slice(s, min(n, s + tile)) for s in range(0, n, tile)]


class _Enlarger:
    """Enlarges ``(..., h, w)`` planes to ``(H, W)`` one native tile at a time."""

    def __init__(self, low: tuple[int, int], size: tuple[int, int], kernel: Kernel) -> None:
        self.low, self.size, self.kernel = low, size, kernel

    def tile(self, planes: Tensor, rows: slice, cols: slice) -> Tensor:
        """``planes`` ``(N, h, w)`` enlarged, at native ``rows`` × ``cols`` → ``(N, th, tw)``."""
        wy = resize_weights(self.low[0], self.size[0], rows.start, rows.stop, self.kernel)
        wx = resize_weights(self.low[1], self.size[1], cols.start, cols.stop, self.kernel)
        sy, sx = _span(wy), _span(wx)
        crop = planes[:, sy, sx]
        return torch.matmul(torch.matmul(wy[:, sy], crop), wx[:, sx].T)


def shrink(image: Tensor, size: tuple[int, int]) -> Tensor:
    """``(C, H, W)`` → ``(C, h, w)``, antialiased (each output pixel averages its footprint)."""
    return resize_image(image.float(), size)


def default_radius(low: tuple[int, int], size: tuple[int, int]) -> int:
    """A window radius in low-resolution pixels: 2, or more when the enlargement is large, so
    a window spans at least ~16 native pixels."""
    factor = max(size[0] / low[0], size[1] / low[1])
    return max(2, math.ceil(8 / factor))


def refine_masks(
    masks: Tensor,
    guide: Tensor,
    *,
    radius: int | None = None,
    eps: float = 1e-3,
    tile: int = TILE,
) -> Tensor:
    """Soft masks ``(K, h, w)`` in [0, 1] brought to the guide's size ``(K, H, W)`` along its
    edges (the fast guided filter: fitted at ``(h, w)``, applied to the native guide).

    :param masks: the masks at a working size, covering the same area as ``guide``.
    :param guide: the native photo ``(C, H, W)`` in [0, 1], C = 1 or 3.
    :param radius: window radius in low-resolution pixels (default :func:`default_radius`).
    :param eps: see :func:`linear_coefficients`.
    :returns: float32 ``(K, H, W)`` in [0, 1].
    """
    low = (int(masks.shape[-2]), int(masks.shape[-1]))
    size = (int(guide.shape[-2]), int(guide.shape[-1]))
    r = default_radius(low, size) if radius is None else radius
    small = shrink(guide, low)
    offset = small.mean(dim=(-2, -1), keepdim=True)
    a, b = linear_coefficients(small, masks.float(), r, eps)
    k, c = a.shape[:2]
    planes = torch.cat([a.flatten(0, 1), b])
    enlarge = _Enlarger(low, size, "bilinear")
    out = torch.empty((k, *size), dtype=torch.float32)
    for rows in _tiles(size[0], tile):
        for cols in _tiles(size[1], tile):
            up = enlarge.tile(planes, rows, cols)
            g = (guide[:, rows, cols].float() - offset)[None]
            q = (up[: k * c].view(k, c, *up.shape[-2:]) * g).sum(1) + up[k * c :]
            out[:, rows, cols] = q.clamp_(0.0, 1.0)
    return out


def upsample_image(
    image: Tensor,
    guide: Tensor,
    *,
    method: Literal["guided", "bicubic", "bilinear"] = "guided",
    radius: int | None = None,
    eps: float = 1e-4,
    tile: int = TILE,
) -> Tensor:
    """A stylised image ``(3, h, w)`` brought to the guide's size ``(3, H, W)``.

    ``guided`` (the default) keeps the image's own content at its scale (its bicubic
    enlargement) and adds the guide's detail finer than that scale, weighted by the local
    linear model between the two at ``(h, w)``: where the stylisation follows the photo's
    shapes, their native edges come back; where it painted over them, the model's weight is
    small and the painting is enlarged as it is. ``bicubic`` and ``bilinear`` are plain resizes.

    :param image: ``(C', h, w)`` in [0, 1], covering the same area as ``guide``.
    :param guide: the native photo ``(C, H, W)`` in [0, 1], C = 1 or 3.
    :returns: float32 ``(C', H, W)`` in [0, 1].
    """
    low = (int(image.shape[-2]), int(image.shape[-1]))
    size = (int(guide.shape[-2]), int(guide.shape[-1]))
    if method not in ("guided", "bicubic", "bilinear"):
        raise ValueError(f"method must be guided, bicubic or bilinear, got {method!r}")
    kernel: Kernel = "bilinear" if method == "bilinear" else "bicubic"
    out = torch.empty((image.shape[0], *size), dtype=torch.float32)
    enlarge = _Enlarger(low, size, kernel)
    if method != "guided":
        for rows in _tiles(size[0], tile):
            for cols in _tiles(size[1], tile):
                out[:, rows, cols] = enlarge.tile(image.float(), rows, cols).clamp_(0.0, 1.0)
        return out
    r = default_radius(low, size) if radius is None else radius
    small = shrink(guide, low)
    a, _ = linear_coefficients(small, image.float(), r, eps)
    k, c = a.shape[:2]
    smooth = _Enlarger(low, size, "bilinear")
    coeffs = a.flatten(0, 1)
    base = torch.cat([image.float(), small])
    for rows in _tiles(size[0], tile):
        for cols in _tiles(size[1], tile):
            up = enlarge.tile(base, rows, cols)
            detail = guide[:, rows, cols].float() - up[k:]
            gain = smooth.tile(coeffs, rows, cols).view(k, c, *detail.shape[-2:])
            q = up[:k] + (gain * detail[None]).sum(1)
            out[:, rows, cols] = q.clamp_(0.0, 1.0)
    return out


def detail_energy(image: Tensor, mask: Tensor | None = None, sigma: float = 1.0) -> float:
    """High-frequency energy: the mean square of ``luma − G_σ * luma`` over ``mask`` ``(H, W)``
    (or the whole frame), for ``image`` ``(3, H, W)`` in [0, 1]. The sharpness figure of the
    native benchmarks compares it inside a target against the photo's own."""
    luma = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None, None].float()
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    padded = F.pad(luma, (radius, radius, radius, radius), mode="replicate")
    blur = F.conv2d(F.conv2d(padded, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    hf = (luma - blur)[0, 0] ** 2
    if mask is None:
        return float(hf.mean())
    weight = mask.float()
    return float((hf * weight).sum() / weight.sum().clamp(min=1e-12))
