"""The ``mrf`` compositor: the cut, its optimality, the band, multi-label moves."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch
from tst_blend.graphcut import solve
from tst_blend.hard import HardCompositor
from tst_blend.mrf import MrfCompositor, MrfOptions, build_problem, mrf_labels

from tests.synthetic import disc, make_targets, smooth_photo
from tst_core.errors import DependencyError
from tst_core.regions import label_map


def stripe_case(agree: tuple[int, int], offset: float = 0.5):
    """Target = columns < 24 of a 32×48 image; stylised = photo + offset except on ``agree``."""
    photo = smooth_photo(32, 48) * 0.4
    stylized = (photo + offset).clamp(0, 1)
    stylized[:, :, agree[0] : agree[1] + 1] = photo[:, :, agree[0] : agree[1] + 1]
    mask = torch.zeros(32, 48)
    mask[:, :24] = 1.0
    return photo, stylized[None], make_targets(mask)


@pytest.mark.parametrize("agree", [(26, 27), (20, 21)])
def test_cut_follows_the_seam_where_stylised_and_photo_agree(agree):
    """Outside the mask (26, 27) or inside it (20, 21): the cut moves to where they agree."""
    photo, stylized, targets = stripe_case(agree)
    out = MrfCompositor(MrfOptions(band=8)).composite(photo, stylized, targets)
    a, b = agree
    assert torch.equal(out[:, :, :a], stylized[0][:, :, :a])
    assert torch.equal(out[:, :, b + 1 :], photo[:, :, b + 1 :])
    hard = HardCompositor().composite(photo, stylized, targets)
    assert not torch.equal(out, hard)


def test_cut_stays_on_the_mask_edge_when_the_agreement_is_beyond_the_band():
    photo, stylized, targets = stripe_case((36, 37))
    out = MrfCompositor(MrfOptions(band=8)).composite(photo, stylized, targets)
    assert torch.equal(out, HardCompositor().composite(photo, stylized, targets))


def test_a_strong_unary_keeps_the_hard_edge():
    photo, stylized, targets = stripe_case((26, 27))
    out = MrfCompositor(MrfOptions(band=8, unary_weight=50.0)).composite(photo, stylized, targets)
    assert torch.equal(out, HardCompositor().composite(photo, stylized, targets))


def test_band_zero_is_the_hard_cut():
    photo, stylized = torch.rand(3, 40, 40), torch.rand(2, 3, 40, 40)
    targets = make_targets(disc(40, 40, 20, 14, 10), disc(40, 40, 20, 26, 10))
    out = MrfCompositor(MrfOptions(band=0)).composite(photo, stylized, targets)
    assert torch.equal(out, HardCompositor().composite(photo, stylized, targets))


def brute_force(problem) -> float:
    """The least energy over every labelling (each node takes any of its allowed labels)."""
    choices = [np.flatnonzero(np.isfinite(problem.unary[:, i])) for i in range(problem.nodes.size)]
    every = np.array(list(itertools.product(*choices)))  # (M, N)
    m, n = every.shape
    total = problem.unary[every, np.arange(n)].sum(axis=1)
    i, j = problem.edges[:, 0], problem.edges[:, 1]
    pair = problem.pair(
        every[:, i].ravel(), every[:, j].ravel(),
        np.tile(i, m), np.tile(j, m),
    )  # fmt: skip
    total += pair.reshape(m, -1).sum(axis=1)
    fi, fq, fl = problem.fixed
    fixed = problem.pair(every[:, fi].ravel(), np.tile(fl, m), np.tile(fi, m), np.tile(fq, m))
    total += fixed.reshape(m, -1).sum(axis=1)
    best = int(np.argmin(total))
    assert problem.energy(every[best]) == pytest.approx(total[best], rel=1e-5)
    return float(total[best])


def test_binary_cut_is_the_exact_optimum():
    """Compared with every labelling of a band of 16 pixels."""
    torch.manual_seed(3)
    photo, stylized = torch.rand(3, 6, 6), torch.rand(1, 3, 6, 6)
    mask = torch.zeros(6, 6)
    mask[2:4, 2:5] = 1.0
    for unary in (0.05, 0.3, 2.0):
        problem = build_problem(photo, stylized, label_map(mask[None]), MrfOptions(1, unary))
        assert problem.nodes.size == 16
        best = brute_force(problem)
        assert problem.energy(solve(problem)) == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seam_cost", ["euclidean", "squared"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expansion_where_three_labels_meet(seam_cost, seed):
    """Two targets touching each other and the photo: alpha-expansion, checked by brute force.

    With the euclidean (metric) seam cost alpha-expansion is within twice the optimum; with
    either cost it never does worse than the hard labelling.
    """
    torch.manual_seed(seed)
    photo, stylized = torch.rand(3, 3, 4), torch.rand(2, 3, 3, 4)
    left, right = torch.zeros(3, 4), torch.zeros(3, 4)
    left[0:2, 1] = 1.0
    right[0:2, 2] = 1.0
    labels = label_map(make_targets(left, right).masks())
    problem = build_problem(photo, stylized, labels, MrfOptions(1, 0.2, seam_cost=seam_cost))
    assert problem.nodes.size == 10
    assert len(next(iter(problem.components()))[1]) == 3
    got = problem.energy(solve(problem))
    best = brute_force(problem)
    assert best - 1e-9 <= got <= problem.energy(problem.hard) + 1e-9
    if seam_cost == "euclidean":
        assert got <= 2 * best + 1e-9


def test_touching_targets_lower_the_energy_and_only_use_allowed_labels():
    torch.manual_seed(1)
    photo = smooth_photo(64, 64)
    stylized = torch.stack([(photo + 0.3).clamp(0, 1), (photo - 0.3).clamp(0, 1)])
    stylized += 0.05 * torch.rand_like(stylized)
    targets = make_targets(disc(64, 64, 32, 22, 14), disc(64, 64, 32, 42, 14))
    hard = label_map(targets.masks())
    labels, info = mrf_labels(photo, stylized, hard, MrfOptions(band=6))
    assert info["energy"] <= info["energy_hard"]
    assert info["expansion_moves"] > 0
    # a pixel can only take a label whose region lies within the band
    for lab in range(3):
        changed = (labels == lab) & (hard != lab)
        if changed.any():
            from tst_core.regions import distance_to

            assert distance_to(hard == lab)[changed].max() <= 6


def test_graph_holds_only_the_band():
    """The same object on a 4× larger canvas gives the same graph: it scales with the edge."""
    sizes = []
    for n in (64, 256):
        photo, stylized = torch.rand(3, n, n), torch.rand(1, 3, n, n)
        targets = make_targets(disc(n, n, 30, 30, 16))
        _, info = mrf_labels(photo, stylized, label_map(targets.masks()), MrfOptions(band=5))
        sizes.append((info["band_pixels"], info["edges"]))
    assert sizes[0] == sizes[1]
    assert sizes[0][0] < 0.5 * 64 * 64


def test_whole_frame_puts_every_pixel_in_the_graph():
    photo, stylized = torch.rand(3, 24, 24), torch.rand(1, 3, 24, 24)
    hard = label_map(disc(24, 24, 12, 12, 6)[None])
    _, info = mrf_labels(photo, stylized, hard, MrfOptions(band=4, whole_frame=True))
    assert info["band_pixels"] == 24 * 24
    assert info["energy"] <= info["energy_hard"]


def test_compositor_reports_the_last_cut():
    photo, stylized = torch.rand(3, 32, 32), torch.rand(1, 3, 32, 32)
    comp = MrfCompositor()
    comp.composite(photo, stylized, make_targets(disc(32, 32, 16, 16, 8)))
    assert comp.info["band_pixels"] > 0 and comp.info["seconds"] >= 0


def test_missing_pymaxflow_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "maxflow", None)
    with pytest.raises(DependencyError, match=r"targeted-style-transfer\[blend\]"):
        MrfCompositor()


@pytest.mark.parametrize("whole_frame", [False, True])
def test_tiled_band_distances_equal_full_frame_distances(whole_frame):
    """Distances are computed only in tiles near an edge; they must match the full transform."""
    from scipy import ndimage as ndi
    from tst_blend.mrf import band_distances

    gen = np.random.default_rng(0)
    noise = ndi.gaussian_filter(gen.random((150, 210)), 6)
    labels = np.digitize(noise, np.quantile(noise, [0.6, 0.85])).astype(np.int32)
    band = 7
    ys, xs, dist = band_distances(labels, 4, band, whole_frame)  # label 3 is absent
    full = np.stack([ndi.distance_transform_edt(labels != lab) for lab in range(3)])
    allowed = full <= band
    expect = np.ones(labels.shape, bool) if whole_frame else allowed.sum(0) >= 2
    assert sorted(zip(ys, xs, strict=True)) == sorted(zip(*np.nonzero(expect), strict=True))
    capped = np.minimum(full[:, ys, xs], band)
    if not whole_frame:
        capped[~allowed[:, ys, xs]] = np.inf
    np.testing.assert_allclose(dist[:3], capped)
    assert np.isinf(dist[3]).all()
