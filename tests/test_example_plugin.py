"""A third-party plugin distribution, installed with pip, joins the host by entry point only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from .conftest import ROOT, run_tst

EXAMPLE = ROOT / "examples" / "tst-plugin-example"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    """The example plugin pip-installed into a throwaway folder (a --target install)."""
    site = tmp_path_factory.mktemp("example-site")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    return site


@pytest.fixture(scope="module")
def fakes_site(tmp_path_factory):
    """The test plugins of tests/fakes.py as an installed distribution (for subprocesses)."""
    from .conftest import make_dist

    return make_dist(
        tmp_path_factory.mktemp("fakes-site"), "tst-test-fakes", {"test-fakes": "tests.fakes"}, {}
    )


def test_example_is_listed_only_once_installed(example_site):
    before = run_tst("plugins")
    assert "checker" not in before.stdout
    after = run_tst("plugins", pythonpath=[example_site])
    assert after.returncode == 0, after.stderr
    line = next(ln for ln in after.stdout.splitlines() if ln.strip().startswith("checker"))
    assert "[tst-plugin-example 0.1.0]" in line and "checkerboard" in line


@pytest.mark.parametrize(
    "cell", [["--set", "blend.checker.cell=4"], ["--checker-cell", "4"]], ids=["set", "flag"]
)
def test_run_uses_the_example_compositor(example_site, fakes_site, tmp_path, cell):
    """Its option set with --set, or with the flag the plugin adds to tst run."""
    Image.new("RGB", (64, 48), (0, 100, 0)).save(tmp_path / "photo.png")
    Image.new("RGB", (8, 8), (250, 250, 250)).save(tmp_path / "style.png")
    res = run_tst(
        "run",
        tmp_path / "photo.png",
        "--segmenter",
        "fake-boxes",
        "--engine",
        "fake-fill",
        "--blend",
        "checker",
        *cell,
        "--style",
        f"car={tmp_path / 'style.png'}",
        "--size",
        64,
        "-o",
        tmp_path / "out.png",
        pythonpath=[example_site, fakes_site],
    )
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "out.png")).astype(int)
    # the car covers the lower half; the checker alternates photo and style there in 4-px cells
    assert abs(out[26, 1] - [250, 250, 250]).max() <= 2  # cell (6, 0): even → stylised
    assert abs(out[26, 5] - [0, 100, 0]).max() <= 2  # cell (6, 1): odd → photo
    assert abs(out[2, 1] - [0, 100, 0]).max() <= 2  # outside the car: photo
