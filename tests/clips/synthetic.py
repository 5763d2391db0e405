"""Small synthetic clips: a textured square moving over a textured background.

The square is red-dominant (the ``fake-colour`` segmenter of :mod:`.fakes` finds it by its
colour); the background is green-blue noise, smoothed, so that optical flow has texture to
follow everywhere. Frames are written as H.264 with PyAV, optionally with an AAC audio track.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A static textured background ``(h, w, 3)`` uint8, no red-dominant pixel."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.random((h, w, 3)), (1.5, 1.5, 0))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    out = np.empty((h, w, 3), np.float32)
    out[..., 0] = 0.15 + 0.2 * noise[..., 0]
    out[..., 1] = 0.35 + 0.5 * noise[..., 1]
    out[..., 2] = 0.35 + 0.5 * noise[..., 2]
    return (out * 255).round().astype(np.uint8)


def square_texture(side: int, seed: int = 1) -> np.ndarray:
    """A red-dominant textured square ``(side, side, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    t = rng.random((side, side))
    out = np.empty((side, side, 3), np.float32)
    out[..., 0] = 0.75 + 0.25 * t
    out[..., 1] = 0.05 + 0.2 * t[::-1]
    out[..., 2] = 0.05 + 0.15 * t.T
    return (out * 255).round().astype(np.uint8)


def square_at(
    index: int, start: tuple[int, int] = (10, 8), speed: tuple[int, int] = (3, 1)
) -> tuple[int, int]:
    """The square's top-left ``(x, y)`` in frame ``index``."""
    return start[0] + speed[0] * index, start[1] + speed[1] * index


def frames(
    count: int = 24,
    size: tuple[int, int] = (72, 96),
    side: int = 20,
    gone: tuple[int, ...] = (),
    speed: tuple[int, int] = (3, 1),
) -> list[np.ndarray]:
    """The frames ``(h, w, 3)`` uint8: the square moves by ``speed`` pixels per frame and is
    not drawn in the frames listed in ``gone``."""
    h, w = size
    bg = background(h, w)
    sq = square_texture(side)
    out = []
    for i in range(count):
        f = bg.copy()
        if i not in gone:
            x, y = square_at(i, speed=speed)
            x1, y1 = min(w, x + side), min(h, y + side)
            f[y:y1, x:x1] = sq[: y1 - y, : x1 - x]
        out.append(f)
    return out


def write_clip(
    path: Path,
    images: list[np.ndarray],
    fps: int = 25,
    *,
    audio: bool = False,
    crf: int = 4,
    faststart: bool = False,
) -> Path:
    """Encode ``images`` as H.264 (nearly lossless) into ``path``; with ``audio``, a 440 Hz
    AAC tone as long as the clip."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as c:
        v = c.add_stream("libx264", rate=Fraction(fps))
        v.height, v.width = images[0].shape[:2]
        v.pix_fmt = "yuv420p"
        v.options = {"crf": str(crf), "preset": "ultrafast"}
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "mono"
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            seconds = len(images) / fps
            t = np.arange(int(48000 * seconds)) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(tone), 1024):
                chunk = tone[k : k + 1024][None]
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate = 48000
                af.pts = k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def clip(path: Path, count: int = 24, gone: tuple[int, ...] = (), **kwargs) -> Path:
    """:func:`write_clip` of :func:`frames`."""
    audio = kwargs.pop("audio", False)
    return write_clip(path, frames(count, gone=gone, **kwargs), audio=audio)
