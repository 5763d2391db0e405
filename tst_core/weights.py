"""Finding and loading model checkpoints, offline, the way torchvision's weights API does.

Known checkpoints (:mod:`tst_core.records`) are fetched on first use by :mod:`tst_core.hub`;
:func:`locate` is for files tst has no record of, and only looks.

A checkpoint is looked for at an explicit path first, then in the ``$TORCH_HOME`` cache
(``torch.hub.get_dir()/checkpoints``, where torchvision's ``Weights.get_state_dict`` puts
downloads). :func:`locate` never downloads: a missing file is one :class:`WeightsError`
sentence saying which file, where it was looked for, and what else the user can do.
Every file is loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError


def cache_dir() -> Path:
    """The checkpoint cache: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/...`` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def locate(
    filename: str,
    *,
    path: str | os.PathLike[str] | None = None,
    what: str,
    url: str | None = None,
    option: str = "--weights FILE",
    alternatives: str = "",
) -> Path:
    """Find a checkpoint file.

    :param filename: the cache file name (for torchvision weights: the URL's last part).
    :param path: an explicit path the user gave; it must exist.
    :param what: a name for messages (``"Mask R-CNN v2 COCO"``).
    :param url: where the file can be downloaded from, for the message.
    :param option: how the user gives a path (``"--weights FILE"``).
    :param alternatives: another way out, e.g. ``"or use --segmenter yolo"``.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise WeightsError(f"{what} checkpoint '{p}' does not exist")
        return p
    cached = cache_dir() / filename
    if cached.is_file():
        return cached
    fetch = f"download {url} into that folder, " if url else "put it in that folder, "
    raise WeightsError(
        f"{what} weights are missing: '{filename}' is not in {cached.parent} ($TORCH_HOME cache) and "
        f"tst never downloads at run time; {fetch}or pass {option}"
        + (f", {alternatives}" if alternatives else "")
    )


def load_checkpoint(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with a clear error."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{what} '{path}' does not exist") from None
    except Exception as exc:  # pickle errors, truncated files, unsafe objects
        raise WeightsError(
            f"cannot load {what} '{path}' (weights_only=True): {error_reason(exc)}"
        ) from None


def load_state_dict(path: str | os.PathLike[str], what: str = "checkpoint") -> dict[str, Any]:
    """The state dict of a checkpoint: plain, or under ``"model"`` (as training scripts save)."""
    state = load_checkpoint(path, what)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{what} '{path}' holds no state dict")
    return state


def error_reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
