"""Options of the ``sam`` segmenter (config table ``[segmenter.sam]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["prompts", "automatic", "refine"]
ModelType = Literal["vit_b", "vit_l", "vit_h"]


@dataclass(frozen=True)
class SamOptions:
    """How the ``sam`` segmenter finds instances.

    :param mode: ``prompts``: one instance per ``--box`` and per group of ``--point`` prompts;
        ``automatic``: SAM's automatic mask generator, every region labelled ``region``;
        ``refine``: the boxes of the ``source`` segmenter, each cut out again by SAM, keeping
        that segmenter's label and score.
    :param model_type: SAM image encoder: ``vit_b``, ``vit_l`` or ``vit_h`` (must match the
        checkpoint).
    :param weights: the SAM checkpoint (``--weights``); default: ``sam_<type>_*.pth`` in the
        ``$TORCH_HOME`` cache, fetched there on first use.
    :param points: point prompts ``(x, y)`` or ``(x, y, group)`` in photo pixels (``--point``):
        group 1 (the default) .. N marks a foreground point of object N, 0 a background point
        that every prompt of the photo gets (a box only those inside it).
    :param boxes: box prompts ``(x0, y0, x1, y1)`` in photo pixels (``--box``), one instance each.
    :param labels: labels of the prompt instances, boxes first, then point groups by number;
        instances without one are labelled ``region``.
    :param source: refine mode: the segmenter whose boxes SAM cuts out (its own options apply).
    :param clip_to_box: refine mode: drop mask pixels outside the source box.
    :param points_per_side: automatic mode: the point grid is this many points on each side.
    :param pred_iou_thresh: automatic mode: keep masks whose predicted IoU is at least this.
    :param stability_score_thresh: automatic mode: keep masks at least this stable.
    :param min_region_area: automatic mode: remove holes and islands smaller than this many
        pixels (needs OpenCV); 0 keeps the masks as they are.
    """

    mode: Mode = "prompts"
    model_type: ModelType = "vit_b"
    weights: Path | None = None
    points: tuple[tuple[float, ...], ...] = ()
    boxes: tuple[tuple[float, ...], ...] = ()
    labels: tuple[str, ...] = ()
    source: str = "torchvision"
    clip_to_box: bool = True
    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    min_region_area: int = 0

    def __post_init__(self) -> None:
        for p in self.points:
            if len(p) not in (2, 3) or (len(p) == 3 and (p[2] < 0 or p[2] != int(p[2]))):
                raise ValueError(
                    f"points: {fmt_numbers(p)} must be X,Y or X,Y,GROUP with GROUP 0 "
                    "(background) or 1, 2, ... (foreground of object 1, 2, ...)"
                )
        for b in self.boxes:
            if len(b) != 4 or not (b[0] < b[2] and b[1] < b[3]):
                raise ValueError(
                    f"boxes: {fmt_numbers(b)} must be X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1"
                )
        if self.mode != "prompts" and (self.points or self.boxes):
            raise ValueError(
                f"--point/--box prompts are for mode=prompts, not mode {self.mode}; "
                "remove them or set mode=prompts"
            )
        if self.source == "sam":
            raise ValueError("source cannot be 'sam' itself; use e.g. yolo")
        if self.points_per_side < 1:
            raise ValueError("points_per_side must be at least 1")
        for name in ("pred_iou_thresh", "stability_score_thresh"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.min_region_area < 0:
            raise ValueError("min_region_area must be 0 or more pixels")


def fmt_numbers(values: tuple[float, ...]) -> str:
    """``(1.0, 2.5)`` → ``"1,2.5"``, as the user typed them on the command line."""
    return ",".join(f"{v:g}" for v in values)
