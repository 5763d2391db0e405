"""Options of the ``iou`` tracker, in a module that imports nothing heavy: reading them
(``tst config show``) costs no torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IouOptions:
    """Options of the ``iou`` tracker (``[tracker.iou]``).

    :param match_iou: the least IoU between a track's carried mask and a detection's mask
        for them to be one object.
    :param reid_iou: the least IoU between a lost track's moved box and a detection's box.
    :param max_lost: frames a lost track is kept for re-identification.
    :param fill_frames: frames in a row a visible track without a detection keeps its carried
        mask (a missed detection); 0: never.
    :param fill_valid: the least fraction of a carried mask where the flow is trusted, for
        the object to count as still there.
    :param fill_error: the largest mean colour difference (RGB in [0, 1]) inside a carried
        mask between this frame and the previous one warped to it, for the object to count
        as still there.
    :param new_score: the least score of a detection that starts a track.
    :param overlap: a new detection with this fraction of its area inside a track visible in
        the frame is that track's duplicate and starts none.
    :param velocity: the weight of the newest motion in a track's velocity (an exponential
        average, 0–1).
    """

    match_iou: float = 0.3
    reid_iou: float = 0.2
    max_lost: int = 30
    fill_frames: int = 5
    fill_valid: float = 0.7
    fill_error: float = 0.08
    new_score: float = 0.25
    overlap: float = 0.6
    velocity: float = 0.5

    def __post_init__(self) -> None:
        for name in ("match_iou", "reid_iou", "fill_valid", "new_score", "overlap", "velocity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be from 0 to 1, got {value}")
        if self.max_lost < 0 or self.fill_frames < 0:
            raise ValueError("max_lost and fill_frames must be zero or positive")
        if not 0.0 <= self.fill_error <= 1.0:
            raise ValueError(f"fill_error must be from 0 to 1, got {self.fill_error}")
