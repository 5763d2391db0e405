"""The batch benchmark's arithmetic (no timing is checked here; see benchmarks/)."""

from __future__ import annotations

import importlib.util

from ..conftest import ROOT


def load_script():
    path = ROOT / "benchmarks" / "batch.py"
    spec = importlib.util.spec_from_file_location("bench_batch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overheads_per_photo():
    bench = load_script()
    timings = {"segment": 0.2, "select": 0.05, "stylize": 10.0, "composite": 0.01}
    photos = [{"seconds": 10.5, "timings": timings}] * 4
    loop = bench.summarise("loop", {"wall_s": 60.0, "photos": photos, "setups_s": []}, 1)
    two = bench.summarise("jobs2", {"wall_s": 24.0, "photos": photos, "setups_s": [2.0, 3.0]}, 2)
    assert two["in_photo_overhead_s"] == 0.5 and two["in_photo_overhead_pct"] == 5.0
    assert two["amortised_overhead_s"] == 2.0  # 24 s × 2 workers / 4 photos − 10 s
    assert two["setup_s"] == 2.5 and loop["setup_s"] is None
    assert loop["amortised_overhead_s"] == 5.0
    text = bench.table([loop, two])
    assert "2.50x" in text and "0.500 s (5.0 %)" in text and "0.200 / 0.050 / 0.010" in text
