"""The feature networks' layers: names, strides and receptive fields, without importing torch.

The engine's options check their layer names here (``tst config show`` checks them and imports
no torch); :mod:`.vgg` and :mod:`.resnet` build the networks these tables describe. The names
are explained in :mod:`.vgg` (VGG) and :mod:`.resnet` (ResNet-50).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError
from .networks import NETWORKS, arch_of


@dataclass(frozen=True)
class LayerSpec:
    """One layer (stage) of a feature network.

    :param name: ``conv3_2``, ``relu3_2``, ``pool3`` (VGG); ``relu``, ``layer2.3`` (ResNet).
    :param kind: ``"conv"``, ``"relu"``, ``"pool"``, ``"norm"`` or ``"block"`` (a residual block).
    :param channels: output channels.
    :param stride: total downsampling from the input to this layer's output (1, 2, 4, ... 32).
    :param field: receptive-field width in input pixels of one output cell.
    """

    name: str
    kind: str
    channels: int
    stride: int
    field: int


#: VGG: convolutions per block
VGG_BLOCKS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3), "vgg11": (1, 1, 2, 2, 2)}
VGG_WIDTHS = (64, 128, 256, 512, 512)
#: the VGG networks' default layers: Gatys et al.'s style layers, and content before the ReLU
#: (their "conv4_2" is ``relu4_2``; see :mod:`.vgg`)
VGG_CONTENT_LAYERS = ("conv4_2",)
VGG_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_DETAIL_LAYERS = ("relu3_1", "conv4_2")

#: ResNet-50: (blocks, output channels, stride of the first block) per stage
RESNET_STAGES = ((3, 256, 1), (4, 512, 2), (6, 1024, 2), (3, 2048, 2))
RESNET_CONTENT_LAYERS = ("layer2",)
RESNET_STYLE_LAYERS = ("relu", "layer1", "layer2", "layer3")
RESNET_DETAIL_LAYERS = ("layer1", "layer2")  # strides 4 and 8, as VGG's relu3_1 and conv4_2


def resnet_specs() -> tuple[LayerSpec, ...]:
    """The stages of ResNet-50 in order, with stride and receptive field."""
    out = [
        LayerSpec("conv1", "conv", 64, 2, 7),
        LayerSpec("bn1", "norm", 64, 2, 7),
        LayerSpec("relu", "relu", 64, 2, 7),
        LayerSpec("maxpool", "pool", 64, 4, 11),  # 3×3, stride 2: one cell of stride 2 each side
    ]
    stride, field = 4, 11
    for s, (blocks, channels, first_stride) in enumerate(RESNET_STAGES, start=1):
        for b in range(blocks):
            field += 2 * stride  # the block's 3×3 conv (it carries the block's stride)
            stride *= first_stride if b == 0 else 1
            out.append(LayerSpec(f"layer{s}.{b}", "block", channels, stride, field))
    return tuple(out)


def resnet_aliases() -> dict[str, str]:
    """``layer1`` … ``layer4`` → the last block of that stage."""
    return {f"layer{s}": f"layer{s}.{n - 1}" for s, (n, _, _) in enumerate(RESNET_STAGES, 1)}


def layer_specs(arch: str = "vgg19") -> tuple[LayerSpec, ...]:
    """The layers of ``arch`` (``vgg19``, ``vgg16``, ``vgg11``, ``resnet50``) in order."""
    if arch == "resnet50":
        return resnet_specs()
    if arch not in VGG_BLOCKS:
        raise ConfigError(f"unknown network '{arch}'; choose one of: {', '.join(NETWORKS)}")
    out = []
    stride, field = 1, 1
    for b, (count, width) in enumerate(zip(VGG_BLOCKS[arch], VGG_WIDTHS, strict=True), start=1):
        for i in range(1, count + 1):
            field += 2 * stride  # a 3×3 convolution widens the field by one cell each side
            out.append(LayerSpec(f"conv{b}_{i}", "conv", width, stride, field))
            out.append(LayerSpec(f"relu{b}_{i}", "relu", width, stride, field))
        field += stride  # a 2×2 pooling with stride 2
        stride *= 2
        out.append(LayerSpec(f"pool{b}", "pool", width, stride, field))
    return tuple(out)


def aliases(network: str) -> dict[str, str]:
    """Names that stand for another layer of ``network`` (ResNet's ``layerN``)."""
    return resnet_aliases() if arch_of(network) == "resnet50" else {}


def layer_names(network: str = "vgg19") -> tuple[str, ...]:
    """All layer names of ``network``, in order (ResNet's ``layerN`` after its last block)."""
    names: list[str] = []
    by_stage = {stage: alias for alias, stage in aliases(network).items()}
    for spec in layer_specs(arch_of(network)):
        names.append(spec.name)
        if spec.name in by_stage:
            names.append(by_stage[spec.name])
    return tuple(names)


def default_layers(network: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The content, style and detail layers ``network`` uses unless told otherwise."""
    if arch_of(network) == "resnet50":
        return RESNET_CONTENT_LAYERS, RESNET_STYLE_LAYERS, RESNET_DETAIL_LAYERS
    return VGG_CONTENT_LAYERS, VGG_STYLE_LAYERS, VGG_DETAIL_LAYERS


def check_layers(layers: Iterable[str], network: str, what: str) -> None:
    """Raise :class:`ConfigError` for a layer name ``network`` does not have."""
    known = layer_names(network)
    examples = (
        "layer2, relu, layer3.5" if arch_of(network) == "resnet50" else "conv4_2, relu1_1, pool3"
    )
    for name in layers:
        if name not in known:
            raise ConfigError(
                f"{what}: unknown layer '{name}' for {network}; layers are named like "
                f"{examples} (from {known[0]} to {known[-1]})"
            )


def receptive_field(layer: str, network: str = "vgg19") -> LayerSpec:
    """Stride and receptive-field width of ``layer`` (see :class:`LayerSpec`); ``network`` may
    also be an architecture name (``net.arch``)."""
    stage = aliases(network).get(layer, layer)
    for spec in layer_specs(arch_of(network)):
        if spec.name == stage:
            return spec
    raise ConfigError(f"unknown layer '{layer}' for {network}")
