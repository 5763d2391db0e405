"""The YOLO model of the examples is a known checkpoint (tst weights list/fetch)."""

from __future__ import annotations

import hashlib

import pytest

from tst_core.records import records


@pytest.mark.needs_shared
def test_the_shared_yolo_model_is_the_recorded_file(shared):
    record = records()["yolov8n-seg-int8"]
    path = shared("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")
    data = path.read_bytes()
    assert record.matches(hashlib.sha256(data).hexdigest()) and len(data) == record.size
    assert record.file_name == path.name and record.plugin == "yolo"
    assert "AGPL-3.0" in record.licence
