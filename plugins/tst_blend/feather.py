"""``feather`` compositor: a soft alpha around each region's edge, so the seam fades.

Every label ``l`` (0 = photo, ``k + 1`` = target k) gets a weight ``w_l`` per pixel; the
result is ``sum_l w_l I_l`` with the weights normalised to sum to one.

* ``profile = "distance"``: ``w_l = smoothstep((s_l / radius + 1) / 2)``, where ``s_l`` is the
  signed distance to the edge of region ``l`` (positive inside, the edge half-way between two
  pixels). The weight is 1 from ``radius`` pixels inside the edge and 0 from ``radius`` outside.
* ``profile = "gaussian"``: ``w_l = G_σ * 1[R_l]`` with ``σ = radius / 3``, the kernel cut at
  ``radius`` (a separable square kernel, so it reaches ``radius · √2`` along diagonals).

``radius = 0`` gives the hard cut. Pixels farther than the reach from every edge keep their
source's value bit for bit, so an all-zero mask returns the photo exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage as ndi

from tst_core.regions import boundary, label_map, paint, sources, tiles_near
from tst_core.types import Env, Targets, Tensor

from .options import FeatherOptions


def smoothstep(t: np.ndarray) -> np.ndarray:
    """``3t² − 2t³`` for ``t`` clipped to [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def distance_weights(labels: np.ndarray, n_labels: int, radius: float) -> np.ndarray:
    """Unnormalised weights ``(n_labels, H, W)`` from the signed distance to each region's edge."""
    out = np.zeros((n_labels, *labels.shape), dtype=np.float32)
    present = [lab for lab in range(n_labels) if (labels == lab).any()]
    if len(present) == 1:
        out[present[0]] = 1.0
    elif len(present) == 2:  # two regions share one edge: the other's distance is negated
        signed = signed_distance(labels == present[0])
        out[present[0]] = smoothstep((signed / radius + 1.0) / 2.0)
        out[present[1]] = smoothstep((-signed / radius + 1.0) / 2.0)
    else:
        for lab in present:
            signed = signed_distance(labels == lab)
            out[lab] = smoothstep((signed / radius + 1.0) / 2.0)
    return out


def signed_distance(region: np.ndarray) -> np.ndarray:
    """The distance of each pixel centre to the edge of ``region`` ``(H, W)`` bool (neither
    empty nor full), positive inside; the edge runs half-way between two pixels."""
    inside = ndi.distance_transform_edt(region)
    outside = ndi.distance_transform_edt(~region)
    return np.where(region, inside - 0.5, 0.5 - outside)


def gaussian_weights(indicators: np.ndarray, radius: float) -> np.ndarray:
    """Each indicator ``(L, H, W)`` blurred with ``σ = radius / 3``, the kernel cut at ``radius``."""
    out = np.empty_like(indicators, dtype=np.float32)
    for lab in range(indicators.shape[0]):
        out[lab] = ndi.gaussian_filter(
            indicators[lab].astype(np.float32),
            sigma=radius / 3.0,
            radius=max(1, math.ceil(radius)),
            mode="nearest",
        )
    return out


def blend(images: Sequence[Tensor] | Tensor, weights: np.ndarray) -> Tensor:
    """``sum_l w_l I_l`` with the weights normalised per pixel.

    :param images: the L sources ``(3, h, w)`` (a sequence, or stacked ``(L, 3, h, w)``).
    :param weights: ``(L, h, w)``, positive sum.
    """
    w = torch.from_numpy(weights / weights.sum(axis=0, keepdims=True))
    out = w[0] * images[0]
    for lab in range(1, len(images)):
        out += w[lab] * images[lab]
    return out


class FeatherCompositor:
    #: the most one call holds per window pixel and per target pixel, its result included
    #: (:func:`tst_core.compose.compositor_bytes`): measured at most 34 bytes a window pixel
    #: (2000–3800 px windows, radius 94 px: the weights are made near the edges only)
    bytes_per_pixel = (48, 16)

    def __init__(self, options: FeatherOptions | None = None, env: Env | None = None) -> None:
        self.options = options or FeatherOptions()

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        opts = self.options
        if opts.soft_masks:
            return self._soft(photo, stylized, targets)
        labels = label_map(targets.masks())
        out = paint(photo, stylized, labels)
        edge = boundary(labels)
        if opts.radius == 0 or not edge.any():
            return out
        # only pixels within the reach of an edge change; the nearest pixel of another region
        # is an edge pixel, so weights computed in a tile's halo are exact in its core
        n_labels = stylized.shape[0] + 1
        for core, halo, inner in tiles_near(edge, math.ceil(opts.radius * math.sqrt(2)) + 2):
            sub = labels[halo]
            if opts.profile == "distance":
                weights = distance_weights(sub, n_labels, opts.radius)
            else:
                one_hot = sub[None] == np.arange(n_labels)[:, None, None]
                weights = gaussian_weights(one_hot, opts.radius)
            images = sources(photo[:, core[0], core[1]], stylized[:, :, core[0], core[1]])
            out[:, core[0], core[1]] = blend(images, weights[:, inner[0], inner[1]])
        return out

    def _soft(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        masks = torch.cat([targets.keep()[None], targets.masks()]).numpy()
        if self.options.radius > 0:
            masks = gaussian_weights(masks, self.options.radius)
        if not masks[1:].any():
            return photo.clone()
        return blend([photo, *stylized], masks)
