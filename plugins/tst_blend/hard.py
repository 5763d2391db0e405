"""``hard`` compositor: a binary cut at the mask threshold."""

from __future__ import annotations

from dataclasses import dataclass

from tst_core.regions import label_map, paint
from tst_core.types import Env, Targets, Tensor


@dataclass(frozen=True)
class HardOptions:
    """:param threshold: a pixel takes the stylised value where its mask is above this."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")


class HardCompositor:
    def __init__(self, options: HardOptions | None = None, env: Env | None = None) -> None:
        self.options = options or HardOptions()

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``; returns ``(3, H, W)``."""
        return paint(photo, stylized, label_map(targets.masks(), self.options.threshold))
