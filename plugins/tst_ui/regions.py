"""Regions a person draws in the page: a box dragged on the photo and clicks inside or outside
the object, checked into a :class:`~tst_core.types.Prompt` for a segmenter that cuts regions
from prompts (``sam`` when its checkpoint is there, otherwise ``grabcut``: no weights).

Every value comes from the page, so each is checked here into a typed value, and a bad one is
one sentence (HTTP 400): coordinates are finite photo pixels (a box is clipped to the photo and
must keep at least 2×2 pixels), at most :data:`MAX_POINTS` clicks, a label of at most
:data:`MAX_LABEL` printable characters, and ``edit`` names an instance of the photo.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch

from tst_core.boxes import Box
from tst_core.errors import InputError
from tst_core.types import Prompt, Tensor

#: the most clicks one region takes
MAX_POINTS = 64
#: the longest label
MAX_LABEL = 40


@dataclass(frozen=True)
class RegionRequest:
    """A checked request: the prompt, the instance it replaces (``None``: a new one), and
    whether that instance's mask is where the cut starts (``refine``, as ``--refine`` does)."""

    prompt: Prompt
    edit: int | None
    refine: bool = False


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
    refine = body.get("refine", False)
    if not isinstance(refine, bool):
        raise InputError("refine is true or false")
    if box is None and not refine and not any(fg for _, _, fg in clicks):
        raise InputError("drag a box around the object, or click on it")
    label = body.get("label", "region")
    if not isinstance(label, str) or len(label) > MAX_LABEL or not label.isprintable():
        raise InputError(f"a region's label is at most {MAX_LABEL} printable characters")
    edit = body.get("edit")
    if edit is not None and (
        isinstance(edit, bool) or not isinstance(edit, int) or not 0 <= edit < count
    ):
        raise InputError(f"there is no instance {edit!r} to edit (the photo has {count})")
    if refine and edit is None:
        raise InputError("say which instance to refine (edit)")
    prompt = Prompt(box=box, points=tuple(clicks), label=label.strip() or "region")
    return RegionRequest(prompt, edit, refine)


#: the most points one brush stroke takes, and the largest brush radius (photo pixels)
MAX_STROKE = 2000
MAX_RADIUS = 2000.0


@dataclass(frozen=True)
class Stroke:
    """A checked brush stroke on instance ``target``: ``add`` paints it in, ``erase`` out.

    :param points: the stroke's path in photo pixels. :param radius: the brush's radius.
    :param soft: the brush's edge fades over its outer half (else a hard disc).
    """

    target: int
    mode: str
    points: tuple[tuple[float, float], ...]
    radius: float
    soft: bool


def parse_stroke(body: Any, size: tuple[int, int], count: int) -> Stroke:
    """The page's ``{"id": N, "mode": "add"|"erase", "points": [[x, y], ...], "radius": R,
    "soft": bool}`` for a photo of ``size`` with ``count`` instances; one sentence otherwise."""
    if not isinstance(body, dict):
        raise InputError("a brush stroke must be a JSON object")
    target = body.get("id")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < count:
        raise InputError(f"there is no instance {target!r} to paint (the photo has {count})")
    mode = body.get("mode")
    if mode not in ("add", "erase"):
        raise InputError(f"a stroke adds or erases ('add', 'erase'), not {mode!r}")
    points = body.get("points")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_STROKE:
        raise InputError(f"a stroke is a list of 1 to {MAX_STROKE} [x, y] points")
    path = []
    for p in points:
        if not isinstance(p, list) or len(p) != 2:
            raise InputError("a stroke's point is [x, y] in photo pixels")
        path.append((_number(p[0], "a stroke's point"), _number(p[1], "a stroke's point")))
    radius = _number(body.get("radius"), "the brush radius")
    if not 0.5 <= radius <= MAX_RADIUS:
        raise InputError(f"the brush radius must be 0.5 to {MAX_RADIUS:g} photo pixels")
    soft = body.get("soft", False)
    if not isinstance(soft, bool):
        raise InputError("soft is true or false")
    return Stroke(target, str(mode), tuple(path), radius, soft)


def rasterize(stroke: Stroke, size: tuple[int, int]) -> tuple[int, int, Tensor] | None:
    """The stroke's coverage in [0, 1] over the pixels it touches: ``(y0, x0, patch (h, w))``,
    or ``None`` when it lies outside the photo. Pixel centres within the radius of the path
    are covered (1); a soft brush fades from 1 at half the radius to 0 at the radius. Values
    are multiples of 1/255, as a mask file holds them."""
    h, w = size
    r = stroke.radius
    xs = [x for x, _ in stroke.points]
    ys = [y for _, y in stroke.points]
    x0, x1 = max(math.floor(min(xs) - r), 0), min(math.ceil(max(xs) + r) + 1, w)
    y0, y1 = max(math.floor(min(ys) - r), 0), min(math.ceil(max(ys) + r) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    gy, gx = torch.meshgrid(
        torch.arange(y0, y1, dtype=torch.float32) + 0.5,
        torch.arange(x0, x1, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    dist = torch.full(gx.shape, float("inf"))
    pts = list(stroke.points)
    segments = list(itertools.pairwise(pts)) or [(pts[0], pts[0])]
    for (ax, ay), (bx, by) in segments:
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = ((gx - ax) * dx + (gy - ay) * dy) / length if length > 0 else torch.zeros_like(gx)
        t = t.clamp(0.0, 1.0)
        dist = torch.minimum(dist, torch.hypot(gx - (ax + t * dx), gy - (ay + t * dy)))
    cover = ((r - dist) / (0.5 * r)).clamp(0.0, 1.0) if stroke.soft else (dist <= r).float()
    return y0, x0, (cover * 255.0).round() / 255.0
