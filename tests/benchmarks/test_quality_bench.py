"""The quality benchmark's pure parts: variants, crop boxes, the acceptance rule (no stylising
here; the benchmark itself runs from benchmarks/)."""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest
import torch

from ..conftest import ROOT


def load_script():
    path = ROOT / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("bench_quality", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_variants_map_keys_to_config_sets_and_style_suffixes():
    q = load_script()
    v = q.parse_variant("sw1:style_weight=1,scales=[0.5, 1.0],blend.feather.radius=4,@scale=1.5")
    assert v.name == "sw1" and v.kind == "pipeline" and v.engine is None
    assert v.sets == (
        "engine.gatys.style_weight=1",
        "engine.gatys.scales=[0.5, 1.0]",
        "blend.feather.radius=4",
    )
    assert v.suffix == "@scale=1.5"
    for bad in ("noname", "x:", "x:style_weight", "crop:style_weight=1", "a b:k=1", "x:k="):
        with pytest.raises(q.BenchError):
            q.parse_variant(bad)


def test_crop_box_grows_by_the_margin_and_stays_in_the_frame():
    q = load_script()
    mask = torch.zeros(100, 200)
    mask[40:60, 90:110] = 1.0  # a 20 px square
    assert q.crop_box(mask, 0.5) == (30, 80, 70, 120)
    edge = torch.zeros(100, 200)
    edge[0:10, 195:200] = 1.0  # at the corner, 5 × 10 px: clipped, then widened to 16 px
    y0, x0, y1, x1 = q.crop_box(edge, 0.1)
    assert (y0, y1) == (0, 16) and x1 == 200 and x1 - x0 == 16


def test_acceptance_rule():
    q = load_script()

    def row(method, **values):
        base = dict(swd=1.0, structure=0.5, content_mid=0.5, content_deep=0.5, speckle=1e-3)
        return {"job": "j", "size": 64, "method": method, "target": "id:0", **base, **values}

    crop, full = row("crop"), row("full", structure=0.6, content_deep=0.4)
    good = row("default", swd=0.9, structure=0.55, content_deep=0.43)
    bad = row("default", swd=1.2, structure=0.4, content_mid=math.nan, content_deep=0.43)
    assert q.check([good, crop, full], ["default"])[0]["failures"] == []
    (result,) = q.check([bad, crop, full], ["default"])
    reasons = " | ".join(result["failures"])
    assert "swd <= crop" in reasons
    assert "structure >= crop" in reasons and "structure within 10 % of full" in reasons
    assert "content mid <= crop" in reasons  # NaN never passes
    assert "content deep" not in reasons and "speckle" not in reasons


def test_finite_json():
    q = load_script()
    assert q.finite({"a": [1.0, math.nan], "b": math.inf, "c": "x"}) == {
        "a": [1.0, None],
        "b": None,
        "c": "x",
    }
