"""Options of the ``detectron2`` segmenter (config table ``[segmenter.detectron2]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"


@dataclass(frozen=True)
class Detectron2Options:
    """Which Detectron2 model to run and how.

    :param config: a model-zoo config name (``COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml``,
        ``new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py``, ...) or the path of a config file
        (``.yaml``, or a ``.py`` LazyConfig).
    :param weights: the checkpoint (``--weights``, ``.pkl`` or ``.pth``); default for a model-zoo
        config: its trained checkpoint (``model_final_*.pkl``) in the ``$TORCH_HOME`` cache.
    :param score_threshold: drop detections scoring below this.
    :param min_size: shorter side, in pixels, the photo is resized to for the model; ``None``
        keeps the config's (800 for the COCO models). Smaller is faster and coarser.
    :param labels: class names by class index, replacing the dataset's (for custom models).
    """

    config: str = DEFAULT_CONFIG
    weights: Path | None = None
    score_threshold: float = 0.5
    min_size: int | None = None
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if self.min_size is not None and not 16 <= self.min_size <= 4096:
            raise ValueError(f"min_size must be between 16 and 4096 pixels, got {self.min_size}")
        if not self.config.strip():
            raise ValueError("config must name a model-zoo config or a config file")
