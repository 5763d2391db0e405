"""Objects that keep their identity across the frames of a clip.

A **tracker** turns each frame's segmentation into *tracks*: the same object gets the same
**track id** in every frame where it is visible, so a selector (``person#0``, ``id:7``) means
one object all along the clip. Trackers are plugins of the kind ``tracker``
(``tst_register_trackers``, ``[tracker.NAME]``): an object with ``start(size, fps)`` that
returns a per-clip :class:`TrackSession`, whose ``update`` is called once per frame, in order.

The built-in ``iou`` tracker (:class:`IouTracker`) needs no weights. It links detections to
tracks as ByteTrack-like trackers do, with masks instead of boxes:

1. **Predict.** A track visible in the previous frame has its mask carried to this frame along
   the optical flow (:func:`~tst_core.clips.flow.warp`, where the forward–backward check
   passes); a track lost for ``n`` frames has its
   last box moved by its velocity (an exponential average of its box centre's motion).
2. **Match** (Hungarian, on ``1 − IoU``): the larger of the mask IoU against the carried mask
   and the box IoU against the moved box for a visible track (the flow fails where an object
   leaves the frame), box IoU against the moved box for a lost one; a pair counts from
   ``match_iou`` (``reid_iou`` for a lost track). Labels do not take part: a detector that calls an object a cat in one frame and a
   bird in the next keeps one track, whose label is the one with the highest total score.
3. **Missed detections.** A visible track without a detection keeps its carried mask for up
   to ``fill_frames`` frames when the flow inside it is trusted (the forward–backward check
   passes on ``fill_valid`` of it) and the frame there still looks like the previous one
   (mean colour difference at most ``fill_error``): the object is still there and the
   detector missed it. Otherwise it becomes lost (invisible), and is dropped after
   ``max_lost`` frames without a match.
4. **New tracks** start from detections that match no track, score at least ``new_score``,
   and do not lie mostly inside a track already visible in this frame (``overlap``: a
   detector's duplicate of one object). New ids count up in the order of the detections'
   scores, so on the first frame the ids are the ranks ``tst segment`` prints.

Frames the segmenter skips (``--segment-every K``) get every visible track's carried mask,
under the same checks as a missed detection, without the ``fill_frames`` limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..boxes import Box
from ..types import Segmentation, Tensor
from .flow import Motion, warp
from .tracker_options import IouOptions


@dataclass(frozen=True)
class TrackedInstance:
    """One object in one frame.

    :param track: its track id (the same object has the same id in every frame).
    :param label: the track's label so far (the label with the highest total score).
    :param score: the detection's score in this frame (the last one's when ``detected`` is
        false).
    :param box: ``(x0, y0, x1, y1)`` of the mask in frame pixels.
    :param mask: float32 ``(H, W)`` in [0, 1].
    :param detected: whether the segmenter found it in this frame (false: carried along the
        flow from the previous frame).
    :param detection: the label the segmenter gave it in this frame (``None`` when carried).
    """

    track: int
    label: str
    score: float
    box: Box
    mask: Tensor = field(repr=False)
    detected: bool = True
    detection: str | None = None


class TrackSession(Protocol):
    """One clip's tracking: :meth:`update` is called once per frame, in order."""

    def update(
        self, frame: Tensor, segmentation: Segmentation | None, motion: Motion | None
    ) -> Sequence[TrackedInstance]:
        """The objects visible in ``frame``.

        :param frame: ``(3, H, W)`` in [0, 1].
        :param segmentation: the segmenter's instances in this frame (masks at ``(H, W)``), or
            ``None`` on a frame the segmenter skipped.
        :param motion: the flow from the previous frame to this one; ``None`` on the first.
        """
        ...


@dataclass
class _Track:
    id: int
    mask: np.ndarray  # (H, W) float32: the last mask (visible) or the last seen one (lost)
    box: Box
    score: float
    votes: dict[str, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    detection: str | None = None  # the label of this frame's detection
    missed: int = 0  # frames in a row without a detection while kept visible
    lost: int = 0  # frames in a row invisible

    @property
    def label(self) -> str:
        return max(self.votes.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def moved_box(self) -> Box:
        """The last box moved by the velocity for each frame since it was seen."""
        n = self.lost + 1
        dx, dy = self.velocity[0] * n, self.velocity[1] * n
        b = self.box
        return Box(b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy)


class IouTracker:
    """The ``iou`` tracker (module docstring)."""

    def __init__(self, options: IouOptions | None = None, env: object = None) -> None:
        self.options = options or IouOptions()

    def start(self, size: tuple[int, int], fps: float) -> IouSession:
        return IouSession(self.options, size)


class IouSession:
    """One clip's tracks under :class:`IouTracker`."""

    def __init__(self, options: IouOptions, size: tuple[int, int]) -> None:
        self.options = options
        self.size = (int(size[0]), int(size[1]))
        self.tracks: list[_Track] = []
        self.next_id = 0
        self._previous: np.ndarray | None = None  # the previous frame, (H, W, 3) float32

    def update(
        self, frame: Tensor, segmentation: Segmentation | None, motion: Motion | None
    ) -> list[TrackedInstance]:
        image = frame.permute(1, 2, 0).numpy().astype(np.float32)
        visible = [t for t in self.tracks if t.lost == 0]
        carried = {t.id: self._carry(t, motion) for t in visible}
        detected: set[int] = set()
        if segmentation is not None:
            detected = self._match(segmentation, carried)
        for t in visible:
            if t.id in detected:
                continue
            limit = self.options.fill_frames if segmentation is not None else None
            if (limit is None or t.missed < limit) and self._still_there(
                carried[t.id], image, motion
            ):
                t.mask, t.box = carried[t.id], Box.around(carried[t.id])
                t.missed += 1
                if t.box.empty:
                    t.lost = 1
            else:
                t.lost = 1
        for t in self.tracks:
            if t.lost and t not in visible and t.id not in detected:
                t.lost += 1
        self.tracks = [t for t in self.tracks if t.lost <= self.options.max_lost]
        self._previous = image
        return [
            TrackedInstance(
                t.id,
                t.label,
                t.score,
                t.box,
                torch.from_numpy(t.mask),
                t.id in detected,
                t.detection if t.id in detected else None,
            )
            for t in sorted(self.tracks, key=lambda t: t.id)
            if t.lost == 0
        ]

    def _carry(self, track: _Track, motion: Motion | None) -> np.ndarray:
        """The track's mask brought to this frame along the flow (hard masks stay hard),
        without the pixels the check distrusts: there the background the object uncovered
        would otherwise inherit the mask (a trail behind a moving object)."""
        if motion is None:
            return track.mask
        moved = warp(track.mask, motion.backward) * motion.valid
        hard = bool(((track.mask == 0) | (track.mask == 1)).all())
        return (moved > 0.5).astype(np.float32) if hard else np.clip(moved, 0.0, 1.0)

    def _still_there(self, mask: np.ndarray, image: np.ndarray, motion: Motion | None) -> bool:
        """Whether a carried mask still covers its object (see ``fill_*`` in the options)."""
        o = self.options
        area = float(mask.sum())
        if area <= 0 or motion is None or self._previous is None:
            return False
        valid = float((mask * motion.valid).sum()) / area
        warped = warp(self._previous, motion.backward)
        error = float((np.abs(image - warped).mean(-1) * mask).sum()) / area
        return valid >= o.fill_valid and error <= o.fill_error

    def _match(self, segmentation: Segmentation, carried: dict[int, np.ndarray]) -> set[int]:
        """Link the detections to tracks, start new tracks; the ids matched in this frame."""
        o = self.options
        dets = list(segmentation.instances)
        masks = [d.mask.numpy() > 0.5 for d in dets]
        cost = np.ones((len(self.tracks), len(dets)))
        for i, t in enumerate(self.tracks):
            for j, d in enumerate(dets):
                if t.lost == 0:  # the motion's box too: the flow fails where objects leave
                    iou = _mask_iou(carried[t.id] > 0.5, masks[j])
                    iou = max(iou, _box_iou(t.moved_box(), d.box))
                    cost[i, j] = 1.0 - iou if iou >= o.match_iou else 1.0
                else:
                    iou = _box_iou(t.moved_box(), d.box)
                    cost[i, j] = 1.0 - iou if iou >= o.reid_iou else 1.0
        matched: set[int] = set()
        used: set[int] = set()
        if cost.size:
            for i, j in zip(*linear_sum_assignment(cost), strict=True):
                if cost[i, j] >= 1.0:
                    continue
                self._update(self.tracks[i], dets[j].mask.numpy(), dets[j].box, dets[j])
                matched.add(self.tracks[i].id)
                used.add(j)
        taken = [t.mask > 0.5 for t in self.tracks if t.id in matched]
        taken += [m > 0.5 for tid, m in carried.items() if tid not in matched]
        for j, d in enumerate(dets):  # ranked by score: new ids follow the ranks
            if j in used or d.score < o.new_score or _duplicate(masks[j], taken, o.overlap):
                continue
            track = _Track(
                self.next_id, d.mask.numpy().astype(np.float32), Box(*d.box), d.score, {}
            )
            track.votes[d.label] = d.score
            track.detection = d.label
            self.tracks.append(track)
            self.next_id += 1
            matched.add(track.id)
            taken.append(masks[j])
        return matched

    def _update(self, track: _Track, mask: np.ndarray, box: Box, det: object) -> None:
        new = Box.around(mask)
        gap = track.lost + 1
        old = track.box
        dx = ((new.x0 + new.x1) - (old.x0 + old.x1)) / 2 / gap
        dy = ((new.y0 + new.y1) - (old.y0 + old.y1)) / 2 / gap
        a = self.options.velocity
        track.velocity = (
            a * dx + (1 - a) * track.velocity[0],
            a * dy + (1 - a) * track.velocity[1],
        )
        track.mask = mask.astype(np.float32)
        track.box = new
        track.score = float(getattr(det, "score", 0.0))
        label = str(getattr(det, "label", "region"))
        track.votes[label] = track.votes.get(label, 0.0) + track.score
        track.detection = label
        track.missed = 0
        track.lost = 0


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _box_iou(a: Box, b: Box) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _duplicate(mask: np.ndarray, taken: Sequence[np.ndarray], overlap: float) -> bool:
    area = np.count_nonzero(mask)
    if not area:
        return True
    return any(np.count_nonzero(mask & t) >= overlap * area for t in taken)
