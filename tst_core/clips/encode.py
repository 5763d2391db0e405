"""Writing clips through PyAV: H.264 segments, and the final MP4 assembled from them with the
source's audio copied through.

A long clip is written as **segments**: each one an MP4 file of H.264 (libx264, 4:2:0, no
B-frames, so a segment's packets are in presentation order and segments join end to end)
that starts with a key frame. :func:`assemble` joins them packet by packet, without
re-encoding, and copies the source's first audio stream, packet by packet too (its bytes
unchanged), for the same span of time; with ``every`` > 1 the frame rate is divided by it, so
the audio stays in sync.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .read import Span, import_av, open_clip

#: libx264's constant-quality setting (0 lossless … 51; 18 is visually lossless for most)
DEFAULT_CRF = 18
#: libx264's speed/size trade-off
DEFAULT_PRESET = "medium"
#: what ``-o`` suffixes write a video file (anything else is a folder of frames)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
#: the image types of a frame folder


@dataclass(frozen=True)
class Encoding:
    """How the video is encoded.

    :param fps: frames per second of the output (the clip's, divided by ``every``).
    :param size: ``(H, W)``, both even.
    :param crf: libx264's constant rate factor (0–51, lower is better).
    :param preset: libx264's preset (``ultrafast`` … ``veryslow``).
    """

    fps: Fraction
    size: tuple[int, int]
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise InputError(f"--crf must be from 0 to 51, got {self.crf}")
        if self.size[0] % 2 or self.size[1] % 2:
            raise ValueError(f"H.264 (4:2:0) needs an even frame size, got {self.size}")


class SegmentWriter:
    """One segment: frames in, an MP4 of H.264 out (:meth:`close` finishes the file)."""

    def __init__(self, path: Path, encoding: Encoding) -> None:
        av = import_av()
        self.path = path
        self._container = av.open(str(path), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=encoding.fps)
        stream.height, stream.width = encoding.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.max_b_frames = 0  # packets in order: segments join end to end
        stream.options = {"crf": str(encoding.crf), "preset": encoding.preset}
        self._stream = stream
        self._count = 0

    def write(self, image: np.ndarray) -> None:
        """Append one frame, RGB ``uint8`` ``(H, W, 3)``."""
        av = import_av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self._count
        self._count += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        """Close without flushing (the file is unfinished; the caller removes it)."""
        with contextlib.suppress(Exception):  # already broken: nothing more to release
            self._container.close()


def assemble(
    out: Path, segments: Sequence[Path], source: Path, span: Span, *, audio: bool = True
) -> None:
    """Join ``segments`` (in order, each from :class:`SegmentWriter`) into the MP4 ``out``,
    with ``source``'s first audio stream copied for the time of ``span`` (``audio=False``:
    none).

    :raises InputError: when a segment is missing, unreadable, or encoded unlike the first.
    """
    av = import_av()
    if not segments:
        raise ValueError("no segments to assemble")
    inputs = [open_clip(p) for p in segments]
    source_container = open_clip(source) if audio else None
    try:
        with av.open(str(out), mode="w", format="mp4") as container:
            first = inputs[0].streams.video[0]
            video = container.add_stream_from_template(first)
            for path, c in zip(segments, inputs, strict=True):
                extradata = c.streams.video[0].codec_context.extradata
                if extradata != first.codec_context.extradata:
                    raise InputError(
                        f"segment '{path}' was encoded with other settings than the first; "
                        "remove the work folder and run again"
                    )
            streams: list[Iterator[tuple[float, int, Any]]] = [_video_packets(inputs, video)]
            if source_container is not None and source_container.streams.audio:
                sound = container.add_stream_from_template(source_container.streams.audio[0])
                streams.append(_audio_packets(source_container, sound, span))
            for _, _, packet in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                container.mux(packet)
    finally:
        for c in inputs:
            c.close()
        if source_container is not None:
            source_container.close()


def _video_packets(inputs: Sequence[Any], video: Any) -> Iterator[tuple[float, int, Any]]:
    """Every segment's packets, shifted to follow the previous segments; keyed by seconds."""
    offset = 0.0
    for c in inputs:
        stream = c.streams.video[0]
        tb = stream.time_base
        shift = round(offset / tb)
        end = offset
        for packet in c.demux(stream):
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            packet.pts += shift
            packet.dts += shift
            duration = packet.duration or 0
            end = max(end, float((packet.pts + duration) * tb))
            packet.stream = video
            yield float(packet.dts * tb), 0, packet
        offset = end


def _audio_packets(container: Any, sound: Any, span: Span) -> Iterator[tuple[float, int, Any]]:
    """The audio packets whose time lies in ``span``, shifted so that ``span.start`` is 0."""
    stream = container.streams.audio[0]
    tb = stream.time_base
    start = stream.start_time or 0
    shift = round(span.start / tb) + start
    for packet in container.demux(stream):
        if packet.dts is None or packet.pts is None:
            continue
        t = float((packet.pts - start) * tb)
        if span.start > 0 and t < span.start - 1e-6:  # from the start: the priming packets too
            continue
        if span.end is not None and t >= span.end - 1e-6:
            break
        packet.pts -= shift
        packet.dts -= shift
        packet.stream = sound
        yield float(packet.dts * tb), 1, packet


def output_kind(path: Path) -> str:
    """``"video"`` for an ``-o`` with a video suffix, ``"frames"`` for anything else (a folder)."""
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "frames"


def frame_name(index: int, fmt: str) -> str:
    """The file name of output frame ``index`` (0-based) in a frame folder: ``000001.png``."""
    return f"{index + 1:06d}.{fmt}"


def write_frame(path: Path, image: np.ndarray, fmt: str) -> None:
    """One frame, RGB ``uint8`` ``(H, W, 3)``, as PNG or lossless WebP at ``path``."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    if fmt == "webp":
        pil.save(path, format="WEBP", lossless=True, quality=80, method=4)
    else:
        pil.save(path, format="PNG", compress_level=3)
