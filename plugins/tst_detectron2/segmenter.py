"""The ``detectron2`` segmenter: any Detectron2 instance-segmentation model."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from tst_core.boxes import Box
from tst_core.device import resolve_device
from tst_core.files import to_uint8_hwc
from tst_core.types import Env, Instance, Segmentation, Tensor, check_image, mask_grid

from .model import Model, build
from .options import Detectron2Options


class Detectron2Segmenter:
    """Runs a Detectron2 model on the photo and returns every instance it finds.

    :param model: an already built :class:`~tst_detectron2.model.Model` (tests);
        ``None`` builds ``options.config`` and loads its checkpoint.
    """

    def __init__(
        self, options: Detectron2Options, env: Env | None = None, *, model: Model | None = None
    ) -> None:
        env = env or Env()
        self.options = options
        self.model = model or build(options, resolve_device(env.device), env.seed or 0)

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: float32 ``(3, H, W)`` RGB in [0, 1]. :returns: instances, boxes in photo
        pixels, masks at the size of the network's input (at most ``(H, W)``)."""
        from detectron2.data import transforms as T

        check_image(photo, "photo")
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        image = model_input(photo, self.model.input_format)
        resized, _ = T.apply_augmentations(list(self.model.augmentations), image)
        # masks are pasted at the size the network saw (at most the photo's), not blown up
        grid = mask_grid(size, max(resized.shape[:2]))
        batch = {
            "image": torch.as_tensor(resized.astype(np.float32).transpose(2, 0, 1).copy()),
            "height": grid[0],
            "width": grid[1],
        }
        with torch.no_grad(), quiet():
            found = self.model.net([batch])[0]["instances"].to("cpu")
        sx, sy = size[1] / grid[1], size[0] / grid[0]
        instances = to_instances(
            found.pred_masks,
            found.pred_classes,
            found.scores,
            found.pred_boxes.tensor * torch.tensor([sx, sy, sx, sy]),
            self.model.class_names,
            size,
        )
        return Segmentation(tuple(instances), size)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence two messages detectron2's forward pass triggers in recent torch releases, which
    users can do nothing about: the torch.meshgrid ``indexing`` warning and torch.fx's
    ``is_fx_tracing`` log line."""
    fx_log = logging.getLogger("torch.fx._symbolic_trace")
    level = fx_log.level
    fx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
            yield
    finally:
        fx_log.setLevel(level)


def model_input(photo: Tensor, input_format: str) -> np.ndarray:
    """``(3, H, W)`` RGB float in [0, 1] → ``(H, W, 3)`` uint8 in the model's channel order."""
    hwc = to_uint8_hwc(photo)
    return np.ascontiguousarray(hwc[..., ::-1] if input_format == "BGR" else hwc)


def label_of(index: int, names: Sequence[str]) -> str:
    """Class ``index`` → a lower-case label (``traffic_light`` → ``traffic light``)."""
    if 0 <= index < len(names):
        return names[index].replace("_", " ").strip().lower()
    return f"class {index}"


def to_instances(
    masks: Tensor,
    classes: Tensor,
    scores: Tensor,
    boxes: Tensor,
    names: Sequence[str],
    size: tuple[int, int],
) -> list[Instance]:
    """Detectron2 predictions → instances.

    :param masks: ``(N, h, w)`` bool or float in [0, 1] covering the photo (``pred_masks``).
    :param classes: ``(N,)`` int class indices (``pred_classes``).
    :param scores: ``(N,)`` float in [0, 1].
    :param boxes: ``(N, 4)`` ``(x0, y0, x1, y1)`` in photo pixels (``pred_boxes.tensor``).
    :param names: class names by index (the dataset's ``thing_classes``).
    """
    out = []
    for mask, cls, score, box in zip(masks, classes, scores, boxes, strict=True):
        clipped = Box(*(float(v) for v in box)).clipped(size)
        m = mask.to(torch.float32).clamp(0, 1).contiguous()
        out.append(Instance(label_of(int(cls), names), float(score), clipped, m))
    return out
