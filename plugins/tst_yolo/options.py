"""Options of the ``yolo`` segmenter (config table ``[segmenter.yolo]``), apart from its module:
reading them imports no torch or numpy (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class YoloOptions:
    """:param weights: the exported model, ``.tflite`` (run with ai-edge-litert) or ``.onnx``
        (run with onnxruntime) (``--weights``); ``none``: the examples' YOLOv8n-seg int8 TFLite
        (record ``yolov8n-seg-int8``, fetched on first use; AGPL-3.0, Ultralytics).
    :param score_threshold: keep detections whose best class score is above this.
    :param iou_threshold: non-maximum suppression (per class) drops a box overlapping a
        better one of its class by more than this intersection over union.
    :param mask_threshold: mask pixels above this become 1, the others 0; ``none`` keeps the
        soft mask probabilities.
    :param max_detections: keep at most this many instances.
    :param labels: class names, index 0 first; default: the names stored in the model file by
        Ultralytics, else the 80 COCO classes.
    :param threads: CPU threads for the runtime; ``none``: as many as torch uses (its default
        is the physical cores; a ``tst batch`` worker gets its share of them).
    """

    weights: Path | None = None
    score_threshold: float = 0.2
    iou_threshold: float = 0.7
    mask_threshold: float | None = 0.5
    max_detections: int = 300
    labels: tuple[str, ...] = ()
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("score_threshold", "iou_threshold"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.mask_threshold is not None and not 0.0 <= self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1) or none, got {self.mask_threshold}")
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be at least 1, got {self.max_detections}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
