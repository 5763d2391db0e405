"""Selectors over a clip's tracks: the same grammar as for a photo (:mod:`tst_core.select`),
meaning the same object in every frame.

* ``id:7`` is track 7 (the ids ``tst video --preview-tracks`` draws);
* ``person`` is every track labelled ``person``, in each frame where it is visible;
* ``person#0`` is chosen once: on the key frame (``key_frame``, or else the first frame in
  which any ``person`` is visible) the visible ``person`` tracks are ranked by score, and the
  selector follows the track of that rank through the clip;
* ``background`` is, in each frame, every pixel no visible track covers; ``all`` the frame.

A selector that matches nothing anywhere in the clip is a :class:`SelectionError` that lists
the tracks' labels, before any frame is stylised. Where targets overlap the later ``--style``
wins, as for a photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import SelectionError
from ..select import Selector, StyleRequest, parse_selector, resolve_overlaps
from ..types import Tensor
from .tracklog import TrackLog


@dataclass(frozen=True)
class Part:
    """One resolved selector part: ``all``, ``background``, or a set of track ids."""

    kind: str  # "all" | "background" | "tracks"
    tracks: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Chosen:
    """A request's selector resolved over the clip: its parts, and the track ids it follows."""

    selector: str
    parts: tuple[Part, ...]

    @property
    def tracks(self) -> tuple[int, ...]:
        return tuple(sorted({t for p in self.parts for t in p.tracks}))


def choose(log: TrackLog, requests: Sequence[StyleRequest], key_frame: int | None) -> list[Chosen]:
    """Resolve every request's selector over the clip's tracks (module docstring).

    :raises SelectionError: for a selector that matches nothing in the clip, or a key frame
        beyond the clip.
    """
    if key_frame is not None and not 0 <= key_frame < len(log):
        raise SelectionError(
            f"--key-frame {key_frame} is beyond the clip's {len(log)} selected frames "
            f"(0 to {len(log) - 1})"
        )
    out = []
    for r in requests:
        parts = tuple(
            _part(log, parse_selector(text), text.strip(), key_frame)
            for text in r.selector.split(",")
        )
        out.append(Chosen(r.selector, parts))
    return out


def _part(log: TrackLog, sel: Selector, text: str, key_frame: int | None) -> Part:
    if sel.kind in ("all", "background"):
        if sel.kind == "background" and not any(_background_left(log, i) for i in range(len(log))):
            raise SelectionError(
                f"selector '{text}' matches nothing: the tracks cover every frame whole"
            )
        return Part(sel.kind)
    ids = log.track_ids()
    if sel.kind == "id":
        if sel.index not in ids:
            raise SelectionError(
                f"selector '{text}' matches nothing: the clip's track ids are "
                f"{_id_list(ids)} (see tst video --preview-tracks)"
                if ids
                else f"selector '{text}' matches nothing: the segmenter found nothing in the clip"
            )
        return Part("tracks", frozenset({sel.index}))
    labelled = [tid for tid in ids if log.label(tid).lower() == sel.label]
    if not labelled:
        raise SelectionError(f"selector '{text}' matches nothing in the clip; {_found(log)}")
    if sel.kind == "label":
        return Part("tracks", frozenset(labelled))
    key = key_frame
    if key is None:
        key = min(log.first_frame(tid) for tid in labelled)
    frame = log.frames[key]
    present = sorted(
        (tid for tid in labelled if tid in frame), key=lambda tid: (-frame[tid].score, tid)
    )
    if sel.index >= len(present):
        raise SelectionError(
            f"selector '{text}' matches nothing: frame {key} shows {len(present)} "
            f"'{sel.label}' (#0 to #{len(present) - 1}, highest score first)"
            if present
            else f"selector '{text}' matches nothing: frame {key} shows no '{sel.label}'"
        )
    return Part("tracks", frozenset({present[sel.index]}))


def _id_list(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")


def _found(log: TrackLog) -> str:
    ids = log.track_ids()
    if not ids:
        return (
            "the segmenter found nothing in the clip (selectors 'all' and 'background' still work)"
        )
    counts: dict[str, int] = {}
    for tid in ids:
        counts[log.label(tid)] = counts.get(log.label(tid), 0) + 1
    return "tracks found: " + ", ".join(f"{k} ({v})" if v > 1 else k for k, v in counts.items())


def _background_left(log: TrackLog, index: int) -> bool:
    covered = _covered(log, index)
    return bool(float(covered.min()) < 1.0)


def _covered(log: TrackLog, index: int) -> Tensor:
    union = torch.zeros(log.size, dtype=torch.float32)
    for seen in log.frames[index].values():
        union = torch.maximum(union, seen.mask(log.size))
    return union


def frame_masks(log: TrackLog, chosen: Sequence[Chosen], index: int) -> Tensor:
    """The targets' masks in frame ``index``, ``(K, H, W)`` in [0, 1], overlaps resolved
    (later wins); a target whose tracks are not visible there has an empty mask."""
    frame = log.frames[index]
    cache: dict[int, Tensor] = {}
    masks = []
    for c in chosen:
        mask = torch.zeros(log.size, dtype=torch.float32)
        for part in c.parts:
            if part.kind == "all":
                mask = torch.ones(log.size, dtype=torch.float32)
            elif part.kind == "background":
                mask = torch.maximum(mask, 1.0 - _covered(log, index))
            else:
                for tid in part.tracks:
                    if tid in frame:
                        if tid not in cache:
                            cache[tid] = frame[tid].mask(log.size)
                        mask = torch.maximum(mask, cache[tid])
        masks.append(mask)
    return torch.stack(resolve_overlaps(masks)) if masks else torch.zeros((0, *log.size))
