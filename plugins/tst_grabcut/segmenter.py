"""GrabCut (Rother, Kolmogorov & Blake 2004) on a box per instance, with OpenCV."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tst_core.boxes import Box
from tst_core.errors import ConfigError, InputError, missing_dependency
from tst_core.files import to_uint8_hwc
from tst_core.imageops import resize_long_side
from tst_core.types import Env, Instance, Prompt, Segmentation, Tensor, mask_grid

from .options import GrabCutOptions

#: the longest side GrabCut works at; a larger photo is shrunk to it
WORK_SIDE = 1024


class GrabCutSegmenter:
    """One instance per box: the pixels GrabCut assigns to the foreground (mask 0 or 1)."""

    def __init__(self, options: GrabCutOptions, env: Env | None = None) -> None:
        try:
            import cv2
        except ImportError:
            raise missing_dependency("grabcut", "opencv-python-headless", "grabcut") from None
        if not options.boxes and not (env is not None and env.interactive):
            raise ConfigError(
                "the grabcut segmenter needs at least one box around an object: "
                "pass --box X0,Y0,X1,Y1 (photo pixels; repeat it for more objects)"
            )
        if len(options.labels) > len(options.boxes):  # checked here: --box comes after --set
            raise ConfigError(
                f"segmenter.grabcut has {len(options.labels)} labels for {len(options.boxes)} "
                "boxes; give one label per --box"
            )
        self.cv2: Any = cv2
        self.options = options
        self.seed = 0 if env is None or env.seed is None else env.seed

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: one instance per box, the box in
        photo pixels, the mask at most :data:`WORK_SIDE` pixels on the long side (a larger photo
        is cut shrunk to that: GrabCut's colour models need no more, and take minutes on 24 MP)."""
        h, w = int(photo.shape[-2]), int(photo.shape[-1])
        grid = mask_grid((h, w), WORK_SIDE)
        scale = (grid[1] / w, grid[0] / h)
        # GrabCut models colours with Gaussian mixtures, so channel order does not matter: RGB
        image = to_uint8_hwc(photo if grid == (h, w) else resize_long_side(photo, max(grid)))
        boxes = [clip_box(b, (h, w), i) for i, b in enumerate(self.options.boxes)]
        self._check_points(boxes)
        out = []
        for i, box in enumerate(boxes):
            mask = self._cut(image, box, scale)
            if not mask.any():
                raise InputError(
                    f"grabcut found nothing in box {i} ({_fmt(box)}); draw the box closer "
                    "around the object or mark it with --point X,Y,1"
                )
            label = self.options.labels[i] if i < len(self.options.labels) else "region"
            full = torch.from_numpy(mask.astype(np.float32))
            out.append(Instance(label.strip().lower(), 1.0, box, full))
        return Segmentation(tuple(out), (h, w))

    def segment_prompt(self, photo: Tensor, prompt: Prompt) -> Instance:
        """One region from a box, clicks and/or a mask to start from (see :mod:`.prompts`).

        :param photo: ``(3, H, W)`` in [0, 1]. :returns: the instance, its mask at ``(H, W)``.
        """
        from .prompts import cut_prompt

        return cut_prompt(self, photo, prompt)

    def _check_points(self, boxes: list[Box]) -> None:
        for p in self.options.points:
            if not any(b.contains(p[0], p[1]) for b in boxes):
                raise InputError(
                    f"point ({p[0]:g}, {p[1]:g}) lies in no --box; grabcut uses points only to "
                    "correct the cut inside a box"
                )

    def _cut(self, image: np.ndarray, box: Box, scale: tuple[float, float]) -> np.ndarray:
        """Boolean ``(h, w)`` foreground of GrabCut run on the box and its margin, on ``image``
        (the photo scaled by ``scale`` ``(sx, sy)``; the box and points are in photo pixels)."""
        cv2 = self.cv2
        h, w = image.shape[:2]
        sx, sy = scale
        x0, y0, x1, y1 = box.scaled(sx, sy).pixels()
        mx, my = round((x1 - x0) * self.options.margin), round((y1 - y0) * self.options.margin)
        cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
        labels[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = cv2.GC_PR_FGD
        if not (labels == cv2.GC_BGD).any():
            raise InputError(
                f"box ({_fmt(box)}) covers the whole photo; grabcut needs some background "
                "around the object to learn its colours"
            )
        for p in self.options.points:
            if box.contains(p[0], p[1]):
                value = cv2.GC_FGD if len(p) < 3 or p[2] == 1 else cv2.GC_BGD
                centre = (round(p[0] * sx) - cx0, round(p[1] * sy) - cy0)
                radius = max(1, round(self.options.point_radius * sx)) if sx < 1 else None
                radius = self.options.point_radius if radius is None else radius
                cv2.circle(labels, centre, radius, int(value), thickness=-1)
        cv2.setRNGSeed(self.seed)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(
                crop, labels, None, bgd, fgd, self.options.iterations, cv2.GC_INIT_WITH_MASK
            )
        except cv2.error as exc:
            raise InputError(
                f"grabcut cannot cut box ({_fmt(box)}): {str(exc).strip().splitlines()[-1]}"
            ) from None
        mask = np.zeros((h, w), bool)
        mask[cy0:cy1, cx0:cx1] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        return mask


def clip_box(box: tuple[float, ...], size: tuple[int, int], i: int = 0) -> Box:
    """A box clipped to the photo; a box outside it is an :class:`InputError`."""
    clipped = Box(*box).clipped(size)
    if clipped.width < 1 or clipped.height < 1:
        h, w = size
        raise InputError(
            f"box {i} ({_fmt(box)}) lies outside the {w}×{h} photo; boxes are X0,Y0,X1,Y1 in "
            "photo pixels"
        )
    return clipped


def _fmt(box: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in box)
