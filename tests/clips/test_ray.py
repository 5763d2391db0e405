"""``tst video --executor ray``: segments as Ray tasks on a local cluster of 2 CPUs."""

from __future__ import annotations

import numpy as np
import pytest

import tst_core
from tst_core.clips.read import probe

from . import synthetic
from .test_video import decoded

pytestmark = pytest.mark.slow
SPEED = (2, 1)


def _border_errors(path, clip, borders):
    from tst_core.clips.flow import FlowEstimator, grey, warping_error

    photo, result = decoded(clip), decoded(path)
    flow = FlowEstimator("medium")
    out = {}
    for t in range(1, len(photo)):
        motion = flow.motion(grey(photo[t - 1]), grey(photo[t]))
        x, y = synthetic.square_at(t, speed=SPEED)
        mask = np.zeros(photo[t].shape[:2], np.float32)
        mask[y + 2 : y + 18, x + 2 : x + 18] = 1
        out[t] = warping_error(result[t], result[t - 1], motion, mask)
    border = np.mean([out[t] for t in borders])
    inner = np.mean([v for t, v in out.items() if t not in borders])
    return border, inner


def test_segments_on_ray_with_warm_up_at_the_borders(ray_cluster, tmp_path, style_png):
    clip = synthetic.clip(tmp_path / "c.mp4", 30, speed=SPEED)
    common = {
        "segmenter": "fake-colour",
        "engine": "fake-noise",
        "size": 96,
        "crf": 0,
        "segment_frames": 6,
        "executor": "ray",
        "jobs": 2,
    }
    styles = [f"square={style_png}"]
    warm = tst_core.video(clip, styles, output=tmp_path / "warm.mp4", overlap=8, **common)
    cold = tst_core.video(clip, styles, output=tmp_path / "cold.mp4", overlap=0, **common)
    assert probe(tmp_path / "warm.mp4").frames == 30
    # four segments warmed up on 6 frames (all there are before the second) or 8
    assert warm.report["stylised_here"] == 30 + 6 + 3 * 8
    assert cold.report["stylised_here"] == 30
    borders = (6, 12, 18, 24)
    warm_border, warm_inner = _border_errors(tmp_path / "warm.mp4", clip, borders)
    cold_border, cold_inner = _border_errors(tmp_path / "cold.mp4", clip, borders)
    assert cold_border > 1.5 * cold_inner  # a cold start at a border flickers
    # measured: the warm-up takes away about half of the border's excess flicker
    excess_warm, excess_cold = warm_border - warm_inner, cold_border - cold_inner
    assert excess_warm < 0.7 * excess_cold, (warm_border, warm_inner, cold_border, cold_inner)


def test_a_failing_segment_is_one_error(ray_cluster, tmp_path, style_png):
    clip = synthetic.clip(tmp_path / "c.mp4", 12)
    with pytest.raises(tst_core.TstError, match="^the loss became NaN at iteration 2"):
        tst_core.video(
            clip,
            [f"square={style_png}"],
            output=tmp_path / "out.mp4",
            segmenter="fake-colour",
            engine="fake-noise",
            engine_options={"fail_after": 3},
            size=96,
            segment_frames=6,
            executor="ray",
        )
    assert not (tmp_path / "out.mp4").exists()
    assert (tmp_path / ".out.mp4.tst-video").is_dir()  # kept: a rerun resumes
