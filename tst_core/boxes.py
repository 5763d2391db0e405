"""A box on an image, in one vocabulary, with its conversions.

A :class:`Box` is ``(x0, y0, x1, y1)`` in pixels of an image: columns ``x0`` up to ``x1`` and
rows ``y0`` up to ``y1``, ``x1``/``y1`` exclusive, so ``x1 - x0`` is the width. Every
rectangle on an image is one: a segmenter's instance box, the tight box around a mask, the
engine's region of interest. It is a tuple, so ``x0, y0, x1, y1 = box``, ``list(box)`` and
JSON keep working; the methods convert it to what array code wants (slices, the
``(y0, y1, x0, x1)`` order of row-major loops) and back from a mask.

Coordinates may be fractional (a detector's box); :meth:`Box.pixels` is the smallest box of
whole pixels that covers it, and :meth:`Box.slices` indexes those pixels.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch


class Box(NamedTuple):
    """``(x0, y0, x1, y1)`` in image pixels, ``x1``/``y1`` exclusive."""

    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def around(cls, mask: Any, threshold: float = 0.5) -> Box:
        """The tight box around the pixels of ``mask`` above ``threshold``.

        :param mask: ``(H, W)``, a tensor or a NumPy array (bool, or values in [0, 1]).
        :param threshold: ``0.0`` boxes every non-zero value of a non-negative mask.
        :returns: a box of whole pixels (as floats); ``Box(0, 0, 0, 0)`` when no pixel is above.
        """
        inside = torch.as_tensor(mask) > threshold
        rows = torch.nonzero(inside.any(dim=1)).flatten()
        if rows.numel() == 0:
            return cls(0.0, 0.0, 0.0, 0.0)
        cols = torch.nonzero(inside.any(dim=0)).flatten()
        return cls(float(cols[0]), float(rows[0]), float(cols[-1]) + 1.0, float(rows[-1]) + 1.0)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def empty(self) -> bool:
        """True when the box holds no area."""
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def pixels(self) -> Box:
        """The smallest box of whole pixels covering this one (floor of x0/y0, ceil of x1/y1),
        with ``int`` coordinates."""
        return Box(math.floor(self.x0), math.floor(self.y0), math.ceil(self.x1), math.ceil(self.y1))

    def rows_cols(self) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)`` of :meth:`pixels`: ``image[..., y0:y1, x0:x1]``."""
        x0, y0, x1, y1 = self.pixels()
        return int(y0), int(y1), int(x0), int(x1)

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of :meth:`pixels`: ``image[(..., *box.slices())]`` or
        ``array[box.slices()]`` for an ``(H, W)`` array."""
        y0, y1, x0, x1 = self.rows_cols()
        return slice(y0, y1), slice(x0, x1)

    def clipped(self, size: tuple[int, int]) -> Box:
        """The part of the box inside an image of ``size`` ``(H, W)`` (possibly empty)."""
        h, w = size
        x0, x1 = (min(max(float(v), 0.0), float(w)) for v in (self.x0, self.x1))
        y0, y1 = (min(max(float(v), 0.0), float(h)) for v in (self.y0, self.y1))
        return Box(x0, y0, x1, y1)

    def grown(self, margin: float, size: tuple[int, int]) -> Box:
        """The box grown by ``margin`` pixels on every side, clipped to ``size`` ``(H, W)``;
        an empty box stays as it is."""
        if self.empty:
            return self
        m = margin
        return Box(self.x0 - m, self.y0 - m, self.x1 + m, self.y1 + m).clipped(size)

    def scaled(self, sx: float, sy: float) -> Box:
        """The box on an image resized by ``sx`` horizontally and ``sy`` vertically."""
        return Box(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)

    def union(self, other: Box) -> Box:
        """The smallest box holding both boxes."""
        return Box(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share some area."""
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def contains(self, x: float, y: float) -> bool:
        """True when the point ``(x, y)`` lies inside (the right and bottom edges excluded)."""
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1
