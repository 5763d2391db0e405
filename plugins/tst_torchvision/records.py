"""Mask R-CNN's COCO checkpoints, read from the installed torchvision's weights enums."""

from __future__ import annotations

from tst_core.records import WeightsRecord, torchvision_record


def records() -> list[WeightsRecord]:
    """The records of ``maskrcnn-v1-coco`` and ``maskrcnn-v2-coco`` (imports torchvision)."""
    return [
        torchvision_record(
            "maskrcnn-v1-coco",
            "detection:MaskRCNN_ResNet50_FPN_Weights.COCO_V1",
            plugin="torchvision",
            architecture="maskrcnn_resnet50_fpn",
            description="Mask R-CNN ResNet-50-FPN v1, COCO (segmenter torchvision, model=v1)",
        ),
        torchvision_record(
            "maskrcnn-v2-coco",
            "detection:MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
            plugin="torchvision",
            architecture="maskrcnn_resnet50_fpn_v2",
            description="Mask R-CNN ResNet-50-FPN v2, COCO (the default segmenter)",
        ),
    ]
