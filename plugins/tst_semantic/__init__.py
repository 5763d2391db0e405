"""``semantic`` segmenter: torchvision's semantic segmentation models (DeepLabV3 ResNet-50/101,
FCN ResNet-50, LR-ASPP MobileNetV3) with their COCO weights for the 20 PASCAL VOC classes, one
instance per class present with a soft mask (the class probability), and an optional fully
connected CRF refinement (``--set segmenter.semantic.crf=true``), as the CRF-RNN segmenter of
Wells et al.'s localized style transfer.

The checkpoint is ``--weights FILE`` or torchvision's file in the ``$TORCH_HOME`` cache, fetched
there (hash-checked) on first use; ``tst weights fetch deeplabv3-resnet50-voc`` fetches it ahead.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, RegisterWeights, lazy_names

from .records import records

__all__ = ["SemanticOptions", "SemanticSegmenter"]
__getattr__ = lazy_names(__name__, {"SemanticOptions": "options", "SemanticSegmenter": "segmenter"})


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "semantic",
        "tst_semantic.segmenter:SemanticSegmenter",
        options="tst_semantic.options:SemanticOptions",
        description="DeepLabV3/FCN/LR-ASPP, 20 VOC classes: one soft-mask instance per class; optional CRF",
    )


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    for record in records():
        register(record)
