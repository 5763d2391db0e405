"""The default segmenter's checkpoint: fetched, verified and cached by the first ``tst segment``,
read from the cache by the second without any request."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from tst_core.records import records

SMALL = [
    *("--set", "segmenter.torchvision.min_size=64", "--set", "segmenter.torchvision.max_size=64"),
    *("--set", "segmenter.torchvision.max_detections=2"),  # the mask head costs 0.5 GFLOP each
]


@pytest.fixture(scope="module")
def random_maskrcnn_v2():
    """A randomly initialised Mask R-CNN v2's state dict as checkpoint bytes (float16 halves
    the 185 MB; loading copies it into the float32 model)."""
    from tst_torchvision.segmenter import TorchvisionOptions, build_model

    torch.manual_seed(0)
    state = build_model(TorchvisionOptions(model="v2"), pretrained=False).state_dict()
    buffer = io.BytesIO()
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, buffer)
    return buffer.getvalue()


def test_first_segment_fetches_verifies_and_caches_the_second_makes_no_request(
    cli, online, server, monkeypatch, tmp_path, random_maskrcnn_v2
):
    real = records()["maskrcnn-v2-coco"]
    served = server.record(real.file_name, random_maskrcnn_v2)
    # the real record's URL and hash prefix, pointed at the loopback copy with its digest
    monkeypatch.setitem(records(), real.name, replace(real, url=served.url, sha256=served.sha256))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)).save(
        tmp_path / "p.png"
    )
    for _ in range(2):
        code, out, err = cli("segment", tmp_path / "p.png", "--json", *SMALL)
        assert code == 0, err
        assert json.loads(out)["segmenter"] == "torchvision"
    assert server.count(real.file_name) == 1
    cached = online / real.file_name
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == served.sha256
    assert sorted(p.name for p in online.iterdir()) == [real.file_name, real.file_name + ".lock"]
