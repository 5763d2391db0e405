"""The acceptance comparison on a real photo: two people of ``bus.jpg`` stylised differently.

The stylised layers are a quick stand-in (a posterised, colour-shifted photo with a texture);
``tst compare`` with the real engines is in ``benchmarks/README.md``.
"""

from __future__ import annotations

import json

import pytest
import torch

from tst_core import hookimpl, plugins
from tst_core.compare import compare
from tst_core.types import StylizeResult

from . import bus_people

pytestmark = pytest.mark.needs_shared


class PosterEngine:
    """Layer k: the photo posterised, tinted per target, with a diagonal stroke texture."""

    def __init__(self, options, env) -> None:
        pass

    def stylize(self, photo, targets, progress=None):
        h, w = photo.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        strokes = 0.08 * torch.sin((xx + yy).float() / 2.0)
        tints = torch.tensor([[0.15, 0.05, -0.1], [-0.1, 0.0, 0.2]])
        layers = [
            ((photo * 5).round() / 5 + tints[k % 2].view(3, 1, 1) + strokes).clamp(0, 1)
            for k in range(len(targets))
        ]
        return StylizeResult(torch.stack(layers), [], {})


class PosterPlugin:
    @hookimpl
    def tst_register_engines(self, register):
        register("poster", PosterEngine, description="test: posterise")


def test_compare_on_bus_two_people(shared, tmp_path):
    photo = shared("images/content/bus.jpg")
    starry = shared("images/style/starry_night.jpg")
    scream = shared("images/style/the_scream.jpg")
    bus_people.write(tmp_path / "masks")
    host = plugins.load_host(extra=[("tests-poster", PosterPlugin())])
    res = compare(
        photo,
        [f"person#0={starry}", f"person#1={scream}"],
        engines=["poster"],
        blends=["hard", "feather", "mrf", "poisson"],
        host=host,
        segmenter="maskfile",
        segmenter_options={"masks": str(tmp_path / "masks")},
        size=320,
    )
    rows = {r["blend"]: r for r in res.rows()}
    assert rows["mrf"]["seam"] < rows["hard"]["seam"]
    assert rows["feather"]["seam"] < rows["hard"]["seam"]
    for row in rows.values():
        assert row["leakage"] < 1e-6
    written = res.save(tmp_path / "sheet.png")
    assert all(p.exists() for p in written)
    assert len(json.loads((tmp_path / "sheet.json").read_text())["rows"]) == 4
