"""Options of the feed-forward engines (cheap to import: ``tst plugins`` reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FeedForwardOptions:
    """Options of ``fast`` and ``cin`` (``[engine.fast]``, ``[engine.cin]``).

    :param model: the configured model (a ``.safetensors`` file, a TF-layout folder or a
        TransformerNet ``.pth``): style names and style images resolve against it.
    :param roi_margin: context in pixels around the targets that the network sees.
    :param threads: CPU threads for torch; ``None``: torch's default.
    """

    model: Path | None = None
    roi_margin: int = 32
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.roi_margin < 0:
            raise ValueError(f"roi_margin must be zero or positive, got {self.roi_margin}")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
