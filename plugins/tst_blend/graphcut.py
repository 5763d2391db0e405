"""A labelling problem on a graph and its graph-cut solver (PyMaxflow).

Nodes ``i`` take labels ``x_i`` and minimise ``E(x) = sum_i U_i(x_i) + sum_(i, j) V_ij(x_i, x_j)``
over 4-neighbour edges, where ``V`` is the seam cost of Kwatra et al.'s graph-cut textures
between the colours two sources have at the two pixels (see :class:`Problem`). Each connected
piece of the graph where only two labels are allowed is solved exactly by one minimum cut
(:func:`solve_binary`); where three or more labels meet, the labels are optimised by
alpha-expansion (Boykov, Veksler & Zabih 2001), each move an exact minimum cut
(:func:`expansion_move`). The squared seam cost is not a metric, so a move can contain a pair
term that is not submodular; such a term is truncated as in Rother et al. (2005, "digital
tapestry"), which keeps every move from raising the true energy.

The ``mrf`` compositor (:mod:`tst_blend.mrf`) sets up the problem on the band around the edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .optional import load_optional


def load_maxflow() -> Any:
    """The ``maxflow`` module (PyMaxflow), or the error naming the ``blend`` extra."""
    return load_optional("maxflow", "blend (mrf)", "PyMaxflow")


@dataclass
class Problem:
    """A labelling problem (the ``mrf`` compositor's band), flattened to node arrays.

    Pixels are referred to by *local* indices into :attr:`colors`: node ``i`` is local pixel
    ``i``; the fixed 4-neighbours outside the band follow after the nodes.

    :param nodes: flat pixel indices ``(N,)`` (``y · W + x``) of the graph nodes.
    :param hard: the hard labels ``(N,)`` of the nodes.
    :param unary: ``(L, N)`` unary costs per label; ``inf`` where a label is not allowed.
    :param edges: ``(E, 2)`` node pairs of 4-neighbours that are both nodes.
    :param fixed: node ``(F,)``, local pixel ``(F,)`` and label ``(F,)`` of each 4-neighbour
        of a node that lies outside the band.
    :param colors: ``(L, P, 3)`` the colour of every local pixel in every source.
    """

    nodes: np.ndarray
    hard: np.ndarray
    unary: np.ndarray
    edges: np.ndarray
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray]
    colors: np.ndarray
    pairwise_weight: float
    euclidean: bool
    info: dict[str, Any] = field(default_factory=dict)

    def seam(self, a: np.ndarray, b: np.ndarray, pix: np.ndarray) -> np.ndarray:
        """``|I_a(pix) − I_b(pix)|²`` (or without the square) for local pixels ``pix``."""
        diff = self.colors[a, pix] - self.colors[b, pix]  # (n, 3)
        sq = np.einsum("nc,nc->n", diff, diff)
        return np.sqrt(sq) if self.euclidean else sq

    def pair(self, a: np.ndarray, b: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``V_pq(a, b)`` for local pixels ``p``, ``q`` (0 where ``a == b``)."""
        out = np.zeros(a.shape, dtype=self.colors.dtype)
        d = a != b  # most pairs of a labelling agree: compute the seam only where they differ
        out[d] = self.pairwise_weight * (self.seam(a[d], b[d], p[d]) + self.seam(a[d], b[d], q[d]))
        return out

    def energy(self, labels: np.ndarray) -> float:
        """``E`` of node labels ``(N,)`` (terms that do not depend on the band left out)."""
        total = float(self.unary[labels, np.arange(labels.size)].sum())
        i, j = self.edges[:, 0], self.edges[:, 1]
        total += float(self.pair(labels[i], labels[j], i, j).sum())
        fi, fq, fl = self.fixed
        total += float(self.pair(labels[fi], fl, fi, fq).sum())
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
    maxflow = load_maxflow()
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
    p, q, ql = fi[sel], fq[sel], fl[sel]
    np.add.at(u0, local[p], problem.pair(np.full_like(ql, lo), ql, p, q))
    np.add.at(u1, local[p], problem.pair(np.full_like(ql, hi), ql, p, q))
    ei, ej = problem.edges[:, 0], problem.edges[:, 1]
    sel = local[ei] >= 0
    ei, ej = ei[sel], ej[sel]
    cost = problem.pair(np.full(ei.size, lo), np.full(ei.size, hi), ei, ej)
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
        held.append((v[sel], labels[o[sel]], o[sel]))
    for node, other, q in held:
        np.add.at(u0, local[node], problem.pair(labels[node], other, node, q))
        np.add.at(u1, local[node], problem.pair(np.full_like(other, alpha), other, node, q))
    both = var[ei] & var[ej]
    i, j = ei[both], ej[both]
    a = problem.pair(labels[i], labels[j], i, j)  # E(0, 0)
    b = problem.pair(labels[i], to_alpha[: i.size], i, j)  # E(0, 1)
    c = problem.pair(to_alpha[: i.size], labels[j], i, j)  # E(1, 0); E(1, 1) = 0
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
        energy = problem.energy(labels)
        for _ in range(max_cycles):
            cycles += 1
            changed = 0
            for alpha in allowed:
                before = labels[members].copy()
                switched = expansion_move(problem, labels, members, int(alpha))
                if switched:
                    after = problem.energy(labels)
                    if after > energy + 1e-9 * abs(energy):
                        labels[members] = before  # cannot happen in exact arithmetic; be safe
                        switched = 0
                    else:
                        energy = after
                changed += switched
                moves += 1
            if not changed:
                break
    problem.info.update(expansion_moves=moves, expansion_cycles=cycles)
    return labels
