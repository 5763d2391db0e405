"""Temporal consistency for video (Ruder, Dosovitskiy & Brox 2016), an optional input of the
``gatys`` engine: the previous frame's result warped to this frame by the optical flow.

Two things use it, each optional:

* **warped initialisation**: the optimisation starts from the warped previous result inside
  the targets (the photo elsewhere) instead of the photo, so it begins where the last frame
  ended and needs fewer iterations;
* **temporal loss**: ``temporal_weight · Σ_x c(x) |x(x) − w(x)|² / (3 Σ_x c(x))``, the mean
  squared colour difference (RGB in [0, 1]) to the warped previous result ``w`` over the
  pixels where it is trusted (``c``: the forward–backward flow check, inside the targets).
  Ruder et al.'s short-term loss, divided by the trusted area instead of the pixel count, so
  that its weight means the same for a small target as for the whole frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..boxes import Box
from ..types import Tensor
from .canvas import crop, resize_image


@dataclass(frozen=True)
class TemporalInput:
    """The previous frame's result for one frame's optimisation, at the working size.

    :param previous: ``(3, H, W)`` in [0, 1]: the previous output warped to this frame.
    :param weight: ``(H, W)`` in [0, 1]: where the temporal loss counts (trusted flow inside
        the targets); zero everywhere turns the loss off.
    :param loss_weight: the temporal term's weight (0: no temporal loss).
    :param init: start from ``previous`` inside the targets (warped initialisation).
    """

    previous: Tensor = field(repr=False)
    weight: Tensor = field(repr=False)
    loss_weight: float = 0.0
    init: bool = True

    def __post_init__(self) -> None:
        if self.previous.ndim != 3 or self.previous.shape[0] != 3:
            raise ValueError(f"previous must be (3, H, W), got {tuple(self.previous.shape)}")
        if tuple(self.weight.shape) != tuple(self.previous.shape[-2:]):
            raise ValueError(
                f"weight must be {tuple(self.previous.shape[-2:])}, got {tuple(self.weight.shape)}"
            )
        if not self.loss_weight >= 0:
            raise ValueError(f"loss_weight must be zero or positive, got {self.loss_weight}")


class TemporalLoss(nn.Module):
    """``Σ c |x − w|² / (3 Σ c)`` for images ``(1, 3, h, w)`` (see the module docstring).

    :param previous: ``w``, ``(3, h, w)``. :param weight: ``c``, ``(h, w)`` in [0, 1].
    """

    previous: Tensor
    weight: Tensor

    def __init__(self, previous: Tensor, weight: Tensor) -> None:
        super().__init__()
        self.register_buffer("previous", previous[None].float())
        self.register_buffer("weight", weight[None, None].float())
        self.total = float(weight.sum()) * 3.0

    def forward(self, image: Tensor) -> Tensor:
        if self.total <= 0:
            return image.new_zeros((), dtype=torch.float32)
        diff = (image.float() - self.previous).square() * self.weight
        return diff.sum() / self.total


@dataclass(frozen=True)
class RegionTemporal:
    """A :class:`TemporalInput` cut to one optimisation region at its sampled size (with the
    region's pads beyond the frame: mirrored like the photo, with no weight)."""

    previous: Tensor  # (3, h, w)
    weight: Tensor  # (h, w)
    inside: Tensor  # (h, w): the targets, where the warped start applies
    loss_weight: float
    init: bool

    def at(self, size: tuple[int, int]) -> RegionTemporal:
        """The same at another scale's size."""
        if tuple(size) == tuple(self.weight.shape):
            return self
        return RegionTemporal(
            resize_image(self.previous, size),
            resize_image(self.weight[None], size)[0],
            resize_image(self.inside[None], size)[0],
            self.loss_weight,
            self.init,
        )

    def start(self, content: Tensor) -> Tensor:
        """The warped start: the previous result inside the targets, ``content`` elsewhere."""
        inside = self.inside.clamp(0.0, 1.0)
        return content * (1.0 - inside) + self.previous * inside

    def loss(self) -> TemporalLoss:
        return TemporalLoss(self.previous, self.weight)


def region_temporal(
    temporal: TemporalInput,
    inside: Tensor,
    box: Box,
    size: tuple[int, int],
    pads: tuple[int, int, int, int],
    device: torch.device,
) -> RegionTemporal:
    """``temporal`` for the region ``box`` sampled at ``size`` ``(h, w)``, with ``pads``
    ``(left, right, top, bottom)`` beyond the frame, on ``device``.

    :param inside: ``(H, W)``: the union of the targets' masks at the working size.
    """
    previous = resize_image(crop(temporal.previous, box), size)
    weight = resize_image(crop(temporal.weight, box)[None], size)
    inner = resize_image(crop(inside, box)[None], size)
    if any(pads):
        previous = F.pad(previous[None], pads, mode="reflect")[0]
        weight = F.pad(weight[None], pads)[0]
        inner = F.pad(inner[None], pads, mode="reflect")[0]
    return RegionTemporal(
        previous.to(device),
        weight[0].clamp(0.0, 1.0).to(device),
        inner[0].to(device),
        temporal.loss_weight,
        temporal.init,
    )


LossFn = Callable[[Tensor], dict[str, Tensor]]


def with_temporal(loss_fn: LossFn, loss: TemporalLoss, weight: float) -> LossFn:
    """``loss_fn`` with the term ``temporal`` (``weight`` times ``loss``) added to ``total``."""

    def total(image: Tensor) -> dict[str, Tensor]:
        terms = loss_fn(image)
        rgb = image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image
        terms["temporal"] = weight * loss(rgb)
        terms["total"] = terms["total"] + terms["temporal"]
        return terms

    return total
