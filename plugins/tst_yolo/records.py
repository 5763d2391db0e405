"""The YOLO segmentation model every example uses: Ultralytics' YOLOv8n-seg (COCO, 80 classes)
exported to an int8 TFLite file, as published in a public model zoo.

Export your own instead (then pass it with ``--weights``): ``pip install ultralytics``, then
``yolo export model=yolov8n-seg.pt format=onnx imgsz=640`` (or ``format=tflite int8=True``);
``yolov8n-seg.pt`` is fetched by Ultralytics from its own releases. The weights are
Ultralytics' and under AGPL-3.0 whatever the file's format.
"""

from __future__ import annotations

from tst_core.records import WeightsRecord

#: the zoo's commit, so the URL names exactly the file whose digest is recorded here
_ZOO = "https://github.com/weilly0912/ATU_Model_Zoo/raw/f21348e57e5b1a3525f63ddeace0e1ad675a4d4a"

RECORDS = (
    WeightsRecord(
        name="yolov8n-seg-int8",
        url=f"{_ZOO}/Segmentation/yolov8n_seg/yolov8n-seg_int8.tflite",
        plugin="yolo",
        architecture="yolov8n-seg",
        licence="AGPL-3.0 (Ultralytics YOLOv8)",
        sha256="831c989a2012e09783ec3a28438ca3e9523d5bed770fd4f76c107227b0a750f0",
        size=3_597_584,
        description="YOLOv8n-seg, COCO, int8 TFLite (segmenter yolo: --weights FILE)",
    ),
)
