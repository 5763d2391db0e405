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
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tst_core.errors import WeightsError
from tst_core.outputs import write_outputs
from tst_core.weights import error_reason, load_state_dict

from .network import LAYERS, TransformNet, has_norm

FORMAT = "tst-transform-net"
FORMAT_VERSION = "1"
TF_MANIFEST = "manifest.json"


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
    with open(path, "rb") as f:
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
    if not p.is_file():
        raise WeightsError(f"model '{p}' does not exist")
    head = p.open("rb").read(9)
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
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:
        raise WeightsError(f"cannot read model '{path}': {error_reason(exc)}") from None
    if meta.get("format") != FORMAT:
        raise WeightsError(
            f"'{path}' is a safetensors file but not a tst model (no format={FORMAT})"
        )
    try:
        styles = tuple(StyleInfo(**s) for s in json.loads(meta["styles"]))
        net = TransformNet(meta["architecture"], len(styles))
        training, source = (
            json.loads(meta.get("training", "{}")),
            json.loads(meta.get("source", "{}")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"model '{path}' has bad metadata: {error_reason(exc)}") from None
    _load_exact(net, tensors, path)
    return Model(net, styles, training, source)


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
    if not manifest_path.is_file():
        raise WeightsError(
            f"'{folder}' is a folder without {TF_MANIFEST}: not a model in the TF layout"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        variables = [_tf_variable(folder, manifest, i) for i in range(3 * len(LAYERS))]
    except (OSError, KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
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
    shape = tuple(int(n) for n in entry["shape"])
    need = math.prod(shape)
    if min(shape, default=0) < 0:
        raise ValueError(f"{key} has a negative size in its shape {list(shape)}")
    path = _tf_file(folder, key, entry["filename"])
    values = path.stat().st_size // 4
    if values != need:  # checked before reading: the manifest cannot make us read more
        raise ValueError(f"{key} holds {values} values, its shape {list(shape)} needs {need}")
    data = np.fromfile(path, dtype="<f4", count=need)
    return torch.from_numpy(data.reshape(shape).astype(np.float32))


def _tf_file(folder: Path, key: str, name: object) -> Path:
    """A manifest's ``filename``: a plain name beside ``manifest.json`` that is a regular file
    (a FIFO would block the reader; a path elsewhere is not part of the model)."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{key}'s file {name!r} is not a file in the folder")
    path = folder / name
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError(f"{key}'s file {name!r} is not a regular file (a FIFO, device or socket)")
    return path


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
