"""``mrf`` compositor: a graph cut through a band around each edge (Wells, Wood & Xiao 2017).

Every pixel ``p`` gets a label ``x_p``: 0 shows the photo, ``k + 1`` target k's stylised layer.
Outside a band of ``band`` pixels around the edges of the hard regions (mask > 0.5) the label
is fixed to the region's own; inside the band it minimises

``E(x) = sum_p U_p(x_p) + sum_{(p,q) 4-neighbours} V_pq(x_p, x_q)``

* unary ``U_p(l) = unary_weight · min(d_l(p), band) / band``, where ``d_l(p)`` is the distance
  from ``p`` to the region of label ``l`` (0 inside it): a pixel is pushed towards the label
  of the region it is in, or nearest to; a label whose region is farther than ``band`` is not
  allowed at ``p``;
* pairwise ``V_pq(a, b) = pairwise_weight · (|I_a(p) − I_b(p)|² + |I_a(q) − I_b(q)|²)`` for
  ``a ≠ b`` (0 for ``a = b``), the seam cost of Kwatra et al.'s graph-cut textures, which the
  paper uses: small where the two images already agree, so the cut runs where a change is
  least visible. ``seam_cost = "euclidean"`` drops the squares (a metric).

Only band pixels are graph nodes, so the work grows with the boundary length, not the area.
This module sets up the problem; :mod:`tst_blend.graphcut` solves it: each connected piece of
the band where only two labels meet (a target against the photo) exactly by one minimum cut,
and where three or more labels meet (targets that touch each other) by alpha-expansion.

``whole_frame = true`` is the "naive" use on a fully stylised image: every pixel is a node and
may take any label; the unary saturates at ``band`` pixels from a region.

A band wider than :data:`DIRECT_BAND` pixels (a compositor at the photo's own size: the band of
8 working pixels is ~100 native ones) is cut **coarse to fine**, as Lombaert et al.'s banded
graph cuts (2005): the same energy is minimised on the images averaged over ``c × c`` blocks
(``c = ⌈band / DIRECT_BAND⌉``, a band of at most ``DIRECT_BAND`` coarse pixels), then at full
resolution only within ``c + 1`` pixels of that coarse seam (and of the hard edge), every other
pixel keeping its coarse label. The graph then grows with the edge's length times ``c``, not
times the band, so memory and time stay bounded at any photo size; the fine cut can move the
seam anywhere within one coarse pixel of the coarse one.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from tst_core.regions import boundary, label_map, paint, tiles_near
from tst_core.types import Env, Targets, Tensor

from .graphcut import Problem, load_maxflow, solve
from .options import MrfOptions

#: the widest band cut in one graph; a wider one is cut coarse to fine
DIRECT_BAND = 16


def band_distances(
    labels: np.ndarray,
    n_labels: int,
    band: int,
    whole_frame: bool,
    keep: np.ndarray | None = None,
    within: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band pixels and their distance to every region, capped at ``band``.

    :param keep: ``(H, W)`` bool: only these pixels may be nodes (all when ``None``).
    :param within: an ``(H, W)`` bool array that is set True at every band pixel, kept or not.
    :returns: rows ``(N,)``, columns ``(N,)`` and distances ``(L, N)``: ``min(d_l, band)``,
        ``inf`` where region ``l`` is farther than ``band`` (band mode) or absent. In band mode
        the nodes are the pixels with two or more labels within ``band``; with ``whole_frame``
        every pixel.
    """
    h, w = labels.shape
    present = np.bincount(labels.ravel(), minlength=n_labels) > 0
    far = float(band) if whole_frame else np.inf
    ys_all, xs_all, dist_all = [], [], []
    covered = np.zeros((h, w), dtype=bool)
    # a pixel within `band` of region l is within `band` of one of its edge pixels, so
    # distances measured in a tile grown by band + 1 are exact up to `band`
    for (rows, cols), halo, inner in tiles_near(boundary(labels), band + 1):
        covered[rows, cols] = True
        sub = labels[halo]
        dist = np.full((n_labels, rows.stop - rows.start, cols.stop - cols.start), np.inf)
        for lab in np.flatnonzero(present):
            region = sub == lab
            if region.all():
                dist[lab] = 0.0
            elif region.any():
                dist[lab] = ndi.distance_transform_edt(~region)[inner]
        dist = np.where(dist <= band, dist, np.where(present[:, None, None], far, np.inf))
        nodes = np.isfinite(dist).sum(axis=0) >= 2
        if within is not None:
            within[rows, cols] |= nodes
        if keep is not None:
            nodes &= keep[rows, cols]
        ys, xs = np.nonzero(nodes)
        ys_all.append(ys + rows.start)
        xs_all.append(xs + cols.start)
        dist_all.append(dist[:, ys, xs])
    if whole_frame:  # far from every edge a pixel is at distance 0 or `band` from each region
        if within is not None:
            within[:] = True
        ys, xs = np.nonzero(~covered if keep is None else ~covered & keep)
        own = labels[ys, xs]
        dist = np.where(present[:, None], far, np.inf) * np.ones((1, ys.size))
        dist[own, np.arange(ys.size)] = 0.0
        ys_all.append(ys)
        xs_all.append(xs)
        dist_all.append(dist)
    if not ys_all:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((n_labels, 0))
    return np.concatenate(ys_all), np.concatenate(xs_all), np.concatenate(dist_all, axis=1)


def build_problem(
    photo: Tensor,
    stylized: Tensor,
    labels: np.ndarray,
    options: MrfOptions,
    *,
    start: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    within: np.ndarray | None = None,
) -> Problem:
    """Set up the band, its unary costs and its edges from the hard ``labels`` ``(H, W)``.

    :param photo: ``(3, H, W)``. :param stylized: ``(K, 3, H, W)``.
    :param start: ``(H, W)`` labels that the pixels around the graph keep and its nodes start
        from (default: ``labels``).
    :param keep: ``(H, W)`` bool: only these band pixels become nodes (default: all).
    :param within: see :func:`band_distances`.
    """
    h, w = labels.shape
    b = options.band
    start = labels if start is None else start
    n_labels = stylized.shape[0] + 1
    ys, xs, dist = band_distances(labels, n_labels, b, options.whole_frame, keep, within)
    unary = options.unary_weight * dist / b  # inf stays inf: not allowed
    node_of = np.full((h, w), -1, dtype=np.int64)
    node_of[ys, xs] = np.arange(ys.size)
    edges, fixed_nodes, fixed_ys, fixed_xs = _neighbours(node_of, ys, xs)
    pix_y = np.concatenate([ys, fixed_ys])
    pix_x = np.concatenate([xs, fixed_xs])
    colors = np.stack(
        [photo.numpy()[:, pix_y, pix_x].T]
        + [layer.numpy()[:, pix_y, pix_x].T for layer in stylized]
    ).astype(np.float64)
    fixed = (fixed_nodes, ys.size + np.arange(fixed_ys.size), start[fixed_ys, fixed_xs])
    return Problem(
        nodes=ys * w + xs,
        hard=start[ys, xs].astype(np.int64),
        unary=unary,
        edges=edges,
        fixed=(fixed[0], fixed[1], fixed[2].astype(np.int64)),
        colors=colors,
        pairwise_weight=options.pairwise_weight,
        euclidean=options.seam_cost == "euclidean",
        info={"band_pixels": int(ys.size), "edges": int(len(edges) + fixed_ys.size)},
    )


def _neighbours(
    node_of: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Node-node edges ``(E, 2)``, and node, row and column of each neighbour outside the band."""
    h, w = node_of.shape
    nodes = np.arange(ys.size)
    pairs, fixed_n, fixed_y, fixed_x = [], [], [], []
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        n, ny, nx = nodes[inside], ny[inside], nx[inside]
        other = node_of[ny, nx]
        if dy + dx > 0:  # each node-node pair once, from its top or left node
            pairs.append(np.stack([n[other >= 0], other[other >= 0]], axis=1))
        out = other < 0
        fixed_n.append(n[out])
        fixed_y.append(ny[out])
        fixed_x.append(nx[out])
    cat = np.concatenate
    return cat(pairs), cat(fixed_n), cat(fixed_y), cat(fixed_x)


def mrf_labels(
    photo: Tensor, stylized: Tensor, labels: np.ndarray, options: MrfOptions
) -> tuple[np.ndarray, dict[str, Any]]:
    """The cut's label map ``(H, W)`` from the hard ``labels``, and facts about the graph.

    :param photo: ``(3, H, W)`` in [0, 1]. :param stylized: ``(K, 3, H, W)`` in [0, 1].
    """
    t0 = time.perf_counter()
    if (labels == labels.flat[0]).all() or (options.band == 0 and not options.whole_frame):
        return labels, {"band_pixels": 0, "edges": 0, "seconds": time.perf_counter() - t0}
    if options.band <= DIRECT_BAND:
        return _cut(photo, stylized, labels, options, t0)
    factor = math.ceil(options.band / DIRECT_BAND)
    coarse_options = replace(options, band=max(1, round(options.band / factor)))
    coarse_labels, coarse_info = mrf_labels(
        _blocks(photo, factor),
        _blocks(stylized, factor),
        _block_labels(labels, factor),
        coarse_options,
    )
    h, w = labels.shape
    start = coarse_labels[np.arange(h)[:, None] // factor, np.arange(w)[None, :] // factor]
    # the fine graph: within one coarse pixel of the coarse seam or of the hard edge
    seams = boundary(start) | boundary(labels)
    keep = ndi.maximum_filter(seams, size=2 * factor + 3)
    out, info = _cut(photo, stylized, labels, options, t0, start=start, keep=keep)
    info.update(
        coarse_factor=factor,
        coarse_band_pixels=coarse_info.get("band_pixels", 0),
        coarse_seconds=coarse_info.get("seconds", 0.0),
    )
    return out, info


def _cut(
    photo: Tensor,
    stylized: Tensor,
    labels: np.ndarray,
    options: MrfOptions,
    t0: float,
    *,
    start: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One graph cut of the band (see :func:`build_problem`), timed from ``t0``."""
    within = None if start is None else np.zeros(labels.shape, dtype=bool)
    problem = build_problem(photo, stylized, labels, options, start=start, keep=keep, within=within)
    t1 = time.perf_counter()
    node_labels = solve(problem, options.max_cycles)
    out = (labels if start is None else start).copy()
    out.flat[problem.nodes] = node_labels
    if within is not None:  # a coarse label beyond the band falls back to the hard one
        out = np.where(within, out, labels)
    info = dict(problem.info)
    info.update(
        energy_hard=problem.energy(problem.hard),
        energy=problem.energy(node_labels),
        changed_pixels=int((out != labels).sum()),
        seconds_setup=t1 - t0,
        seconds=time.perf_counter() - t0,
    )
    return out, info


def _blocks(images: Tensor, factor: int) -> Tensor:
    """``(..., H, W)`` averaged over ``factor × factor`` blocks (the last ones partial)."""
    shape = images.shape
    flat = images.reshape(-1, 1, *shape[-2:])
    out = F.avg_pool2d(flat, factor, ceil_mode=True, count_include_pad=False)
    return out.reshape(*shape[:-2], *out.shape[-2:])


def _block_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """The label covering most of each ``factor × factor`` block (ties: the lower label)."""
    best, most = None, None
    for lab in range(int(labels.max()) + 1):
        share = _blocks(torch.from_numpy(labels == lab).float(), factor)
        if best is None or most is None:
            best, most = torch.zeros(share.shape, dtype=torch.int64), share
            continue
        more = share > most
        best[more] = lab
        most = torch.maximum(most, share)
    assert best is not None
    return best.numpy().astype(labels.dtype)


class MrfCompositor:
    #: the most one call holds per window pixel and per target pixel, its result included
    #: (:func:`tst_core.compose.compositor_bytes`): measured at most 71 bytes a window pixel
    #: (a 3000 px window whose band covers all of it)
    bytes_per_pixel = (128, 32)

    def __init__(self, options: MrfOptions | None = None, env: Env | None = None) -> None:
        self.options = options or MrfOptions()
        load_maxflow()  # fail at build time, with the install command, when PyMaxflow is missing
        #: facts about the last cut (band size, edges, energies, seconds), for reports
        self.info: dict[str, Any] = {}

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        hard = label_map(targets.masks())
        labels, self.info = mrf_labels(photo, stylized, hard, self.options)
        return paint(photo, stylized, labels)
