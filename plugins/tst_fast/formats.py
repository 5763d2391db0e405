"""Reading and writing transform networks: the project's safetensors file and two foreign layouts.

* **The project's model file** (``.safetensors``; never a pickle): the tensors of a
  :class:`~tst_fast.network.TransformNet` (``convs.<layer>.weight``/``.bias``,
  ``norms.<layer>.gamma``/``.beta`` with one row per style) and string metadata: ``format``
  (``tst-transform-net``), ``format_version``, ``architecture``, ``styles`` (JSON: name, style
  image file name and its SHA-256 per style), ``training`` (JSON: the settings and step of
  ``tst train``) and ``source`` (JSON: what it was converted or trained from).
* **The TensorFlow layout** of ``../shared/models/fast-style-tf/<style>/`` (lengstrom's
  network): ``manifest.json`` maps ``Variable``…``Variable_47`` to raw little-endian float32
  files, three per layer in order — kernel (H×W×In×Out; transposed convs H×W×Out×In), IN
  shift, IN scale. Read directly, or converted by ``tst model convert``.
* **pytorch/examples' fast_neural_style** ``TransformerNet`` state dict (``.pth``), loaded with
  ``weights_only=True``; the ``running_mean``/``running_var`` entries old checkpoints carry are
  ignored, as that project's own loader does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tst_core.errors import InputError, WeightsError, printable
from tst_core.outputs import write_outputs
from tst_core.reading import check_file, check_nesting, read_bytes, read_text
from tst_core.weights import error_reason, load_state_dict

from .network import ARCHS, LAYERS, TransformNet, has_norm

FORMAT = "tst-transform-net"
FORMAT_VERSION = "1"
TF_MANIFEST = "manifest.json"
#: the most styles a model may hold (each is a row of γ/β in every norm layer); checked against
#: the file before the network is built
MAX_STYLES = 4096
#: the largest TF-layout manifest.json read (lengstrom's is 4 KB)
MAX_TF_MANIFEST = 1 << 20
#: the largest safetensors header (tensor table and metadata) read: 4096 styles take ~1 MB
MAX_HEADER = 4 << 20
#: the largest model file read (a Johnson network is 7 MB; a CIN model adds 13 KB per style)
MAX_MODEL_BYTES = 1 << 30


@dataclass(frozen=True)
class StyleInfo:
    """One style a network knows: its name and, when known, its style image and that file's hash."""

    name: str
    image: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "image": self.image, "sha256": self.sha256}


@dataclass
class Model:
    """A loaded network with its styles (row ``s`` of every γ/β is ``styles[s]``).

    :param training: ``tst train``'s settings and progress (empty for a converted net).
    :param source: where the network came from (format, path).
    """

    net: TransformNet
    styles: tuple[StyleInfo, ...]
    training: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [s.name for s in self.styles]
        if len(names) != self.net.styles:
            raise WeightsError(
                f"the network has {self.net.styles} style rows but {len(names)} names"
            )
        if len(set(names)) != len(names):
            raise WeightsError(f"style names must be unique, got {names}")

    def index(self, name: str) -> int:
        """Row of style ``name``; unknown names are an error listing the known ones."""
        for i, s in enumerate(self.styles):
            if s.name == name:
                return i
        raise WeightsError(f"the model has no style '{name}'; its styles: {self.names()}")

    def names(self) -> str:
        return ", ".join(s.name for s in self.styles)

    def metadata(self) -> dict[str, str]:
        """The safetensors metadata (every value a string)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": self.net.arch,
            "styles": json.dumps([s.to_dict() for s in self.styles]),
            "training": json.dumps(self.training),
            "source": json.dumps(self.source),
        }


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (how a model recognises the style images it knows)."""
    digest = hashlib.sha256()
    with open(check_file(path, "style image", 1 << 40), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read any supported layout, told apart by content: a TF folder, safetensors or a ``.pth``.

    :raises WeightsError: for a missing or unreadable file, or one of none of these layouts
        (a pickle is only ever read by ``torch.load(weights_only=True)``).
    """
    p = Path(path)
    if p.is_dir():
        return read_tf_folder(p)
    try:
        check_file(p, "model", MAX_MODEL_BYTES)
        with open(p, "rb") as f:
            head = f.read(9)
    except InputError as exc:
        raise WeightsError(str(exc)) from None
    except OSError as exc:
        raise WeightsError(f"cannot read model '{p}': {error_reason(exc)}") from None
    if len(head) == 9 and head[8:9] == b"{":
        return read_safetensors(p)
    if p.suffix.lower() == ".safetensors":
        raise WeightsError(f"model '{p}' is not a safetensors file (no safetensors header)")
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        raise WeightsError(
            f"'{p}' is not a model: expected a tst .safetensors file, a TF-layout folder or a "
            "TransformerNet .pth"
        )
    return read_torch_examples(p)


def read_safetensors(path: Path) -> Model:
    """The project's own model file (see the module docstring)."""
    from safetensors import safe_open

    try:
        with open(check_file(path, "model", MAX_MODEL_BYTES), "rb") as raw:
            declared = int.from_bytes(raw.read(8), "little")
    except (InputError, OSError) as exc:
        raise WeightsError(f"cannot read model '{path}': {error_reason(exc)}") from None
    if declared > MAX_HEADER:  # safetensors itself reads up to 100 MB of header
        raise WeightsError(
            f"model '{path}' has a {declared}-byte safetensors header; a tst model's is under "
            f"{MAX_HEADER >> 20} MiB"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise WeightsError(
                    f"'{path}' is a safetensors file but not a tst model (no format={FORMAT})"
                )
            styles, net, training, source = _from_metadata(meta, path)
            _check_shapes(net, {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, path)  # noqa: SIM118
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read model '{path}': {error_reason(exc)}") from None
    _load_exact(net, tensors, path)
    return Model(net, styles, training, source)


def _from_metadata(
    meta: dict[str, str], path: Path
) -> tuple[tuple[StyleInfo, ...], TransformNet, dict[str, Any], dict[str, Any]]:
    """The styles, an empty network of their count, the training and the source: from the
    metadata, each count checked before anything is built from it."""
    try:
        table = json.loads(meta["styles"])
        training, source = (
            json.loads(meta.get("training", "{}")),
            json.loads(meta.get("source", "{}")),
        )
        for value, what in ((table, "styles"), (training, "training"), (source, "source")):
            check_nesting(value, f"model '{path}' metadata '{what}'")
        if not isinstance(table, list) or not isinstance(training, dict):
            raise TypeError("'styles' must be a list and 'training' an object")
        if not isinstance(source, dict):
            raise TypeError("'source' must be an object")
        if len(table) > MAX_STYLES:
            raise ValueError(f"it lists {len(table)} styles, more than {MAX_STYLES}")
        styles = tuple(_style(s) for s in table)
        arch = meta["architecture"]
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {printable(repr(arch))[:80]}")
        net = TransformNet(arch, len(styles))
    except (KeyError, TypeError, ValueError, RecursionError, InputError) as exc:
        raise WeightsError(
            f"model '{path}' has bad metadata: {printable(error_reason(exc))}"
        ) from None
    return styles, net, training, source


def _style(entry: Any) -> StyleInfo:
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(k), (str, type(None))) for k in ("name", "image", "sha256")
    ):
        raise TypeError("each style is an object of name, image and sha256 texts")
    if not isinstance(entry.get("name"), str) or set(entry) - {"name", "image", "sha256"}:
        raise TypeError("each style has a name, and only name, image and sha256")
    for key in ("name", "image"):
        text = entry.get(key)
        if text is not None and (not text or len(text) > 256 or printable(text) != text):
            raise ValueError(
                f"a style's {key} {printable(repr(text))[:80]} is empty, over 256 characters "
                "or holds control characters (terminal escapes)"
            )
    sha = entry.get("sha256")
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ValueError(f"a style's sha256 {printable(repr(sha))[:80]} is not 64 hex digits")
    return StyleInfo(**entry)


def _check_shapes(net: TransformNet, shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    """Refuse a file whose tensors are not exactly the network's, from their declared shapes
    (before any tensor is read)."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for key in sorted(set(expected) | set(shapes)):
        if key not in shapes:
            raise WeightsError(
                f"model '{path}' does not fit the {net.arch} network: it lacks {key}"
            )
        if key not in expected:
            raise WeightsError(
                f"model '{path}' does not fit the {net.arch} network: it has an unknown tensor "
                f"{printable(key)[:80]}"
            )
        if shapes[key] != expected[key]:
            raise WeightsError(f"model '{path}': {key} is {shapes[key]}, expected {expected[key]}")


def save_model(model: Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as the project's safetensors file, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    meta = model.metadata()
    write_outputs({Path(path): lambda tmp: save_file(tensors, str(tmp), metadata=meta)})
    return Path(path)


def _load_exact(net: TransformNet, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has an unknown tensor {extra[0]}"
        raise WeightsError(f"model '{path}' does not fit the {net.arch} network: it {what}")
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"model '{path}': {key} is {tuple(value.shape)}, expected {tuple(expected[key].shape)}"
            )
    net.load_state_dict({k: v.float() for k, v in tensors.items()})


def read_tf_folder(folder: Path, name: str | None = None) -> Model:
    """A lengstrom network in the TF layout (see the module docstring); its style is the
    folder's name unless ``name`` is given."""
    manifest_path = folder / TF_MANIFEST
    if not os.path.lexists(manifest_path):
        raise WeightsError(
            f"'{folder}' is a folder without {TF_MANIFEST}: not a model in the TF layout"
        )
    try:
        manifest = json.loads(read_text(manifest_path, "TF model manifest", MAX_TF_MANIFEST))
        check_nesting(manifest, f"'{manifest_path}'")
        if not isinstance(manifest, dict):
            raise TypeError("the manifest is not a JSON object")
        variables = [_tf_variable(folder, manifest, i) for i in range(3 * len(LAYERS))]
    except (
        OSError,
        KeyError,
        TypeError,
        ValueError,
        OverflowError,
        RecursionError,
        InputError,
    ) as exc:
        raise WeightsError(f"cannot read the TF model in '{folder}': {error_reason(exc)}") from None
    net = TransformNet("johnson-tf", 1)
    state: dict[str, torch.Tensor] = {}
    for i, spec in enumerate(LAYERS):
        kernel, shift, scale = variables[3 * i : 3 * i + 3]
        # TF kernels are H×W×In×Out (transposed: H×W×Out×In); torch wants Out×In×H×W
        # (transposed: In×Out×H×W): the same permutation for both.
        state[f"convs.{spec.name}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()
        state[f"norms.{spec.name}.gamma"] = scale[None]
        state[f"norms.{spec.name}.beta"] = shift[None]
    _load_exact(net, state, folder)
    style = StyleInfo(name or folder.resolve().name)
    return Model(net, (style,), {}, {"format": "fast-style-tf", "folder": str(folder)})


def _tf_variable(folder: Path, manifest: dict[str, Any], i: int) -> torch.Tensor:
    key = "Variable" if i == 0 else f"Variable_{i}"
    entry = manifest[key]
    if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
        raise TypeError(f"{key} is not an object with a shape list")
    shape = tuple(int(n) for n in entry["shape"][:8])
    expected = _tf_shape(i)
    if shape != expected or len(entry["shape"]) != len(expected):
        # checked before any file is opened: the manifest cannot make us read or allocate more
        raise ValueError(f"{key} has the shape {list(shape)}; the network needs {list(expected)}")
    need = math.prod(shape)
    path = _tf_file(folder, key, entry["filename"])
    data = read_bytes(path, f"{key}'s file", 4 * need)
    if len(data) != 4 * need:
        raise ValueError(
            f"{key} holds {len(data) // 4} values, its shape {list(shape)} needs {need}"
        )
    values = np.frombuffer(data, dtype="<f4")
    return torch.from_numpy(values.reshape(shape).astype(np.float32))


def _tf_shape(i: int) -> tuple[int, ...]:
    """The shape of TF variable ``i``: kernel H×W×In×Out (transposed: H×W×Out×In), then the
    norm's shift and scale (Out)."""
    spec = LAYERS[i // 3]
    if i % 3:
        return (spec.cout,)
    k = spec.kernel
    return (k, k, spec.cout, spec.cin) if spec.up else (k, k, spec.cin, spec.cout)


def _tf_file(folder: Path, key: str, name: object) -> Path:
    """A manifest's ``filename``: a plain name beside ``manifest.json`` that is a regular file
    (a FIFO would block the reader; a path elsewhere is not part of the model)."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{key}'s file {name!r} is not a file in the folder")
    return folder / name


#: pytorch/examples TransformerNet key prefixes for our layers: (conv, instance norm)
_PT_NAMES: dict[str, tuple[str, str | None]] = {
    "conv1": ("conv1.conv2d", "in1"),
    "conv2": ("conv2.conv2d", "in2"),
    "conv3": ("conv3.conv2d", "in3"),
    **{f"res{i}a": (f"res{i}.conv1.conv2d", f"res{i}.in1") for i in range(1, 6)},
    **{f"res{i}b": (f"res{i}.conv2.conv2d", f"res{i}.in2") for i in range(1, 6)},
    "up1": ("deconv1.conv2d", "in4"),
    "up2": ("deconv2.conv2d", "in5"),
    "out": ("deconv3.conv2d", None),
}


def read_torch_examples(path: Path, name: str | None = None) -> Model:
    """pytorch/examples' ``TransformerNet`` state dict, loaded with ``weights_only=True``."""
    state = load_state_dict(path, "TransformerNet checkpoint")
    state = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var"))}
    net = TransformNet("johnson-pt", 1)
    ours: dict[str, torch.Tensor] = {}
    for spec in LAYERS:
        conv, norm = _PT_NAMES[spec.name]
        ours[f"convs.{spec.name}.weight"] = _pt(state, f"{conv}.weight", path)
        ours[f"convs.{spec.name}.bias"] = _pt(state, f"{conv}.bias", path)
        if norm is not None and has_norm("johnson-pt", spec):
            ours[f"norms.{spec.name}.gamma"] = _pt(state, f"{norm}.weight", path)[None]
            ours[f"norms.{spec.name}.beta"] = _pt(state, f"{norm}.bias", path)[None]
    used = {
        f"{p}.{s}" for c, n in _PT_NAMES.values() for p in (c, n) if p for s in ("weight", "bias")
    }
    extra = sorted(set(state) - used)
    if extra:
        raise WeightsError(f"'{path}' is not a TransformerNet state dict: unknown key {extra[0]}")
    _load_exact(net, ours, path)
    return Model(
        net, (StyleInfo(name or path.stem),), {}, {"format": "pytorch-examples", "file": str(path)}
    )


def _pt(state: dict[str, Any], key: str, path: Path) -> torch.Tensor:
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise WeightsError(f"'{path}' is not a TransformerNet state dict: it lacks {key}")
    return value.float()
