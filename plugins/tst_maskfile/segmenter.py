"""The ``maskfile`` segmenter's options and reader (see the package's docstring for the
layouts it reads)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from tst_core.boxes import Box
from tst_core.errors import ConfigError, InputError
from tst_core.files import MASK_INDEX_FILE, read_label_image, read_mask
from tst_core.reading import check_nesting, read_text
from tst_core.types import Instance, Segmentation, Tensor, check_instance_mask, resize_mask

from .options import MaskFileOptions

_PREFIX = re.compile(r"^\d+_")
_SUFFIX = re.compile(r"[_-]\d+$")


def label_from_name(path: Path) -> str:
    """``003_traffic light_2.png`` → ``traffic light``."""
    stem = _SUFFIX.sub("", _PREFIX.sub("", path.stem)).strip().lower()
    return "region" if not stem or stem.isdigit() else stem


class MaskFileSegmenter:
    def __init__(self, options: MaskFileOptions, env: object = None) -> None:
        if options.masks is None:
            raise ConfigError(
                "the maskfile segmenter needs masks: pass --masks DIR (a folder of PNG masks) "
                "or --masks labels.png (an indexed label image)"
            )
        self.options = options
        self.masks: Path = options.masks

    def segment(self, photo: Tensor) -> Segmentation:
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        path = Path(self.masks)
        if path.is_dir():
            instances = self._from_folder(path, size)
        elif os.path.lexists(path):
            instances = self._from_label_image(path, size)
        else:
            raise InputError(
                f"masks '{path}' do not exist (give a folder of PNG masks or a label PNG)"
            )
        return Segmentation(tuple(instances), size)

    def _from_folder(self, folder: Path, size: tuple[int, int]) -> list[Instance]:
        meta = _read_index(folder)
        if meta is not None:
            files = [_listed_file(folder, name) for name in meta]
        else:
            files = sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() == ".png" and not p.name.startswith(".")
            )
        if not files:
            raise InputError(f"mask folder '{folder}' has no .png files (one mask per instance)")
        if len(files) > MAX_INSTANCES:
            raise InputError(
                f"mask folder '{folder}' has {len(files)} masks; tst reads at most {MAX_INSTANCES}"
            )
        out = []
        for f in files:
            mask = _fitted(read_mask(f, "mask"), size)
            _check(mask, f.name, size)
            info = (meta or {}).get(f.name, {})
            label = str(info.get("label", label_from_name(f)))
            box = _recorded_box(info.get("box"), mask, size)
            out.append(Instance(label, _score(info.get("score", 1.0), f.name), box, mask))
        return out

    def _from_label_image(self, path: Path, size: tuple[int, int]) -> list[Instance]:
        labels = read_label_image(path)
        values = [int(v) for v in np.unique(labels) if v != 0]
        if len(values) > MAX_INSTANCES:
            raise InputError(
                f"label image '{path}' has {len(values)} instances; tst reads at most "
                f"{MAX_INSTANCES}"
            )
        if not values:
            raise InputError(
                f"label image '{path}' has no instances (every pixel is 0 = background)"
            )
        if labels.shape != size:
            raise InputError(
                f"label image '{path.name}' is {labels.shape[1]}×{labels.shape[0]} "
                f"but the photo is {size[1]}×{size[0]}; masks must match the photo's size"
            )
        names = self.options.labels
        out = []
        for v in values:
            mask = torch.from_numpy((labels == v).astype(np.float32))
            label = names[v - 1] if v - 1 < len(names) else "region"
            out.append(Instance(label.lower(), 1.0, Box.around(mask), mask))
        return out


#: The largest ``instances.json`` read (an export of a thousand instances takes about 200 KB).
MAX_INDEX_BYTES = 16 << 20
#: The most instances a mask folder may hold (each is a mask at the photo's size in memory).
MAX_INSTANCES = 1000


def _read_index(folder: Path) -> dict[str, dict[str, object]] | None:
    """``{file name: entry}`` of the folder's ``instances.json`` in its order; ``None``
    without one."""
    index = folder / MASK_INDEX_FILE
    if not os.path.lexists(index):
        return None
    text = read_text(index, "mask index", MAX_INDEX_BYTES)
    try:
        data = json.loads(text)
        check_nesting(data, f"mask index '{index}'")
        entries = data["instances"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'instances' must be a list of objects")
        if len(entries) > MAX_INSTANCES:
            raise ValueError(f"it lists {len(entries)} instances, more than {MAX_INSTANCES}")
        return {_file_name(item["file"], index): item for item in entries}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InputError(f"cannot read '{index}': {type(exc).__name__}: {exc}") from None


def _file_name(name: object, index: Path) -> str:
    """An entry's ``file``: the plain name of a file beside ``instances.json``."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise InputError(
            f"'{index}' lists the file {name!r}, which is not a file name in that folder"
        )
    return name


def _listed_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not os.path.lexists(path):
        raise InputError(
            f"'{folder / MASK_INDEX_FILE}' lists '{name}', which is not in the folder; "
            "restore it or remove its entry"
        )
    return path


def _score(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(
            f"{MASK_INDEX_FILE}: the score of '{name}' must be a number from 0 to 1, got {value!r}"
        )
    return float(value)


def _recorded_box(recorded: object, mask: Tensor, size: tuple[int, int]) -> Box:
    """The box ``instances.json`` gives (a detector's box), unless the mask has left it.

    A detector's box may be a little larger than its mask's pixels, so the recorded box is kept
    while the mask lies inside it grown by 10 % of its size (a mask edited beyond that gets
    the tight box around its pixels instead). Boxes are in photo pixels, whatever the mask's size.
    """
    tight = Box.around(mask).scaled(size[1] / mask.shape[1], size[0] / mask.shape[0])
    if not (isinstance(recorded, list) and len(recorded) == 4):
        return tight
    try:
        x0, y0, x1, y1 = (float(v) for v in recorded)
    except (TypeError, ValueError):
        return tight
    gx, gy = 0.1 * (x1 - x0) + 1.0, 0.1 * (y1 - y0) + 1.0
    inside = (
        tight.x0 >= x0 - gx and tight.y0 >= y0 - gy and tight.x1 <= x1 + gx and tight.y1 <= y1 + gy
    )
    return Box(x0, y0, x1, y1) if inside else tight


def _fitted(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """A mask larger than the photo with its aspect (drawn for the full-size photo, used on
    one reduced by ``--output-size`` or ``tst compare``) reduced to the photo's size."""
    h, w = int(mask.shape[0]), int(mask.shape[1])
    same_aspect = abs(h * size[1] - w * size[0]) <= max(h, w)
    if (h > size[0] or w > size[1]) and same_aspect:
        return resize_mask(mask, size)
    return mask


def _check(mask: Tensor, name: str, size: tuple[int, int]) -> None:
    """A mask file covers the photo at its size or smaller, with its aspect (``tst segment
    --export-masks`` writes masks at the segmenter's working size)."""
    try:
        check_instance_mask(mask, size, f"mask '{name}'")
    except ValueError:
        raise InputError(
            f"mask '{name}' is {mask.shape[1]}×{mask.shape[0]} but the photo is {size[1]}×{size[0]}; "
            "masks must match the photo's size (or be smaller with the same aspect)"
        ) from None
    if float(mask.max()) <= 0.0:
        raise InputError(
            f"mask '{name}' is empty (all black); remove it or draw the instance in white"
        )
