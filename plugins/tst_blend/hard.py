"""``hard`` compositor: a binary cut at the mask threshold."""

from __future__ import annotations

from tst_core.regions import label_map, paint
from tst_core.types import Env, Targets, Tensor

from .options import HardOptions


class HardCompositor:
    #: the most one call holds per window pixel and per target pixel, its result included
    #: (:func:`tst_core.compose.compositor_bytes`): measured at most 34 bytes a window pixel
    bytes_per_pixel = (40, 0)

    def __init__(self, options: HardOptions | None = None, env: Env | None = None) -> None:
        self.options = options or HardOptions()

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        return paint(photo, stylized, label_map(targets.masks(), self.options.threshold))
