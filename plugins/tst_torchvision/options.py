"""Options of the ``torchvision`` segmenter (config table ``[segmenter.torchvision]``), apart from
its module: reading them imports no torch (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tst_core.device import check_device_name


@dataclass(frozen=True)
class TorchvisionOptions:
    """:param model: ``v1`` (``maskrcnn_resnet50_fpn``, COCO box AP 37.9) or ``v2``
        (``maskrcnn_resnet50_fpn_v2``, box AP 47.4, slower), each with torchvision's
        ``COCO_V1`` weights.
    :param weights: the checkpoint file (``--weights``); default: torchvision's file in the
        ``$TORCH_HOME`` cache (``~/.cache/torch/hub/checkpoints``), fetched there on first use
        (records ``maskrcnn-v1-coco`` and ``maskrcnn-v2-coco``).
    :param score_threshold: keep detections scoring above this.
    :param mask_threshold: mask pixels above this become 1, the others 0; ``none`` keeps the
        soft mask probabilities.
    :param max_detections: keep at most this many instances.
    :param min_size: the model resizes the photo so that its short side has this many pixels
        (torchvision's default 800; smaller is faster and finds fewer small objects)...
    :param max_size: ...unless its long side would exceed this.
    :param device: where the model runs; ``none``: the run's device (``--device``).
    """

    model: Literal["v1", "v2"] = "v2"
    weights: Path | None = None
    score_threshold: float = 0.5
    mask_threshold: float | None = 0.5
    max_detections: int = 100
    min_size: int = 800
    max_size: int = 1333
    device: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if self.mask_threshold is not None and not 0.0 <= self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1) or none, got {self.mask_threshold}")
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be at least 1, got {self.max_detections}")
        if not 32 <= self.min_size <= self.max_size:
            raise ValueError(
                "min_size and max_size must have 32 <= min_size <= max_size, "
                f"got {self.min_size} and {self.max_size}"
            )
        if self.device is not None:
            check_device_name(self.device)
