"""Options of the ``grabcut`` segmenter (config table ``[segmenter.grabcut]``), apart from its
module: reading them imports no torch, numpy or OpenCV (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrabCutOptions:
    """:param boxes: one box ``x0, y0, x1, y1`` in photo pixels per instance (``--box``).
    :param points: ``x, y`` or ``x, y, fg`` in photo pixels (``--point``): ``fg`` 1 (default)
        marks the object, 0 the background, inside every box that contains the point.
    :param labels: a label per box, in order; boxes without one are labelled ``region``.
    :param iterations: GrabCut iterations (colour-model and graph-cut rounds).
    :param margin: background context around each box, as a fraction of its size, that GrabCut
        sees to learn the background colours (the rest of the photo is not used).
    :param point_radius: radius in pixels of the disc each point marks.
    :param prompt_side: a prompt (the page's box and clicks, ``--refine``) is cut on its box
        and margin shrunk to at most this many pixels on the long side, and the cut is brought
        back to the photo's size along the photo's own edges (guided filtering); 0: at the
        photo's size.
    """

    boxes: tuple[tuple[float, ...], ...] = ()
    points: tuple[tuple[float, ...], ...] = ()
    labels: tuple[str, ...] = ()
    iterations: int = 5
    margin: float = 0.5
    point_radius: int = 5
    prompt_side: int = 800

    def __post_init__(self) -> None:
        for box in self.boxes:
            if len(box) != 4:
                raise ValueError(f"boxes: a box needs 4 numbers X0,Y0,X1,Y1, got {list(box)}")
            if not (box[2] > box[0] and box[3] > box[1]):
                raise ValueError(f"boxes: {list(box)} must have X1 > X0 and Y1 > Y0")
        for point in self.points:
            if len(point) not in (2, 3) or (len(point) == 3 and point[2] not in (0, 1)):
                raise ValueError(
                    f"points: a point is X,Y or X,Y,FG with FG 0 or 1, got {list(point)}"
                )
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if self.margin < 0:
            raise ValueError(f"margin must be 0 or more, got {self.margin}")
        if self.point_radius < 0:
            raise ValueError(f"point_radius must be 0 or more, got {self.point_radius}")
        if self.prompt_side != 0 and not 64 <= self.prompt_side <= 8192:
            raise ValueError(f"prompt_side must be 0 or 64..8192 pixels, got {self.prompt_side}")
