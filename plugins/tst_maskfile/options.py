"""Options of the ``maskfile`` segmenter (config table ``[segmenter.maskfile]``), apart from its
module: reading them imports no torch, numpy or Pillow (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MaskFileOptions:
    """:param masks: a folder of PNG masks or one indexed label PNG (``--masks``).
    :param labels: labels for the values 1..N of an indexed label PNG."""

    masks: Path | None = None
    labels: tuple[str, ...] = ()
