"""``torchvision`` segmenter (the default): Mask R-CNN ResNet-50-FPN with torchvision's COCO
weights, ``v1`` or ``v2``.

The checkpoint is ``--weights FILE`` or the file torchvision's weights API keeps in the
``$TORCH_HOME`` cache, fetched there (hash-checked) on first use; ``tst weights fetch
maskrcnn-v2-coco`` fetches it ahead of time, and ``TST_OFFLINE=1`` forbids fetching.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, RegisterWeights, lazy_names

from .records import records

__all__ = ["TorchvisionOptions", "TorchvisionSegmenter"]
__getattr__ = lazy_names(
    __name__, {"TorchvisionOptions": "options", "TorchvisionSegmenter": "segmenter"}
)


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "torchvision",
        "tst_torchvision.segmenter:TorchvisionSegmenter",
        options="tst_torchvision.options:TorchvisionOptions",
        description="Mask R-CNN ResNet-50-FPN v1/v2, COCO weights (fetched on first use)",
    )


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    for record in records():
        register(record)
