"""``poisson`` compositor: gradient-domain blending (Pérez, Gangnet & Blake 2003).

The region ``Ω`` is every target's hard region (mask > 0.5) grown by ``margin`` pixels. Inside
it the result ``f`` solves the discrete Poisson equation with the photo as boundary value:

``|N_p| f_p − sum_{q ∈ N_p ∩ Ω} f_q = sum_{q ∈ N_p \\ Ω} photo_q + sum_{q ∈ N_p} v_pq``

for every ``p ∈ Ω`` (``N_p``: its 4-neighbours in the image). The guidance ``v_pq`` is the
gradient ``I_l(p) − I_l(q)`` of the source ``l`` both pixels are labelled with (photo in the
margin, layer k inside target k); across an edge between two labels it is the mean of the two
sources' gradients. ``gradients = "mixed"`` takes, per channel, the photo's gradient where it is
stronger than the guidance (Pérez et al.'s mixed gradients: photo edges show through).

Pixels outside ``Ω`` are the photo bit for bit. When ``Ω`` is the whole frame there is no
boundary: one source is returned as it is, several are tied to their hard composite by a weak
screening term (weight ``1e-3``) so the system has one solution.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import linalg

from tst_core.regions import Slices, label_map, near, paint, sources
from tst_core.types import Env, Targets, Tensor

from .options import PoissonOptions

SCREENING = 1e-3


class PoissonCompositor:
    def __init__(self, options: PoissonOptions | None = None, env: Env | None = None) -> None:
        self.options = options or PoissonOptions()

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        labels = label_map(targets.masks())
        if not (labels > 0).any():
            return photo.clone()
        region = near(labels > 0, self.options.margin)
        if region.all() and len(np.unique(labels)) == 1:
            return paint(photo, stylized, labels)
        images = sources(photo, stylized).numpy()
        values = solve_region(images, labels, region, self.options.gradients == "mixed")
        out = photo.clone()
        mask = torch.from_numpy(region)
        out[:, mask] = torch.from_numpy(values.T.astype(np.float32)).clamp_(0.0, 1.0)
        return out


def solve_region(
    images: np.ndarray, labels: np.ndarray, region: np.ndarray, mixed: bool
) -> np.ndarray:
    """Solve the Poisson system over ``region``.

    :param images: sources ``(L, 3, H, W)``: photo, then the layers.
    :param labels: ``(H, W)`` source of each pixel. :param region: ``(H, W)`` bool, ``Ω``.
    :returns: values ``(n, 3)`` of the pixels of ``region`` in row-major order.
    """
    h, w = labels.shape
    n = int(region.sum())
    index = np.full((h, w), -1, dtype=np.int64)
    index[region] = np.arange(n)
    photo = images[0]
    degree = np.zeros(n)
    rhs = np.zeros((n, 3))
    rows, cols = [], []
    for p_sl, q_sl in _neighbour_slices(h, w):
        # each ordered pair (p, q) of 4-neighbours with p in Ω, both orientations
        for a, b in ((p_sl, q_sl), (q_sl, p_sl)):
            ia, ib = index[a], index[b]
            has = ia >= 0
            pa, pb = ia[has], ib[has]  # within one orientation each pixel of Ω appears once,
            degree[pa] += 1.0  # so plain fancy-index adds are exact (no np.add.at needed)
            la, lb = labels[a][has], labels[b][has]
            ya, xa = np.nonzero(has)
            ya_full, xa_full = ya + a[0].start, xa + a[1].start
            yb_full, xb_full = ya + b[0].start, xa + b[1].start
            v = _guidance(images, la, lb, (ya_full, xa_full), (yb_full, xb_full), mixed)
            inside = pb >= 0
            rows.append(pa[inside])
            cols.append(pb[inside])
            boundary = photo[:, yb_full[~inside], xb_full[~inside]].T
            rhs[pa[~inside]] += boundary
            rhs[pa] += v
    data = np.concatenate([degree, -np.ones(sum(len(r) for r in rows))])
    r = np.concatenate([np.arange(n), *rows])
    c = np.concatenate([np.arange(n), *cols])
    matrix = sparse.csc_matrix((data, (r, c)), shape=(n, n))
    if region.all():
        composite = np.take_along_axis(images, labels[None, None], axis=0)[0]
        matrix = matrix + SCREENING * sparse.identity(n, format="csc")
        rhs = rhs + SCREENING * composite.reshape(3, -1).T
    # the matrix is symmetric and diagonally dominant: no pivoting, a symmetric ordering
    lu = linalg.splu(
        matrix,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    return lu.solve(rhs)


def _neighbour_slices(h: int, w: int) -> Iterator[tuple[Slices, Slices]]:
    """``(p, q)`` slice pairs: q is the right neighbour of p, then the one below."""
    yield (slice(0, h), slice(0, w - 1)), (slice(0, h), slice(1, w))
    yield (slice(0, h - 1), slice(0, w)), (slice(1, h), slice(0, w))


def _guidance(
    images: np.ndarray,
    la: np.ndarray,
    lb: np.ndarray,
    pa: tuple[np.ndarray, np.ndarray],
    pb: tuple[np.ndarray, np.ndarray],
    mixed: bool,
) -> np.ndarray:
    """``v_pq`` ``(n, 3)`` for pixels ``p`` (coords ``pa``, label ``la``) and ``q``."""

    def grad(lab: np.ndarray) -> np.ndarray:
        return images[lab, :, pa[0], pa[1]] - images[lab, :, pb[0], pb[1]]

    v = grad(la)
    cross = la != lb
    if cross.any():
        v[cross] = 0.5 * (v[cross] + grad(lb)[cross])
    if mixed:
        photo = grad(np.zeros_like(la))
        v = np.where(np.abs(photo) > np.abs(v), photo, v)
    return v
