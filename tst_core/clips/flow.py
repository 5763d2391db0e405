"""Optical flow between frames, warping along it, and where it can be trusted.

Flow here is **backward** unless named otherwise: for frame ``t``, ``b_t(x)`` is where the
pixel ``x`` of frame ``t`` was in frame ``t − 1`` (in pixels, ``(dx, dy)``), so the previous
stylised frame warped to frame ``t`` is ``S_{t−1}(x + b_t(x))`` (:func:`warp`). The forward
flow ``f_t`` (frame ``t − 1`` → ``t``) serves the forward–backward check of Sundaram et al.
(2010), which Ruder et al. (2016) use for their temporal loss: ``x`` is **occluded** (seen in
frame ``t`` but not in ``t − 1``, or where the flow is wrong) when going back and then forward
does not return to ``x``::

    |b(x) + f(x + b(x))|²  >  0.01 (|b(x)|² + |f(x + b(x))|²) + 0.5

Flows come from OpenCV's DIS (Kroeger et al. 2016): no weights, ~15 ms for 640 × 360 on one
CPU core at the ``fast`` preset. OpenCV is the ``[video]`` extra's (and ``[grabcut]``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import missing_dependency
from .names import FlowQuality


def import_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise missing_dependency("video", "cv2", "video") from None
    return cv2


def grey(image: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` → luma ``uint8`` ``(H, W)`` (what DIS reads)."""
    cv2 = import_cv2()
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class Motion:
    """The motion between frame ``t − 1`` and frame ``t``, at the frames' size ``(H, W)``.

    :param backward: ``(H, W, 2)`` float32: pixel ``x`` of frame ``t`` was at ``x + b(x)``.
    :param forward: ``(H, W, 2)`` float32: pixel ``y`` of frame ``t − 1`` moves to ``y + f(y)``.
    :param valid: ``(H, W)`` float32 in {0, 1}: 1 where the forward–backward check passes
        (``x`` was visible in frame ``t − 1`` and the flow there is trusted).
    """

    backward: np.ndarray
    forward: np.ndarray
    valid: np.ndarray


#: per quality: the DIS preset's finest pyramid level, and the least long side in pixels the
#: finest level keeps (small frames are refined at a finer level: a 20 px object in a 96 px
#: frame moves 3 px per frame, which DIS's fast preset at a quarter of the size misses)
_FINEST = {"ultrafast": (2, 128), "fast": (2, 160), "medium": (1, 320)}


class FlowEstimator:
    """DIS optical flow at one preset; :meth:`motion` gives both flows and the check.

    :param quality: ``ultrafast``, ``fast`` or ``medium`` (DIS presets: slower is finer);
        on frames whose long side is under 4× (2× for ``medium``) the finest level's least
        size, the flow is refined one or two pyramid levels finer than the preset's.
    """

    def __init__(self, quality: FlowQuality = "fast") -> None:
        cv2 = import_cv2()
        self._preset = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[quality]
        self._dis: dict[tuple[int, int], Any] = {}
        self.quality = quality

    def _for(self, size: tuple[int, int]) -> Any:
        if size not in self._dis:
            cv2 = import_cv2()
            dis = cv2.DISOpticalFlow_create(self._preset)
            level, least = _FINEST[self.quality]
            finest = 0
            while finest < level and max(size) >> (finest + 1) >= least:
                finest += 1
            dis.setFinestScale(finest)
            self._dis[size] = dis
        return self._dis[size]

    def flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` from grey frame ``source`` to grey frame ``target``: pixel ``x``
        of ``source`` is at ``x + flow(x)`` in ``target``."""
        dis = self._for((int(source.shape[0]), int(source.shape[1])))
        return dis.calc(source, target, None)

    def motion(self, previous: np.ndarray, current: np.ndarray, scale: float = 1.0) -> Motion:
        """Backward and forward flow between two grey frames, and where they agree.

        :param scale: compute the flow on the frames resized by this factor (``0.5``: a
            quarter of the pixels, for tracking) and bring it back to the frames' size.
        """
        if scale >= 1.0:
            backward = self.flow(current, previous)
            forward = self.flow(previous, current)
            return Motion(backward, forward, consistent(backward, forward))
        cv2 = import_cv2()
        h, w = previous.shape[:2]
        small = (max(8, round(w * scale)), max(8, round(h * scale)))
        a = cv2.resize(previous, small, interpolation=cv2.INTER_AREA)
        b = cv2.resize(current, small, interpolation=cv2.INTER_AREA)
        low = self.motion(a, b)

        def up(flow: np.ndarray) -> np.ndarray:
            big = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
            return big * np.array([w / small[0], h / small[1]], np.float32)

        valid = cv2.resize(low.valid, (w, h), interpolation=cv2.INTER_NEAREST)
        return Motion(up(low.backward), up(low.forward), valid)


def _grid(h: int, w: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


Interpolation = Literal["nearest", "linear", "cubic"]


def warp(image: np.ndarray, backward: np.ndarray, how: Interpolation = "linear") -> np.ndarray:
    """``image`` of frame ``t − 1`` (``(H, W)`` or ``(H, W, C)``, any dtype OpenCV remaps)
    brought to frame ``t``: ``out(x) = image(x + b(x))``, interpolated ``how`` (``cubic``
    keeps a picture that is warped again and again sharp; it may overshoot the value range),
    the border pixels repeated where the flow points outside the frame."""
    cv2 = import_cv2()
    h, w = backward.shape[:2]
    coords = _grid(h, w) + backward
    mode = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
    return cv2.remap(image, coords, None, mode[how], borderMode=cv2.BORDER_REPLICATE)


def consistent(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """The forward–backward check (module docstring): ``(H, W)`` float32, 1 where it passes.

    Pixels whose backward flow leaves the frame fail (they were not in frame ``t − 1``).
    """
    h, w = backward.shape[:2]
    there = warp(forward, backward)  # f(x + b(x))
    round_trip = backward + there
    lhs = (round_trip**2).sum(-1)
    rhs = 0.01 * ((backward**2).sum(-1) + (there**2).sum(-1)) + 0.5
    coords = _grid(h, w) + backward
    inside = ((coords[..., 0] >= 0) & (coords[..., 0] <= w - 1) & (coords[..., 1] >= 0)) & (
        coords[..., 1] <= h - 1
    )
    return ((lhs <= rhs) & inside).astype(np.float32)


def warping_error(
    current: np.ndarray, previous: np.ndarray, motion: Motion, mask: np.ndarray | None = None
) -> float:
    """Lai et al. (2018)'s temporal warping error of one frame pair: the mean absolute colour
    difference (RGB in [0, 1], averaged over channels) between frame ``t`` and frame ``t − 1``
    warped to it, over the pixels where the flow is trusted (``motion.valid``) and, with
    ``mask`` ``(H, W)`` in [0, 1], weighted by it (the targets). NaN where nothing is measured.

    The flow is the *photo's* (``motion``), so a result is judged by how well it follows the
    scene's motion, whatever the result itself looks like.
    """
    cur = current.astype(np.float32) / 255.0
    warped = warp(previous, motion.backward).astype(np.float32) / 255.0
    weight = motion.valid if mask is None else motion.valid * mask.astype(np.float32)
    total = float(weight.sum())
    if total <= 0:
        return float("nan")
    diff = np.abs(cur - warped).mean(-1)
    return float((diff * weight).sum() / total)


@dataclass(frozen=True)
class ClipWarpingError:
    """The warping error of a clip (:func:`clip_warping_error`): the mean over the frame
    pairs where something was measured, and which pairs had nothing to measure.

    :param errors: ``{t: error}`` of each measured pair ``(t − 1, t)``.
    :param cuts: the pairs with target pixels in frame ``t`` of which none passes the
        forward–backward check: the flow found nothing of frame ``t`` there in frame
        ``t − 1`` (a scene cut, or the target entering the picture).
    :param empty: the pairs with no target pixel in frame ``t``.
    """

    errors: dict[int, float]
    cuts: tuple[int, ...]
    empty: tuple[int, ...]

    @property
    def mean(self) -> float | None:
        """The mean over the measured pairs; ``None`` when there is none (:meth:`why_none`)."""
        return float(np.mean(list(self.errors.values()))) if self.errors else None

    def why_none(self) -> str:
        """Why :attr:`mean` is ``None`` (empty when it is not)."""
        if self.errors:
            return ""
        if self.cuts:
            return (
                f"no frame pair to measure: in each of the {len(self.cuts)} pairs with target "
                "pixels, none of them passes the flow's forward-backward check (scene cuts)"
            )
        return "no frame pair to measure: the targets cover no pixel after the first frame"


def clip_warping_error(
    frames: list[np.ndarray], motions: list[Motion], masks: np.ndarray | list[np.ndarray]
) -> ClipWarpingError:
    """:func:`warping_error` of each consecutive pair of ``frames`` (RGB ``uint8``
    ``(H, W, 3)``) inside ``masks[t]`` (``(H, W)``, in [0, 1] or bool), ``motions[t − 1]``
    being the photo's motion from frame ``t − 1`` to ``t``. A pair where the target covers
    nothing, or where none of its pixels passes the forward–backward check (at a scene cut
    the check fails on nearly the whole frame), has no error: it is left out of the mean and
    named in the result, instead of making the mean NaN."""
    errors: dict[int, float] = {}
    cuts, empty = [], []
    for t in range(1, len(frames)):
        mask = np.asarray(masks[t], dtype=np.float32)
        if not mask.any():
            empty.append(t)
            continue
        error = warping_error(frames[t], frames[t - 1], motions[t - 1], mask)
        if np.isnan(error):
            cuts.append(t)
        else:
            errors[t] = error
    return ClipWarpingError(errors, tuple(cuts), tuple(empty))
