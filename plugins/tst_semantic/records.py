"""The semantic models' checkpoints: torchvision's COCO weights for the 20 PASCAL VOC classes."""

from __future__ import annotations

from tst_core.records import WeightsRecord, torchvision_record

#: model → (record name, torchvision weights ``module:Enum.MEMBER``, description)
WEIGHTS = {
    "deeplabv3_resnet50": (
        "deeplabv3-resnet50-voc",
        "segmentation:DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
        "DeepLabV3 ResNet-50, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "deeplabv3_resnet101": (
        "deeplabv3-resnet101-voc",
        "segmentation:DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1",
        "DeepLabV3 ResNet-101, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "fcn_resnet50": (
        "fcn-resnet50-voc",
        "segmentation:FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
        "FCN ResNet-50, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "lraspp_mobilenet_v3_large": (
        "lraspp-mobilenetv3-voc",
        "segmentation:LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1",
        "LR-ASPP MobileNetV3-Large, COCO with the 20 VOC classes (segmenter semantic)",
    ),
}


def records() -> list[WeightsRecord]:
    """The four models' records (imports torchvision)."""
    return [
        torchvision_record(name, weights, plugin="semantic", architecture=model, description=text)
        for model, (name, weights, text) in WEIGHTS.items()
    ]
