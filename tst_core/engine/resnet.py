"""ResNet-50 (He et al. 2016) as a feature network, from a torchvision checkpoint.

Its layers are torchvision's module names: the stem ``conv1``, ``bn1``, ``relu`` (stride 2) and
``maxpool`` (stride 4), then the bottleneck blocks ``layer1.0`` … ``layer1.2`` (stride 4, 256
channels), ``layer2.0`` … ``layer2.3`` (stride 8, 512), ``layer3.0`` … ``layer3.5`` (stride 16,
1024) and ``layer4.0`` … ``layer4.2`` (stride 32, 2048). ``layer1`` … ``layer4`` name the output
of each stage's last block. Batch norm runs in eval mode with the checkpoint's statistics.

Default layers (used when the engine's ``content_layers``/``style_layers`` are left at the VGG
defaults): content ``layer2`` (stride 8, like VGG's ``conv4_2``), style ``relu``, ``layer1``,
``layer2``, ``layer3`` (strides 2 to 16, like ``relu1_1`` … ``relu5_1``). ResNet features are
known to transfer style less well than VGG's (their activations are peakier); the network is
here to compare, as one reference system did.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import WeightsError
from ..types import Tensor
from .features import FeatureNet, Normalize
from .layers import (
    RESNET_CONTENT_LAYERS,
    RESNET_DETAIL_LAYERS,
    RESNET_STAGES,
    RESNET_STYLE_LAYERS,
    resnet_aliases,
    resnet_specs,
)

#: the stages' layers and default layers, in :mod:`.layers` (no torch)
STAGES = RESNET_STAGES
CONTENT_LAYERS = RESNET_CONTENT_LAYERS
STYLE_LAYERS = RESNET_STYLE_LAYERS
DETAIL_LAYERS = RESNET_DETAIL_LAYERS
layer_specs = resnet_specs
aliases = resnet_aliases


def build(
    state: dict[str, Any],
    *,
    pooling: str = "max",
    padding: str = "zero",
    last: str | None = None,
    file: object = "checkpoint",
) -> FeatureNet:
    """A ResNet-50 :class:`FeatureNet` from a torchvision ``resnet50`` state dict.

    :param pooling: ``max`` (as trained) or ``avg`` for the stem's 3×3 pooling.
    :param padding: ``zero`` or ``reflect`` padding of every padded convolution.
    :param last: the deepest stage to keep.
    """
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()]
        raise WeightsError(
            f"'{file}' is not a torchvision resnet50 checkpoint ({(lines or [str(exc)])[0][:160]})"
        ) from None
    specs = layer_specs()
    if last is not None:
        specs = specs[: [s.name for s in specs].index(last) + 1]
    modules = dict(model.named_modules())
    stages = [_stage(spec.name, modules, pooling) for spec in specs]
    if padding == "reflect":
        for stage in stages:
            for m in stage.modules():
                if isinstance(m, nn.Conv2d) and m.padding != (0, 0):
                    m.padding_mode = "reflect"
    return FeatureNet(
        stages,
        specs,
        arch="resnet50",
        normalize=Normalize(caffe=False),
        aliases=aliases(),
        ceil=True,
    )


def _stage(name: str, modules: dict[str, nn.Module], pooling: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()  # torchvision's is in place, which would overwrite a requested bn1
    if name == "maxpool" and pooling == "avg":
        return nn.AvgPool2d(3, 2, 1, count_include_pad=False)
    return modules[name]


def checkpoint_state(state: object, file: object) -> dict[str, Tensor]:
    """``state`` if it looks like a torchvision ResNet state dict, else a :class:`WeightsError`."""
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise WeightsError(f"'{file}' is not a torchvision resnet50 checkpoint (no conv1.weight)")
    return state
