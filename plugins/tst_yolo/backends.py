"""Running an exported YOLO model: TFLite with ``ai-edge-litert``, ONNX with ``onnxruntime``.

Both runners take the letterboxed input as float32 ``(3, h, w)`` in [0, 1] and return the
model's raw outputs as NumPy arrays; they convert to the model's layout (NHWC or NCHW) and,
for integer-quantised inputs and outputs, quantise and dequantise.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from tst_core.errors import InputError, WeightsError, missing_dependency, printable
from tst_core.reading import check_file
from tst_core.types import Tensor
from tst_core.weights import error_reason

#: Input side used when an ONNX model has dynamic input dimensions and no ``imgsz`` metadata.
DEFAULT_SIDE = 640
#: The most metadata read from a model file (class names take a few hundred bytes).
MAX_METADATA_BYTES = 4 << 20


class Runner(Protocol):
    """A loaded model."""

    #: ``(h, w)`` of the model input
    input_size: tuple[int, int]
    #: class names stored in the model file by Ultralytics, ``{index: name}``, or ``None``
    names: dict[int, str] | None

    def __call__(self, image: Tensor) -> list[np.ndarray]:
        """:param image: float32 ``(3, h, w)`` in [0, 1]. :returns: the raw outputs."""
        ...


#: the largest YOLO model file handed to a runtime (YOLO11x-seg's ONNX is about 240 MB)
MAX_MODEL_BYTES = 2 << 30


def load_model(path: Path, threads: int | None) -> Runner:
    """Load a ``.tflite`` or ``.onnx`` model; the suffix picks the runtime.

    The runtimes open the file themselves: it is checked first to be a regular file (a FIFO
    would block them) of at most :data:`MAX_MODEL_BYTES`.
    """
    try:
        check_file(path, "YOLO model", MAX_MODEL_BYTES)
    except InputError as exc:
        raise WeightsError(str(exc)) from None
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return TFLiteRunner(path, threads)
    if suffix == ".onnx":
        return OnnxRunner(path, threads)
    raise InputError(
        f"YOLO model '{path}' is neither .tflite nor .onnx; export it with Ultralytics "
        "(yolo export model=yolov8n-seg.pt format=tflite or format=onnx)"
    )


def _nhwc(shape: Any) -> bool:
    return len(shape) == 4 and shape[-1] == 3


class TFLiteRunner:
    def __init__(self, path: Path, threads: int | None) -> None:
        Interpreter = _tflite_interpreter()
        try:
            self.interpreter = Interpreter(
                model_path=str(path), num_threads=threads or torch.get_num_threads()
            )
            with _native_stderr_silenced():  # LiteRT logs "INFO: Created ... XNNPACK delegate"
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise WeightsError(
                f"cannot load YOLO model '{path}' with LiteRT: {error_reason(exc)}"
            ) from None
        try:
            self.input = self.interpreter.get_input_details()[0]
            self.outputs = self.interpreter.get_output_details()
        except (UnicodeDecodeError, IndexError) as exc:
            raise WeightsError(f"YOLO model '{path}' is not a YOLO model: {_why(exc)}") from None
        shape = [int(v) for v in self.input["shape"]]
        if len(shape) != 4:
            raise WeightsError(f"YOLO model '{path}' takes a {len(shape)}-D input, not an image")
        self.layout_nhwc = _nhwc(shape)
        dims = (shape[1], shape[2]) if self.layout_nhwc else (shape[2], shape[3])
        self.input_size = _input_size(path, dims)
        self.names = _names_from_zip(path)

    def __call__(self, image: Tensor) -> list[np.ndarray]:
        x = image.numpy()[None]
        if self.layout_nhwc:
            x = x.transpose(0, 2, 3, 1)
        try:
            self.interpreter.set_tensor(self.input["index"], _quantise(x, self.input))
            self.interpreter.invoke()
            outputs = [self.interpreter.get_tensor(o["index"]) for o in self.outputs]
        except (ValueError, RuntimeError) as exc:
            raise WeightsError(f"YOLO model cannot run with LiteRT: {_why(exc)}") from None
        return [_dequantise(x, o) for x, o in zip(outputs, self.outputs, strict=True)]


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 nowhere, while inside the block."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # not a real file (captured, redirected)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _tflite_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:  # the runtime's former name
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise missing_dependency("yolo", "ai-edge-litert", "yolo") from None
    return Interpreter


def _quantise(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """float32 input → the tensor's dtype (integer inputs use its scale and zero point)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return np.ascontiguousarray(x, dtype=dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantise(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """An output tensor → float32 (integer outputs use their scale and zero point)."""
    if np.dtype(detail["dtype"]).kind not in "iu":
        return x.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    return (x.astype(np.float32) - zero) * scale


class OnnxRunner:
    def __init__(self, path: Path, threads: int | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_dependency("yolo", "onnxruntime", "yolo") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WeightsError(
                f"cannot load YOLO model '{path}' with onnxruntime: {error_reason(exc)}"
            ) from None
        try:  # pybind's strings: a name or metadata that is not UTF-8 raises
            inputs = self.session.get_inputs()
            meta = dict(self.session.get_modelmeta().custom_metadata_map)
            self.input = inputs[0]
            self.input_name = str(self.input.name)
        except (UnicodeDecodeError, IndexError) as exc:
            raise WeightsError(f"YOLO model '{path}' is not a YOLO model: {_why(exc)}") from None
        self.names = _parse_names(meta.get("names"))
        shape = list(self.input.shape)
        if len(shape) != 4:
            raise WeightsError(f"YOLO model '{path}' takes a {len(shape)}-D input, not an image")
        self.layout_nhwc = _nhwc(shape)
        dims = shape[1:3] if self.layout_nhwc else shape[2:4]
        if not all(isinstance(d, int) and d > 0 for d in dims):
            # dynamic input: the export's image size, else Ultralytics' default
            side = _literal(meta.get("imgsz")) or [DEFAULT_SIDE, DEFAULT_SIDE]
            side = [side] if isinstance(side, int) else side
            dims = list(side)[:1] + list(side)[-1:] if isinstance(side, (list, tuple)) else []
        self.input_size = _input_size(path, dims)

    def __call__(self, image: Tensor) -> list[np.ndarray]:
        x = image.numpy()[None]
        if self.layout_nhwc:
            x = x.transpose(0, 2, 3, 1)
        x = np.ascontiguousarray(
            x, dtype=np.float16 if "float16" in self.input.type else np.float32
        )
        try:
            outputs = self.session.run(None, {self.input_name: x})
        except Exception as exc:  # onnxruntime's own types: a graph that cannot run
            raise WeightsError(f"YOLO model cannot run with onnxruntime: {_why(exc)}") from None
        return [np.asarray(o, dtype=np.float32) for o in outputs]


def _why(exc: BaseException) -> str:
    """What went wrong, one escaped line of at most 200 characters."""
    if isinstance(exc, UnicodeDecodeError):
        return "a name or metadata value is not UTF-8 text"
    if isinstance(exc, IndexError):
        return "it has no input"
    return printable(error_reason(exc))[:200]


#: the largest input side a YOLO model may declare (exports use 320-1280)
MAX_INPUT_SIDE = 4096


def _input_size(path: Path, dims: Sequence[Any]) -> tuple[int, int]:
    """The model's input ``(h, w)`` from its file, checked before an input of that size is
    allocated: two whole numbers from 1 to :data:`MAX_INPUT_SIDE`."""
    ok = len(dims) == 2 and all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_INPUT_SIDE for d in dims
    )
    if not ok:
        shown = printable(repr(list(dims)))[:60]
        raise WeightsError(
            f"YOLO model '{path}' declares an input of {shown} pixels; tst takes whole numbers "
            f"from 1 to {MAX_INPUT_SIDE}"
        )
    return int(dims[0]), int(dims[1])


def _literal(text: str | None) -> Any:
    if not text or len(text) > MAX_METADATA_BYTES:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return None


def _parse_names(value: Any) -> dict[int, str] | None:
    """Ultralytics' ``names`` metadata (``"{0: 'person', ...}"`` or a dict) → ``{index: name}``."""
    names = _literal(value) if isinstance(value, str) else value
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        return None
    try:
        return {int(k): str(v) for k, v in names.items()}
    except (TypeError, ValueError):
        return None


def _names_from_zip(path: Path) -> dict[int, str] | None:
    """Ultralytics appends its metadata to TFLite files as a zip archive; read ``names``.

    At most :data:`MAX_METADATA_BYTES` are read: a larger member (a zip bomb appended to a
    model) is refused with a :class:`WeightsError` instead of being inflated into memory.
    """
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.infolist()[0]
            if info.file_size > MAX_METADATA_BYTES:
                raise _too_much_metadata(path, info.filename, info.file_size)
            with zf.open(info) as member:
                data = member.read(MAX_METADATA_BYTES + 1)
            if len(data) > MAX_METADATA_BYTES:  # the size in the zip's header lied
                raise _too_much_metadata(path, info.filename, len(data))
            text = data.decode("utf-8")
    except (zipfile.BadZipFile, IndexError, KeyError, UnicodeDecodeError, OSError, EOFError):
        return None
    except (NotImplementedError, RuntimeError):  # an unknown compression, an encrypted member
        return None
    meta = _literal(text)
    return _parse_names(meta.get("names")) if isinstance(meta, dict) else None


def _too_much_metadata(path: Path, member: str, size: int) -> WeightsError:
    return WeightsError(
        f"YOLO model '{path}' carries a metadata member '{member}' of {size / 2**20:.0f} MiB "
        f"(Ultralytics writes under 1 KiB); tst reads at most {MAX_METADATA_BYTES >> 20} MiB of "
        "metadata and refused it; export the model again"
    )
