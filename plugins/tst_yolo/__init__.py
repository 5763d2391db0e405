"""``yolo`` segmenter: Ultralytics YOLOv8/YOLO11 segmentation models exported to TFLite or ONNX.

Runs without PyTorch model code or weights downloads: give the exported file with
``--weights``. TFLite models run with ``ai-edge-litert``, ONNX models with ``onnxruntime``
(both in the ``[yolo]`` extra), on the CPU.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register

from .segmenter import YoloOptions, YoloSegmenter

__all__ = ["YoloOptions", "YoloSegmenter"]


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "yolo",
        YoloSegmenter,
        options=YoloOptions,
        description="YOLOv8/YOLO11-seg exported to TFLite or ONNX (--weights MODEL), CPU",
    )
