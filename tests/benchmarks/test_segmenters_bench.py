"""The segmenter benchmark script runs (no timing is checked here; see benchmarks/)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
from PIL import Image

from ..conftest import ROOT


def load_script():
    path = ROOT / "benchmarks" / "segmenters.py"
    spec = importlib.util.spec_from_file_location("bench_segmenters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measures_a_segmenter_and_reports_one_that_cannot_run(tmp_path, monkeypatch):
    bench = load_script()
    Image.fromarray(np.zeros((740, 554, 3), np.uint8)).save(tmp_path / "photo.png")
    ok = bench.measure("maskfile", tmp_path / "photo.png", 1)
    assert ok["status"] == "ok" and ok["instances"] == 2 and len(ok["times_s"]) == 1
    assert ok["peak_rss_mb"] >= ok["baseline_rss_mb"] > 0
    monkeypatch.setitem(sys.modules, "cv2", None)
    cannot = bench.measure("grabcut", tmp_path / "photo.png", 1)
    assert cannot["status"] == "cannot run" and "opencv-python-headless" in cannot["reason"]
    text = bench.table([ok, cannot])
    assert "maskfile" in text and "cannot run: the grabcut plugin needs" in text
