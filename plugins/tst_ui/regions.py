"""Regions a person draws in the page: a box dragged on the photo and clicks inside or outside
the object, checked into a :class:`~tst_core.types.Prompt` for a segmenter that cuts regions
from prompts (``sam`` when its checkpoint is there, otherwise ``grabcut``: no weights).

Every value comes from the page, so each is checked here into a typed value, and a bad one is
one sentence (HTTP 400): coordinates are finite photo pixels (a box is clipped to the photo and
must keep at least 2×2 pixels), at most :data:`MAX_POINTS` clicks, a label of at most
:data:`MAX_LABEL` printable characters, and ``edit`` names an instance of the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tst_core.boxes import Box
from tst_core.errors import InputError
from tst_core.types import Prompt

#: the most clicks one region takes
MAX_POINTS = 64
#: the longest label
MAX_LABEL = 40


@dataclass(frozen=True)
class RegionRequest:
    """A checked request: the prompt, and the instance it replaces (``None``: a new one)."""

    prompt: Prompt
    edit: int | None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{what} must be a number of photo pixels, got {value!r}")
    return float(value)


def parse_region(body: Any, size: tuple[int, int], count: int) -> RegionRequest:
    """The page's ``{"box": [x0, y0, x1, y1], "points": [[x, y, 1 or 0], ...], "label": ...,
    "edit": N}`` (``box``, ``points``, ``label`` and ``edit`` each optional, but a box or an
    inside click is needed) for a photo of ``size`` ``(H, W)`` with ``count`` instances."""
    if not isinstance(body, dict):
        raise InputError("a region request must be a JSON object")
    h, w = size
    box = None
    raw = body.get("box")
    if raw is not None:
        if not isinstance(raw, list) or len(raw) != 4:
            raise InputError("a box is [x0, y0, x1, y1] in photo pixels")
        x0, y0, x1, y1 = (_number(v, "a box corner") for v in raw)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        clipped = Box(max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))
        if clipped.width < 2 or clipped.height < 2:
            raise InputError(
                f"the box {x0:g},{y0:g},{x1:g},{y1:g} covers less than 2×2 pixels of the "
                f"{w}×{h} photo; drag a larger box over the object"
            )
        box = clipped
    points = body.get("points", [])
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise InputError(f"clicks are a list of at most {MAX_POINTS} [x, y, 1 or 0]")
    clicks = []
    for p in points:
        if not isinstance(p, list) or len(p) != 3 or p[2] not in (0, 1) or isinstance(p[2], bool):
            raise InputError("a click is [x, y, 1] (on the object) or [x, y, 0] (not on it)")
        x, y = _number(p[0], "a click"), _number(p[1], "a click")
        if not (0 <= x < w and 0 <= y < h):
            raise InputError(f"the click {x:g},{y:g} is outside the {w}×{h} photo")
        clicks.append((x, y, int(p[2])))
    if box is None and not any(fg for _, _, fg in clicks):
        raise InputError("drag a box around the object, or click on it")
    label = body.get("label", "region")
    if not isinstance(label, str) or len(label) > MAX_LABEL or not label.isprintable():
        raise InputError(f"a region's label is at most {MAX_LABEL} printable characters")
    edit = body.get("edit")
    if edit is not None and (
        isinstance(edit, bool) or not isinstance(edit, int) or not 0 <= edit < count
    ):
        raise InputError(f"there is no instance {edit!r} to edit (the photo has {count})")
    return RegionRequest(
        Prompt(box=box, points=tuple(clicks), label=label.strip() or "region"), edit
    )
