"""Options of the feed-forward engines (cheap to import: ``tst plugins`` reads them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

TrainMode = Literal["all", "norm-only"]


@dataclass(frozen=True)
class FeedForwardOptions:
    """Options of ``fast`` and ``cin`` (``[engine.fast]``, ``[engine.cin]``).

    :param model: the configured model (a ``.safetensors`` file, a TF-layout folder or a
        TransformerNet ``.pth``): style names and style images resolve against it.
    :param roi_margin: context in pixels around the targets that the network sees.
    :param threads: CPU threads for torch; ``None``: torch's default.
    :param precision: ``fp32``, or ``bf16``/``fp16`` autocast for the network (with the
        channels-last memory layout on a CPU): about twice as fast on CPUs and GPUs with
        half-precision units, the output within a few levels of 255 of fp32's.
    :param render: at native resolution (``stylize_native``), where the network runs:
        ``working`` at the working scale (strokes sized relative to the frame as at
        ``run.size``; the rendering is brought to native size guided by the photo) or
        ``native`` on the native pixels (strokes at the network's trained size in pixels).
    :param upsample: how ``render = "working"`` brings the rendering to native size: ``guided``
        (with the photo's finer detail, :func:`tst_core.upsample.upsample_image`), or a plain
        ``bicubic`` or ``bilinear`` resize.
    """

    model: Path | None = None
    roi_margin: int = 32
    threads: int | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    render: Literal["working", "native"] = "working"
    upsample: Literal["guided", "bicubic", "bilinear"] = "guided"

    def __post_init__(self) -> None:
        if self.roi_margin < 0:
            raise ValueError(f"roi_margin must be zero or positive, got {self.roi_margin}")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")


@dataclass(frozen=True)
class TrainOptions:
    """Settings of one training run (the flags of ``tst train``).

    :param styles: the style images; each becomes a style named after its file.
    :param content: a folder of content photos.
    :param output: the model file to write (``.safetensors``).
    :param size: side of the square random crops, in pixels (photos are first scaled so that
        their short side is ``size``).
    :param style_size: long side of the style images (default ``size``).
    :param holdout: photos kept out of training for evaluation (a seeded choice, recorded).
    :param init_from: a trained network to start from (any layout :func:`load_model` reads).
    :param train: ``norm-only`` (default with ``init_from``) or ``all`` (default without).
    :param degree: ε: the style term is multiplied by ``10^ε``.
    :param network: the loss network (``vgg19`` embedded, ``torchvision-vgg19``/``-vgg16``/``-vgg11``).
    :param checkpoint_every: steps between checkpoints (0: only at the end).
    :param keep_checkpoints: keep a copy of the model at every checkpoint.
    :param preview_every: steps between preview sheets (0: none).
    """

    styles: tuple[Path, ...]
    content: Path
    output: Path
    size: int = 256
    style_size: int | None = None
    batch: int = 4
    steps: int = 1000
    lr: float = 1e-3
    schedule: Literal["cosine", "constant"] = "cosine"
    content_layers: tuple[str, ...] = ("relu3_1",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    content_weight: float = 1.0
    style_weight: float = 1.0
    degree: float = 1.0
    tv_weight: float = 0.0
    network: str = "vgg19"
    init_from: Path | None = None
    train: TrainMode | None = None
    arch: str = "johnson-tf"
    holdout: int = 8
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    checkpoint_every: int = 0
    keep_checkpoints: bool = False
    preview_every: int = 0
    resume: bool = False

    @property
    def mode(self) -> TrainMode:
        return self.train or ("norm-only" if self.init_from is not None else "all")

    def settings(self) -> dict[str, Any]:
        """JSON-ready settings for the model's metadata."""
        out = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        out["styles"] = [str(s) for s in self.styles]
        out["train"] = self.mode
        return out
