"""One vocabulary for image operations: resizing and colour spaces, each name one meaning.

Images are float ``(..., 3, H, W)`` RGB in [0, 1] unless said otherwise. Where two meanings
are both needed they have two names: :func:`chroma_iq` (YIQ's I and Q, what the engine's
colour smoothing and colour preservation use) and :func:`chroma_cbcr` (BT.601's Cb and Cr,
what :func:`tst_core.metrics.colour_speckle` measures); :func:`luminance` is the one Y both
share, :func:`to_grey` that Y as a grey RGB image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .types import Tensor

# -- resizing -----------------------------------------------------------------------------


def resize_image(image: Tensor, size: tuple[int, int]) -> Tensor:
    """``(C, h, w)`` → ``(C, *size)``, bilinear, antialiased when shrinking; values are not
    clamped (the engine resizes images it is optimising); the same size returns ``image``."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False, antialias=True
    )[0]


def long_side_size(hw: tuple[int, int], side: float) -> tuple[int, int]:
    """``(h, w)`` scaled so that its long side is ``side`` (each at least 1, rounded)."""
    h, w = hw
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_long_side(image: Tensor, side: float | None) -> Tensor:
    """``image`` ``(C, h, w)`` in [0, 1] resized so that its long side is ``side`` pixels
    (aspect kept, as :func:`resize_image`), clamped to [0, 1].

    ``None``, 0 or the current long side returns ``image`` itself.
    """
    h, w = image.shape[-2:]
    if not side or max(h, w) == side:
        return image
    return resize_image(image, long_side_size((h, w), side)).clamp_(0.0, 1.0)


# -- colour -------------------------------------------------------------------------------

#: RGB → YIQ (NTSC); its first row is BT.601's luma, the Y of :func:`luminance`
RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)
#: RGB → BT.601 (Cb, Cr)
_RGB_TO_CBCR = torch.tensor(
    [
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """``(3, H, W)`` RGB → ``(3, H, W)`` YIQ (Y in [0, 1], I and Q about ±0.6)."""
    return torch.einsum("ij,jhw->ihw", RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """``(3, H, W)`` YIQ → ``(3, H, W)`` RGB (not clamped)."""
    return torch.einsum("ij,jhw->ihw", YIQ_TO_RGB.to(image), image)


def luminance(image: Tensor) -> Tensor:
    """BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``: ``(..., 3, H, W)`` → ``(..., H, W)``
    in [0, 1]."""
    return torch.einsum("j,...jhw->...hw", RGB_TO_YIQ[0].to(image), image)


def to_grey(image: Tensor) -> Tensor:
    """The :func:`luminance` of ``(3, H, W)`` as a grey RGB image ``(3, H, W)``."""
    return luminance(image).expand(3, -1, -1).contiguous()


def chroma_iq(images: Tensor) -> Tensor:
    """YIQ's I and Q (colour) channels: ``(..., 3, H, W)`` → ``(..., 2, H, W)``, about ±0.6,
    0 for grey."""
    return torch.einsum("ij,...jhw->...ihw", RGB_TO_YIQ[1:].to(images), images)


def chroma_cbcr(image: Tensor) -> Tensor:
    """BT.601 chroma ``(Cb, Cr)``: ``(..., 3, H, W)`` → ``(..., 2, H, W)`` in [−½, ½], 0 for
    grey."""
    return torch.einsum("ij,...jhw->...ihw", _RGB_TO_CBCR.to(image), image)
