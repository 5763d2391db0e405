"""The ``sam`` segmenter: Segment Anything with prompts, automatically, or refining boxes."""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from tst_core.boxes import Box
from tst_core.device import resolve_device
from tst_core.errors import ConfigError, InputError, PluginError, missing_dependency
from tst_core.files import to_uint8_hwc
from tst_core.imageops import resize_long_side
from tst_core.types import (
    Env,
    Instance,
    Prompt,
    Segmentation,
    Segmenter,
    Tensor,
    check_image,
    mask_grid,
)

from .model import build_sam, import_sam
from .options import SamOptions
from .prompts import SamPrompt, build_prompts

#: the longest side SAM is shown (its encoder works at 1024); a larger photo is shrunk to it
WORK_SIDE = 1024

#: refine mode: boxes sent through SAM's mask decoder at once
BOX_BATCH = 16


class SamSegmenter:
    """Segment Anything in one of three modes (see :class:`SamOptions`).

    :param model: an already built ``segment_anything.modeling.Sam`` (tests use a small one);
        ``None`` builds ``options.model_type`` and loads its checkpoint.
    """

    def __init__(
        self, options: SamOptions, env: Env | None = None, *, model: torch.nn.Module | None = None
    ) -> None:
        env = env or Env()
        self.options = options
        self.sam = import_sam()
        if options.mode == "prompts" and not (options.points or options.boxes or env.interactive):
            raise ConfigError(
                "the sam segmenter in prompts mode needs --point X,Y or --box X0,Y0,X1,Y1; "
                "or set segmenter.sam.mode=automatic (every region) or mode=refine (sharpen "
                "another segmenter's boxes)"
            )
        if options.mode == "automatic" and options.min_region_area > 0:
            try:
                import cv2  # noqa: F401  (SAM's small-region clean-up uses it)
            except ImportError:
                raise missing_dependency("sam", "opencv-python-headless", "grabcut") from None
        self.source = _make_source(env, options.source) if options.mode == "refine" else None
        if model is None:
            model = build_sam(options.model_type, weights=options.weights, seed=env.seed or 0)
        self.model = model.to(resolve_device(env.device)).eval()
        #: the last photo's embedding (a page sends many prompts for one photo)
        self._last: tuple[tuple[int, ...], str, Any] | None = None

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: float32 ``(3, H, W)`` RGB in [0, 1]. :returns: instances, boxes in photo
        pixels, masks at most :data:`WORK_SIDE` on the long side (SAM sees 1024 pixels: a
        larger photo is shrunk to that first, so its masks are not blown up to full size)."""
        check_image(photo, "photo")
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        grid = mask_grid(size, WORK_SIDE)
        seen = photo if grid == size else resize_long_side(photo, max(grid))
        scale = (grid[1] / size[1], grid[0] / size[0])
        if self.options.mode == "refine":
            instances = self._refine(photo, seen, scale)
        elif self.options.mode == "automatic":
            instances = [_in_photo(i, scale) for i in self._automatic(to_uint8_hwc(seen))]
        else:
            instances = self._prompts(to_uint8_hwc(seen), size, scale)
        return Segmentation(tuple(instances), size)

    def _predictor(self, image: np.ndarray) -> Any:
        key = (image.shape, hashlib.sha256(image.tobytes()).hexdigest())
        if self._last is not None and self._last[:2] == key:
            return self._last[2]
        predictor = self.sam.SamPredictor(self.model)
        predictor.set_image(image, image_format="RGB")
        self._last = (*key, predictor)
        return predictor

    def segment_prompt(self, photo: Tensor, prompt: Prompt) -> Instance:
        """One region from a box, clicks and/or a mask (its box is the prompt when no box is
        given): SAM's best mask for them. The photo's embedding is kept for the next prompt.

        :param photo: ``(3, H, W)`` in [0, 1]. :returns: the instance, its mask at ``(H, W)``.
        """
        check_image(photo, "photo")
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        box = prompt.box
        if box is None and prompt.mask is not None and bool((prompt.mask > 0.5).any()):
            box = Box.around(prompt.mask)
        if box is None and not any(fg for _, _, fg in prompt.points):
            raise InputError("sam needs a box around the object, a mask or a click on it")
        points = np.array([[x, y] for x, y, _ in prompt.points], dtype=np.float64)
        labels = np.array([fg for _, _, fg in prompt.points], dtype=np.int64)
        one = SamPrompt(
            points if len(points) else None,
            labels if len(points) else None,
            None if box is None else np.array(list(box.clipped(size)), dtype=np.float64),
            prompt.label.strip().lower() or "region",
        )
        found = _predict_one(self._predictor(to_uint8_hwc(photo)), one)
        if not bool((found.mask > 0.5).any()):
            raise InputError("sam found nothing for this prompt; draw a box around the object")
        return found

    def _prompts(
        self, image: np.ndarray, size: tuple[int, int], scale: tuple[float, float]
    ) -> list[Instance]:
        o = self.options
        prompts = build_prompts(o.points, o.boxes, o.labels, size)
        predictor = self._predictor(image)
        return [_in_photo(_predict_one(predictor, _scaled(p, scale)), scale) for p in prompts]

    def _automatic(self, image: np.ndarray) -> list[Instance]:
        o = self.options
        generator = self.sam.SamAutomaticMaskGenerator(
            self.model,
            points_per_side=o.points_per_side,
            pred_iou_thresh=o.pred_iou_thresh,
            stability_score_thresh=o.stability_score_thresh,
            min_mask_region_area=o.min_region_area,
        )
        out = []
        for record in generator.generate(image):
            mask = torch.from_numpy(np.asarray(record["segmentation"], dtype=np.float32))
            out.append(Instance("region", _unit(record["predicted_iou"]), Box.around(mask), mask))
        return out

    def _refine(self, photo: Tensor, seen: Tensor, scale: tuple[float, float]) -> list[Instance]:
        assert self.source is not None
        found = self.source.segment(photo)
        if not len(found):
            return []
        predictor = self._predictor(to_uint8_hwc(seen))
        sx, sy = scale
        boxes = torch.tensor([inst.box for inst in found.instances], dtype=torch.float32)
        boxes = boxes * torch.tensor([sx, sy, sx, sy])
        size = (int(seen.shape[-2]), int(seen.shape[-1]))
        out: list[Instance] = []
        for start in range(0, len(boxes), BOX_BATCH):
            chunk = boxes[start : start + BOX_BATCH]
            masks = _predict_boxes(predictor, chunk, size)
            for inst, box, mask in zip(found.instances[start:], chunk, masks, strict=False):
                out.append(self._refined(inst, box, mask, len(out), scale))
        return out

    def _refined(
        self, inst: Instance, box: Tensor, mask: Tensor, i: int, scale: tuple[float, float]
    ) -> Instance:
        if self.options.clip_to_box:
            mask = mask * _box_mask(box, mask.shape)
        if not bool((mask > 0.5).any()):
            warnings.warn(
                f"sam found no mask inside box {i} ({inst.label}) of segmenter "
                f"'{self.options.source}'; kept that segmenter's mask",
                stacklevel=4,
            )
            return inst
        return _in_photo(Instance(inst.label, inst.score, Box.around(mask), mask), scale)


def _scaled(prompt: SamPrompt, scale: tuple[float, float]) -> SamPrompt:
    """``prompt`` from photo pixels to those of the photo scaled by ``scale`` ``(sx, sy)``."""
    sx, sy = scale
    points = None if prompt.points is None else prompt.points * np.array([sx, sy])
    box = None if prompt.box is None else prompt.box * np.array([sx, sy, sx, sy])
    return replace(prompt, points=points, box=box)


def _in_photo(inst: Instance, scale: tuple[float, float]) -> Instance:
    """``inst`` found on the photo scaled by ``scale``: its box back in photo pixels."""
    sx, sy = scale
    return replace(inst, box=inst.box.scaled(1 / sx, 1 / sy)) if scale != (1.0, 1.0) else inst


def _make_source(env: Env, name: str) -> Segmenter:
    if env.make is None:
        raise PluginError(
            "the sam segmenter in refine mode needs to build its source segmenter, but this "
            "environment cannot build plugins; run it through tst or tst_core.segment"
        )
    return env.make("segmenter", name)


def _unit(value: float) -> float:
    """A predicted IoU as a score in [0, 1] (SAM's can stray slightly outside)."""
    v = float(value)
    return 0.0 if math.isnan(v) else min(1.0, max(0.0, v))


def _predict_one(predictor: Any, prompt: SamPrompt) -> Instance:
    masks, ious, _ = predictor.predict(
        point_coords=prompt.points,
        point_labels=prompt.point_labels,
        box=prompt.box,
        multimask_output=prompt.ambiguous,
    )
    best = int(np.argmax(ious))
    mask = torch.from_numpy(masks[best].astype(np.float32))
    return Instance(prompt.label, _unit(ious[best]), Box.around(mask), mask)


def _predict_boxes(predictor: Any, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Masks float32 ``(B, H, W)`` in {0, 1} for ``boxes`` ``(B, 4)`` in photo pixels."""
    device = predictor.device
    scaled = predictor.transform.apply_boxes_torch(boxes, size).to(device)
    masks, _, _ = predictor.predict_torch(None, None, boxes=scaled, multimask_output=False)
    return masks[:, 0].float().cpu()


def _box_mask(box: Tensor, shape: torch.Size) -> Tensor:
    """float32 ``(H, W)``: 1 inside ``box`` (rounded outwards to whole pixels), 0 outside."""
    h, w = shape
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    out = torch.zeros(h, w)
    out[y0:y1, x0:x1] = 1.0
    return out
