"""The contact sheet of ``tst compare``: every result side by side, with enlarged seam crops.

One block per engine. Its first row shows the photo, the stylised layer(s) and each
compositor's result, captioned with its seam visibility and leakage; the rows below show the same
windows of each image enlarged (nearest neighbour), one row per window. A window is centred where
the hard cut's seam of a target is strongest; its frame colour marks it on the full images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from .io import tensor_to_pil
from .overlay import default_font
from .regions import boundary, label_map
from .types import Targets, Tensor

if TYPE_CHECKING:
    from .compare import CompareResult

TILE = 320  #: long side of a full-image tile, pixels
GAP = 8
CAPTION = 34
COLOURS = ((230, 57, 70), (42, 157, 143), (233, 196, 106), (69, 123, 157))
MAX_WINDOWS = 3

Window = tuple[int, int, int]  # (y0, x0, size) in working-image pixels


def seam_windows(photo: Tensor, stylized: Tensor, targets: Targets) -> list[Window]:
    """One square window per target (at most :data:`MAX_WINDOWS`) where its hard seam is strongest.

    :param photo: ``(3, H, W)``; :param stylized: ``(K, 3, H, W)``.
    """
    h, w = photo.shape[-2:]
    size = int(np.clip(min(h, w) // 5, 16, 128))
    size = min(size, h, w)
    labels = label_map(targets.masks())
    out = []
    for k in range(min(len(targets), MAX_WINDOWS)):
        edge = boundary(labels == k + 1)  # both sides, so a window straddles the edge
        if not edge.any():
            continue
        contrast = (stylized[k] - photo).norm(dim=0).numpy() * edge
        score = ndi.uniform_filter(contrast.astype(np.float64), size=size, mode="constant")
        score[~edge] = -1.0  # centre the window on the edge itself
        cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
        y0 = int(np.clip(cy - size // 2, 0, h - size))
        x0 = int(np.clip(cx - size // 2, 0, w - size))
        out.append((y0, x0, size))
    return out


def _tile(image: Tensor, scale: float) -> Image.Image:
    pil = tensor_to_pil(image)
    return pil.resize(
        (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))),
        Image.Resampling.LANCZOS,
    )


def _crop(image: Tensor, win: Window, side: int) -> Image.Image:
    y0, x0, s = win
    pil = tensor_to_pil(image[:, y0 : y0 + s, x0 : x0 + s])
    return pil.resize((side, side), Image.Resampling.NEAREST)


def _frames(tile: Image.Image, windows: list[Window], scale: float) -> Image.Image:
    tile = tile.copy()
    draw = ImageDraw.Draw(tile)
    for j, (y0, x0, s) in enumerate(windows):
        box = [x0 * scale, y0 * scale, (x0 + s) * scale - 1, (y0 + s) * scale - 1]
        draw.rectangle(box, outline=COLOURS[j % len(COLOURS)], width=2)
    return tile


def _layer_tiles(layers: Tensor, selectors: list[str]) -> list[tuple[str, Tensor]]:
    """The stylised images to show: one when all layers are the same image, else each."""
    if all(torch.equal(layers[0], layer) for layer in layers[1:]):
        return [("stylised", layers[0])]
    return [(f"stylised: {sel}", layer) for sel, layer in zip(selectors, layers, strict=True)]


def contact_sheet(res: CompareResult) -> Image.Image:
    """Draw the sheet of a :class:`~tst_core.compare.CompareResult` as an RGB image."""
    first = res.first
    h, w = first.photo.shape[-2:]
    scale = TILE / max(h, w)
    tw, th = round(w * scale), round(h * scale)
    crop_side = tw
    windows = seam_windows(first.photo, first.stylized.layers, first.targets)
    selectors = [t.selector for t in first.targets]
    font, small = default_font(14), default_font(12)

    blocks = []
    for engine, run in res.runs.items():
        columns: list[tuple[str, str, Tensor]] = [("photo", "", run.photo)]
        columns += [(name, "", img) for name, img in _layer_tiles(run.stylized.layers, selectors)]
        for combo in (c for c in res.combinations if c.engine == engine):
            stats = f"seam {combo.row()['seam']:.4f}  leak {combo.leakage:.1e}"
            columns.append((combo.blend, stats, combo.image))
        blocks.append((engine, columns))

    n_cols = max(len(cols) for _, cols in blocks)
    width = GAP + n_cols * (tw + GAP)
    block_h = CAPTION + th + GAP + len(windows) * (crop_side + GAP) + CAPTION
    sheet = Image.new("RGB", (width, len(blocks) * block_h + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for b, (engine, columns) in enumerate(blocks):
        top = GAP + b * block_h
        targets = ", ".join(f"{t.selector}={t.style_name}" for t in first.targets)
        draw.text((GAP, top), f"engine {engine}: {targets}", fill=(0, 0, 0), font=font)
        for c, (title, stats, image) in enumerate(columns):
            x = GAP + c * (tw + GAP)
            y = top + CAPTION
            draw.text((x, y - 16), title, fill=(0, 0, 0), font=font)
            sheet.paste(_frames(_tile(image, scale), windows, scale), (x, y))
            y += th + GAP
            for j, win in enumerate(windows):
                sheet.paste(_crop(image, win, crop_side), (x, y))
                colour = COLOURS[j % len(COLOURS)]
                draw.rectangle(
                    [x, y, x + crop_side - 1, y + crop_side - 1], outline=colour, width=2
                )
                y += crop_side + GAP
            if stats:
                draw.text((x, y), stats, fill=(60, 60, 60), font=small)
    return sheet
