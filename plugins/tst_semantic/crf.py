"""Mean-field inference in a fully connected CRF (Krähenbühl & Koltun 2011), as CRF-RNN (Zheng
et al. 2015) runs it on top of a segmentation network, in torch.

The pairwise term has the two Gaussian kernels of those papers, with a Potts compatibility:

* spatial: ``w_s · exp(-|p_i - p_j|² / 2θγ²)`` — smooths labels over a few pixels;
* bilateral: ``w_b · exp(-|p_i - p_j|² / 2θα² - |I_i - I_j|² / 2θβ²)`` — pixels of similar
  colour nearby take the same label, which pulls mask edges onto colour edges.

Filtering with the bilateral kernel exactly costs O(N²); the papers use the permutohedral
lattice. Here it runs on a **bilateral grid** (Paris & Durand 2006; Chen et al. 2007): values are
splatted multilinearly into a 5-D grid over (x/θα, y/θα, r/θβ, g/θβ, b/θβ), blurred with
``[1, 2, 1] / 4`` along each axis and sliced back multilinearly. With a cell of ``θ·√(6/5)`` the
three steps have the kernel's variance (``1/6 + 1/2 + 1/6`` cells² per axis), so the grid's
kernel is a close, slightly flatter-topped stand-in for the Gaussian. Messages are normalised
(``K Q / K 1``, each pixel's kernel-weighted average of its neighbours' label distributions,
itself included) so the weights do not depend on the image size; the papers' symmetric
normalisation gives messages of the same scale.
"""

from __future__ import annotations

import itertools
import math
import warnings

import torch
import torch.nn.functional as F

from tst_core.errors import ConfigError
from tst_core.types import Tensor

from .options import CRFParams

#: a grid beyond this many cells × channels is refused (a too small sigma for the image)
MAX_GRID = 64_000_000
#: the grid's cell per unit of sigma, so that splat + blur + slice has the kernel's variance
CELL = math.sqrt(6 / 5)


def spatial_filter(values: Tensor, sigma: float) -> Tensor:
    """Each pixel's Gaussian-weighted average of ``values`` ``(C, H, W)`` (borders: the weights
    that fall inside the image, renormalised)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=values.dtype, device=values.device)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    stack = torch.cat([values, torch.ones_like(values[:1])])[:, None]  # (C + 1, 1, H, W)
    out = F.conv2d(stack, k.view(1, 1, 1, -1), padding=(0, radius))
    out = F.conv2d(out, k.view(1, 1, -1, 1), padding=(radius, 0))[:, 0]
    return out[:-1] / out[-1:]


class BilateralGrid:
    """The splat/blur/slice operator of one image, built once and applied to many values.

    :param image: ``(3, H, W)`` RGB on the 0..255 scale.
    :param sigma_xy: θα in pixels; :param sigma_rgb: θβ on the 0..255 scale.
    :param channels: how many channels :meth:`filter` will be given (for the size check).
    """

    def __init__(self, image: Tensor, sigma_xy: float, sigma_rgb: float, channels: int) -> None:
        h, w = image.shape[-2:]
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=torch.float32, device=image.device),
            torch.arange(w, dtype=torch.float32, device=image.device),
            indexing="ij",
        )
        feats = torch.stack([xs / sigma_xy, ys / sigma_xy, *(image.float() / sigma_rgb)])
        feats = feats.reshape(5, -1) / CELL
        feats = feats - feats.min(dim=1, keepdim=True).values + 1.0  # one empty cell below
        base = feats.floor()
        frac = feats - base  # (5, N)
        self.dims = [int(d) + 3 for d in base.max(dim=1).values.tolist()]  # and above
        cells = math.prod(self.dims)
        if cells * (channels + 1) > MAX_GRID:
            raise ConfigError(
                f"the CRF's bilateral grid would need {cells * (channels + 1):,} cells; "
                "raise crf_bilateral_sigma or crf_color_sigma, or lower size"
            )
        strides = [math.prod(self.dims[k + 1 :]) for k in range(5)]
        base = (base.long() * torch.tensor(strides, device=image.device)[:, None]).sum(dim=0)
        # The slice is a sparse (N, cells) matrix with the 32 corner weights of each pixel's
        # cell in its row (corner offsets grow in this order, so the rows come sorted); the
        # splat is its transpose, converted once (a sort) so that both are fast products.
        offsets, weights = _corners(frac, strides)
        columns = (base[:, None] + offsets.to(image.device)[None]).flatten()
        n = base.numel()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            rows = torch.arange(0, 32 * n + 1, 32, device=image.device)
            self.slice = torch.sparse_csr_tensor(rows, columns, weights.flatten(), (n, cells))
            self.splat = self.slice.t().to_sparse_csr()
        self.size = (h, w)

    def filter(self, values: Tensor) -> Tensor:
        """Each pixel's bilateral-kernel-weighted average of ``values`` ``(C, H, W)``."""
        channels = values.shape[0] + 1
        flat = torch.cat([values, torch.ones_like(values[:1])]).reshape(channels, -1).T
        grid = (self.splat @ flat.contiguous()).view(*self.dims, channels)
        for axis in range(5):
            n = grid.shape[axis]
            zero = torch.zeros_like(grid.narrow(axis, 0, 1))
            padded = torch.cat([zero, grid, zero], axis)
            grid = (
                0.5 * padded.narrow(axis, 1, n)
                + 0.25 * padded.narrow(axis, 0, n)
                + 0.25 * padded.narrow(axis, 2, n)
            )
        out = (self.slice @ grid.reshape(-1, channels)).T.reshape(channels, *self.size)
        return out[:-1] / out[-1:].clamp_min(1e-12)


def _corners(frac: Tensor, strides: list[int]) -> tuple[Tensor, Tensor]:
    """Offsets ``(32,)`` of a cell's corners in the flat grid (ascending) and each pixel's
    multilinear weights ``(N, 32)`` for them, from the fractional positions ``(5, N)``."""
    offsets, weights = [], []
    sides = (1.0 - frac, frac)
    for bits in itertools.product((0, 1), repeat=5):
        weight = sides[bits[0]][0]
        for k, bit in enumerate(bits[1:], start=1):
            weight = weight * sides[bit][k]
        offsets.append(sum(b * s for b, s in zip(bits, strides, strict=True)))
        weights.append(weight)
    return torch.tensor(offsets), torch.stack(weights, dim=1)


def mean_field(probs: Tensor, image: Tensor, params: CRFParams) -> Tensor:
    """Refine per-pixel class probabilities with the fully connected CRF.

    :param probs: ``(L, H, W)`` class probabilities (a softmax over ``L``), the unary term.
    :param image: ``(3, H, W)`` RGB on the 0..255 scale, at the same size.
    :returns: ``(L, H, W)`` refined probabilities, summing to 1 over ``L``.
    """
    unary = probs.clamp_min(1e-8).log()
    grid = BilateralGrid(image, params.bilateral_sigma, params.color_sigma, probs.shape[0])
    q = probs
    for _ in range(params.iterations):
        # With a Potts compatibility the pairwise energy of label l is the message mass on the
        # other labels, Σ_l' m_l' - m_l = 1 - m_l for normalised messages; the constant drops out
        # of the softmax, leaving + w · m_l.
        message = params.bilateral_weight * grid.filter(q)
        message = message + params.spatial_weight * spatial_filter(q, params.spatial_sigma)
        q = torch.softmax(unary + message, dim=0)
    return q
