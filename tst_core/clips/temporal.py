"""The temporal stage: what makes consecutive stylised frames agree where the scene does.

Per frame ``t`` it gets the photo's motion from frame ``t − 1`` (:class:`~.flow.Motion`),
the previous frame's stylised layers and (smoothed) masks, all at the working size:

* **mask smoothing** (:func:`smooth_masks`): ``m̃_t = (1 − β v n) m_t + β v n · warp(m̃_{t−1})``,
  an exponential average along the flow where it is trusted (``v``) near the mask's current
  edge (``n``), so that the compositor's edges follow the object without the segmenter's
  frame-to-frame jitter, and an object that vanishes takes its mask with it;
* **feed-forward engines** (``fast``, ``cin``, or any engine without a temporal input) —
  :func:`blend_layers`: each layer ``L_k`` becomes ``(1 − α c_k) L_k + α c_k · warp(L'_{k,t−1})``
  (``L'`` the previous frame's layer after its own blend) with ``c_k = v · warp(m̃_{k,t−1})``:
  the warped previous layer where the flow is trusted (``v``: the forward–backward check,
  eroded and blurred a little, :func:`trust`) and the pixel was inside the same target
  before. The layers, not the composite, carry the state, so the photo that a soft
  edge mixes in does not feed back into the style. ``α`` is ``temporal_blend``: 0 is
  per-frame stylisation; near 1 it holds the first frame's strokes and lets the network's
  new ones in slowly.
* **optimising engines** (``gatys``): :func:`gatys_input` builds the engine's
  :class:`~tst_core.engine.temporal.TemporalInput` (warped start and temporal loss).

``stabilize`` (:func:`stabilize_layers`), the alternative for feed-forward engines that the
benchmark measured against the blend: it keeps the network's fine texture of frame ``t`` and
takes only the low frequencies (a Gaussian of σ ``sigma`` px) of the warped previous output,
``L + G * (c (W − L)) / G * c``: it removes colour flicker, not texture flicker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..engine.temporal import TemporalInput
from ..types import Tensor
from .flow import Interpolation, Motion, import_cv2, warp

#: how stylised images are warped (see :func:`warp_image`)
WARP: Interpolation = "cubic"


def to_hwc(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` float tensor → ``(H, W, 3)`` float32 array (for OpenCV's remap)."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy(), dtype=np.float32)


def from_hwc(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


def warp_image(image: Tensor, motion: Motion) -> Tensor:
    """``(3, H, W)`` of frame ``t − 1`` → frame ``t`` along ``motion`` (bicubic: the state is
    warped again every frame, and bilinear resampling would blur the strokes a little more
    each time), in [0, 1]."""
    return from_hwc(warp(to_hwc(image), motion.backward, WARP)).clamp_(0.0, 1.0)


def warp_masks(masks: Tensor, motion: Motion) -> Tensor:
    """``(K, H, W)`` of frame ``t − 1`` → frame ``t`` along ``motion``, in [0, 1]."""
    if masks.shape[0] == 0:
        return masks
    stack = np.ascontiguousarray(masks.permute(1, 2, 0).numpy(), dtype=np.float32)
    moved = warp(stack, motion.backward)
    if moved.ndim == 2:  # OpenCV drops a single channel
        moved = moved[..., None]
    return torch.from_numpy(np.ascontiguousarray(moved)).permute(2, 0, 1).clamp(0.0, 1.0)


def valid(motion: Motion) -> Tensor:
    """The forward–backward check ``(H, W)`` as a tensor."""
    return torch.from_numpy(motion.valid)


def near(masks: Tensor, radius: int) -> Tensor:
    """``(K, H, W)``: 1 within ``radius`` pixels of each mask's hard region (mask > 0.5)."""
    hard = (masks > 0.5).numpy().astype(np.uint8)
    if radius <= 0:
        return torch.from_numpy(hard.astype(np.float32))
    cv2 = import_cv2()
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    grown = np.stack([cv2.dilate(m, kernel) for m in hard])
    return torch.from_numpy(grown.astype(np.float32))


def smooth_masks(
    masks: Tensor, previous: Tensor | None, motion: Motion | None, beta: float
) -> Tensor:
    """``(K, H, W)`` masks averaged with the previous smoothed masks along the flow (module
    docstring), only near each mask's current edge (within 1 % of the frame's long side plus
    2 px: an object that vanishes leaves no fading ghost); unchanged on the first frame, with
    ``beta`` 0, or when the number of targets differs."""
    if previous is None or motion is None or beta <= 0 or previous.shape != masks.shape:
        return masks
    carried = warp_masks(previous, motion)
    radius = 2 + round(0.01 * max(masks.shape[-2:]))
    w = beta * valid(motion) * near(masks, radius)
    return ((1.0 - w) * masks + w * carried).clamp(0.0, 1.0)


def trust(motion: Motion, erode: int = 1, sigma: float = 1.5) -> Tensor:
    """The forward–backward check made soft, ``(H, W)`` in [0, 1]: eroded by ``erode`` px
    and blurred (Gaussian σ ``sigma`` px). The hard check flips from pixel to pixel where the
    flow is unsure; a blend weighted by it stitches the warped previous output and the new
    one into visible patches on flat painted areas (seen on the bunny with ``udnie``)."""
    cv2 = import_cv2()
    v = motion.valid
    if erode > 0:
        v = cv2.erode(v, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    if sigma > 0:
        v = cv2.GaussianBlur(v, (0, 0), sigma)
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))


def confidence(previous_masks: Tensor, motion: Motion) -> Tensor:
    """``c_k`` ``(K, H, W)``: trusted flow (soft, :func:`trust`) where the pixel was inside
    target ``k`` before."""
    return trust(motion) * warp_masks(previous_masks, motion)


def warp_layers(layers: Tensor, motion: Motion) -> Tensor:
    """``(K, 3, H, W)`` of frame ``t − 1`` → frame ``t`` along ``motion`` (bilinear)."""
    return torch.stack([warp_image(layer, motion) for layer in layers])


def stylised_image(layers: Tensor, masks: Tensor) -> Tensor:
    """One stylised image ``(3, H, W)`` of ``(K, 3, H, W)`` layers: layer ``k`` inside target
    ``k`` (``(K, H, W)`` masks), the first layer elsewhere (an optimising engine's layers are
    K views of one image, which this returns)."""
    inside = masks.sum(0).clamp(0.0, 1.0)
    return (masks[:, None] * layers).sum(0) + (1.0 - inside) * layers[0]


def blend_layers(
    layers: Tensor, previous: Tensor, previous_masks: Tensor, motion: Motion, alpha: float
) -> Tensor:
    """``(K, 3, H, W)`` layers blended with the previous frame's layers ``(K, 3, H, W)``
    (after their own blend) warped to this frame (module docstring)."""
    warped = warp_layers(previous, motion)
    c = (alpha * confidence(previous_masks, motion))[:, None]
    return ((1.0 - c) * layers + c * warped).clamp(0.0, 1.0)


def stabilize_layers(
    layers: Tensor,
    previous: Tensor,
    previous_masks: Tensor,
    motion: Motion,
    alpha: float,
    sigma: float = 8.0,
) -> Tensor:
    """``(K, 3, H, W)`` layers whose low frequencies follow the warped previous layers
    ``(K, 3, H, W)`` (module docstring), by ``alpha`` in [0, 1]."""
    from ..metrics import gaussian_blur

    warped = warp_layers(previous, motion)
    c = confidence(previous_masks, motion)
    out = []
    for k in range(layers.shape[0]):
        ck = c[k][None]
        num = gaussian_blur(ck * (warped[k] - layers[k]), sigma)
        den = gaussian_blur(ck, sigma).clamp(min=1e-3)
        out.append(layers[k] + alpha * ck * num / den)
    return torch.stack(out).clamp(0.0, 1.0)


def gatys_input(
    previous: Tensor,
    previous_masks: Tensor,
    masks: Tensor,
    motion: Motion,
    loss_weight: float,
    init: bool = True,
) -> TemporalInput:
    """The ``gatys`` engine's temporal input for frame ``t``: the warped previous output, and
    the trusted flow inside both this frame's and the previous frame's targets as the loss's
    weight."""
    warped = warp_image(previous, motion)
    before = warp_masks(previous_masks, motion).sum(0).clamp(0.0, 1.0)
    now = masks.sum(0).clamp(0.0, 1.0)
    return TemporalInput(warped, valid(motion) * before * now, loss_weight, init)


def union(masks: Sequence[Tensor] | Tensor) -> Tensor:
    """The pixel-wise maximum of ``(K, H, W)`` masks, ``(H, W)``."""
    stack = masks if isinstance(masks, Tensor) else torch.stack(list(masks))
    return stack.amax(0) if stack.shape[0] else torch.zeros(stack.shape[-2:])
