"""``yolo`` segmenter: Ultralytics YOLOv8/YOLO11 segmentation models exported to TFLite or ONNX.

Runs without PyTorch model code or weights downloads: give the exported file with
``--weights``. TFLite models run with ``ai-edge-litert``, ONNX models with ``onnxruntime``
(both in the ``[yolo]`` extra), on the CPU.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, RegisterWeights, lazy_names

from .records import RECORDS

__all__ = ["YoloOptions", "YoloSegmenter"]
__getattr__ = lazy_names(__name__, {"YoloOptions": "options", "YoloSegmenter": "segmenter"})


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "yolo",
        "tst_yolo.segmenter:YoloSegmenter",
        options="tst_yolo.options:YoloOptions",
        description="YOLOv8/YOLO11-seg exported to TFLite or ONNX (--weights MODEL; without it "
        "the YOLOv8n-seg of the examples, fetched on first use), CPU",
    )


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    for record in RECORDS:
        register(record)
