"""Hard regions of the targets, their boundaries and distances (used by compositors and metrics).

A **label map** is an integer array ``(H, W)``: ``0`` where the photo stays, ``k + 1`` inside
target ``k`` (its mask above the threshold). Because the targets' overlaps are resolved (masks
and keep sum to one), at most one mask exceeds 0.5 at a pixel; with a lower threshold the later
target wins, as in the selection grammar.

All distances are Euclidean, in pixels, between pixel centres.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage as ndi

from .types import Tensor

#: A pixel belongs to a target's hard region where its mask is above this.
THRESHOLD = 0.5


def label_map(masks: Tensor, threshold: float = THRESHOLD) -> np.ndarray:
    """Masks ``(K, H, W)`` in [0, 1] → labels ``(H, W)`` int32: 0 = photo, ``k + 1`` = target k."""
    masks_np = masks.detach().cpu().numpy()
    labels = np.zeros(masks_np.shape[1:], dtype=np.int32)
    for k in range(masks_np.shape[0]):
        labels[masks_np[k] > threshold] = k + 1
    return labels


def boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels ``(H, W)`` bool that have a 4-neighbour with another label (both sides of a seam)."""
    out = np.zeros(labels.shape, dtype=bool)
    dx = labels[:, 1:] != labels[:, :-1]
    dy = labels[1:, :] != labels[:-1, :]
    out[:, 1:] |= dx
    out[:, :-1] |= dx
    out[1:, :] |= dy
    out[:-1, :] |= dy
    return out


def distance_to(region: np.ndarray) -> np.ndarray:
    """Distance ``(H, W)`` float32 from every pixel to the nearest pixel of ``region`` (bool).

    0 inside the region; ``inf`` everywhere when the region is empty.
    """
    if not region.any():
        return np.full(region.shape, np.inf, dtype=np.float32)
    if region.all():
        return np.zeros(region.shape, dtype=np.float32)
    return ndi.distance_transform_edt(~region).astype(np.float32)


def near(region: np.ndarray, width: float) -> np.ndarray:
    """Pixels ``(H, W)`` bool within ``width`` pixels of ``region`` (the region included).

    Distances are measured tile by tile near the region's edge (:func:`tiles_near`), so the
    memory beyond the result does not grow with the frame.
    """
    if width <= 0 or not region.any() or region.all():
        return region.copy()
    out = region.copy()
    inner = region & boundary(region.astype(np.int8))  # the nearest region pixel is one of these
    reach = math.floor(width)
    for core, halo, inner_sl in tiles_near(inner, reach + 1):
        dist = ndi.distance_transform_edt(~inner[halo])[inner_sl]
        out[core] |= dist <= width
    return out


def seam_band(labels: np.ndarray, width: float) -> np.ndarray:
    """Pixels ``(H, W)`` bool within ``width`` pixels of a boundary between two labels.

    ``width`` 0 gives the boundary pixels themselves.
    """
    return near(boundary(labels), width)


#: Side in pixels of the tiles in which work near edges is done (see :func:`tiles_near`).
TILE = 64

Slices = tuple[slice, slice]


def tiles_near(
    edge: np.ndarray, reach: int, tile: int | None = None
) -> list[tuple[Slices, Slices, Slices]]:
    """Square tiles of the frame that lie within ``reach`` pixels of an ``edge`` pixel.

    Work done tile by tile near the edges scales with the edges' length, not the frame's area.
    Tiles are :data:`TILE` pixels, or ``2 · reach`` when that is larger, so a halo holds at
    most four times its core (at the photo's own size a feather's reach is ~100 pixels).
    For each tile: its ``core`` slices in the frame, a ``halo`` (the core grown by ``reach``,
    clipped to the frame) and the core's slices inside the halo. Any pixel within ``reach`` of
    an edge pixel lies in some core, and that edge pixel lies in the core's halo.

    :param edge: ``(H, W)`` bool.
    """
    h, w = edge.shape
    tile = tile or max(TILE, 2 * reach)
    th, tw = -(-h // tile), -(-w // tile)
    padded = np.zeros((th * tile, tw * tile), dtype=bool)
    padded[:h, :w] = edge
    active = padded.reshape(th, tile, tw, tile).any(axis=(1, 3))
    grow = -(-reach // tile)
    if grow and active.any():
        active = ndi.binary_dilation(active, np.ones((3, 3), bool), iterations=grow)
    out = []
    for i, j in zip(*np.nonzero(active), strict=True):
        y0, y1 = i * tile, min(h, (i + 1) * tile)
        x0, x1 = j * tile, min(w, (j + 1) * tile)
        hy0, hx0 = max(0, y0 - reach), max(0, x0 - reach)
        halo = (slice(hy0, min(h, y1 + reach)), slice(hx0, min(w, x1 + reach)))
        out.append(
            (
                (slice(y0, y1), slice(x0, x1)),
                halo,
                (slice(y0 - hy0, y1 - hy0), slice(x0 - hx0, x1 - hx0)),
            )
        )
    return out


def sources(photo: Tensor, stylized: Tensor) -> Tensor:
    """Photo and layers stacked as ``(K + 1, 3, H, W)``: index ``l`` is the image of label ``l``."""
    return torch.cat([photo[None], stylized], dim=0)


def paint(photo: Tensor, stylized: Tensor, labels: np.ndarray) -> Tensor:
    """The image ``(3, H, W)`` that shows, at each pixel, the source its label names.

    Label 0 pixels are the photo's own values, bit for bit.
    """
    out = photo.clone()
    flat, lab = out.view(3, -1), labels.ravel()
    for k in range(stylized.shape[0]):
        idx = torch.from_numpy(np.flatnonzero(lab == k + 1))
        if idx.numel():
            flat[:, idx] = stylized[k].reshape(3, -1)[:, idx]
    return out
