"""Off a terminal, ``tst batch`` is not silent while a photo runs: each photo's run prints its
progress lines, named by the photo, besides the batch's line per photo."""

from __future__ import annotations

import pytest

from .checks import batch_cli


@pytest.mark.needs_shared
def test_a_photo_being_stylised_prints_progress_lines(tmp_path, shared, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "bus.jpg").write_bytes(shared("images", "content", "bus.jpg").read_bytes())
    style = shared("images", "style", "starry_night.jpg")
    code, _, err = batch_cli(
        capsys, photos, "-o", tmp_path / "out", "--style", f"all={style}", "--size", "32",
        "--output-size", "32",  # the working size: gatys at 32 px, not its native levels
        "--set", "engine.gatys.iterations=2", "--executor", "inline", "--progress", "lines",
    )  # fmt: skip
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith("bus.jpg: stylize")]
    # at 32 px the half-size scale is skipped: 2 iterations in all
    assert lines[0].startswith("bus.jpg: stylize: 1/2, loss ") and "elapsed, ETA" in lines[0]
    assert lines[-1].startswith("bus.jpg: stylize: 2/2, loss ") and lines[-1].endswith("ETA 0s")
    assert "\r" not in err and "\x1b" not in err
