"""Reading clips through PyAV (FFmpeg's libraries, from the package registry; no ``ffmpeg``
program is run): what a clip holds (:func:`probe`) and its frames at the working size
(:func:`read_frames`).

A frame of a clip is RGB ``uint8`` ``(H, W, 3)`` here (a tensor only where a stage needs one).
The part of a clip that a run works on is chosen by time: frames whose presentation time ``t``
(seconds from the first frame) satisfies ``start <= t < end``, then every ``every``-th of them.
Frames are numbered from 0 in that selection.

Every problem with the file is an :class:`~tst_core.errors.InputError` of one sentence: a
missing or unreadable file, a file FFmpeg cannot open, one without a video stream, a codec no
decoder here reads, a stream that breaks off before the frames its index announces.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, missing_dependency
from ..files import check_regular_file

#: a clip whose frame count falls short of its index by more than this fraction is truncated
TRUNCATED_SHORTFALL = 0.02


def import_av() -> Any:
    """The ``av`` module (PyAV), or the standard one-line error naming the ``[video]`` extra."""
    try:
        import av
    except ImportError:
        raise missing_dependency("video", "av", "video") from None
    return av


@dataclass(frozen=True)
class ClipInfo:
    """What a clip holds (its header and index; nothing is decoded).

    :param path: the file.
    :param size: ``(H, W)`` of its frames.
    :param fps: the video stream's frame rate (frames per second).
    :param frames: the frame count its index gives, or an estimate from the duration.
    :param duration: seconds.
    :param codec: the video codec's name (``h264``).
    :param audio: the audio codec's name, or ``None`` when the clip has no audio stream.
    """

    path: Path
    size: tuple[int, int]
    fps: Fraction
    frames: int
    duration: float
    codec: str
    audio: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": list(self.size),
            "fps": str(self.fps),
            "frames": self.frames,
            "duration": round(self.duration, 3),
            "codec": self.codec,
            "audio": self.audio,
        }


@dataclass(frozen=True)
class Frame:
    """One selected frame.

    :param index: its number in the selection (0, 1, ...).
    :param source: its number in the clip (0 for the clip's first frame).
    :param time: presentation time in seconds from the clip's first frame.
    :param image: RGB ``uint8`` ``(H, W, 3)`` at the requested size.
    """

    index: int
    source: int
    time: float
    image: np.ndarray


@dataclass(frozen=True)
class Span:
    """The part of a clip a run works on: ``start <= t < end`` (seconds), every ``every``-th
    frame. ``end=None``: to the end of the clip."""

    start: float = 0.0
    end: float | None = None
    every: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise InputError(f"--start must be a time of 0 s or later, got {self.start}")
        if self.end is not None and not (math.isfinite(self.end) and self.end > self.start):
            raise InputError(f"--end ({self.end} s) must come after --start ({self.start} s)")
        if self.every < 1:
            raise InputError(f"--every must be a whole number of at least 1, got {self.every}")

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "every": self.every}


def parse_time(text: str) -> float:
    """``"12.5"`` (seconds), ``"1:02.5"`` (minutes:seconds) or ``"1:00:02"`` → seconds."""
    parts = text.strip().split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not values or len(values) > 3 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise InputError(f"'{text}' is not a time; write seconds (12.5) or [H:]MM:SS(.s)")
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


def open_clip(path: str | os.PathLike[str]) -> Any:
    """The clip opened for reading, with every failure as one sentence."""
    av = import_av()
    check_regular_file(path, "clip")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise InputError(
            f"clip '{path}' is not a video that FFmpeg can read ({_reason(exc)})"
        ) from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()).rstrip(".")


def _video_stream(container: Any, path: str | os.PathLike[str]) -> Any:
    if not container.streams.video:
        raise InputError(f"clip '{path}' has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    name = getattr(getattr(ctx, "codec", None), "name", None) if ctx is not None else None
    if ctx is None or not name or stream.width <= 0 or stream.height <= 0:
        raise InputError(
            f"clip '{path}': its video codec is one no decoder here reads "
            "(FFmpeg in PyAV does not know it); convert the clip to H.264 or another common codec"
        )
    return stream


def probe(path: str | os.PathLike[str]) -> ClipInfo:
    """Read a clip's header: size, frame rate, frame count, duration, codecs."""
    with open_clip(path) as container:
        stream = _video_stream(container, path)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps or fps <= 0:
            raise InputError(f"clip '{path}' gives no frame rate for its video stream")
        fps = Fraction(fps)
        duration = _duration(container, stream)
        frames = int(stream.frames) or max(1, round(duration * fps))
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return ClipInfo(
            Path(path),
            (int(stream.height), int(stream.width)),
            fps,
            frames,
            duration,
            stream.codec_context.codec.name,
            audio,
        )


def _duration(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return 0.0


def even_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``(h, w)`` of a frame ``size`` resized so its long side is about ``long_side``, both
    rounded to even numbers (H.264 in 4:2:0 needs them), at least 2."""
    h, w = size
    scale = long_side / max(h, w)
    return (max(2, 2 * round(h * scale / 2)), max(2, 2 * round(w * scale / 2)))


def read_frames(
    path: str | os.PathLike[str],
    span: Span | None = None,
    size: tuple[int, int] | None = None,
    *,
    first: int = 0,
) -> Iterator[Frame]:
    """Decode the frames of ``span``, resized to ``size`` ``(h, w)`` (``None``: as stored).

    :param first: skip the selected frames before this index (they are decoded, not returned).
    :raises InputError: when decoding fails, or when the clip ends well before the frames its
        index announces (a truncated file); the frames before the failure have been yielded.
    """
    av = import_av()
    span = span or Span()
    with open_clip(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        announced = int(stream.frames)
        start_time = stream.start_time
        source = -1
        chosen = 0
        index = 0
        try:
            for frame in container.decode(stream):
                source += 1
                t = _frame_time(frame, start_time, stream, source)
                if t < span.start - 1e-6:
                    continue
                if span.end is not None and t >= span.end - 1e-6:
                    break
                chosen += 1
                if (chosen - 1) % span.every:
                    continue
                index += 1
                if index - 1 < first:
                    continue
                yield Frame(index - 1, source, t, _rgb(frame, size))
        except av.error.FFmpegError as exc:
            raise InputError(
                f"clip '{path}' is damaged: decoding stopped after frame {source} ({_reason(exc)})"
            ) from None
        if span.end is None and announced and source + 1 < announced * (1 - TRUNCATED_SHORTFALL):
            raise InputError(
                f"clip '{path}' is truncated: it ends after {source + 1} of the {announced} "
                "frames its index announces"
            )


def _frame_time(frame: Any, start_time: int | None, stream: Any, source: int) -> float:
    if frame.pts is None or stream.time_base is None:
        fps = stream.average_rate or stream.guessed_rate or 25
        return float(source / fps)
    return float((frame.pts - (start_time or 0)) * stream.time_base)


def _rgb(frame: Any, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.height, frame.width) == tuple(size):
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    h, w = size
    return np.ascontiguousarray(
        frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
    )
