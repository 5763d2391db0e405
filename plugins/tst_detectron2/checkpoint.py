"""Reading Detectron2 checkpoints without running arbitrary pickled code.

Model-zoo checkpoints are plain pickles (``.pkl``) of numpy arrays, which
``torch.load(weights_only=True)`` cannot read; they are read here with an unpickler that
accepts only numpy arrays and dicts. ``.pth`` files go through :func:`tst_core.weights.load_checkpoint`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from tst_core.errors import WeightsError
from tst_core.weights import load_checkpoint

_ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for dicts of numpy arrays; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy.core"):  # pickles written by numpy 1.x
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) in _ALLOWED or module == "numpy.dtypes":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint as Detectron2's checkpointer expects it: ``{"model": state, ...}``.

    Detectron2 model-zoo pickles are returned as they are; other pickles are taken as
    Caffe2/Detectron1 blobs (converted by name matching, as Detectron2 does); ``.pth`` files
    are loaded with ``weights_only=True``.
    """
    if path.suffix != ".pkl":
        data = load_checkpoint(path, "Detectron2 checkpoint")
        if not isinstance(data, dict):
            raise WeightsError(f"'{path}' is not a Detectron2 checkpoint (expected a dict)")
        return data if "model" in data else {"model": data}
    try:
        with path.open("rb") as f:
            data = _ArraysOnly(f, encoding="latin1").load()
    except FileNotFoundError:
        raise WeightsError(f"Detectron2 checkpoint '{path}' does not exist") from None
    except Exception as exc:  # refused globals, truncated files, not a pickle
        raise WeightsError(
            f"cannot load Detectron2 checkpoint '{path}' (numpy arrays only): {exc}"
        ) from None
    if not isinstance(data, dict):
        raise WeightsError(f"'{path}' is not a Detectron2 checkpoint (expected a dict)")
    if "model" in data and "__author__" in data:
        return data
    blobs = data.get("blobs", data)
    blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
    return {"model": blobs, "__author__": "Caffe2", "matching_heuristics": True}


def load_into(model: Any, path: Path) -> None:
    """Load ``path`` into a Detectron2 ``model``; a checkpoint that does not fit is an error."""
    from detectron2.checkpoint import DetectionCheckpointer

    class SafeCheckpointer(DetectionCheckpointer):
        incompatible: Any = None

        def _load_file(self, filename: str) -> dict[str, Any]:
            return read_checkpoint(Path(filename))

        def _load_model(self, checkpoint: dict[str, Any]) -> Any:
            self.incompatible = super()._load_model(checkpoint)
            return self.incompatible

    checkpointer = SafeCheckpointer(model)
    checkpointer.load(str(path))
    bad = checkpointer.incompatible
    wrong = sorted({*bad.missing_keys, *(k for k, *_ in bad.incorrect_shapes)}) if bad else []
    if wrong:
        raise WeightsError(
            f"'{path}' does not fit this Detectron2 config: {len(wrong)} weights are missing or "
            f"of the wrong shape (e.g. {wrong[0]}); pass the config the checkpoint was trained with"
        )
