"""Reading Detectron2 checkpoints without running arbitrary pickled code.

Model-zoo checkpoints are plain pickles (``.pkl``) of numpy arrays, which
``torch.load(weights_only=True)`` cannot read; they are read here with an unpickler that
resolves only an exact list of ``(module, name)`` pairs, the ones such a pickle needs, to
objects taken from numpy itself. Any other global, and any dotted name (pickle protocol 4
resolves ``a.b`` attribute by attribute, which reaches ``eval`` from almost any module), is
refused with a :class:`WeightsError` naming it. ``.pth`` files go through
:func:`tst_core.weights.load_checkpoint`.
"""

from __future__ import annotations

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from tst_core.errors import WeightsError
from tst_core.weights import error_reason, load_checkpoint


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` as pickled arrays call it: an empty array whose
    ``__setstate__`` then brings shape and data (any other shape would allocate memory the
    file does not hold)."""
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise pickle.UnpicklingError("an ndarray is reconstructed with shape (0,) only")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode(text, "latin1")``: how Python 3 writes bytes in protocol 2."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"bytes are encoded as latin1, not {encoding!r}")
    return codecs.encode(text, "latin1")


#: ``(module, name)`` → object: everything a model-zoo pickle (protocols 2 to 5, written by
#: numpy 1 or numpy 2, Python 2 or 3) names, and nothing else.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
    **{
        (f"numpy.{core}.{module}", name): found
        for core in ("core", "_core")
        for module, name, found in (
            ("multiarray", "_reconstruct", _reconstruct),
            ("multiarray", "scalar", np.float32(0).__reduce__()[0]),
            ("numeric", "_frombuffer", np.zeros(1).__reduce_ex__(5)[0]),
        )
    },
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for dicts of numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name)) if "." not in name else None
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list; ``str()`` is its dotted name."""


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
    except _Refused as exc:
        raise WeightsError(
            f"refused to load Detectron2 checkpoint '{path}': it names the Python global "
            f"'{exc}', which a checkpoint of numpy arrays never needs (it could run code)"
        ) from None
    except Exception as exc:  # truncated files, not a pickle
        raise WeightsError(
            f"cannot load Detectron2 checkpoint '{path}': it is not a pickle of numpy arrays "
            f"({error_reason(exc)})"
        ) from None
    if not isinstance(data, dict):
        raise WeightsError(f"'{path}' is not a Detectron2 checkpoint (expected a dict)")
    if "model" in data and "__author__" in data:
        return data
    blobs = data.get("blobs", data)
    if not isinstance(blobs, dict):
        raise WeightsError(f"'{path}' is not a Detectron2 checkpoint (its blobs are not a dict)")
    blobs = {k: v for k, v in blobs.items() if not str(k).endswith("_momentum")}
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
