"""YOLO output decoding on synthetic arrays: letterbox, layouts, NMS per class, mask geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tst_yolo.backends import _dequantise, _parse_names, _quantise
from tst_yolo.decode import (
    PAD_VALUE,
    Letterbox,
    decode,
    instance_masks,
    nms_per_class,
    split_outputs,
)

from tst_core.errors import WeightsError


def test_letterbox_keeps_aspect_and_centres_on_grey():
    lb = Letterbox.fit((48, 64), (64, 64))
    assert lb.scale == 1.0 and lb.pad == (0, 8) and lb.resized == (48, 64)
    photo = torch.rand(3, 48, 64)
    x = lb.apply(photo)
    assert x.shape == (3, 64, 64)
    assert torch.allclose(x[:, 8:56], photo, atol=1e-6)
    assert torch.all(x[:, :8] == PAD_VALUE) and torch.all(x[:, 56:] == PAD_VALUE)
    tall = Letterbox.fit((200, 100), (64, 64))
    assert tall.scale == pytest.approx(0.32) and tall.resized == (64, 32) and tall.pad == (16, 0)


def test_boxes_map_back_to_photo_pixels_and_are_clipped():
    lb = Letterbox.fit((200, 100), (64, 64))  # scale 0.32, pad left 16
    boxes = torch.tensor([[16.0, 0.0, 48.0, 64.0], [0.0, -5.0, 32.0, 32.0]])
    out = lb.boxes_to_photo(boxes)
    assert torch.allclose(out[0], torch.tensor([0.0, 0.0, 100.0, 200.0]))
    assert torch.allclose(out[1], torch.tensor([0.0, 0.0, 50.0, 100.0]))


def preds_array(rows, num_classes=2, num_masks=1, anchors=16):
    """Predictions (4 + C + M, N) with the given anchors (cx, cy, w, h, class, score, coef)."""
    x = np.zeros((4 + num_classes + num_masks, anchors), np.float32)
    x[0, :] = np.linspace(0, 60, anchors)  # unused anchors spread over the input, score 0
    for i, (cx, cy, w, h, cls, score, coef) in enumerate(rows):
        x[:4, i] = (cx, cy, w, h)
        x[4 + cls, i] = score
        x[4 + num_classes :, i] = coef
    return x


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("nhwc", [False, True])
@pytest.mark.parametrize("swapped", [False, True])
def test_split_outputs_accepts_every_layout(transposed, nhwc, swapped):
    preds = preds_array([(32, 32, 10, 10, 0, 0.9, 1.0)])
    protos = np.random.rand(1, 16, 12).astype(np.float32)  # (M, ph, pw), non-square
    p_out = preds.T[None] if transposed else preds[None]
    q_out = protos.transpose(1, 2, 0)[None] if nhwc else protos[None]
    outputs = [q_out, p_out] if swapped else [p_out, q_out]
    x, p = split_outputs(outputs)
    assert torch.equal(x, torch.from_numpy(preds))
    assert torch.equal(p, torch.from_numpy(protos))


def test_split_outputs_refuses_a_detection_only_model():
    with pytest.raises(WeightsError, match="not a YOLO segmentation model"):
        split_outputs([np.zeros((1, 84, 8400), np.float32)])
    with pytest.raises(WeightsError, match="not a YOLO segmentation model"):
        split_outputs([np.zeros((1, 33, 8400), np.float32), np.zeros((1, 32, 160, 160))])


def run_decode(rows, normalized=False, photo_size=(64, 64), **kw):
    lb = Letterbox.fit(photo_size, (64, 64))
    preds = preds_array(rows)
    if normalized:
        preds[:4] /= 64.0
    options = {"score_threshold": 0.25, "iou_threshold": 0.5, "max_detections": 300, **kw}
    return decode(torch.from_numpy(preds), 1, lb, **options)


def test_decode_suppresses_overlaps_per_class_only():
    det = run_decode(
        [
            (20, 20, 20, 20, 0, 0.9, 1.0),  # kept
            (21, 21, 20, 20, 0, 0.8, 1.0),  # same class, overlaps the first: suppressed
            (21, 21, 20, 20, 1, 0.7, 1.0),  # other class at the same place: kept
            (50, 50, 10, 10, 0, 0.6, 1.0),  # same class elsewhere: kept
            (50, 50, 10, 10, 1, 0.2, 1.0),  # below the score threshold
        ]
    )
    assert det.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert det.classes.tolist() == [0, 1, 0]
    assert det.boxes[0].tolist() == pytest.approx([10.0, 10.0, 30.0, 30.0])
    assert det.coefficients.shape == (3, 1)


def test_decode_reads_normalised_boxes_like_pixel_boxes():
    rows = [(20, 20, 20, 20, 0, 0.9, 1.0), (50, 50, 10, 10, 1, 0.6, 1.0)]
    a, b = run_decode(rows), run_decode(rows, normalized=True)
    assert torch.allclose(a.boxes, b.boxes, atol=1e-4)


def test_decode_keeps_at_most_max_detections_best_first():
    rows = [(8 + 12 * i, 30, 8, 8, 0, 0.5 + 0.05 * i, 1.0) for i in range(5)]
    det = run_decode(rows, max_detections=2)
    assert det.scores.tolist() == pytest.approx([0.7, 0.65])


def test_nothing_above_threshold_gives_no_detections_and_no_masks():
    det = run_decode([(20, 20, 20, 20, 0, 0.1, 1.0)])
    assert len(det) == 0
    masks = instance_masks(torch.zeros(1, 16, 16), det, Letterbox.fit((30, 40), (64, 64)))
    assert masks.shape == (0, 30, 40)


def test_masks_follow_the_prototypes_through_the_letterbox():
    # photo 48×64 in a 64×64 input: 8 grey rows above and below. The prototype (16×16, a quarter
    # of the input) is positive on input rows 24..40 and columns 32..64, i.e. photo rows 16..32,
    # columns 32..64; the box covers the whole photo.
    lb = Letterbox.fit((48, 64), (64, 64))
    proto = torch.full((1, 16, 16), -20.0)
    proto[0, 6:10, 8:16] = 20.0
    det = run_decode([(32, 32, 64, 48, 0, 0.9, 1.0)], photo_size=(48, 64))
    mask = instance_masks(proto, det, lb)[0]
    assert mask.shape == (48, 64) and float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    expected = torch.zeros(48, 64, dtype=torch.bool)
    expected[16:32, 32:] = True
    inside = mask > 0.5
    iou = (inside & expected).sum() / (inside | expected).sum()
    assert iou > 0.85, float(iou)


def test_masks_are_cut_to_their_box():
    lb = Letterbox.fit((64, 64), (64, 64))
    proto = torch.full((1, 16, 16), 20.0)  # positive everywhere
    det = run_decode([(20, 30, 16, 20, 0, 0.9, 1.0)])
    mask = instance_masks(proto, det, lb)[0] > 0.5
    expected = torch.zeros(64, 64, dtype=torch.bool)
    expected[20:40, 12:28] = True
    assert torch.equal(mask, expected)


def test_integer_tensors_are_quantised_and_dequantised():
    detail = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    x = np.array([0.0, 0.6, 1.0, 2.0], np.float32)
    q = _quantise(x, detail)
    assert q.dtype == np.int8 and q.tolist() == [-128, 25, 127, 127]
    assert np.allclose(_dequantise(q, detail), [0.0, 0.6, 1.0, 1.0])
    floats = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert _quantise(x, floats) is not None and np.array_equal(_dequantise(x, floats), x)


def test_ultralytics_names_metadata_is_parsed():
    assert _parse_names("{0: 'person', 1: 'bicycle'}") == {0: "person", 1: "bicycle"}
    assert _parse_names({"0": "a", "1": "b"}) == {0: "a", 1: "b"}
    assert _parse_names('["a", "b"]') == {0: "a", 1: "b"}
    assert _parse_names("not names") is None and _parse_names(None) is None


def test_nms_per_class_matches_torchvision():
    from torchvision.ops import batched_nms

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 100 - 20  # some boxes start left of / above 0
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 40], dim=1)
    scores = torch.rand(300, generator=g)
    classes = torch.randint(0, 4, (300,), generator=g)
    for iou in (0.3, 0.5, 0.7):
        ours = nms_per_class(boxes, scores, classes, iou)
        assert torch.equal(ours, batched_nms(boxes, scores, classes, iou))
    assert nms_per_class(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.5).numel() == 0


def test_coco_names_are_torchvisions_categories_in_order():
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
    from tst_yolo.segmenter import COCO_NAMES

    categories = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    assert list(COCO_NAMES) == [c for c in categories if c not in ("__background__", "N/A")]
    assert len(COCO_NAMES) == 80 and COCO_NAMES[0] == "person" and COCO_NAMES[5] == "bus"
