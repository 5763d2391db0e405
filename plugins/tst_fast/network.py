"""Johnson et al. (2016) transform networks with conditional instance norm (Dumoulin et al. 2017).

One class covers the two layouts that trained networks come in (:data:`ARCHS`):

* ``johnson-tf`` — lengstrom/fast-style-transfer (the networks in ``../shared/models``): no
  conv biases, TensorFlow ``SAME`` zero padding, transposed 3×3 convolutions to upsample, an
  instance norm after every convolution (the last one too), eps 1e-3, output
  ``tanh(x)·150 + 127.5``;
* ``johnson-pt`` — pytorch/examples' ``fast_neural_style`` ``TransformerNet``: conv biases,
  reflection padding, nearest ×2 upsampling then a 3×3 convolution, no norm after the last
  convolution, eps 1e-5, the output clipped.

Both take RGB on the 0..255 scale. Every instance norm is *conditional*: its scale γ and shift
β are a row per style, ``(S, C)``; a Johnson network is the case ``S = 1``. A forward pass
takes style weights: ``(N, S)`` (one mix per image) or ``(N, S, H, W)`` (a mix per pixel,
resized to each layer by area averaging, so each pixel's γ/β is the convex combination of
its styles' rows — how the ``cin`` engine runs K targets in one pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
Arch = Literal["johnson-tf", "johnson-pt"]
ARCHS: tuple[str, ...] = get_args(Arch)


@dataclass(frozen=True)
class LayerSpec:
    """One convolution: name, channels, kernel, ``stride`` (2 down) or ``up`` (×2), ReLU after."""

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    up: bool = False
    relu: bool = True


def _layers() -> tuple[LayerSpec, ...]:
    specs = [
        LayerSpec("conv1", 3, 32, 9),
        LayerSpec("conv2", 32, 64, 3, stride=2),
        LayerSpec("conv3", 64, 128, 3, stride=2),
    ]
    for i in range(1, 6):
        specs += [
            LayerSpec(f"res{i}a", 128, 128, 3),
            LayerSpec(f"res{i}b", 128, 128, 3, relu=False),
        ]
    specs += [
        LayerSpec("up1", 128, 64, 3, up=True),
        LayerSpec("up2", 64, 32, 3, up=True),
        LayerSpec("out", 32, 3, 9, relu=False),
    ]
    return tuple(specs)


#: the 16 convolutions, in order (the residual blocks are ``resNa``/``resNb``)
LAYERS = _layers()
EPS: dict[str, float] = {"johnson-tf": 1e-3, "johnson-pt": 1e-5}


def has_norm(arch: str, layer: LayerSpec) -> bool:
    """Whether ``layer`` is followed by a (conditional) instance norm in ``arch``."""
    return arch == "johnson-tf" or layer.name != "out"


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding ``(before, after)`` of one axis (the extra pixel goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class CondInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a convex mix of ``styles`` rows.

    :param channels: C. :param styles: S. Parameters ``gamma`` and ``beta`` are ``(S, C)``.
    """

    def __init__(self, channels: int, styles: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """:param x: ``(N, C, h, w)``. :param weights: ``(N, S)`` or ``(N, S, h, w)``."""
        if weights.ndim == 2 and x.shape[0] == 1:  # one mix: the fused kernel
            return F.instance_norm(
                x, weight=(weights @ self.gamma)[0], bias=(weights @ self.beta)[0], eps=self.eps
            )
        x = F.instance_norm(x, eps=self.eps)
        if weights.ndim == 2:
            gamma, beta = weights @ self.gamma, weights @ self.beta
            return torch.addcmul(beta[:, :, None, None], x, gamma[:, :, None, None])
        gamma = torch.einsum("nshw,sc->nchw", weights, self.gamma)
        beta = torch.einsum("nshw,sc->nchw", weights, self.beta)
        return torch.addcmul(beta, x, gamma)


class Conv(nn.Module):
    """One convolution of the network in ``arch``'s padding and upsampling convention."""

    def __init__(self, spec: LayerSpec, arch: str) -> None:
        super().__init__()
        self.spec, self.arch = spec, arch
        bias = arch == "johnson-pt"
        k = spec.kernel
        if spec.up and arch == "johnson-tf":
            self.weight = nn.Parameter(torch.zeros(spec.cin, spec.cout, k, k))  # transposed conv
        else:
            self.weight = nn.Parameter(torch.zeros(spec.cout, spec.cin, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.cout)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.spec.kernel, self.spec.stride
        if self.arch == "johnson-pt":
            if self.spec.up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.pad(x, (k // 2,) * 4, mode="reflect")
            return F.conv2d(x, self.weight, self.bias, stride=s)
        if self.spec.up:
            # TF conv2d_transpose(SAME, stride 2) writes output pixel 2j + t from input j and
            # kernel tap t: a full transposed conv, cropped to twice the input (PyTorch's
            # padding=1/output_padding=1 would shift it by one pixel).
            h, w = x.shape[-2:]
            return F.conv_transpose2d(x, self.weight, stride=2)[..., : 2 * h, : 2 * w]
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        if top == bottom and left == right:  # stride 1: the convolution pads itself
            return F.conv2d(x, self.weight, stride=s, padding=(top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, stride=s)


class TransformNet(nn.Module):
    """A Johnson transform network with ``styles`` rows of γ/β in every instance norm.

    :param arch: one of :data:`ARCHS`. :param styles: S ≥ 1.
    """

    def __init__(self, arch: str = "johnson-tf", styles: int = 1) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
        self.arch = arch
        self.convs = nn.ModuleDict({spec.name: Conv(spec, arch) for spec in LAYERS})
        self.norms = nn.ModuleDict(
            {
                spec.name: CondInstanceNorm(spec.cout, styles, EPS[arch])
                for spec in LAYERS
                if has_norm(arch, spec)
            }
        )

    @property
    def styles(self) -> int:
        """S, the number of style rows."""
        norm = self.norms["conv1"]
        assert isinstance(norm, CondInstanceNorm)
        return int(norm.gamma.shape[0])

    def norm_parameters(self) -> list[nn.Parameter]:
        """Every γ and β, ``(S, C)`` each (what ``norm-only`` training changes)."""
        return [p for n, p in self.named_parameters() if n.startswith("norms.")]

    def conv_weights(self) -> list[nn.Parameter]:
        """Every convolution's weight (biases excluded)."""
        return [
            p for n, p in self.named_parameters() if n.startswith("convs.") and n.endswith("weight")
        ]

    def forward(self, image: Tensor, weights: Tensor) -> Tensor:
        """Stylise ``image`` with the style mix ``weights``.

        :param image: ``(N, 3, H, W)`` RGB in [0, 1], any size (padded by reflection to a
            multiple of 4 inside, and cropped back).
        :param weights: ``(N, S)`` or ``(N, S, H, W)``, non-negative, summing to 1 over S.
        :returns: ``(N, 3, H, W)`` in [0, 1].
        """
        h, w = image.shape[-2:]
        ph, pw = -h % 4, -w % 4
        x = F.pad(image * 255.0, (0, pw, 0, ph), mode="reflect") if ph or pw else image * 255.0
        if weights.ndim == 4 and (ph or pw):
            weights = F.pad(weights, (0, pw, 0, ph), mode="replicate")
        maps: dict[tuple[int, int], Tensor] = {}
        skip = x
        for spec in LAYERS:
            if spec.name.endswith("a"):
                skip = x
            x = self.convs[spec.name](x)
            if spec.name in self.norms:
                x = self.norms[spec.name](x, _at(weights, x, maps))
            if spec.relu:
                x = torch.relu_(x)
            if spec.name.startswith("res") and spec.name.endswith("b"):
                x = x.add_(skip)
        x = torch.tanh(x) * 150.0 + 127.5 if self.arch == "johnson-tf" else x
        return (x[..., :h, :w] / 255.0).clamp(0.0, 1.0)


def _at(weights: Tensor, x: Tensor, maps: dict[tuple[int, int], Tensor]) -> Tensor:
    """Style weights for features ``x``: as given, or the spatial map area-averaged to x's size."""
    if weights.ndim == 2:
        return weights
    size = (int(x.shape[-2]), int(x.shape[-1]))
    if size not in maps:
        maps[size] = (
            weights if tuple(weights.shape[-2:]) == size else F.adaptive_avg_pool2d(weights, size)
        )
    return maps[size]


def one_hot(index: int, styles: int, batch: int = 1) -> Tensor:
    """Weights ``(batch, styles)`` that pick style ``index``."""
    w = torch.zeros(batch, styles)
    w[:, index] = 1.0
    return w
