"""Options of the ``text`` segmenter (config table ``[segmenter.text]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TextOptions:
    """What the ``text`` segmenter looks for and how.

    :param prompt: what to find, in words (``--prompt``): ``"red car"``; several phrases
        separated by ``.`` or ``;`` (``"shirt. red car"``), each a label of its own.
    :param weights: a folder holding an OWLv2 checkpoint in Hugging Face's layout
        (``config.json``, ``model.safetensors``, ``vocab.json``, ``merges.txt``;
        ``--weights``); only safetensors are read.
    :param threshold: keep boxes whose score for their phrase is at least this (0..1).
    :param max_instances: keep at most this many boxes per phrase, best first.
    :param nms: drop a box that overlaps a better one of the same phrase by more than this IoU.
    :param cutter: the segmenter that cuts each box's mask: ``grabcut`` (no weights) or ``sam``
        (its checkpoint; its own ``[segmenter.sam]`` options apply).
    """

    prompt: str = ""
    weights: Path | None = None
    threshold: float = 0.2
    max_instances: int = 8
    nms: float = 0.5
    cutter: str = "grabcut"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 1 <= self.max_instances <= 100:
            raise ValueError(f"max_instances must be 1..100, got {self.max_instances}")
        if not 0.0 < self.nms <= 1.0:
            raise ValueError(f"nms must be in (0, 1], got {self.nms}")
        if self.cutter == "text":
            raise ValueError("cutter cannot be 'text' itself; use grabcut or sam")
        if len(self.prompt) > 1000:
            raise ValueError("prompt is longer than 1000 characters")

    def phrases(self) -> list[str]:
        """The prompt's phrases, lower case, in order, without repeats."""
        found = []
        for part in self.prompt.replace(";", ".").split("."):
            phrase = " ".join(part.split()).lower()
            if phrase and phrase not in found:
                found.append(phrase)
        return found
