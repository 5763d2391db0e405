"""``checker`` compositor: alternating squares of photo and stylised image inside each target."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tst_core import hookimpl


@dataclass(frozen=True)
class CheckerOptions:
    """:param cell: side of a square in pixels."""

    cell: int = 16

    def __post_init__(self) -> None:
        if self.cell < 1:
            raise ValueError("cell must be at least 1 pixel")


class CheckerCompositor:
    def __init__(self, options: CheckerOptions, env: object) -> None:
        self.cell = options.cell

    def composite(self, photo: torch.Tensor, stylized: torch.Tensor, targets) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """photo ``(3, H, W)``, stylized ``(K, 3, H, W)`` → ``(3, H, W)``."""
        h, w = photo.shape[-2:]
        ys = torch.arange(h).view(-1, 1) // self.cell
        xs = torch.arange(w).view(1, -1) // self.cell
        board = ((ys + xs) % 2 == 0).float()
        out = photo.clone()
        for k, target in enumerate(targets):
            alpha = (target.mask > 0.5).float() * board
            out = out * (1 - alpha) + stylized[k] * alpha
        return out


@hookimpl
def tst_register_compositors(register):  # type: ignore[no-untyped-def]
    register(
        "checker",
        CheckerCompositor,
        options=CheckerOptions,
        description="debug: checkerboard of photo and stylised image inside each target",
    )


@hookimpl
def tst_register_flags(register):  # type: ignore[no-untyped-def]
    # `tst run ... --blend checker --checker-cell 4` is `--set blend.checker.cell=4`
    register(
        "--checker-cell",
        kind="blend",
        name="checker",
        option="cell",
        help="side of a checker square in pixels",
        metavar="PX",
    )
