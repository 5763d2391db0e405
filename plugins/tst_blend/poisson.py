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

The system is sparse, symmetric and positive definite. Up to :data:`DIRECT_UNKNOWNS` pixels
it is factorised (SuperLU); a larger ``Ω`` (a person at the photo's own size: millions of
pixels, whose factors would fill gigabytes) is solved by conjugate gradients preconditioned
with smoothed-aggregation algebraic multigrid (PyAMG, the ``[blend]`` extra), started from the
hard composite, to a relative residual of :data:`TOLERANCE`; memory grows linearly with ``Ω``
(about 0.6 KB per pixel of ``Ω``: 2 GiB for a person of 3.6 megapixels) and the sources are read in place, never stacked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import linalg

from tst_core.regions import Slices, label_map, near, paint
from tst_core.types import Env, Targets, Tensor

from .optional import load_optional
from .options import PoissonOptions

SCREENING = 1e-3
#: the largest Ω (pixels) solved by a direct factorisation; larger ones by multigrid
DIRECT_UNKNOWNS = 250_000
#: relative residual at which the multigrid solve stops (each channel)
TOLERANCE = 1e-7


def load_pyamg() -> Any:
    """The ``pyamg`` module (PyAMG), or the error naming the ``blend`` extra."""
    return load_optional("pyamg", "blend (poisson)", "pyamg")


class PoissonCompositor:
    #: the most one call holds per window pixel and per target pixel, its result included
    #: (:func:`tst_core.compose.compositor_bytes`): measured 570–640 bytes a pixel of a compact
    #: target; targets in many small pieces, each grown by ``margin``, take more (1450 measured)
    bytes_per_pixel = (48, 640)

    def __init__(self, options: PoissonOptions | None = None, env: Env | None = None) -> None:
        self.options = options or PoissonOptions()
        load_pyamg()  # fail at build time, not after stylising a photo whose Ω is large
        #: facts about the last solve (unknowns, solver, iterations, seconds), for reports
        self.info: dict[str, Any] = {}

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        labels = label_map(targets.masks())
        if not (labels > 0).any():
            return photo.clone()
        region = near(labels > 0, self.options.margin)
        if region.all() and len(np.unique(labels)) == 1:
            return paint(photo, stylized, labels)
        images = [photo.numpy(), *(layer.numpy() for layer in stylized)]
        values, self.info = solve_region(images, labels, region, self.options.gradients == "mixed")
        out = photo.clone()
        mask = torch.from_numpy(region)
        out[:, mask] = torch.from_numpy(values.T.astype(np.float32)).clamp_(0.0, 1.0)
        return out


def solve_region(
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    region: np.ndarray,
    mixed: bool,
    direct: int = DIRECT_UNKNOWNS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Solve the Poisson system over ``region``.

    :param images: the sources ``(3, H, W)``: photo, then the layers.
    :param labels: ``(H, W)`` source of each pixel. :param region: ``(H, W)`` bool, ``Ω``.
    :param direct: the most unknowns solved by factorisation (more: multigrid).
    :returns: values ``(n, 3)`` of the pixels of ``region`` in row-major order, and facts
        about the solve.
    """
    t0 = time.perf_counter()
    h, w = labels.shape
    n = int(region.sum())
    index = np.full((h, w), -1, dtype=np.int64 if n >= 2**31 else np.int32)
    index[region] = np.arange(n, dtype=index.dtype)
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
            del ya, xa, has
            v = _guidance(images, la, lb, (ya_full, xa_full), (yb_full, xb_full), mixed)
            inside = pb >= 0
            rows.append(pa[inside])
            cols.append(pb[inside])
            outside = ~inside
            rhs[pa[outside]] += images[0][:, yb_full[outside], xb_full[outside]].T
            rhs[pa] += v
    offdiag = sum(len(r) for r in rows)
    data = np.concatenate([degree, -np.ones(offdiag)])
    r = np.concatenate([np.arange(n, dtype=index.dtype), *rows])
    c = np.concatenate([np.arange(n, dtype=index.dtype), *cols])
    del rows, cols, degree
    matrix = sparse.csr_matrix((data, (r, c)), shape=(n, n))
    del data, r, c
    start = _gather(images, labels[region], *np.nonzero(region))  # the hard composite
    if region.all():
        matrix = matrix + SCREENING * sparse.identity(n, format="csr")
        rhs = rhs + SCREENING * start
    t1 = time.perf_counter()
    info: dict[str, Any] = {"unknowns": n, "seconds_setup": t1 - t0}
    if n <= direct:
        # the matrix is symmetric and diagonally dominant: no pivoting, a symmetric ordering
        lu = linalg.splu(
            matrix.tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        values = lu.solve(rhs)
        info["solver"] = "direct"
    else:
        values, info["iterations"] = _multigrid(matrix, rhs, start)
        info["solver"] = "multigrid"
    info["seconds"] = time.perf_counter() - t0
    return values, info


def _multigrid(
    matrix: sparse.csr_matrix, rhs: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """Each channel of ``matrix · x = rhs`` by CG with an AMG V-cycle preconditioner, from
    ``start``.

    The hierarchy is set up without eigenvalue estimates (a local bound weights the Jacobi
    smoothing of the prolongation) and CG is written out with ``einsum`` inner products: on a
    busy machine OpenBLAS's spinning threads made each BLAS vector product of PyAMG's own CG
    cost tens of milliseconds.
    """
    pyamg = load_pyamg()
    solver = pyamg.smoothed_aggregation_solver(
        matrix,
        symmetry="symmetric",
        smooth=("jacobi", {"weighting": "local"}),
        # one forward sweep before and one backward after: a symmetric cycle at half the
        # cost of PyAMG's default symmetric sweeps on each side
        presmoother=("gauss_seidel", {"sweep": "forward"}),
        postsmoother=("gauss_seidel", {"sweep": "backward"}),
        max_coarse=500,
        coarse_solver="splu",
    )
    out = np.empty_like(rhs)
    iterations = []
    for ch in range(rhs.shape[1]):
        out[:, ch], steps = _pcg(matrix, rhs[:, ch], start[:, ch], lambda r: _vcycle(solver, r))
        iterations.append(steps)
    return out, iterations


def _vcycle(solver: Any, b: np.ndarray, level: int = 0) -> np.ndarray:
    """One V-cycle of the hierarchy from a zero guess (PyAMG's own preconditioner also
    measures residual norms, with the BLAS calls this module avoids)."""
    levels = solver.levels
    if level == len(levels) - 1:
        return np.asarray(solver.coarse_solver(levels[level].A, b)).reshape(b.shape)
    lvl = levels[level]
    x = np.zeros_like(b)
    lvl.presmoother(lvl.A, x, b)
    coarse = _vcycle(solver, lvl.R @ (b - lvl.A @ x), level + 1)
    x += lvl.P @ coarse
    lvl.postsmoother(lvl.A, x, b)
    return x


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a, b))


def _pcg(
    matrix: sparse.csr_matrix,
    b: np.ndarray,
    x0: np.ndarray,
    precondition: Any,
    maxiter: int = 200,
) -> tuple[np.ndarray, int]:
    """Preconditioned conjugate gradients to a relative residual of :data:`TOLERANCE`."""
    x = x0.astype(np.float64).copy()
    r = b - matrix @ x
    limit = TOLERANCE * max(np.sqrt(_dot(b, b)), 1e-300)
    z = precondition(r)
    p = z.copy()
    rz = _dot(r, z)
    for step in range(maxiter):
        if np.sqrt(_dot(r, r)) <= limit:
            return x, step
        q = matrix @ p
        alpha = rz / _dot(p, q)
        x += alpha * p
        r -= alpha * q
        z = precondition(r)
        rz, previous = _dot(r, z), rz
        p *= rz / previous
        p += z
    return x, maxiter


def _neighbour_slices(h: int, w: int) -> Iterator[tuple[Slices, Slices]]:
    """``(p, q)`` slice pairs: q is the right neighbour of p, then the one below."""
    yield (slice(0, h), slice(0, w - 1)), (slice(0, h), slice(1, w))
    yield (slice(0, h - 1), slice(0, w)), (slice(1, h), slice(0, w))


def _gather(
    images: Sequence[np.ndarray], lab: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """``(n, 3)``: at each pixel ``(ys, xs)`` the colour of the source its label ``lab`` names."""
    out = np.empty((lab.size, 3), dtype=np.float64)
    for source in np.unique(lab):
        sel = lab == source
        out[sel] = images[int(source)][:, ys[sel], xs[sel]].T
    return out


def _guidance(
    images: Sequence[np.ndarray],
    la: np.ndarray,
    lb: np.ndarray,
    pa: tuple[np.ndarray, np.ndarray],
    pb: tuple[np.ndarray, np.ndarray],
    mixed: bool,
) -> np.ndarray:
    """``v_pq`` ``(n, 3)`` for pixels ``p`` (coords ``pa``, label ``la``) and ``q``."""

    def grad(lab: np.ndarray, sel: np.ndarray | slice = slice(None)) -> np.ndarray:
        a = (pa[0][sel], pa[1][sel])
        b = (pb[0][sel], pb[1][sel])
        return _gather(images, lab, *a) - _gather(images, lab, *b)

    v = grad(la)
    cross = la != lb
    if cross.any():
        v[cross] = 0.5 * (v[cross] + grad(lb[cross], cross))
    if mixed:
        photo = grad(np.zeros_like(la))
        v = np.where(np.abs(photo) > np.abs(v), photo, v)
    return v
