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
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from .errors import WeightsError


def cache_dir() -> Path:
    """The checkpoint cache: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/...`` by default).

    The folder ``torch.hub.get_dir()`` names, found without importing torch when it is not
    loaded yet (``tst weights list`` needs no model).
    """
    if "torch" in sys.modules:  # it may have been moved with torch.hub.set_dir
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    xdg = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(xdg, "torch")))
    return Path(home) / "hub" / "checkpoints"


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
        if p.exists() and not p.is_file():
            raise WeightsError(f"{what} checkpoint '{p}' is not a regular file")
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
    """``torch.load(path, map_location="cpu", weights_only=True)`` with a clear error.

    The error says what the file is not: not a PyTorch checkpoint (garbage, truncated, a plain
    pickle), or a checkpoint that names executable objects, which was refused. It never repeats
    torch's advice to retry with ``weights_only=False``, which would run that code.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{what} '{path}' is a folder, not a checkpoint file")
    if (
        path.exists() and not path.is_file()
    ):  # a FIFO or device: torch.load would block or never end
        raise WeightsError(f"{what} '{path}' is not a regular file (a FIFO, device or socket)")
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol 4 ..." and the like
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{what} '{path}' does not exist") from None
    except Exception as exc:  # pickle errors, truncated files, unsafe objects
        raise WeightsError(f"cannot load {what} '{path}': {_not_a_checkpoint(exc)}") from None


#: torch's name for a global that ``weights_only=True`` refused
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
#: lines of torch's message that are advice (to load unsafely, to file an issue), not facts
_ADVICE = ("weights only load failed", "re-running", "check the documentation", "in pytorch 2.6")


def _not_a_checkpoint(exc: BaseException) -> str:
    text = str(exc)
    if m := _GLOBAL.search(text):
        return (
            f"it holds executable objects (the Python global '{m[1]}') and was refused; "
            "a checkpoint of tensors never needs one (tst loads checkpoints with "
            "weights_only=True and never runs code from them)"
        )
    facts = [
        line.split("WeightsUnpickler error:")[-1].strip()
        for line in text.splitlines()
        if line.strip() and not any(a in line.lower() for a in _ADVICE)
    ]
    reason = next((f for f in facts if f), type(exc).__name__).split(". ")[0].rstrip(".")
    return f"it is not a PyTorch checkpoint (truncated, or not written by torch.save): {reason}"


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
