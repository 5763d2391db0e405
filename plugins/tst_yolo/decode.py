"""Letterboxing and decoding of Ultralytics YOLOv8/YOLO11 segmentation outputs.

A segmentation model exported by Ultralytics has two outputs:

* **predictions** ``(1, 4 + C + M, N)`` (or transposed ``(1, N, 4 + C + M)``): for each of the
  N anchors the box ``cx, cy, w, h``, C class scores (already through a sigmoid) and M mask
  coefficients. ONNX exports give the box in input pixels, TFLite exports in fractions of the
  input size; :func:`decode` tells them apart from the values.
* **prototypes** ``(1, M, ph, pw)`` (ONNX, NCHW) or ``(1, ph, pw, M)`` (TFLite, NHWC), usually at
  a quarter of the input size. An instance's mask is ``sigmoid(coefficients · prototypes)``,
  cropped to its box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tst_core.errors import WeightsError
from tst_core.types import Tensor

#: Ultralytics pads the letterbox with this grey (114 of 255).
PAD_VALUE = 114 / 255
#: at most this many best-scoring candidates enter non-maximum suppression
MAX_CANDIDATES = 3000


@dataclass(frozen=True)
class Letterbox:
    """Where the photo sits inside the model input.

    :param scale: input pixels per photo pixel.
    :param pad: ``(left, top)`` padding in input pixels.
    :param input_size: ``(h, w)`` of the model input.
    :param photo_size: ``(H, W)`` of the photo.
    """

    scale: float
    pad: tuple[int, int]
    input_size: tuple[int, int]
    photo_size: tuple[int, int]

    @classmethod
    def fit(cls, photo_size: tuple[int, int], input_size: tuple[int, int]) -> Letterbox:
        """Scale the photo to fit the input keeping its aspect ratio, centred."""
        (ph, pw), (ih, iw) = photo_size, input_size
        scale = min(ih / ph, iw / pw)
        h, w = max(1, round(ph * scale)), max(1, round(pw * scale))
        return cls(scale, ((iw - w) // 2, (ih - h) // 2), (ih, iw), (ph, pw))

    @property
    def resized(self) -> tuple[int, int]:
        """``(h, w)`` of the photo inside the input."""
        ph, pw = self.photo_size
        return max(1, round(ph * self.scale)), max(1, round(pw * self.scale))

    def apply(self, photo: Tensor) -> Tensor:
        """Photo ``(3, H, W)`` in [0, 1] → model input ``(3, ih, iw)`` in [0, 1], grey padding."""
        h, w = self.resized
        small = F.interpolate(
            photo[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True
        )[0].clamp_(0.0, 1.0)
        out = torch.full((3, *self.input_size), PAD_VALUE, dtype=torch.float32)
        left, top = self.pad
        out[:, top : top + h, left : left + w] = small
        return out

    def boxes_to_photo(self, boxes: Tensor) -> Tensor:
        """Boxes ``(n, 4)`` x0, y0, x1, y1 in input pixels → photo pixels, clipped to the photo."""
        left, top = self.pad
        out = (boxes - boxes.new_tensor([left, top, left, top])) / self.scale
        h, w = self.photo_size
        return torch.stack(
            [
                out[:, 0].clamp(0, w),
                out[:, 1].clamp(0, h),
                out[:, 2].clamp(0, w),
                out[:, 3].clamp(0, h),
            ],
            dim=1,
        )


@dataclass(frozen=True)
class Detections:
    """Detections after NMS, best first.

    :param boxes: ``(n, 4)`` x0, y0, x1, y1 in photo pixels.
    :param scores: ``(n,)`` in [0, 1].
    :param classes: ``(n,)`` class indices.
    :param coefficients: ``(n, M)`` mask coefficients.
    """

    boxes: Tensor
    scores: Tensor
    classes: Tensor
    coefficients: Tensor

    def __len__(self) -> int:
        return int(self.scores.numel())

    def __getitem__(self, index: slice) -> Detections:
        return Detections(
            self.boxes[index], self.scores[index], self.classes[index], self.coefficients[index]
        )


def split_outputs(outputs: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """The model's two outputs → predictions ``(4 + C + M, N)`` and prototypes ``(M, ph, pw)``.

    Accepts either order of the outputs, predictions as ``(1, F, N)`` or ``(1, N, F)`` and
    prototypes as NCHW or NHWC.
    """
    arrays = [np.asarray(o) for o in outputs]
    preds = [a for a in arrays if a.ndim == 3 and a.shape[0] == 1]
    protos = [a for a in arrays if a.ndim == 4 and a.shape[0] == 1]
    if len(arrays) != 2 or len(preds) != 1 or len(protos) != 1:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise WeightsError(
            f"this is not a YOLO segmentation model: expected two outputs, predictions "
            f"(1, 4+classes+32, anchors) and mask prototypes (1, 32, h, w), got {shapes}"
        )
    p = torch.from_numpy(np.ascontiguousarray(protos[0][0], dtype=np.float32))
    if p.shape[0] > p.shape[2]:  # NHWC: the spatial sides are larger than the channel count
        p = p.permute(2, 0, 1)
    x = torch.from_numpy(np.ascontiguousarray(preds[0][0], dtype=np.float32))
    if x.shape[0] > x.shape[1]:  # (N, F): more anchors than features
        x = x.T
    if x.shape[0] <= 4 + p.shape[0]:
        raise WeightsError(
            f"this is not a YOLO segmentation model: predictions have {x.shape[0]} rows, "
            f"fewer than 4 box values + classes + {p.shape[0]} mask coefficients"
        )
    return x.contiguous(), p.contiguous()


def decode(
    preds: Tensor,
    num_masks: int,
    letterbox: Letterbox,
    *,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> Detections:
    """Boxes, best class and score per anchor, then non-maximum suppression per class.

    :param preds: ``(4 + C + M, N)`` as from :func:`split_outputs`.
    :param num_masks: M, the number of prototypes.
    """
    num_classes = preds.shape[0] - 4 - num_masks
    xywh = preds[:4].T
    if xywh.numel() and float(xywh[:, :2].abs().max()) <= 2.0:
        # TFLite exports give boxes in fractions of the input size
        ih, iw = letterbox.input_size
        xywh = xywh * xywh.new_tensor([iw, ih, iw, ih])
    class_scores = preds[4 : 4 + num_classes].T.clamp(0.0, 1.0)
    scores, classes = class_scores.max(dim=1)
    keep = torch.nonzero(scores > score_threshold)[:, 0]
    keep = keep[scores[keep].argsort(descending=True)[:MAX_CANDIDATES]]
    xywh, scores, classes = xywh[keep], scores[keep], classes[keep]
    coefficients = preds[4 + num_classes :].T[keep]
    boxes = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], dim=1)
    order = nms_per_class(boxes, scores, classes, iou_threshold)[:max_detections]
    return Detections(
        letterbox.boxes_to_photo(boxes[order]), scores[order], classes[order], coefficients[order]
    )


def nms_per_class(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression within each class.

    :param boxes: ``(n, 4)`` x0, y0, x1, y1. :param scores: ``(n,)``. :param classes: ``(n,)``.
    :returns: indices of the kept boxes, highest score first.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    # shifting each class's boxes far apart keeps boxes of different classes from overlapping
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes + (classes.to(boxes) * span)[:, None]
    order = scores.argsort(descending=True, stable=True)
    overlaps = box_iou(shifted[order], shifted[order]) > iou_threshold
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    kept = []
    for i in range(len(order)):
        if not suppressed[i]:
            kept.append(i)
            suppressed |= overlaps[i]
    return order[kept]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union ``(n, m)`` of boxes ``(n, 4)`` and ``(m, 4)`` (x0, y0, x1, y1)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    low = torch.maximum(a[:, None, :2], b[None, :, :2])
    high = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (high - low).clamp(min=0).prod(dim=2)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def instance_masks(
    protos: Tensor, det: Detections, letterbox: Letterbox, size: tuple[int, int] | None = None
) -> Tensor:
    """Soft masks ``(n, h, w)`` in [0, 1] covering the photo at ``size`` (default: the
    photo's), zero outside each box.

    The prototype masks are sampled once, straight at that resolution: photo pixel ``x`` sits
    at input pixel ``left + x * scale``, which is how the letterbox placed it.
    """
    n = len(det)
    h, w = letterbox.photo_size if size is None else size
    ph_full, pw_full = letterbox.photo_size
    if n == 0:
        return torch.zeros((0, h, w))
    m, ph, pw = protos.shape
    logits = (det.coefficients @ protos.reshape(m, -1)).reshape(1, n, ph, pw)
    ih, iw = letterbox.input_size
    left, top = letterbox.pad
    width, height = pw_full * letterbox.scale, ph_full * letterbox.scale
    theta = torch.tensor(
        [
            [width / iw, 0.0, (2 * left + width) / iw - 1],
            [0.0, height / ih, (2 * top + height) / ih - 1],
        ]
    )
    grid = F.affine_grid(theta[None], [1, 1, h, w], align_corners=False)
    masks = F.grid_sample(logits, grid, mode="bilinear", align_corners=False)[0].sigmoid_()
    boxes = det.boxes * det.boxes.new_tensor([w / pw_full, h / ph_full, w / pw_full, h / ph_full])
    inside_y, inside_x = box_windows(boxes, (h, w))
    return masks.mul_(inside_y[:, :, None]).mul_(inside_x[:, None, :])


def box_windows(boxes: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Rows ``(n, H)`` and columns ``(n, W)`` (float 0/1) whose pixel centres lie inside each box
    ``x0, y0, x1, y1``; their outer product is the box as a mask."""
    h, w = size
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    inside_x = (xs[None] >= boxes[:, 0:1]) & (xs[None] < boxes[:, 2:3])
    inside_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] < boxes[:, 3:4])
    return inside_y.float(), inside_x.float()
