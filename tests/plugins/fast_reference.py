"""Independent references for the feed-forward engine's tests.

* :func:`numpy_tf_forward` evaluates a network in the ``../shared/models/fast-style-tf`` layout
  in plain numpy, written from lengstrom's graph and TensorFlow's definitions (``SAME``
  padding, and ``conv2d_transpose`` as the gradient of a ``SAME`` convolution), not from the
  plugin's code.
* :func:`write_tf_folder` writes a random network in that layout.
* :class:`ExamplesTransformerNet` is pytorch/examples' fast_neural_style ``TransformerNet``
  structure (reflection padding, nearest upsampling), with its state-dict keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

# (out channels, kernel, stride, kind) of lengstrom's transform net: kind c = conv + IN + ReLU,
# n = conv + IN (no ReLU), t = transposed conv + IN + ReLU; residual blocks are (c, n) pairs.
TF_NET = [(32, 9, 1, "c"), (64, 3, 2, "c"), (128, 3, 2, "c")]
TF_NET += [(128, 3, 1, "c"), (128, 3, 1, "n")] * 5
TF_NET += [(64, 3, 2, "t"), (32, 3, 2, "t"), (3, 9, 1, "n")]


def write_tf_folder(folder: Path, seed: int = 0) -> Path:
    """A random network in the TF layout: manifest.json plus raw little-endian float32 files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    manifest, cin = {}, 3
    for layer, (cout, k, _, kind) in enumerate(TF_NET):
        shape = [k, k, cout, cin] if kind == "t" else [k, k, cin, cout]
        values = [
            rng.normal(0.0, 0.1, shape),
            rng.normal(0.0, 0.2, [cout]),  # shift
            1.0 + rng.normal(0.0, 0.2, [cout]),  # scale
        ]
        for j, (value, var_shape) in enumerate(zip(values, [shape, [cout], [cout]], strict=True)):
            i = 3 * layer + j
            name = "Variable" if i == 0 else f"Variable_{i}"
            value.astype("<f4").tofile(folder / name)
            manifest[name] = {"filename": name, "shape": var_shape}
        cin = cout
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _variables(folder: Path) -> list[np.ndarray]:
    manifest = json.loads((folder / "manifest.json").read_text())
    out = []
    for i in range(48):
        entry = manifest["Variable" if i == 0 else f"Variable_{i}"]
        out.append(np.fromfile(folder / entry["filename"], "<f4").reshape(entry["shape"]))
    return out


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv(x: np.ndarray, kernel: np.ndarray, s: int) -> np.ndarray:
    """tf.nn.conv2d(x, kernel, strides=s, padding='SAME'); x (H, W, I), kernel (k, k, I, O)."""
    k = kernel.shape[0]
    (top, bottom), (left, right) = _same_pads(x.shape[0], k, s), _same_pads(x.shape[1], k, s)
    xp = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    oh, ow = -(-x.shape[0] // s), -(-x.shape[1] // s)
    out = np.zeros((oh, ow, kernel.shape[3]), np.float64)
    for i in range(k):
        for j in range(k):
            out += xp[i : i + s * oh : s, j : j + s * ow : s] @ kernel[i, j]
    return out


def _conv_transpose(x: np.ndarray, kernel: np.ndarray, s: int) -> np.ndarray:
    """tf.nn.conv2d_transpose(x, kernel, output (s·H, s·W), SAME); kernel (k, k, O, I).

    The gradient of y = conv2d(z, kernel, SAME) with respect to z: y[j] reads
    z[s·j + t − pad_before], so z[s·j + t − pad_before] += x[j] · kernel[t].
    """
    k = kernel.shape[0]
    h, w = x.shape[:2]
    oh, ow = s * h, s * w
    t0, l0 = _same_pads(oh, k, s)[0], _same_pads(ow, k, s)[0]
    big = np.zeros((oh + k + s, ow + k + s, kernel.shape[2]), np.float64)
    for i in range(k):
        for j in range(k):
            big[i : i + s * h : s, j : j + s * w : s] += x @ kernel[i, j].T
    return big[t0 : t0 + oh, l0 : l0 + ow]


def _instance_norm(x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    return scale * (x - mu) / np.sqrt(var + 1e-3) + shift


def numpy_tf_forward(folder: Path, image: np.ndarray) -> np.ndarray:
    """The network in ``folder`` applied to ``image`` (H, W, 3) RGB 0..255 → (H, W, 3) 0..255."""
    v = _variables(folder)
    x = image.astype(np.float64)
    skip = x
    for layer, (_, _, s, kind) in enumerate(TF_NET):
        kernel, shift, scale = v[3 * layer : 3 * layer + 3]
        if 3 <= layer < 13 and layer % 2 == 1:
            skip = x  # input of a residual block
        x = _conv_transpose(x, kernel, s) if kind == "t" else _conv(x, kernel, s)
        x = _instance_norm(x, shift, scale)
        if kind != "n":
            x = np.maximum(x, 0.0)
        if 3 <= layer < 13 and layer % 2 == 0:
            x = x + skip
    return np.clip(np.tanh(x) * 150.0 + 255.0 / 2, 0.0, 255.0)


class _ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, upsample: int | None = None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.in1 = _ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = _ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))


class ExamplesTransformerNet(nn.Module):
    """pytorch/examples' TransformerNet: input and output RGB on the 0..255 scale."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.in1 = _ConvLayer(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = _ConvLayer(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = _ConvLayer(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", _Residual(128))
        self.deconv1 = _ConvLayer(128, 64, 3, 1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = _ConvLayer(64, 32, 3, 1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = _ConvLayer(32, 3, 9, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.in1(self.conv1(x)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = torch.relu(self.in4(self.deconv1(y)))
        y = torch.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)
