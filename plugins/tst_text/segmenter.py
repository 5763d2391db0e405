"""The ``text`` segmenter: OWLv2's boxes for the prompt's phrases, each cut by a segmenter
that takes prompts."""

from __future__ import annotations

import warnings
from dataclasses import replace

import torch

from tst_core.device import resolve_device
from tst_core.errors import ConfigError, InputError, PluginError
from tst_core.types import Env, Prompt, PromptSegmenter, Segmentation, Tensor

from .model import Detection, Detector, check_phrases, load_detector
from .options import TextOptions


class TextSegmenter:
    """Instances named by the prompt's phrases (see the package docstring).

    :param detector: an already built :class:`~.model.Detector` (tests use a tiny random
        OWLv2); ``None`` loads ``options.weights``.
    """

    def __init__(
        self, options: TextOptions, env: Env | None = None, *, detector: Detector | None = None
    ) -> None:
        env = env or Env()
        self.options = options
        if not options.phrases() and not env.interactive:
            check_phrases([])
        if env.make is None:
            raise PluginError(
                "the text segmenter builds its cutter (grabcut, sam) and needs an environment "
                "that builds plugins; run it through tst or tst_core.segment"
            )
        cutter = env.make("segmenter", options.cutter, interactive=True)
        if not isinstance(cutter, PromptSegmenter):
            raise ConfigError(
                f"segmenter.text.cutter '{options.cutter}' does not cut regions from boxes; "
                "use grabcut or sam"
            )
        self.cutter: PromptSegmenter = cutter
        self.detector = detector or load_detector(options.weights, resolve_device(env.device))

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: the prompt's instances at ``(H, W)``."""
        return self.segment_text(photo, self.options.phrases())

    def segment_text(self, photo: Tensor, phrases: list[str]) -> Segmentation:
        """The instances of ``phrases`` (the page's text box), best first; an instance's
        label is its phrase and its score the detector's."""
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        out = []
        for found in self.boxes(photo, check_phrases(phrases)):
            try:
                inst = self.cutter.segment_prompt(photo, Prompt(box=found.box, label=found.phrase))
            except InputError as exc:
                warnings.warn(f"text: the box of '{found.phrase}' was not cut: {exc}", stacklevel=2)
                continue
            out.append(replace(inst, label=found.phrase, score=found.score))
        return Segmentation(tuple(out), size)

    def boxes(self, photo: Tensor, phrases: list[str]) -> list[Detection]:
        """The detector's boxes above ``threshold``, per phrase without overlapping repeats
        (non-maximum suppression at ``nms``), at most ``max_instances`` per phrase."""
        from torchvision.ops import nms

        o = self.options
        found = [d for d in self.detector.detect(photo, phrases) if d.score >= o.threshold]
        kept: list[Detection] = []
        for phrase in phrases:
            mine = [d for d in found if d.phrase == phrase]
            if not mine:
                continue
            boxes = torch.tensor([list(d.box) for d in mine], dtype=torch.float32)
            scores = torch.tensor([d.score for d in mine])
            keep = nms(boxes, scores, o.nms)[: o.max_instances]
            kept += [mine[int(i)] for i in keep]
        return sorted(kept, key=lambda d: -d.score)
