"""The options of ``tst video`` (:class:`VideoOptions`), cheap to import."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .encode import DEFAULT_CRF, DEFAULT_PRESET
from .names import FLOW_QUALITIES, FRAME_FORMATS, PRESETS, TEMPORAL_MODES, FlowQuality, TemporalMode
from .read import Span


@dataclass(frozen=True)
class VideoOptions:
    """How a clip is read, tracked, kept steady and written.

    :param start: the first time in seconds to work on.
    :param end: the time in seconds to stop at (exclusive); ``None``: the clip's end.
    :param every: work on every N-th frame (the output's frame rate is divided by N, so it
        lasts as long and its audio stays in sync).
    :param segment_every: run the segmenter on every N-th frame; the masks in between are
        carried along the optical flow.
    :param key_frame: the frame (number in the selection, from 0) on which ``label#N``
        selectors rank their objects; ``None``: the first frame where one is visible.
    :param tracker: the tracker plugin (``iou``; see ``tst plugins``).
    :param temporal: ``auto`` (an engine that takes a temporal input, ``gatys``, gets the
        warped previous result as its start and a temporal loss; the others ``blend``),
        ``blend``, ``stabilize``, ``engine`` or ``off`` (each frame on its own).
    :param temporal_blend: for ``blend``/``stabilize``: the weight of the warped previous output on
        pixels where the flow is trusted (0–1).
    :param temporal_weight: for ``engine``: the weight of the temporal loss.
    :param warm_iterations: for ``engine``: the iterations of every frame after the first,
        which start from the previous result at the final scale only; ``None``: the engine's
        final-scale iterations.
    :param mask_smoothing: the weight of the previous mask carried along the flow in each
        frame's mask (0–1; 0: the segmenter's masks as they are).
    :param flow: the temporal stage's DIS optical flow preset: ``ultrafast``, ``fast`` or
        ``medium`` (the first pass, which only tracks, uses ``fast`` at half the working size).
    :param segment_frames: frames per segment: the unit a killed run resumes from, and the
        unit of work of ``--executor ray``.
    :param overlap: with ``--executor ray``: the frames before a segment that its task
        stylises first (and drops), so that its first frame continues a temporal state.
    :param crf: libx264 quality (0–51, lower is better; 18 looks lossless).
    :param preset: libx264 speed preset.
    :param frame_format: ``png`` or ``webp`` for a frame-folder output.
    :param audio: copy the clip's audio into an MP4 output.
    """

    start: float = 0.0
    end: float | None = None
    every: int = 1
    segment_every: int = 1
    key_frame: int | None = None
    tracker: str = "iou"
    temporal: TemporalMode = "auto"
    temporal_blend: float = 0.8
    temporal_weight: float = 50.0
    warm_iterations: int | None = None
    mask_smoothing: float = 0.5
    flow: FlowQuality = "medium"
    segment_frames: int = 50
    overlap: int = 8
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    frame_format: str = "png"
    audio: bool = True

    def __post_init__(self) -> None:
        Span(self.start, self.end, self.every)  # checks them
        _check(
            self.segment_every >= 1, f"segment_every must be at least 1, got {self.segment_every}"
        )
        _check(
            self.key_frame is None or self.key_frame >= 0,
            f"key_frame must be 0 or more, got {self.key_frame}",
        )
        _check(
            self.temporal in TEMPORAL_MODES, f"temporal must be one of {', '.join(TEMPORAL_MODES)}"
        )
        _check(
            0.0 <= self.temporal_blend <= 1.0,
            f"temporal_blend must be from 0 to 1, got {self.temporal_blend}",
        )
        _check(
            self.temporal_weight >= 0,
            f"temporal_weight must be 0 or more, got {self.temporal_weight}",
        )
        _check(
            self.warm_iterations is None or self.warm_iterations >= 1,
            f"warm_iterations must be at least 1, got {self.warm_iterations}",
        )
        _check(
            0.0 <= self.mask_smoothing < 1.0,
            f"mask_smoothing must be from 0 to below 1, got {self.mask_smoothing}",
        )
        _check(self.flow in FLOW_QUALITIES, f"flow must be one of {', '.join(FLOW_QUALITIES)}")
        _check(
            self.segment_frames >= 1,
            f"segment_frames must be at least 1, got {self.segment_frames}",
        )
        _check(self.overlap >= 0, f"overlap must be 0 or more, got {self.overlap}")
        _check(0 <= self.crf <= 51, f"crf must be from 0 to 51, got {self.crf}")
        _check(self.preset in PRESETS, f"preset must be one of {', '.join(PRESETS)}")
        _check(
            self.frame_format in FRAME_FORMATS,
            f"frame_format must be one of {', '.join(FRAME_FORMATS)}",
        )

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.every)

    def tracking(self) -> dict[str, Any]:
        """The options the tracks depend on (part of the work folder's tracks key)."""
        return {k: getattr(self, k) for k in ("start", "end", "every", "segment_every", "tracker")}

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"video option {message}")
