"""Checks of what plugins return, made where it enters the next stage (as kornia checks a
tensor's shape on entry to each function): a wrong shape is one sentence naming the plugin,
not a broadcasting error three stages later."""

from __future__ import annotations

from typing import Any

import torch

from .errors import PluginError
from .registry import KIND_TITLES, Entry


def check_shape(value: Any, expected: tuple[int, ...], what: str) -> None:
    """``value`` must be a floating-point tensor of shape ``expected``.

    :param what: the value and who made it, for the message (``"engine 'x' returned layers"``).
    :raises PluginError: ``"<what> of shape (1, 3, 8, 8); expected (2, 3, 8, 8)"``.
    """
    if not isinstance(value, torch.Tensor):
        raise PluginError(f"{what} as a {type(value).__name__}; expected a tensor {expected}")
    if tuple(value.shape) != expected or not value.is_floating_point():
        raise PluginError(
            f"{what} of shape {tuple(value.shape)} ({value.dtype}); expected {expected} "
            "(floating point)"
        )


def check_layers(layers: Any, k: int, hw: tuple[int, int], engine: Entry[Any]) -> None:
    """An engine's ``StylizeResult.layers`` for ``k`` targets on an image of size ``hw``:
    ``(K, 3, H, W)``."""
    check_shape(layers, (k, 3, *hw), f"{_who(engine)} returned layers")


def check_composite(image: Any, hw: tuple[int, int], compositor: Entry[Any]) -> None:
    """A compositor's result on an image of size ``hw``: ``(3, H, W)``."""
    check_shape(image, (3, *hw), f"{_who(compositor)} returned an image")


def _who(entry: Entry[Any]) -> str:
    return f"{KIND_TITLES[entry.kind]} '{entry.name}' (plugin '{entry.plugin}')"
