"""Working size and native size: options measured in pixels, carried between the two.

A plugin option that is a length in pixels (a feather's ``radius``, an MRF ``band``, a Poisson
``margin``) is marked in its options dataclass with ``field(metadata={"pixels": True})``. Its
value means pixels of the **working** image (``run.size``), as in every config so far; a stage
that runs at the photo's own size gets it multiplied by ``native / working`` through
:func:`at_scale`, so a radius of 8 blends over the same fraction of the person at any photo
size.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def pixel_fields(options: Any) -> tuple[str, ...]:
    """The names of the fields of an options dataclass (class or instance) marked as pixels."""
    return tuple(f.name for f in dataclasses.fields(options) if f.metadata.get("pixels"))


def at_scale(options: T, factor: float) -> T:
    """``options`` with every pixel length multiplied by ``factor`` (``native / working``);
    integer fields are rounded, and a positive length stays at least 1."""
    if factor <= 0:
        raise ValueError(f"the scale factor must be positive, got {factor}")
    changes: dict[str, Any] = {}
    for name in pixel_fields(options):
        value = getattr(options, name)
        scaled = value * factor
        if isinstance(value, int) and not isinstance(value, bool):
            scaled = max(1, round(scaled)) if value > 0 else 0
        changes[name] = scaled
    return dataclasses.replace(options, **changes) if changes else options  # type: ignore[type-var]
