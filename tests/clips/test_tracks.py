"""The iou tracker: one id per object through misses, disappearances and label flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tst_core.boxes import Box
from tst_core.clips.flow import FlowEstimator, grey
from tst_core.clips.tracks import IouOptions, IouTracker
from tst_core.types import Instance, Segmentation

from . import synthetic
from .fakes import ColourOptions, ColourSegmenter


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255


def track(images, segment=None, options=None, every=1):
    """Run the iou tracker over ``images``; ``segment(i, tensor)`` gives frame i's instances."""
    segmenter = ColourSegmenter(ColourOptions(), None)
    segment = segment or (lambda i, t: segmenter.segment(t))
    session = IouTracker(options or IouOptions()).start(images[0].shape[:2], 25.0)
    flow = FlowEstimator("fast")
    out, previous = [], None
    for i, image in enumerate(images):
        g = grey(image)
        motion = None if previous is None else flow.motion(previous, g)
        t = _tensor(image)
        seg = segment(i, t) if i % every == 0 else None
        out.append(session.update(t, seg, motion))
        previous = g
    return out


def test_id_kept_through_a_three_frame_disappearance():
    gone = (10, 11, 12)
    result = track(synthetic.frames(24, gone=gone))
    for i, tracked in enumerate(result):
        if i in gone:
            assert tracked == [], f"frame {i}: the square is gone, nothing is visible"
        else:
            assert [t.track for t in tracked] == [0], f"frame {i}"
            assert tracked[0].detected
    x, y = synthetic.square_at(13)
    assert result[13][0].box.x0 == pytest.approx(x, abs=3)
    assert result[13][0].box.y0 == pytest.approx(y, abs=3)


def test_a_longer_absence_than_max_lost_starts_a_new_track():
    gone = (10, 11, 12)
    result = track(synthetic.frames(24, gone=gone), options=IouOptions(max_lost=2))
    assert [t.track for t in result[9]] == [0]
    assert [t.track for t in result[13]] == [1]


def test_a_missed_detection_is_carried_along_the_flow():
    images = synthetic.frames(16)
    segmenter = ColourSegmenter(ColourOptions(), None)

    def flaky(i, t):  # the detector misses the square in frames 5 and 6
        return Segmentation((), tuple(t.shape[-2:])) if i in (5, 6) else segmenter.segment(t)

    result = track(images, flaky)
    for i in (5, 6):
        assert [t.track for t in result[i]] == [0]
        assert not result[i][0].detected
        assert _iou_with_square(result[i][0].mask, i) > 0.8, f"frame {i}: carried to the square"
    assert result[7][0].detected and result[7][0].track == 0


def _iou_with_square(mask: torch.Tensor, index: int, side: int = 20) -> float:
    truth = torch.zeros_like(mask, dtype=torch.bool)
    x, y = synthetic.square_at(index)
    truth[y : y + side, x : x + side] = True
    inside = mask > 0.5
    return float((inside & truth).sum()) / float((inside | truth).sum())


def test_frames_between_segmenter_runs_are_carried():
    result = track(synthetic.frames(12), every=4)
    for i, tracked in enumerate(result):
        assert [t.track for t in tracked] == [0]
        assert tracked[0].detected == (i % 4 == 0)
        assert _iou_with_square(tracked[0].mask, i) > 0.75, f"frame {i}"


def test_label_flips_keep_one_track_labelled_by_total_score():
    images = synthetic.frames(8)
    segmenter = ColourSegmenter(ColourOptions(), None)

    def flipping(i, t):
        inst = segmenter.segment(t).instances[0]
        label, score = ("cat", 0.8) if i % 3 == 0 else ("bird", 0.3)
        return Segmentation((Instance(label, score, inst.box, inst.mask),), tuple(t.shape[-2:]))

    result = track(images, flipping)
    assert {t.track for tracked in result for t in tracked} == {0}
    # cat: 3 × 0.8 = 2.4 against bird: 5 × 0.3 = 1.5 after eight frames
    assert result[-1][0].label == "cat"
    assert [tracked[0].detection for tracked in result][:3] == ["cat", "bird", "bird"]


def test_a_duplicate_detection_starts_no_track():
    images = synthetic.frames(4)
    segmenter = ColourSegmenter(ColourOptions(), None)

    def doubled(i, t):
        inst = segmenter.segment(t).instances[0]
        part = inst.mask.clone()
        part[:, : int(inst.box.x0) + 5] = 0  # most of it, a detector's second box
        dup = Instance("square", 0.4, Box.around(part), part)
        return Segmentation((inst, dup), tuple(t.shape[-2:]))

    result = track(images, doubled)
    assert all([t.track for t in tracked] == [0] for tracked in result)


def test_new_ids_follow_the_scores_of_the_first_frame():
    h, w = 48, 64
    frame = np.zeros((h, w, 3), np.uint8)

    def two(i, t):
        a = torch.zeros(h, w)
        a[5:20, 5:20] = 1
        b = torch.zeros(h, w)
        b[25:40, 30:50] = 1
        return Segmentation(
            (Instance("dog", 0.6, Box.around(a), a), Instance("cat", 0.9, Box.around(b), b)),
            (h, w),
        )

    result = track([frame, frame], two)
    assert [(t.track, t.label) for t in result[0]] == [(0, "cat"), (1, "dog")]
    assert [(t.track, t.label) for t in result[1]] == [(0, "cat"), (1, "dog")]


def test_options_are_checked():
    with pytest.raises(ValueError, match="match_iou"):
        IouOptions(match_iou=1.5)
    with pytest.raises(ValueError, match="max_lost"):
        IouOptions(max_lost=-1)
