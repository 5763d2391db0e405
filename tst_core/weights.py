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
import zipfile
from pathlib import Path
from typing import Any

from .errors import InputError, WeightsError, printable
from .reading import check_file


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
    _check_checkpoint_file(path, what)
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol 4 ..." and the like
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{what} '{path}' does not exist") from None
    except Exception as exc:  # pickle errors, truncated files, unsafe objects
        raise WeightsError(f"cannot load {what} '{path}': {_not_a_checkpoint(exc)}") from None


#: the largest checkpoint file read (SAM's ViT-H is 2.4 GiB)
MAX_CHECKPOINT_BYTES = 8 << 30


def _check_checkpoint_file(path: Path, what: str) -> None:
    """A regular file under :data:`MAX_CHECKPOINT_BYTES` (a FIFO would block ``torch.load``, a
    device never end); a zip checkpoint (torch's format) may hold only stored members that fit
    in the file: torch writes them uncompressed, and a compressed one could inflate without
    bound."""
    try:
        check_file(path, what, MAX_CHECKPOINT_BYTES)
    except InputError as exc:
        if "does not exist" in str(exc):
            raise WeightsError(f"{what} '{path}' does not exist") from None
        raise WeightsError(str(exc)) from None
    if not zipfile.is_zipfile(path):
        return
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WeightsError(f"cannot load {what} '{path}': a broken zip ({exc})") from None
    for info in members:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
            raise WeightsError(
                f"cannot load {what} '{path}': its member '{printable(info.filename)[:80]}' is "
                "compressed or larger than the file (torch writes checkpoints uncompressed)"
            )


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
