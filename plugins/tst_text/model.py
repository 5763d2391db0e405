"""OWLv2 from a checkpoint folder, and what it detects for a list of phrases.

The folder is Hugging Face's layout of ``google/owlv2-base-patch16-ensemble``: ``config.json``
(the architecture), ``model.safetensors`` (never a pickle), and CLIP's BPE tokenizer
(``vocab.json``, ``merges.txt``). The model is built from the config and loaded with
``safetensors``, the tokenizer from its two files, so nothing is fetched and no code runs from
the folder. The photo is prepared as OWLv2's processor does: padded at the bottom and right to
a square with grey 0.5, resized to the model's input side, normalised with CLIP's mean and
standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tst_core.boxes import Box
from tst_core.errors import InputError, WeightsError, missing_dependency
from tst_core.hub import resolve
from tst_core.records import record
from tst_core.types import Tensor

#: CLIP's normalisation (OWLv2's processor uses it)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
#: the files a checkpoint folder must hold
FILES = ("config.json", "model.safetensors", "vocab.json", "merges.txt")


def import_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise missing_dependency("text", "transformers", "text") from None
    return transformers


@dataclass(frozen=True)
class Detection:
    """One box: the phrase it answers, its score in [0, 1] and the box in photo pixels."""

    phrase: str
    score: float
    box: Box


class Detector:
    """OWLv2 and its tokenizer, in eval mode on ``device``.

    :param model: an ``Owlv2ForObjectDetection``. :param tokenizer: a CLIP tokenizer.
    """

    def __init__(self, model: Any, tokenizer: Any, device: torch.device | str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.side = int(model.config.vision_config.image_size)
        self.max_tokens = int(model.config.text_config.max_position_embeddings)

    def pixels(self, photo: Tensor) -> Tensor:
        """``(1, 3, side, side)``: the photo ``(3, H, W)`` padded to a square (grey 0.5,
        bottom and right), resized and normalised."""
        h, w = int(photo.shape[-2]), int(photo.shape[-1])
        n = max(h, w)
        square = torch.full((3, n, n), 0.5)
        square[:, :h, :w] = photo
        x = F.interpolate(
            square[None],
            size=(self.side, self.side),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        std = torch.tensor(STD).view(1, 3, 1, 1)
        return (x - mean) / std

    def tokens(self, phrases: list[str]) -> tuple[Tensor, Tensor]:
        """``(input_ids, attention_mask)`` of the phrases, padded to the model's text length."""
        out = self.tokenizer(
            phrases,
            padding="max_length",
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        return out["input_ids"], out["attention_mask"]

    @torch.no_grad()
    def detect(self, photo: Tensor, phrases: list[str]) -> list[Detection]:
        """Every patch's best phrase and box (before thresholds), boxes in photo pixels.

        :param photo: ``(3, H, W)`` in [0, 1].
        """
        ids, mask = self.tokens(phrases)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            pixel_values=self.pixels(photo).to(self.device),
        )
        logits = out.logits[0].float().cpu()  # (patches, phrases)
        boxes = out.pred_boxes[0].float().cpu()  # (patches, 4): cx, cy, w, h of the square
        scores, best = torch.sigmoid(logits).max(dim=-1)
        h, w = int(photo.shape[-2]), int(photo.shape[-1])
        n = max(h, w)
        cx, cy, bw, bh = (boxes * n).unbind(-1)
        found = []
        for i in range(len(scores)):
            box = Box(
                float(cx[i] - bw[i] / 2),
                float(cy[i] - bh[i] / 2),
                float(cx[i] + bw[i] / 2),
                float(cy[i] + bh[i] / 2),
            ).clipped((h, w))
            if box.width >= 2 and box.height >= 2:
                found.append(Detection(phrases[int(best[i])], float(scores[i]), box))
        return found


def load_detector(folder: Path | None, device: torch.device | str = "cpu") -> Detector:
    """OWLv2 from a checkpoint folder (see the module docstring); without one, the record's
    file, which cannot be fetched until its digest is recorded (a one-line error)."""
    transformers = import_transformers()
    if folder is None:
        resolve(record("owlv2-base-patch16-ensemble"))  # raises: its digest is not recorded
        raise AssertionError("unreachable")
    folder = Path(folder).expanduser()
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise WeightsError(
            f"'{folder}' is not an OWLv2 checkpoint folder: it has no {', '.join(missing)} "
            "(download google/owlv2-base-patch16-ensemble in Hugging Face's layout)"
        )
    from safetensors.torch import load_file

    try:
        config = transformers.Owlv2Config.from_json_file(str(folder / "config.json"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read '{folder / 'config.json'}': {exc}") from None
    model = transformers.Owlv2ForObjectDetection(config)
    try:
        state = load_file(str(folder / "model.safetensors"))
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"cannot read '{folder / 'model.safetensors'}': {exc}") from None
    missing_keys, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing_keys if not k.endswith("position_ids")]:
        raise WeightsError(
            f"'{folder / 'model.safetensors'}' does not fit the OWLv2 of its config.json "
            f"({len(missing_keys)} missing and {len(unexpected)} unexpected tensors)"
        )
    try:  # the folder's own files only (vocab.json, merges.txt): nothing fetched, no code run
        tokenizer = transformers.CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the tokenizer in '{folder}': {exc}") from None
    return Detector(model, tokenizer, device)


def check_phrases(phrases: list[str]) -> list[str]:
    if not phrases:
        raise InputError(
            'the text segmenter needs words to look for: pass --prompt "red car" (several '
            "phrases separated by '.')"
        )
    return phrases
