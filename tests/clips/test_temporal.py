"""The temporal stage: flow, blending, stabilising, mask smoothing, gatys's temporal input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tst_core
from tst_core.clips.flow import (
    FlowEstimator,
    Motion,
    clip_warping_error,
    consistent,
    grey,
    warp,
    warping_error,
)
from tst_core.clips.temporal import (
    blend_layers,
    gatys_input,
    smooth_masks,
    stabilize_layers,
    stylised_image,
)

from . import synthetic
from .test_video import _warping_errors, decoded


def still(h: int = 24, w: int = 32, dx: float = 0.0) -> Motion:
    """A uniform motion of ``dx`` pixels to the right per frame (0: nothing moves)."""
    backward = np.zeros((h, w, 2), np.float32)
    backward[..., 0] = -dx
    forward = -backward
    return Motion(backward, forward, consistent(backward, forward))


def test_warp_follows_the_flow_and_the_check_flags_what_was_uncovered():
    images = synthetic.frames(3)
    flow = FlowEstimator("fast")
    motion = flow.motion(grey(images[0]), grey(images[1]))
    x, y = synthetic.square_at(1)
    moved = warp(images[0], motion.backward)
    inner = (slice(y + 3, y + 17), slice(x + 3, x + 17))
    warped_diff = np.abs(moved[inner].astype(int) - images[1][inner]).mean()
    unwarped_diff = np.abs(images[0][inner].astype(int) - images[1][inner]).mean()
    assert warped_diff < 0.4 * unwarped_diff, (warped_diff, unwarped_diff)
    x0, _ = synthetic.square_at(0)
    uncovered = motion.valid[y + 5 : y + 15, x0 : x0 + 2]  # where the square was, now background
    assert float(uncovered.mean()) < 0.5
    assert float(motion.valid.mean()) > 0.9


def test_warping_error_is_zero_for_a_still_picture_and_nan_for_an_empty_mask():
    image = synthetic.frames(1)[0]
    motion = still(*image.shape[:2])
    assert warping_error(image, image, motion) == 0.0
    assert np.isnan(warping_error(image, image, motion, np.zeros(image.shape[:2])))


def test_clip_warping_error_leaves_out_scene_cuts_and_empty_masks_instead_of_nan():
    # bikes.mp4: the bicycle first appears in the frame after a cut, where the forward-backward
    # check passes on 1 % of the frame and on none of the bicycle: that one pair made the
    # clip's mean NaN
    frames = synthetic.frames(4)
    h, w = frames[0].shape[:2]
    masks = np.zeros((4, h, w), np.float32)
    masks[2:, 20:50, 30:70] = 1.0  # no target in frames 0 and 1
    still_motion = still(h, w)
    cut = Motion(still_motion.backward, still_motion.forward, np.zeros((h, w), np.float32))
    motions = [still_motion, cut, still_motion]  # motions[t - 1]: frame t - 1 to t
    result = clip_warping_error(frames, motions, masks)
    expected = warping_error(frames[3], frames[2], still_motion, masks[3])
    assert expected > 0
    assert result.errors == {3: expected}
    assert result.cuts == (2,) and result.empty == (1,)
    assert result.mean == expected and result.why_none() == ""
    only_cuts = clip_warping_error(frames[:3], [still_motion, cut], masks[:3])
    assert only_cuts.mean is None
    assert "none of them passes the flow's forward-backward check" in only_cuts.why_none()
    nothing = clip_warping_error(frames[:2], [still_motion], masks[:2])
    assert nothing.mean is None and "cover no pixel" in nothing.why_none()


def test_blend_zero_is_per_frame_and_one_holds_the_previous_layers():
    layers, previous = torch.rand(2, 3, 24, 32), torch.rand(2, 3, 24, 32)
    masks = torch.zeros(2, 24, 32)
    masks[0, :, :16] = 1
    masks[1, :, 16:] = 1
    motion = still()
    assert torch.equal(blend_layers(layers, previous, masks, motion, 0.0), layers)
    held = blend_layers(layers, previous, masks, motion, 1.0)
    torch.testing.assert_close(held[0, :, :, :15], previous[0, :, :, :15], atol=1e-5, rtol=0)
    torch.testing.assert_close(held[0, :, :, 17:], layers[0, :, :, 17:])  # not its target before
    half = blend_layers(layers, previous, masks, motion, 0.5)
    torch.testing.assert_close(
        half[1, :, :, 18:], (layers[1] + previous[1])[:, :, 18:] / 2, atol=1e-5, rtol=0
    )


def test_stabilize_takes_the_low_frequencies_of_the_previous_layers():
    texture = (torch.rand(1, 3, 32, 48) - 0.5) * 0.4
    layers = (0.3 + texture).clamp(0, 1)  # fine texture on dark grey
    previous = torch.full((1, 3, 32, 48), 0.7)  # flat light grey
    masks = torch.ones(1, 32, 48)
    out = stabilize_layers(layers, previous, masks, still(32, 48), 1.0, sigma=4.0)
    assert float(out.mean()) == pytest.approx(0.7, abs=0.02)  # the colour of the previous
    detail = out - out.mean()
    assert float(torch.corrcoef(torch.stack([detail.flatten(), texture.flatten()]))[0, 1]) > 0.8


def test_mask_smoothing_averages_edges_and_drops_a_vanished_object():
    h, w = 40, 60
    now = torch.zeros(1, h, w)
    now[0, 10:30, 20:40] = 1
    before = torch.zeros(1, h, w)
    before[0, 10:30, 22:42] = 1  # the edge moved by 2 px
    smooth = smooth_masks(now, before, still(h, w), 0.5)
    assert float(smooth[0, 20, 41]) == pytest.approx(0.5)  # the old edge half kept
    assert float(smooth[0, 20, 21]) == pytest.approx(0.5)
    assert float(smooth[0, 20, 30]) == 1.0
    gone = smooth_masks(torch.zeros(1, h, w), before, still(h, w), 0.5)
    assert float(gone.max()) == 0.0  # no fading ghost where the object was
    assert torch.equal(smooth_masks(now, None, None, 0.5), now)


def test_gatys_input_counts_where_the_target_was_and_is():
    layers = torch.rand(2, 3, 24, 32)
    layers[1] = layers[0]  # an optimising engine's layers: views of one image
    before = torch.zeros(1, 24, 32)
    before[0, :, :20] = 1
    now = torch.zeros(1, 24, 32)
    now[0, :, 10:] = 1
    temporal = gatys_input(stylised_image(layers[:1], before), before, now, still(), 5.0)
    assert temporal.loss_weight == 5.0
    assert (
        float(temporal.weight[:, :10].max()) == 0.0 and float(temporal.weight[:, 22:].max()) == 0.0
    )
    assert float(temporal.weight[:, 11:19].min()) == 1.0
    torch.testing.assert_close(temporal.previous, layers[0], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_gatys_temporal_loss_and_warm_start_lower_the_warping_error(clip_host, tmp_path):
    from PIL import Image

    clip = synthetic.clip(tmp_path / "moving.mp4", 5)
    checks = np.kron(np.indices((8, 8)).sum(0) % 2, np.ones((4, 4)))[..., None]
    style = tmp_path / "checks.png"
    Image.fromarray((checks * [250, 200, 30] + (1 - checks) * [20, 40, 200]).astype(np.uint8)).save(
        style
    )
    styles = [f"square={style}"]
    common = {  # a seeded noise start: each frame on its own paints other strokes
        "segmenter": "fake-colour",
        "engine": "gatys",
        "size": 96,
        "crf": 0,
        "engine_options": {"iterations": 4, "scales": (1.0,), "init": "noise"},
        "host": clip_host,
    }
    per_frame = tst_core.video(
        clip, styles, output=tmp_path / "off.mp4", temporal="off", mask_smoothing=0.0, **common
    )
    ours = tst_core.video(clip, styles, output=tmp_path / "tst.mp4", **common)
    assert ours.report["temporal"] == "engine"
    log = per_frame.tracks
    masks = [(f[0].mask(log.size).numpy() > 0.5).astype(np.float32) for f in log.frames]
    off = _warping_errors(tmp_path / "off.mp4", clip, masks)
    tst = _warping_errors(tmp_path / "tst.mp4", clip, masks)
    assert tst < 0.7 * off, (tst, off)
    assert len(decoded(tmp_path / "tst.mp4")) == 5
