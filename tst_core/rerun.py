"""``tst run --recipe PICTURE``: run a picture's recipe again (see :mod:`tst_core.recipe`).

The recipe is read from the picture's metadata and checked (its format, that no newer tst
wrote it, its SHA-256, and that every file it names still has its recorded contents); then the
pipeline runs on the recorded photo and paintings with the recorded configuration, seed,
device and thread count, and the targets' masks from the recipe (no segmenter runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import metadata, recipe
from . import option_tables as opts
from .config import config_from_tables
from .files import check_regular_file
from .pipeline import Pipeline
from .plugins import Host, default_host
from .recipe import RecipeError
from .results import RunResult
from .sessions import Session
from .types import ProgressFn, Segmentation


def read(picture: str | Path) -> dict[str, Any]:
    """The checked recipe in ``picture`` (a PNG, JPEG or WebP that tst wrote).

    :raises RecipeError: no recipe, a recipe from a newer tst, a changed recipe.
    """
    path = check_regular_file(picture, "picture")
    text = metadata.read(path, recipe.KEY)
    if text is None:
        raise RecipeError(
            f"'{picture}' carries no tst recipe (tst writes one into every PNG, JPEG and WebP "
            "it makes; this file was not written by tst, or its metadata was removed)"
        )
    return recipe.parse(text, str(picture))


class Rerun:
    """A recipe made ready to run: its pipeline, photo, styles and masks.

    :param found: a recipe checked by :func:`read`.
    :param where: the picture it came from (for messages).
    """

    def __init__(self, found: dict[str, Any], where: str, host: Host | None = None) -> None:
        recipe.check_inputs(found, where)
        host = host or default_host()
        config = config_from_tables(host, found["config"])
        seed, device = found.get("seed"), found.get("device")
        config = config.replace_run(
            seed=seed if isinstance(seed, int) else None,
            device=str(device) if isinstance(device, str) and device else None,
        )
        threads = found.get("threads")
        engine = config.run.engine
        fields = opts.field_types(host.entry("engine", engine).options)
        if isinstance(threads, int) and "threads" in fields:
            config = config.with_options(host, "engine", engine, {"threads": threads})
        self.pipeline = Pipeline(Session(host, config))
        self.photo: str = found["photo"]
        self.segmentation: Segmentation
        self.styles: Sequence[str]
        self.segmentation, self.styles = recipe.segmentation(found)
        if self.segmentation.size != tuple(found["size"]):
            raise RecipeError(f"the recipe in '{where}' is inconsistent (mask sizes)")

    def check_save(self, output: str | Path, *, report: bool = True) -> None:
        """Refuse, before the work, an output the rerun could not write (see
        :meth:`Pipeline.check_save`)."""
        self.pipeline.check_save(output, self.photo, self.styles, report=report)

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        return self.pipeline.run(
            self.photo, self.styles, segmentation=self.segmentation, progress=progress
        )


def rerun(
    picture: str | Path, *, host: Host | None = None, progress: ProgressFn | None = None
) -> RunResult:
    """Run the recipe of ``picture`` again: on the same machine and device, the same picture
    bit for bit. :raises RecipeError: see :func:`read`, and a file it names that is missing
    or changed."""
    return Rerun(read(picture), str(picture), host).run(progress)
