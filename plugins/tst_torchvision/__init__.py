"""``torchvision`` segmenter (the default): Mask R-CNN ResNet-50-FPN with torchvision's COCO
weights, ``v1`` or ``v2``.

The checkpoint is looked for where torchvision's weights API keeps it (the ``$TORCH_HOME``
cache) or at ``--weights FILE``; tst never downloads it. Fetch it once with
``python -c "import torchvision; torchvision.models.detection.maskrcnn_resnet50_fpn_v2(weights='COCO_V1')"``
on a machine with network access, or download the URL the error message names.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register

from .segmenter import TorchvisionOptions, TorchvisionSegmenter

__all__ = ["TorchvisionOptions", "TorchvisionSegmenter"]


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "torchvision",
        TorchvisionSegmenter,
        options=TorchvisionOptions,
        description="Mask R-CNN ResNet-50-FPN v1/v2, COCO weights from the $TORCH_HOME cache",
    )
