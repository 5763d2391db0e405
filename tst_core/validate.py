"""Checks of the values a user passes, in one place for the Python API and the command line.

The CLI hands its arguments to the API (:func:`tst_core.api.run` and friends), and the API
runs these checks, so a mistake gets the same :class:`~tst_core.errors.TstError` sentence
either way, before any stylising.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from .errors import InputError, SelectionError
from .types import Tensor


def image_tensor(image: Tensor, what: str = "photo") -> Tensor:
    """A user's image tensor → float32 ``(3, H, W)`` on the CPU, checked.

    Accepts ``(3, H, W)`` or ``(1, 3, H, W)`` with ``H, W >= 1``, every value finite and in
    [0, 1]; anything else is an :class:`InputError` naming ``what``.
    """
    t = image.detach().float().cpu()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise InputError(
            f"{what} must be a float32 (3, H, W) tensor, got {image.dtype} {tuple(image.shape)}"
        )
    if t.shape[1] < 1 or t.shape[2] < 1:
        raise InputError(f"{what} tensor is empty: {tuple(image.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{what} tensor holds NaN or infinite values")
    if float(t.min()) < 0.0 or float(t.max()) > 1.0:
        raise InputError(f"{what} tensor values must lie in [0, 1]")
    return t.contiguous()


def strength(value: object, where: str = "") -> float:
    """A target's strength → float; it must be a finite number above 0.

    :param where: words after "strength" in the message: ``"':deg=400'"``, ``"of 'person'"``.
    """
    of = f" {where}" if where else ""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SelectionError(f"strength{of} must be a number, got {value!r} (e.g. 2 or 0.5)")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise SelectionError(
            f"strength{of} must be a finite number above 0, got {value!r} "
            "(1 is the default; :deg=E gives 10**E)"
        )
    return number


#: the numeric per-target options of the ``@KEY=VALUE`` syntax and their ranges (inclusive)
TARGET_OPTIONS = {"scale": (0.05, 16.0), "supersample": (1.0, 8.0)}
#: the per-target options that take a word, and their words (the first is the default)
TARGET_CHOICES = {"color": ("style", "keep"), "mask": ("hard", "soft")}


def target_option(key: str, value: object, where: str = "") -> float | str:
    """A per-target option → a float within its range (``scale``, ``supersample``) or one of
    its words (``color``: ``style``/``keep``; ``mask``: ``hard``/``soft``).

    :param where: words after the option's name in the message, e.g. ``"of 'person'"``.
    """
    if key in TARGET_CHOICES:
        words = TARGET_CHOICES[key]
        word = value.strip().lower() if isinstance(value, str) else value
        if word not in words:
            raise SelectionError(
                f"target option @{key}{_of(where)} must be {' or '.join(words)}, got {value!r}"
            )
        return str(word)
    if key not in TARGET_OPTIONS:
        known = ", ".join(f"@{k}=" for k in (*TARGET_OPTIONS, *TARGET_CHOICES))
        raise SelectionError(f"unknown target option '@{key}'{_of(where)}; known: {known}")
    low, high = TARGET_OPTIONS[key]
    try:
        number = math.nan if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:  # NaN fails too
        raise SelectionError(
            f"target option @{key}{_of(where)} must be a number from {low:g} to {high:g}, "
            f"got {value!r}"
        )
    return number


def _of(where: str) -> str:
    return f" {where}" if where else ""
