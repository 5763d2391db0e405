"""Reading Detectron2 checkpoints without running arbitrary pickled code.

Model-zoo checkpoints are plain pickles (``.pkl``) of numpy arrays, which
``torch.load(weights_only=True)`` cannot read; they are read here with an unpickler that
resolves only an exact list of ``(module, name)`` pairs, the ones such a pickle needs. Any other
global, and any dotted name (pickle protocol 4 resolves ``a.b`` attribute by attribute, which
reaches ``eval`` from almost any module), is refused with a :class:`WeightsError` naming it.

Allow-listing names is not enough: numpy's own ``dtype`` and ``ndarray`` can be driven from a
pickle into an object-typed dtype over raw bytes (a crash), or told to allocate what the file
does not hold. So the allowed names resolve to stand-ins that only *record* what the pickle
asks for; after loading, each array is checked and built from numbers alone: its dtype must be
a plain boolean, integer, float or complex type (no object, void, fields or sub-arrays, whatever
``BUILD`` said), and its shape must hold exactly the bytes the file gave it (so no array is
larger than the file). The file is a regular file of at most :data:`MAX_BYTES`, read whole and
unpickled by Python's pure-Python unpickler (whose memo is a dict: a ``LONG_BINPUT`` index
cannot make it allocate). ``.pth`` files go through :func:`tst_core.weights.load_checkpoint`.
"""

from __future__ import annotations

import codecs
import collections
import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from tst_core.errors import InputError, WeightsError, printable
from tst_core.reading import read_bytes
from tst_core.weights import error_reason, load_checkpoint

#: the largest ``.pkl`` read (model-zoo checkpoints are 100-500 MB)
MAX_BYTES = 4 << 30
#: the deepest nesting of containers a checkpoint may have (the model zoo's is 2)
MAX_DEPTH = 32
#: dtypes an array of a checkpoint may have: booleans, integers, floats, complex numbers
_NUMERIC = re.compile(r"^(b1|\?|[iu][1248]|f[248]|c(8|16))$")


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list; ``str()`` is its dotted name."""


class _Bad(pickle.UnpicklingError):
    """A dtype or array the reader does not build (object, void, a size the file lacks)."""


class _NdarrayName:
    """``numpy.ndarray`` as a pickle names it: only ever the subtype of ``_reconstruct``."""


class _Dtype:
    """``numpy.dtype(spec, align, copy)`` and its ``BUILD`` state, recorded, not built."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        self.spec, self.state = spec, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def build(self) -> np.dtype:
        """The numpy dtype, if it is a plain number type (see :data:`_NUMERIC`)."""
        spec = self.spec.decode("latin1") if isinstance(self.spec, bytes) else self.spec
        if not isinstance(spec, str) or not _NUMERIC.match(spec):
            raise _Bad(f"an array of dtype {printable(repr(spec))} (only booleans and numbers)")
        order = "|"
        if self.state is not None:
            st = self.state
            if not (isinstance(st, tuple) and 8 <= len(st) <= 9 and st[2:5] == (None,) * 3):
                raise _Bad(f"a dtype {spec!r} with fields or sub-arrays")
            order = st[1].decode("latin1") if isinstance(st[1], bytes) else st[1]
            if order not in ("<", ">", "|", "="):
                raise _Bad(f"a dtype byte order {order!r}")
        dtype = np.dtype(spec)
        return dtype.newbyteorder("<" if order == "<" else ">") if order in "<>" else dtype


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    ):
        raise _Bad(f"an array shape {value!r}")
    if len(value) > 32:
        raise _Bad(f"an array with {len(value)} dimensions")
    return value


def _raw(data: Any) -> bytes | bytearray | memoryview:
    if isinstance(data, str):  # a Python 2 pickle's byte string, decoded as latin1
        return data.encode("latin1")
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, pickle.PickleBuffer):
        return data.raw()
    raise _Bad(f"array data of type {type(data).__name__}")


def _array(dtype: Any, shape: Any, data: Any, fortran: bool) -> np.ndarray:
    """An array of ``shape`` over ``data``, whose size must be exactly what the shape needs."""
    if not isinstance(dtype, _Dtype):
        raise _Bad("an array whose dtype is not a dtype")
    dt, dims, raw = dtype.build(), _shape(shape), _raw(data)
    need = math.prod(dims) * dt.itemsize
    if need != len(raw):
        raise _Bad(f"an array of shape {dims} that needs {need} bytes but has {len(raw)}")
    flat = np.frombuffer(raw, dtype=dt).copy()
    return flat.reshape(dims, order="F" if fortran else "C")


class _Array:
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b"b")`` and its ``BUILD`` state."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Bad("an array state that is not (version, shape, dtype, fortran, data)")
        shape, dtype, fortran, data = state[-4:]
        self.array = _array(dtype, shape, data, bool(fortran))


def _reconstruct(subtype: Any, shape: Any, code: Any) -> _Array:
    if subtype is not _NdarrayName or shape != (0,):
        raise _Bad("an ndarray is reconstructed from numpy.ndarray with shape (0,) only")
    return _Array()


def _scalar(dtype: Any, data: Any = None) -> Any:
    return _array(dtype, (), data, False)[()]


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    return _array(dtype, shape, buffer, order == "F")


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode(text, "latin1")``: how Python 3 writes bytes in protocol 2."""
    if encoding != "latin1" or not isinstance(text, str):
        raise _Bad(f"bytes are encoded as latin1 text, not {encoding!r}")
    return codecs.encode(text, "latin1")


#: ``(module, name)`` → stand-in: everything a model-zoo pickle (protocols 2 to 5, written by
#: numpy 1 or numpy 2, Python 2 or 3) names, and nothing else.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _latin1,
    **{
        (f"numpy.{core}.{module}", name): found
        for core in ("core", "_core")
        for module, name, found in (
            ("multiarray", "_reconstruct", _reconstruct),
            ("multiarray", "scalar", _scalar),
            ("numeric", "_frombuffer", _frombuffer),
        )
    },
}


class _ArraysOnly(pickle._Unpickler):
    """A pure-Python unpickler for dicts of numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name)) if "." not in name else None
        if found is None:
            raise _Refused(printable(f"{module}.{name}"))
        return found


def _arrays(value: Any, depth: int = 0) -> Any:
    """``value`` with every recorded array built; a dtype or array left half-made is refused."""
    if depth > MAX_DEPTH:
        raise _Bad(f"containers nested over {MAX_DEPTH} deep")
    if isinstance(value, _Array):
        if value.array is None:
            raise _Bad("an array without its data")
        return value.array
    if isinstance(value, (_Dtype, _NdarrayName)) or value is _NdarrayName:
        raise _Bad("a bare dtype or array type")
    if isinstance(value, dict):
        out = type(value)() if type(value) in (dict, collections.OrderedDict) else {}
        for k, v in value.items():
            out[_arrays(k, depth + 1)] = _arrays(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [_arrays(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def _unpickle(path: Path) -> Any:
    try:
        data = read_bytes(path, "Detectron2 checkpoint", MAX_BYTES)
    except InputError as exc:
        raise WeightsError(str(exc)) from None
    return _arrays(_ArraysOnly(io.BytesIO(data), encoding="latin1").load())


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
        data = _unpickle(path)
    except WeightsError:
        raise
    except _Refused as exc:
        raise WeightsError(
            f"refused to load Detectron2 checkpoint '{path}': it names the Python global "
            f"'{exc}', which a checkpoint of numpy arrays never needs (it could run code)"
        ) from None
    except _Bad as exc:
        raise WeightsError(
            f"refused to load Detectron2 checkpoint '{path}': it declares {exc}, which a "
            "checkpoint of numbers never holds"
        ) from None
    except (Exception, RecursionError) as exc:  # truncated files, not a pickle
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
