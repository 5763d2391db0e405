"""Style sources: the ``STYLE`` of ``--style SELECTORS=STYLE[:STRENGTH]``.

``STYLE`` is one source or a convex mix of sources, ``a.jpg*0.7+b.jpg*0.3``. A source is

* a style image file (``starry_night.jpg``): every engine takes these;
* a trained model's file or folder (``udnie/``, ``m.safetensors``): its only style, or
  ``m.safetensors#starry_night`` for one of several;
* the name of a style of the engine's configured model (``starry_night``).

A mix's weights are non-negative and are normalised to sum to 1 (``a*7+b*3`` is ``a*0.7+b*0.3``;
a part without ``*W`` weighs 1). A text that names an existing file or folder as a whole is
always one source, never split at ``+``, ``*`` or ``#``.

Model styles, names and mixes are for engines that resolve them
(:class:`~tst_core.types.StyleResolver`: the feed-forward ``fast`` and ``cin``); the pipeline
refuses them for the others with one error line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import SelectionError
from .types import StylePart

_WEIGHT = re.compile(r"^(?P<source>.+?)\*(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class StyleMix:
    """A convex mix of style sources, as parsed from ``a*0.7+b*0.3``.

    :param parts: ``(source, weight)`` pairs; weights are non-negative, not all zero (they are
        normalised when the mix is resolved).
    """

    parts: tuple[tuple[Any, float], ...]

    def __post_init__(self) -> None:
        weights = [w for _, w in self.parts]
        if len(weights) < 2:
            raise SelectionError("a style mix needs two or more styles (a*0.7+b*0.3)")
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise SelectionError(
                f"style mix weights must be zero or positive and not all zero, got {weights}"
            )

    def __str__(self) -> str:
        return "+".join(f"{_short(s)}*{w:g}" for s, w in self.parts)


def _short(source: Any) -> str:
    return Path(source).name or str(source) if isinstance(source, (str, Path)) else "style"


def parse_style(text: str) -> str | StyleMix:
    """``"a.jpg"`` → ``"a.jpg"``; ``"a.jpg*0.7+b.jpg*0.3"`` → a :class:`StyleMix`."""
    text = text.strip()
    if Path(text).exists() or ("+" not in text and not _WEIGHT.match(text)):
        return text
    parts = []
    for raw in text.split("+"):
        raw = raw.strip()
        m = _WEIGHT.match(raw) if not Path(raw).exists() else None
        source, weight = (m["source"].strip(), float(m["weight"])) if m else (raw, 1.0)
        if not source:
            raise SelectionError(f"empty style in the mix '{text}' (write a.jpg*0.7+b.jpg*0.3)")
        parts.append((source, weight))
    if len(parts) == 1:  # 'a*1': one style at weight 1
        return parts[0][0]
    return StyleMix(tuple(parts))


def style_parts(style: Any) -> tuple[StylePart, ...]:
    """The classified parts of a style (a source or a :class:`StyleMix`), weights summing to 1."""
    pairs = style.parts if isinstance(style, StyleMix) else ((style, 1.0),)
    total = sum(w for _, w in pairs)
    return tuple(_classify(source, weight / total) for source, weight in pairs)


def _classify(source: Any, weight: float) -> StylePart:
    if not isinstance(source, (str, Path)):
        return StylePart("image", source, weight)  # a PIL image or a tensor
    path = Path(source)
    if path.is_dir():
        return StylePart("model", path, weight)
    if path.is_file():
        if path.suffix.lower() in _image_suffixes():
            return StylePart("image", path, weight)
        return StylePart("model", path, weight)
    head, hash_, name = str(source).rpartition("#")
    if hash_ and head and Path(head).exists():
        if not name:
            raise SelectionError(f"style '{source}': write the style's name after '#'")
        return StylePart("model", Path(head), weight, name)
    if path.suffix.lower() in _image_suffixes() or _NAME.match(str(source)) is None:
        return StylePart("image", source, weight)  # reading it says what is wrong
    return StylePart("name", str(source), weight)


def _image_suffixes() -> set[str]:
    return set(Image.registered_extensions())


def describe(parts: Sequence[StylePart]) -> str:
    """A short name for reports: ``starry_night.jpg``, ``udnie``, ``a.jpg*0.7+b*0.3``."""

    def one(p: StylePart) -> str:
        if p.kind == "model":
            return p.name or Path(p.source).name
        return _short(p.source)

    if len(parts) == 1:
        return one(parts[0])
    return "+".join(f"{one(p)}*{p.weight:.3g}" for p in parts)


def image_only(
    parts: Sequence[StylePart], engine: str, *, mixes: bool = False
) -> tuple[StylePart, ...]:
    """The image parts of a style, for an engine that takes only style images: one, or several
    when the engine mixes paintings (``mixes``: ``gatys`` mixes their style statistics).

    :raises SelectionError: for a model or a style name, and for a mix the engine cannot mix.
    """
    if len(parts) > 1 and not mixes:
        raise SelectionError(
            f"engine '{engine}' does not mix styles; style mixes need an engine that mixes "
            "them (--engine gatys mixes paintings; fast and cin mix trained styles)"
        )
    for part in parts:
        if part.kind != "image":
            what = (
                "a trained model" if part.kind == "model" else "not an image file but a style name"
            )
            raise SelectionError(
                f"style '{part.source}' is {what}; engine '{engine}' takes style images only "
                "(--engine fast or cin runs trained models)"
            )
    return tuple(parts)
