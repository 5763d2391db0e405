"""Options of the ``semantic`` segmenter (config table ``[segmenter.semantic]``), apart from its
module: reading them imports no torch (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tst_core.device import check_device_name

ModelName = Literal[
    "deeplabv3_resnet50", "deeplabv3_resnet101", "fcn_resnet50", "lraspp_mobilenet_v3_large"
]


@dataclass(frozen=True)
class CRFParams:
    """Kernel widths and weights of the CRF of :mod:`.crf` (defaults: Krähenbühl & Koltun's for
    VOC; :class:`SemanticOptions`' ``crf_*`` defaults are these).

    :param iterations: mean-field updates (CRF-RNN: 5 while training, 10 at test time).
    :param spatial_sigma: θγ in pixels of the image the CRF runs on.
    :param spatial_weight: w_s.
    :param bilateral_sigma: θα in pixels.
    :param color_sigma: θβ on the 0..255 scale.
    :param bilateral_weight: w_b.
    """

    iterations: int = 5
    spatial_sigma: float = 3.0
    spatial_weight: float = 3.0
    bilateral_sigma: float = 80.0
    color_sigma: float = 13.0
    bilateral_weight: float = 10.0


@dataclass(frozen=True)
class SemanticOptions:
    """:param model: ``deeplabv3_resnet50`` (default; VOC-label mIoU 66.4),
        ``deeplabv3_resnet101`` (67.4, slower), ``fcn_resnet50`` (60.5) or
        ``lraspp_mobilenet_v3_large`` (57.9, fastest), each with torchvision's
        ``COCO_WITH_VOC_LABELS_V1`` weights.
    :param weights: the checkpoint file (``--weights``); default: torchvision's file in the
        ``$TORCH_HOME`` cache, fetched there on first use.
    :param size: the photo is resized so that its short side has this many pixels for the model
        (torchvision's 520); masks come back at the photo's size.
    :param min_area: a class is present when the pixels it wins cover at least this fraction of
        the photo.
    :param min_probability: in the soft masks, class probabilities below this become 0 outside
        the pixels the class wins (the faint tail of the softmax far from the object).
    :param mask_threshold: ``none`` keeps the soft mask (the class probability); a number makes
        pixels above it 1 and the others 0.
    :param crf: refine the probabilities with a fully connected CRF (mean field with a spatial
        and a bilateral kernel, as CRF-RNN) before the masks are cut; see ``crf_*``.
    :param crf_iterations: mean-field updates.
    :param crf_spatial_sigma: θγ, pixels at the model's input size.
    :param crf_spatial_weight: weight of the spatial kernel.
    :param crf_bilateral_sigma: θα, pixels at the model's input size.
    :param crf_color_sigma: θβ, on the 0..255 colour scale.
    :param crf_bilateral_weight: weight of the bilateral kernel.
    :param device: where the model runs; ``none``: the run's device (``--device``).
    """

    model: ModelName = "deeplabv3_resnet50"
    weights: Path | None = None
    size: int = 520
    min_area: float = 0.001
    min_probability: float = 0.05
    mask_threshold: float | None = None
    crf: bool = False
    crf_iterations: int = CRFParams.iterations
    crf_spatial_sigma: float = CRFParams.spatial_sigma
    crf_spatial_weight: float = CRFParams.spatial_weight
    crf_bilateral_sigma: float = CRFParams.bilateral_sigma
    crf_color_sigma: float = CRFParams.color_sigma
    crf_bilateral_weight: float = CRFParams.bilateral_weight
    device: str | None = None

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        check(self.size >= 16, f"size must be at least 16, got {self.size}")
        check(0.0 <= self.min_area < 1.0, f"min_area must be in [0, 1), got {self.min_area}")
        check(
            0.0 <= self.min_probability < 1.0,
            f"min_probability must be in [0, 1), got {self.min_probability}",
        )
        check(
            self.mask_threshold is None or 0.0 < self.mask_threshold < 1.0,
            f"mask_threshold must be in (0, 1) or none, got {self.mask_threshold}",
        )
        check(self.crf_iterations >= 1, "crf_iterations must be at least 1")
        for name in ("crf_spatial_sigma", "crf_bilateral_sigma", "crf_color_sigma"):
            check(getattr(self, name) > 0, f"{name} must be positive")
        for name in ("crf_spatial_weight", "crf_bilateral_weight"):
            check(getattr(self, name) >= 0, f"{name} must be zero or positive")
        if self.device is not None:
            check_device_name(self.device)

    @property
    def crf_params(self) -> CRFParams:
        return CRFParams(
            iterations=self.crf_iterations,
            spatial_sigma=self.crf_spatial_sigma,
            spatial_weight=self.crf_spatial_weight,
            bilateral_sigma=self.crf_bilateral_sigma,
            color_sigma=self.crf_color_sigma,
            bilateral_weight=self.crf_bilateral_weight,
        )
