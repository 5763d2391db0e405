"""The tracks of a clip (the first pass of ``tst video``), kept for the second pass and for a
resumed run: for every frame, which track ids are visible with what mask and score.

Masks are kept as ``uint8`` crops of their box (a clip of a few hundred frames holds a few
megabytes), and saved as one compressed ``.npz`` beside a JSON index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..boxes import Box
from ..types import Instance, Segmentation, Tensor
from .tracks import TrackedInstance


@dataclass(frozen=True)
class Seen:
    """A track in one frame: its score, whether it was detected (not carried), its mask's box
    in whole pixels and the mask inside it (``uint8``, 0–255)."""

    score: float
    detected: bool
    box: tuple[int, int, int, int]
    crop: np.ndarray = field(repr=False)

    def mask(self, size: tuple[int, int]) -> Tensor:
        """The mask at the frame's ``size`` ``(H, W)``, float32 in [0, 1]."""
        out = torch.zeros(size, dtype=torch.float32)
        x0, y0, x1, y1 = self.box
        out[y0:y1, x0:x1] = torch.from_numpy(self.crop.astype(np.float32) / 255.0)
        return out


def _seen(inst: TrackedInstance) -> Seen:
    mask = inst.mask.numpy()
    box = Box.around(mask, 0.0).pixels()
    x0, y0, x1, y1 = (int(v) for v in box)
    crop = np.round(np.clip(mask[y0:y1, x0:x1], 0.0, 1.0) * 255).astype(np.uint8)
    return Seen(float(inst.score), bool(inst.detected), (x0, y0, x1, y1), crop)


@dataclass
class TrackLog:
    """Every frame's visible tracks, and each track's label votes.

    :param size: ``(H, W)`` of the frames (the working size).
    :param frames: per selected frame, ``{track id: Seen}``.
    :param labels: per track id, its label (as its latest frame gave it).
    :param votes: per track id, ``{label: frames}``: in how many frames the segmenter gave it
        each label.
    :param times: per selected frame, its time in seconds; :param sources: its number in the clip.
    """

    size: tuple[int, int]
    frames: list[dict[int, Seen]] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    votes: dict[int, dict[str, float]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)

    def add(self, time: float, source: int, tracked: Sequence[TrackedInstance]) -> None:
        """Record one frame (in order). A track's label is the one its latest frame gives
        (the ``iou`` tracker's: the label with the highest total score so far)."""
        self.frames.append({t.track: _seen(t) for t in tracked})
        self.times.append(time)
        self.sources.append(source)
        for t in tracked:
            self.labels[t.track] = t.label
            if t.detection is not None:
                counts = self.votes.setdefault(t.track, {})
                counts[t.detection] = counts.get(t.detection, 0.0) + 1.0

    def __len__(self) -> int:
        return len(self.frames)

    def label(self, track: int) -> str:
        """The track's label (see :attr:`labels`)."""
        return self.labels.get(track, "region")

    def track_ids(self) -> list[int]:
        return sorted({tid for frame in self.frames for tid in frame})

    def first_frame(self, track: int) -> int:
        return next(i for i, frame in enumerate(self.frames) if track in frame)

    def segmentation(self, index: int) -> Segmentation:
        """Frame ``index``'s visible tracks as a segmentation (ranked by track id, each
        instance's label ``id N label``-ready: see :meth:`ids`)."""
        frame = self.frames[index]
        instances = [
            Instance(self.label(tid), 1.0, Box(*seen.box), seen.mask(self.size))
            for tid, seen in sorted(frame.items())
        ]
        return Segmentation(tuple(instances), self.size)

    def ids(self, index: int) -> list[int]:
        """The track ids of :meth:`segmentation` ``(index)``'s instances, in order."""
        return sorted(self.frames[index])

    def summary(self) -> list[dict[str, Any]]:
        """One row per track for the report: id, label, frames seen, first and last frame."""
        rows = []
        for tid in self.track_ids():
            seen = [i for i, f in enumerate(self.frames) if tid in f]
            detected = sum(1 for i in seen if self.frames[i][tid].detected)
            rows.append(
                {
                    "id": tid,
                    "label": self.label(tid),
                    "labels": dict(sorted(self.votes.get(tid, {}).items())),
                    "frames": len(seen),
                    "detected": detected,
                    "first": seen[0],
                    "last": seen[-1],
                }
            )
        return rows

    # --- saving and loading ------------------------------------------------------------------

    def save(self, folder: Path, name: str = "tracks") -> None:
        """Write ``NAME.json`` and ``NAME.npz`` into ``folder`` (each renamed into place)."""
        arrays = {}
        index: list[list[list[Any]]] = []
        for i, frame in enumerate(self.frames):
            rows = []
            for tid, seen in frame.items():
                arrays[f"{i}_{tid}"] = seen.crop
                rows.append([tid, seen.score, seen.detected, list(seen.box)])
            index.append(rows)
        data = {
            "size": list(self.size),
            "times": self.times,
            "sources": self.sources,
            "labels": {str(k): v for k, v in self.labels.items()},
            "votes": {str(k): v for k, v in self.votes.items()},
            "frames": index,
        }
        tmp = folder / f".{name}.npz.part"
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, folder / f"{name}.npz")
        tmp = folder / f".{name}.json.part"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, folder / f"{name}.json")

    @classmethod
    def load(cls, folder: Path, name: str = "tracks") -> TrackLog | None:
        """The log saved in ``folder``, or ``None`` when it is missing or unreadable."""
        try:
            data = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
            with np.load(folder / f"{name}.npz") as arrays:
                frames = [
                    {
                        int(tid): Seen(float(score), bool(det), tuple(box), arrays[f"{i}_{tid}"])
                        for tid, score, det, box in rows
                    }
                    for i, rows in enumerate(data["frames"])
                ]
            labels = {int(k): str(v) for k, v in data["labels"].items()}
            votes = {
                int(k): {str(a): float(b) for a, b in v.items()} for k, v in data["votes"].items()
            }
            size = (int(data["size"][0]), int(data["size"][1]))
            return cls(size, frames, labels, votes, list(data["times"]), list(data["sources"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def __iter__(self) -> Iterator[dict[int, Seen]]:
        return iter(self.frames)
