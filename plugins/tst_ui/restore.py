"""A tst picture dropped on the page: its recipe (:mod:`tst_core.recipe`) brings back the
photo, the targets with their masks, paintings, strengths and options, and the settings.

A recipe is data from a file anyone may hand the page, so nothing in it is trusted as a path:
the photo must be an upload of this server (inside its uploads folder) and every painting one
of its gallery's, each still with the contents the recipe recorded (its SHA-256); a recipe from
a newer tst or an edited one is refused, in one sentence each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tst_core import recipe as recipes
from tst_core.errors import InputError
from tst_core.select import parse_style_arg
from tst_core.styles import StyleMix
from tst_core.types import Segmentation


@dataclass(frozen=True)
class Restored:
    """What the page gets back: the photo's file, the masks, targets and settings."""

    photo: Path
    segmentation: Segmentation
    segmenter: str
    targets: list[dict[str, Any]]
    settings: dict[str, Any]


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, links followed) lies inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def restore(found: dict[str, Any], where: str, uploads: Path, gallery: dict[str, Path]) -> Restored:
    """The page's state from a checked recipe (:func:`tst_core.rerun.read`).

    :param uploads: this server's uploads folder (the photo must be there).
    :param gallery: the gallery's style ids → files (every painting must be one of them).
    """
    photo = found.get("photo")
    if not isinstance(photo, str) or not inside(Path(photo), uploads):
        raise InputError(
            f"the recipe in '{where}' names a photo this server was not given; open the photo "
            "first, or rerun it from a terminal with tst run --recipe"
        )
    recipes.check_inputs(found, where)  # every file exists with its recorded contents
    by_path = {p.resolve(): sid for sid, p in gallery.items()}
    segmentation, styles = recipes.segmentation(found)
    targets = []
    for text in styles:
        request = parse_style_arg(text)
        parts = (
            request.style.parts if isinstance(request.style, StyleMix) else ((request.style, 1.0),)
        )
        ids = []
        for source, _ in parts:
            sid = by_path.get(Path(str(source)).resolve())
            if sid is None:
                raise InputError(
                    f"the recipe in '{where}' uses the painting '{Path(str(source)).name}', "
                    "which is not in this server's gallery (tst ui --styles)"
                )
            ids.append(sid)
        target: dict[str, Any] = {
            "select": request.selector,
            "style": ids[0],
            "deg": round(math.log10(request.strength), 3),
            "options": request.options.given(),
        }
        if len(parts) == 2:
            total = sum(w for _, w in parts)
            target["mix"] = {"style": ids[1], "weight": round(parts[1][1] / total, 3)}
        targets.append(target)
    run = found.get("config", {}).get("run", {})
    settings = {k: run.get(k) for k in ("engine", "blend", "size")}
    return Restored(
        Path(photo), segmentation, str(run.get("segmenter", "maskfile")), targets, settings
    )
