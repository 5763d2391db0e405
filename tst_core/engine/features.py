"""What every feature network of the engine is: named stages in sequence, frozen, fed RGB in
[0, 1] and returning the outputs asked for by name.

:mod:`.vgg` builds the VGG networks and :mod:`.resnet` ResNet-50 as :class:`FeatureNet` s;
both describe their layers with :class:`~.layers.LayerSpec` (stride and receptive field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..types import Tensor
from .layers import LayerSpec

#: mean pixel of the Caffe VGG models, in B, G, R order, on the 0..255 scale
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision's ImageNet normalisation, RGB in [0, 1]
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


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
    """Named stages applied in order, with named outputs; weights frozen, eval mode.

    :param stages: one module per spec, in order (held in ``stages``).
    :param specs: the stages' :class:`LayerSpec` s.
    :param arch: ``"vgg19"``, ``"vgg16"``, ``"vgg11"`` or ``"resnet50"``.
    :param normalize: the input conversion.
    :param aliases: further names for a stage's output (``{"layer1": "layer1.2"}``).
    :param ceil: feature maps round their sizes up at each stride (strided convolutions with
        padding, as ResNet's) instead of down (VGG's 2×2 poolings).
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        specs: Sequence[LayerSpec],
        *,
        arch: str,
        normalize: Normalize,
        aliases: Mapping[str, str] | None = None,
        ceil: bool = False,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.specs = tuple(specs)
        self.normalize = normalize
        if len(stages) != len(self.specs):
            raise ValueError(f"{len(stages)} stages for {len(self.specs)} layer specs")
        self.stages = nn.ModuleList(stages)  # a ModuleDict refuses ResNet's dotted names
        self.aliases = dict(aliases or {})
        self.ceil = ceil
        self.requires_grad_(False)
        self.eval()

    @property
    def last(self) -> str:
        """The deepest layer this network computes."""
        return self.specs[-1].name

    def spec(self, layer: str) -> LayerSpec:
        """The :class:`LayerSpec` of ``layer`` (an alias names its stage)."""
        stage = self.aliases.get(layer, layer)
        for spec in self.specs:
            if spec.name == stage:
                return spec
        raise ConfigError(f"layer {layer} not in this network (ends at {self.last})")

    def map_size(self, size: tuple[int, int], layer: str) -> tuple[int, int]:
        """``(h, w)`` of ``layer``'s feature map for an input of ``size`` ``(H, W)``."""
        stride = self.spec(layer).stride
        if self.ceil:
            return -(-size[0] // stride), -(-size[1] // stride)
        return size[0] // stride, size[1] // stride

    def forward(self, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Features of ``image``.

        :param image: ``(N, 3, H, W)`` RGB in [0, 1] (values outside are allowed while optimising).
        :param layers: names of the layers to return; computation stops at the deepest one.
        :returns: ``{name: (N, C, H / stride, W / stride)}`` (sizes floored at each pooling).
        """
        asked = {name: self.aliases.get(name, name) for name in layers}
        wanted = set(asked.values())
        got: dict[str, Tensor] = {}
        if not wanted:
            return {}
        x = self.normalize(image)
        previous = LayerSpec("", "", 0, 1, 1)
        for spec, layer in zip(self.specs, self.stages, strict=True):
            # A ReLU after a convolution may overwrite the conv output (halving the activations
            # kept for the backward pass) unless that output is itself asked for.
            in_place = spec.kind == "relu" and previous.kind == "conv"
            x = torch.relu_(x) if in_place and previous.name not in wanted else layer(x)
            previous = spec
            if spec.name in wanted:
                got[spec.name] = x
                if len(got) == len(wanted):
                    return {name: got[stage] for name, stage in asked.items()}
        missing = sorted(n for n, stage in asked.items() if stage not in got)
        raise ConfigError(
            f"layer(s) {', '.join(missing)} not in this network (ends at {self.last})"
        )
