"""Building a SAM model and loading its checkpoint offline (``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tst_core.errors import WeightsError, missing_dependency
from tst_core.hub import resolve
from tst_core.records import record
from tst_core.weights import load_state_dict

from .records import RECORDS

#: The official checkpoints' weights records, by model type.
CHECKPOINTS = {model_type: rec.name for model_type, rec in RECORDS.items()}


def import_sam() -> Any:
    """The ``segment_anything`` module, or the standard missing-dependency error."""
    try:
        import segment_anything
    except ImportError:
        raise missing_dependency("sam", "segment-anything", "sam") from None
    return segment_anything


def checkpoint_path(model_type: str, weights: Path | None) -> Path:
    """The checkpoint to load: ``weights`` if given, else the official file in the cache
    (fetched there on first use)."""
    return resolve(
        record(CHECKPOINTS[model_type]),
        path=weights,
        alternatives="or use a segmenter that needs no SAM checkpoint (--segmenter yolo or grabcut)",
    )


def build_sam(
    model_type: str, *, weights: Path | None = None, pretrained: bool = True, seed: int = 0
) -> torch.nn.Module:
    """A SAM model in eval mode on the CPU.

    :param model_type: ``vit_b``, ``vit_l`` or ``vit_h``.
    :param weights: checkpoint path; ``None``: the official file in the ``$TORCH_HOME`` cache.
    :param pretrained: load the checkpoint (``False``: keep the random initialisation of
        ``seed``, for tests and timing only; the masks are meaningless). Pass such a model to
        the segmenter as ``model=``.
    """
    sam = import_sam()
    path = checkpoint_path(model_type, weights) if pretrained else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = sam.sam_model_registry[model_type](checkpoint=None)
    if path is not None:
        load_weights(model, path, model_type)
    return model.eval()


def load_weights(model: torch.nn.Module, path: Path, model_type: str) -> None:
    """Load a SAM state dict (plain, or under ``"model"``) into ``model``."""
    state = load_state_dict(path, f"SAM {model_type} checkpoint")
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise WeightsError(
            f"'{path}' does not fit SAM {model_type}; set segmenter.sam.model_type to the "
            f"checkpoint's type ({', '.join(CHECKPOINTS)})"
        ) from None
