"""A contact sheet: blocks of titled images side by side, each with the same crops enlarged.

Plain data in, a picture out; this module knows nothing of what the images are. A
:class:`Block` is a titled row of :class:`Panel` s; below each panel's full image come its
crops (the same :class:`SquareCrop` s of every image, enlarged with nearest neighbour, one row
per crop), then the panel's caption. A crop's frame colour marks it on the full images.
``tst compare`` builds its sheet with this (see :meth:`tst_core.compare.CompareResult.sheet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image, ImageDraw

from .boxes import Box
from .files import tensor_to_pil
from .overlay import default_font
from .types import Tensor

TILE = 320  #: long side of a full-image tile, pixels
GAP = 8
CAPTION = 34
COLOURS = ((230, 57, 70), (42, 157, 143), (233, 196, 106), (69, 123, 157))


class SquareCrop(NamedTuple):
    """A square of ``size`` pixels whose top-left pixel is ``(x0, y0)``, in the images' pixels."""

    x0: int
    y0: int
    size: int

    @property
    def box(self) -> Box:
        return Box(self.x0, self.y0, self.x0 + self.size, self.y0 + self.size)


@dataclass(frozen=True)
class Panel:
    """One column of a block.

    :param title: drawn above the image.
    :param image: ``(3, H, W)`` in [0, 1]; every panel of a sheet has the same ``H, W``.
    :param caption: drawn below the panel's crops (``""`` for none).
    """

    title: str
    image: Tensor
    caption: str = ""


@dataclass(frozen=True)
class Block:
    """One row of panels under a title line."""

    title: str
    panels: Sequence[Panel]


def _tile(image: Tensor, scale: float) -> Image.Image:
    pil = tensor_to_pil(image)
    return pil.resize(
        (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))),
        Image.Resampling.LANCZOS,
    )


def _crop(image: Tensor, crop: SquareCrop, side: int) -> Image.Image:
    rows, cols = crop.box.slices()
    pil = tensor_to_pil(image[:, rows, cols])
    return pil.resize((side, side), Image.Resampling.NEAREST)


def _frames(tile: Image.Image, crops: Sequence[SquareCrop], scale: float) -> Image.Image:
    tile = tile.copy()
    draw = ImageDraw.Draw(tile)
    for j, crop in enumerate(crops):
        x0, y0, x1, y1 = crop.box.scaled(scale, scale)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=COLOURS[j % len(COLOURS)], width=2)
    return tile


def contact_sheet(blocks: Sequence[Block], crops: Sequence[SquareCrop] = ()) -> Image.Image:
    """Draw ``blocks`` one under the other, each panel with its enlarged ``crops``, as RGB.

    The full images are scaled to :data:`TILE` pixels on the long side; a crop is as wide as
    a tile.
    """
    h, w = blocks[0].panels[0].image.shape[-2:]
    scale = TILE / max(h, w)
    tw, th = round(w * scale), round(h * scale)
    crop_side = tw
    font, small = default_font(14), default_font(12)

    n_cols = max(len(block.panels) for block in blocks)
    width = GAP + n_cols * (tw + GAP)
    block_h = CAPTION + th + GAP + len(crops) * (crop_side + GAP) + CAPTION
    sheet = Image.new("RGB", (width, len(blocks) * block_h + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for b, block in enumerate(blocks):
        top = GAP + b * block_h
        draw.text((GAP, top), block.title, fill=(0, 0, 0), font=font)
        for c, panel in enumerate(block.panels):
            x = GAP + c * (tw + GAP)
            y = top + CAPTION
            draw.text((x, y - 16), panel.title, fill=(0, 0, 0), font=font)
            sheet.paste(_frames(_tile(panel.image, scale), crops, scale), (x, y))
            y += th + GAP
            for j, crop in enumerate(crops):
                sheet.paste(_crop(panel.image, crop, crop_side), (x, y))
                colour = COLOURS[j % len(COLOURS)]
                draw.rectangle(
                    [x, y, x + crop_side - 1, y + crop_side - 1], outline=colour, width=2
                )
                y += crop_side + GAP
            if panel.caption:
                draw.text((x, y), panel.caption, fill=(60, 60, 60), font=small)
    return sheet
