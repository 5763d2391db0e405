"""Semantic segmentation with torchvision's models, one instance per class present."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from tst_core.boxes import Box
from tst_core.device import resolve_device
from tst_core.errors import WeightsError
from tst_core.hub import resolve
from tst_core.records import record, torchvision_weights
from tst_core.types import Env, Instance, Segmentation, Tensor, mask_grid

from .crf import mean_field
from .options import SemanticOptions
from .records import WEIGHTS

#: model → its weights record (COCO images, the 20 PASCAL VOC classes plus background)
RECORDS = {model: name for model, (name, _, _) in WEIGHTS.items()}

#: VOC names that COCO (and so the torchvision and yolo segmenters) spell otherwise; labels use
#: COCO's, so that ``--style car=...`` or ``tv=...`` means the same with every segmenter
COCO_NAMES = {
    "aeroplane": "airplane",
    "diningtable": "dining table",
    "motorbike": "motorcycle",
    "pottedplant": "potted plant",
    "sofa": "couch",
    "tvmonitor": "tv",
}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def categories(model: str) -> list[str]:
    """The 21 class names of ``model``'s weights (``background`` first), in COCO's spelling."""
    weights = torchvision_weights(WEIGHTS[model][1])
    names = [COCO_NAMES.get(n, n) for n in weights.meta["categories"]]
    return ["background", *names[1:]]


def build_model(options: SemanticOptions, *, pretrained: bool = True) -> torch.nn.Module:
    """``options.model`` for the 21 VOC classes, in eval mode, without its auxiliary head.

    :param pretrained: load the checkpoint (``False``: random initialisation of the same
        architecture, for tests and timing only).
    """
    from torchvision.models import segmentation

    path = None
    if pretrained:  # before building: a missing checkpoint fails before seconds of set-up
        path = resolve(
            record(RECORDS[options.model]),
            path=options.weights,
            alternatives="or use another segmenter (see `tst plugins`)",
        )
    builder = getattr(segmentation, options.model)
    extra = {} if options.model.startswith("lraspp") else {"aux_loss": True}
    model: Any = builder(weights=None, weights_backbone=None, num_classes=21, **extra)
    if path is not None:
        from tst_core.weights import load_state_dict

        try:
            model.load_state_dict(load_state_dict(path, f"{options.model} checkpoint"))
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()]
            raise WeightsError(
                f"checkpoint '{path}' does not fit {options.model} ({(lines or [str(exc)])[0][:160]}); "
                "is it another model (segmenter.semantic.model)?"
            ) from None
    if hasattr(model, "aux_classifier"):
        model.aux_classifier = None  # only used in training
    return model.eval()


class SemanticSegmenter:
    """One instance per class present: label, soft mask (the class probability at the photo's
    size), score (the mean probability where the class wins), box (where it wins).

    :param model: a ready model to use instead of building one (tests pass a randomly
        initialised one); it maps ``(1, 3, h, w)`` normalised RGB to ``{"out": (1, 21, h, w)}``.
    """

    def __init__(
        self,
        options: SemanticOptions,
        env: Env | None = None,
        *,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.options = options
        self.device = resolve_device(options.device or (env.device if env else "auto"))
        net = model if model is not None else build_model(options)
        self.model = net.eval().to(self.device)
        self.categories = categories(options.model)
        #: seconds the last call spent in the CRF (0 without it)
        self.crf_seconds = 0.0

    def probabilities(self, photo: Tensor) -> tuple[Tensor, Tensor]:
        """The model's input ``(3, h, w)`` in [0, 1] and its class probabilities ``(21, h, w)``
        (CRF-refined if asked), at the model's input size."""
        h, w = photo.shape[-2:]
        scale = self.options.size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        image = F.interpolate(photo[None], size=size, mode="bilinear", antialias=True)[0]
        image = image.clamp(0.0, 1.0).to(self.device)
        mean = torch.tensor(MEAN, device=self.device).view(3, 1, 1)
        std = torch.tensor(STD, device=self.device).view(3, 1, 1)
        with torch.inference_mode():
            logits = self.model(((image - mean) / std)[None])["out"][0].float()
        probs = torch.softmax(logits, dim=0)
        self.crf_seconds = 0.0
        if self.options.crf:
            t0 = time.perf_counter()
            probs = refine(probs, image, self.options)
            self.crf_seconds = time.perf_counter() - t0
        return image, probs

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: one instance per class present,
        boxes in photo pixels, masks at the model's input size (at most ``(H, W)``)."""
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        _, probs = self.probabilities(photo)
        wins = probs.argmax(dim=0)
        grid = mask_grid(size, max(probs.shape[-2:]))
        full = F.interpolate(probs[None], size=grid, mode="bilinear", align_corners=False)[0]
        full = full.clamp(0.0, 1.0).cpu()
        full_wins = full.argmax(dim=0)
        instances = []
        for c in range(1, len(self.categories)):
            if float((wins == c).float().mean()) < max(self.options.min_area, 1e-12):
                continue
            region = full_wins == c
            if not bool(region.any()):
                continue
            instances.append(self._instance(c, full[c], region, size))
        return Segmentation(tuple(instances), size)

    def _instance(self, c: int, prob: Tensor, region: Tensor, size: tuple[int, int]) -> Instance:
        o = self.options
        if o.mask_threshold is not None:
            mask = (prob > o.mask_threshold).float()
        else:
            # the mask covers at least where the class wins, whatever its probability there
            mask = torch.where((prob >= o.min_probability) | region, prob, torch.zeros_like(prob))
        score = float(prob[region].mean())
        box = Box.around(region.float()).scaled(size[1] / prob.shape[1], size[0] / prob.shape[0])
        return Instance(self.categories[c], score, box, mask.contiguous())


def refine(probs: Tensor, image: Tensor, options: SemanticOptions) -> Tensor:
    """CRF refinement of ``probs`` ``(21, h, w)`` over the classes that matter: those reaching
    ``min_probability`` somewhere (and background); the others keep their probabilities.

    :param image: ``(3, h, w)`` RGB in [0, 1].
    """
    keep = (probs.amax(dim=(1, 2)) >= max(options.min_probability, 1e-6)).nonzero().flatten()
    keep = torch.unique(torch.cat([keep, keep.new_zeros(1)]))
    if len(keep) < 2:
        return probs
    sub = probs[keep]
    mass = sub.sum(dim=0, keepdim=True)
    refined = mean_field(sub / mass, image * 255.0, options.crf_params) * mass
    out = probs.clone()
    out[keep] = refined
    return out
