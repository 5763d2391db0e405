"""Mask R-CNN ResNet-50-FPN (He et al. 2017) from torchvision, with its COCO weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tst_core.device import resolve_device
from tst_core.errors import WeightsError
from tst_core.hub import resolve
from tst_core.imageops import resize_long_side
from tst_core.records import record
from tst_core.types import Env, Segmentation, Tensor, make_instances, mask_grid
from tst_core.weights import load_state_dict

from .options import TorchvisionOptions

#: model name → (torchvision builder, weights enum, weights record); the enum's ``COCO_V1``
MODELS = {
    "v1": ("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights", "maskrcnn-v1-coco"),
    "v2": ("maskrcnn_resnet50_fpn_v2", "MaskRCNN_ResNet50_FPN_V2_Weights", "maskrcnn-v2-coco"),
}


def coco_weights(model: str) -> Any:
    """The torchvision weights enum member (``COCO_V1``) of ``model`` (``v1`` or ``v2``)."""
    from torchvision.models import detection

    return getattr(detection, MODELS[model][1]).COCO_V1


def build_model(options: TorchvisionOptions, *, pretrained: bool = True) -> torch.nn.Module:
    """Mask R-CNN of ``options.model`` for the 91 COCO categories.

    :param pretrained: load the COCO checkpoint (``False``: random initialisation, the same
        architecture, for tests and timing only).
    """
    from torchvision.models import detection

    builder = getattr(detection, MODELS[options.model][0])
    model = builder(weights=None, weights_backbone=None, num_classes=91)
    if pretrained:
        path, state = load_state(options)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()]
            detail = (lines[0] if lines else str(exc))[:160]
            raise WeightsError(
                f"checkpoint '{path}' does not fit Mask R-CNN {options.model} ({detail}); "
                "is it the other version (--set segmenter.torchvision.model=v1 or v2)?"
            ) from None
    return model


def load_state(options: TorchvisionOptions) -> tuple[Path, dict[str, Tensor]]:
    """The checkpoint's path and state dict: ``options.weights``, or the cached (or fetched)
    COCO checkpoint."""
    rec = record(MODELS[options.model][2])
    path = resolve(
        rec,
        path=options.weights,
        alternatives="or use --segmenter yolo --weights MODEL.tflite, --segmenter grabcut "
        "--box X0,Y0,X1,Y1 or --segmenter maskfile --masks DIR, which need no download "
        "(see `tst plugins`)",
    )
    return path, load_state_dict(path, f"Mask R-CNN {options.model} COCO checkpoint")


class TorchvisionSegmenter:
    """Mask R-CNN instances: COCO labels, scores, boxes and masks pasted at the photo's size.

    :param model: a ready Mask R-CNN to use instead of building one (tests pass a randomly
        initialised one); it must predict the 91 torchvision COCO categories.
    """

    def __init__(
        self,
        options: TorchvisionOptions,
        env: Env | None = None,
        *,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.options = options
        self.device = resolve_device(options.device or (env.device if env else "auto"))
        net: Any = model if model is not None else build_model(options)
        net.roi_heads.score_thresh = options.score_threshold
        net.roi_heads.detections_per_img = options.max_detections
        net.transform.min_size = (options.min_size,)
        net.transform.max_size = options.max_size
        self.model = net.eval().to(self.device)
        names = coco_weights(options.model).meta["categories"]
        # indices 0 (background) and the 10 unused "N/A" ids never come out of a trained model
        self.categories = [n.lower() if n != "N/A" else f"class {i}" for i, n in enumerate(names)]

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: every instance, boxes in photo
        pixels, masks at most ``max_size`` on the long side (the network never sees more: a
        larger photo is shrunk to it first, so its masks are not pasted at full size)."""
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        grid = mask_grid(size, self.options.max_size)
        seen = resize_long_side(photo, max(grid)) if grid != size else photo
        with torch.inference_mode():
            out = self.model([seen.to(self.device)])[0]
        labels = [self.categories[int(i)] for i in out["labels"]]
        masks = out["masks"][:, 0].float().cpu()
        sx, sy = size[1] / grid[1], size[0] / grid[0]
        boxes = out["boxes"].cpu() * torch.tensor([sx, sy, sx, sy])
        instances = make_instances(
            labels, out["scores"].cpu(), boxes, masks, self.options.mask_threshold
        )
        return Segmentation(instances, size)
