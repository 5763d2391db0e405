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
Each connected piece of the band where only two labels meet (a target against the photo) is
solved exactly by one minimum cut. Where three or more labels meet (targets that touch each
other) the labels are optimised by alpha-expansion (Boykov, Veksler & Zabih 2001), each move an
exact minimum cut. The squared seam cost is not a metric, so a move can contain a pair term that
is not submodular; such a term is truncated as in Rother et al. (2005, "digital tapestry"),
which keeps every move from raising the true energy.

``whole_frame = true`` is the "naive" use on a fully stylised image: every pixel is a node and
may take any label; the unary saturates at ``band`` pixels from a region.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi

from tst_core.errors import ConfigError, missing_dependency
from tst_core.regions import bbox, boundary, label_map, paint, sources
from tst_core.types import Env, Targets, Tensor


@dataclass(frozen=True)
class MrfOptions:
    """:param band: half-width in pixels of the band around each edge where the cut may run
        (0: the hard cut).
    :param unary_weight: weight of the unary cost (a pixel ``band`` pixels inside a region
        pays this much to take another label).
    :param pairwise_weight: weight of the seam cost between 4-neighbours.
    :param seam_cost: ``squared`` (the paper's ``|I_a − I_b|²``) or ``euclidean`` (``|I_a − I_b|``).
    :param whole_frame: cut over the whole frame, not only the band (the "naive" use).
    :param max_cycles: most alpha-expansion sweeps over all labels where targets touch.
    """

    band: int = 8
    unary_weight: float = 0.5
    pairwise_weight: float = 1.0
    seam_cost: Literal["squared", "euclidean"] = "squared"
    whole_frame: bool = False
    max_cycles: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.band <= 1024:
            raise ConfigError(f"blend.mrf.band must be in [0, 1024] pixels, got {self.band}")
        if self.whole_frame and self.band < 1:
            raise ConfigError("blend.mrf.whole_frame needs band >= 1 (the unary's distance scale)")
        if self.unary_weight < 0 or self.pairwise_weight < 0:
            raise ConfigError("blend.mrf.unary_weight and pairwise_weight must be >= 0")
        if self.seam_cost not in ("squared", "euclidean"):
            raise ConfigError(
                f"blend.mrf.seam_cost must be 'squared' or 'euclidean', got {self.seam_cost!r}"
            )
        if self.max_cycles < 1:
            raise ConfigError(f"blend.mrf.max_cycles must be >= 1, got {self.max_cycles}")


def _maxflow() -> Any:
    try:
        import maxflow
    except ImportError:
        raise missing_dependency("blend (mrf)", "PyMaxflow", "blend") from None
    return maxflow


@dataclass
class Problem:
    """The labelling problem on the band, with everything flattened to node arrays.

    :param nodes: flat pixel indices ``(N,)`` of the graph nodes (band pixels).
    :param hard: the hard labels ``(N,)`` of the nodes.
    :param unary: ``(L, N)`` unary costs per label; ``inf`` where a label is not allowed.
    :param edges: ``(E, 2)`` node-index pairs of 4-neighbours that are both nodes.
    :param fixed: ``(F,)`` node index, ``(F,)`` flat index and ``(F,)`` label of a fixed
        4-neighbour outside the band.
    :param images: sources ``(L, 3, H·W)`` as float32 numpy: photo, then each layer.
    """

    nodes: np.ndarray
    hard: np.ndarray
    unary: np.ndarray
    edges: np.ndarray
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray]
    images: np.ndarray
    pairwise_weight: float
    euclidean: bool
    info: dict[str, Any] = field(default_factory=dict)

    def seam(self, a: np.ndarray, b: np.ndarray, pix: np.ndarray) -> np.ndarray:
        """``|I_a(pix) − I_b(pix)|²`` (or without the square), one value per entry."""
        diff = self.images[a, :, pix] - self.images[b, :, pix]  # (n, 3)
        sq = np.einsum("nc,nc->n", diff, diff)
        return np.sqrt(sq) if self.euclidean else sq

    def pair(self, a: np.ndarray, b: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``V_pq(a, b)`` for flat pixel indices ``p``, ``q`` (0 where ``a == b``)."""
        cost = self.pairwise_weight * (self.seam(a, b, p) + self.seam(a, b, q))
        return np.where(a == b, 0.0, cost)

    def energy(self, labels: np.ndarray) -> float:
        """``E`` of node labels ``(N,)`` (terms that do not depend on the band left out)."""
        n = np.arange(labels.size)
        total = float(self.unary[labels, n].sum())
        i, j = self.edges[:, 0], self.edges[:, 1]
        total += float(self.pair(labels[i], labels[j], self.nodes[i], self.nodes[j]).sum())
        fi, fq, fl = self.fixed
        total += float(self.pair(labels[fi], fl, self.nodes[fi], fq).sum())
        return total

    def components(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Connected pieces of the band: ``(node indices, labels allowed somewhere in it)``."""
        graph_labels = _connected(self.nodes.size, self.edges)
        allowed = np.isfinite(self.unary)
        order = np.argsort(graph_labels, kind="stable")
        splits = np.flatnonzero(np.diff(graph_labels[order])) + 1
        for members in np.split(order, splits):
            yield members, np.flatnonzero(allowed[:, members].any(axis=1))


def _connected(n: int, edges: np.ndarray) -> np.ndarray:
    """Component id ``(n,)`` of every node of an undirected graph given as ``(E, 2)`` pairs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def build_problem(
    photo: Tensor, stylized: Tensor, labels: np.ndarray, options: MrfOptions
) -> Problem:
    """Set up the band, its unary costs and its edges from the hard ``labels`` ``(H, W)``."""
    h, w = labels.shape
    b = options.band
    present = np.unique(labels)
    n_labels = stylized.shape[0] + 1
    if options.whole_frame:
        rows, cols = slice(0, h), slice(0, w)
    else:
        # a pixel within `band` of a region is within `band` of that region's edge pixels
        rows, cols = bbox(boundary(labels), pad=2 * b + 2)
    crop = labels[rows, cols]
    dist = np.full((n_labels, *crop.shape), np.inf, dtype=np.float32)
    for lab in present:
        region = crop == lab
        if region.any():
            dist[lab] = ndi.distance_transform_edt(~region) if not region.all() else 0.0
    allowed = dist <= b if not options.whole_frame else np.isfinite(dist)
    in_band = allowed.sum(axis=0) >= 2
    node_of = np.full(crop.shape, -1, dtype=np.int64)
    node_of[in_band] = np.arange(int(in_band.sum()))
    ys, xs = np.nonzero(in_band)
    nodes = (ys + rows.start) * w + (xs + cols.start)
    unary = options.unary_weight * np.minimum(dist[:, ys, xs], b) / b
    unary[~allowed[:, ys, xs]] = np.inf
    edges, fixed = _neighbours(node_of, crop, rows, cols, w)
    images = sources(photo, stylized).reshape(n_labels, 3, h * w).numpy()
    return Problem(
        nodes=nodes,
        hard=crop[ys, xs].astype(np.int64),
        unary=unary.astype(np.float64),
        edges=edges,
        fixed=fixed,
        images=images,
        pairwise_weight=options.pairwise_weight,
        euclidean=options.seam_cost == "euclidean",
        info={"band_pixels": int(nodes.size), "edges": int(len(edges) + len(fixed[0]))},
    )


def _neighbours(
    node_of: np.ndarray, crop: np.ndarray, rows: slice, cols: slice, width: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Node-node edges ``(E, 2)`` and node-to-fixed-pixel edges of the 4-neighbourhood."""
    pairs = []
    fixed_i, fixed_q, fixed_l = [], [], []
    h, w = crop.shape
    for a, b in (
        ((slice(None), slice(0, w - 1)), (slice(None), slice(1, w))),
        ((slice(0, h - 1), slice(None)), (slice(1, h), slice(None))),
    ):
        na, nb = node_of[a], node_of[b]
        both = (na >= 0) & (nb >= 0)
        pairs.append(np.stack([na[both], nb[both]], axis=1))
        for n_in, n_out, side in ((na, nb, b), (nb, na, a)):
            one = (n_in >= 0) & (n_out < 0)
            ys, xs = np.nonzero(one)
            ys = ys + side[0].indices(h)[0]
            xs = xs + side[1].indices(w)[0]
            fixed_i.append(n_in[one])
            fixed_q.append((ys + rows.start) * width + (xs + cols.start))
            fixed_l.append(crop[ys, xs].astype(np.int64))
    edges = np.concatenate(pairs).astype(np.int64) if pairs else np.zeros((0, 2), np.int64)
    fixed = tuple(np.concatenate(part).astype(np.int64) for part in (fixed_i, fixed_q, fixed_l))
    return edges, fixed  # type: ignore[return-value]


def _cut(
    unary0: np.ndarray,
    unary1: np.ndarray,
    edge_i: np.ndarray,
    edge_j: np.ndarray,
    cap: np.ndarray,
    rcap: np.ndarray,
) -> np.ndarray:
    """Minimise ``sum_i U_i(x_i) + sum_e [x_i=0, x_j=1]·cap + [x_i=1, x_j=0]·rcap`` exactly.

    Returns ``x`` ``(n,)`` bool (True = 1). Capacities must be ``>= 0``.
    """
    maxflow = _maxflow()
    n = unary0.size
    graph = maxflow.Graph[float](n, len(edge_i))
    ids = graph.add_nodes(n)
    if len(edge_i):
        graph.add_edges(ids[edge_i], ids[edge_j], cap, rcap)
    low = np.minimum(unary0, unary1)
    # a node in the sink segment (x = 1) has its source edge cut, and vice versa
    graph.add_grid_tedges(ids, unary1 - low, unary0 - low)
    graph.maxflow()
    return np.asarray(graph.get_grid_segments(ids), dtype=bool)


def solve_binary(problem: Problem, members: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """The exact optimum labels of a band piece where only the labels ``pair`` are allowed."""
    lo, hi = pair
    local = np.full(problem.nodes.size, -1, dtype=np.int64)
    local[members] = np.arange(members.size)
    u0 = problem.unary[lo, members].copy()
    u1 = problem.unary[hi, members].copy()
    fi, fq, fl = problem.fixed
    sel = local[fi] >= 0
    li, q, ql = local[fi[sel]], fq[sel], fl[sel]
    p = problem.nodes[fi[sel]]
    np.add.at(u0, li, problem.pair(np.full_like(ql, lo), ql, p, q))
    np.add.at(u1, li, problem.pair(np.full_like(ql, hi), ql, p, q))
    ei, ej = problem.edges[:, 0], problem.edges[:, 1]
    sel = local[ei] >= 0
    ei, ej = ei[sel], ej[sel]
    cost = problem.pair(
        np.full(ei.size, lo), np.full(ei.size, hi), problem.nodes[ei], problem.nodes[ej]
    )
    x = _cut(u0, u1, local[ei], local[ej], cost, cost)
    return np.where(x, hi, lo)


def expansion_move(problem: Problem, labels: np.ndarray, members: np.ndarray, alpha: int) -> int:
    """One alpha-expansion move on the nodes ``members``; updates ``labels`` in place.

    Returns how many nodes switched to ``alpha``.
    """
    var = np.zeros(problem.nodes.size, dtype=bool)
    var[members] = np.isfinite(problem.unary[alpha, members]) & (labels[members] != alpha)
    if not var.any():
        return 0
    local = np.full(problem.nodes.size, -1, dtype=np.int64)
    idx = np.flatnonzero(var)
    local[idx] = np.arange(idx.size)
    u0 = problem.unary[labels[idx], idx].copy()
    u1 = problem.unary[alpha, idx].copy()
    to_alpha = np.full(problem.edges.shape[0], alpha, dtype=np.int64)

    # a neighbour that keeps its label this move (a fixed pixel or a band node outside the
    # move) turns the pair term into a unary term of the variable
    fi, fq, fl = problem.fixed
    ei, ej = problem.edges[:, 0], problem.edges[:, 1]
    held = [(fi[var[fi]], fl[var[fi]], fq[var[fi]])]  # (variable node, other label, other pixel)
    for v, o in ((ei, ej), (ej, ei)):
        sel = var[v] & ~var[o]
        held.append((v[sel], labels[o[sel]], problem.nodes[o[sel]]))
    for node, other, q in held:
        p = problem.nodes[node]
        np.add.at(u0, local[node], problem.pair(labels[node], other, p, q))
        np.add.at(u1, local[node], problem.pair(np.full_like(other, alpha), other, p, q))
    both = var[ei] & var[ej]
    i, j = ei[both], ej[both]
    pi, pj = problem.nodes[i], problem.nodes[j]
    a = problem.pair(labels[i], labels[j], pi, pj)  # E(0, 0)
    b = problem.pair(labels[i], to_alpha[: i.size], pi, pj)  # E(0, 1)
    c = problem.pair(to_alpha[: i.size], labels[j], pi, pj)  # E(1, 0); E(1, 1) = 0
    # squared seam costs are not a metric: truncate a non-submodular term (Rother et al. 2005)
    a = np.minimum(a, b + c)
    np.add.at(u1, local[i], c - a)
    np.add.at(u1, local[j], -c)
    x = _cut(u0, u1, local[i], local[j], b + c - a, np.zeros_like(a))
    labels[idx[x]] = alpha
    return int(x.sum())


def solve(problem: Problem, max_cycles: int = 5) -> np.ndarray:
    """Labels ``(N,)`` of the band nodes: exact on two-label pieces, alpha-expansion elsewhere."""
    labels = problem.hard.copy()
    moves = cycles = 0
    for members, allowed in problem.components():
        if allowed.size == 2:
            labels[members] = solve_binary(problem, members, (int(allowed[0]), int(allowed[1])))
            continue
        for _ in range(max_cycles):
            cycles += 1
            changed = 0
            for alpha in allowed:
                before = labels[members].copy()
                e_before = problem.energy(labels)
                switched = expansion_move(problem, labels, members, int(alpha))
                if switched and problem.energy(labels) > e_before + 1e-9 * abs(e_before):
                    labels[members] = before  # cannot happen in exact arithmetic; be safe
                    switched = 0
                changed += switched
                moves += 1
            if not changed:
                break
    problem.info.update(expansion_moves=moves, expansion_cycles=cycles)
    return labels


def mrf_labels(
    photo: Tensor, stylized: Tensor, labels: np.ndarray, options: MrfOptions
) -> tuple[np.ndarray, dict[str, Any]]:
    """The cut's label map ``(H, W)`` from the hard ``labels``, and facts about the graph.

    :param photo: ``(3, H, W)`` in [0, 1]. :param stylized: ``(K, 3, H, W)`` in [0, 1].
    """
    t0 = time.perf_counter()
    if len(np.unique(labels)) < 2 or (options.band == 0 and not options.whole_frame):
        return labels, {"band_pixels": 0, "edges": 0, "seconds": time.perf_counter() - t0}
    problem = build_problem(photo, stylized, labels, options)
    t1 = time.perf_counter()
    node_labels = solve(problem, options.max_cycles)
    out = labels.copy()
    out.flat[problem.nodes] = node_labels
    info = dict(problem.info)
    info.update(
        energy_hard=problem.energy(problem.hard),
        energy=problem.energy(node_labels),
        changed_pixels=int((node_labels != problem.hard).sum()),
        seconds_setup=t1 - t0,
        seconds=time.perf_counter() - t0,
    )
    return out, info


class MrfCompositor:
    def __init__(self, options: MrfOptions | None = None, env: Env | None = None) -> None:
        self.options = options or MrfOptions()
        _maxflow()  # fail at build time, with the install command, when PyMaxflow is missing
        #: facts about the last cut (band size, edges, energies, seconds), for reports
        self.info: dict[str, Any] = {}

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        hard = label_map(targets.masks())
        labels, self.info = mrf_labels(photo, stylized, hard, self.options)
        return paint(photo, stylized, labels)
