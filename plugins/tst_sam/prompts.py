"""Turning ``--point``/``--box`` prompts into one SAM prompt per instance.

* every box is one instance; the background points inside it go with it;
* foreground points are grouped by their third value (1 when left out): each group is one
  instance, and every background point (third value 0) goes with every group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tst_core.errors import ConfigError, InputError

from .options import fmt_numbers


@dataclass(frozen=True)
class SamPrompt:
    """One SAM prompt, in photo pixels.

    :param points: ``(N, 2)`` float ``(x, y)``, or ``None``.
    :param point_labels: ``(N,)`` int, 1 foreground, 0 background, or ``None``.
    :param box: ``(4,)`` float ``(x0, y0, x1, y1)``, or ``None``.
    :param label: the instance's label.
    """

    points: np.ndarray | None
    point_labels: np.ndarray | None
    box: np.ndarray | None
    label: str

    @property
    def ambiguous(self) -> bool:
        """A single point: SAM should propose several masks and keep the best (its advice)."""
        return self.box is None and self.points is not None and len(self.points) == 1


def build_prompts(
    points: tuple[tuple[float, ...], ...],
    boxes: tuple[tuple[float, ...], ...],
    labels: tuple[str, ...],
    size: tuple[int, int],
) -> list[SamPrompt]:
    """The prompts of one photo of ``size`` ``(H, W)``, boxes first, then point groups.

    Boxes are clipped to the photo; a point outside the photo or a box that lies entirely
    outside it is an :class:`InputError`.
    """
    h, w = size
    for p in points:
        if not (0 <= p[0] <= w and 0 <= p[1] <= h):
            raise InputError(f"point prompt ({p[0]:g}, {p[1]:g}) lies outside the {w}×{h} photo")
    background = np.array([p[:2] for p in points if _group(p) == 0], dtype=np.float64)
    groups = sorted({_group(p) for p in points} - {0})
    if points and not groups and not boxes:
        raise ConfigError(
            "only background points (X,Y,0) were given; add a foreground --point X,Y or a --box"
        )
    out: list[SamPrompt] = []
    for box in boxes:
        clipped = np.array(
            [max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)], dtype=np.float64
        )
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            raise InputError(f"box prompt {fmt_numbers(box)} lies outside the {w}×{h} photo")
        inside = background[_inside(background, clipped)] if len(background) else background
        pts, lbl = (inside, np.zeros(len(inside), dtype=np.int64)) if len(inside) else (None, None)
        out.append(SamPrompt(pts, lbl, clipped, _label(labels, len(out))))
    for g in groups:
        fg = np.array([p[:2] for p in points if _group(p) == g], dtype=np.float64)
        pts = np.concatenate([fg, background.reshape(-1, 2)])
        lbl = np.concatenate([np.ones(len(fg)), np.zeros(len(background))]).astype(np.int64)
        out.append(SamPrompt(pts, lbl, None, _label(labels, len(out))))
    return out


def _group(point: tuple[float, ...]) -> int:
    return int(point[2]) if len(point) == 3 else 1


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _label(labels: tuple[str, ...], i: int) -> str:
    return labels[i].strip().lower() if i < len(labels) and labels[i].strip() else "region"
