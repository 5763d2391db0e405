"""The JSON report of a run: everything needed to understand or repeat it.

:class:`RunFacts` is what the pipeline hands over; :func:`run_report` turns it and the session
into the report's dict (strict JSON once written: see :func:`tst_core.files.json_writer`).
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .files import PhotoLike
from .memory import format_size
from .photo import Photo
from .results import instance_rows
from .select import StyleRequest
from .sessions import Session
from .types import Segmentation, StylizeResult, Targets, Tensor


@dataclass(frozen=True)
class RunFacts:
    """What one run did, for its report.

    :param photo: the photo as the caller gave it (a path is reported as given).
    :param requests: the parsed styles.
    :param photo_size: ``(H, W)`` of the photo as read (upright).
    :param native: the photo at the output size (its own unless ``run.output_size``).
    :param image: the working image, ``(3, h, w)``.
    :param segmentation: the instances, at the photo's size.
    :param targets: the targets at the working size.
    :param stylized: the engine's result.
    :param timings: seconds per stage, and ``total``.
    :param segmenter: which segmenter ran, or why none did (:func:`segmenter_facts`).
    :param windows: the windows worked at the photo's own size (see :mod:`tst_core.compose`);
        none when the working image was the photo.
    :param budget: the memory budget in bytes.
    """

    photo: PhotoLike
    requests: Sequence[StyleRequest]
    photo_size: tuple[int, int]
    native: Photo
    image: Tensor
    segmentation: Segmentation
    targets: Targets
    stylized: StylizeResult
    timings: Mapping[str, float]
    segmenter: Mapping[str, Any]
    windows: Sequence[Mapping[str, Any]] = ()
    budget: int = 0


def segmenter_facts(name: str, ran: bool, given: bool) -> dict[str, Any]:
    """The report's ``segmenter`` entry: which one ran, or why none did."""
    if ran:
        return {"name": name, "ran": True}
    why = (
        "a segmentation was given"
        if given
        else "every target is the whole frame (all), so no segmenter was built"
    )
    return {"name": None, "ran": False, "why": why}


def run_report(sess: Session, facts: RunFacts) -> dict[str, Any]:
    """The report of the run ``facts`` describes, under the configuration of ``sess``."""
    used = {
        sess.host.entry(k, n).plugin
        for k, n in sess.chosen()
        if k != "segmenter" or facts.segmenter["ran"]
    }
    photo, stylized = facts.photo, facts.stylized
    return {
        "photo": str(photo) if isinstance(photo, (str, Path)) else type(photo).__name__,
        "photo_size": list(facts.photo_size),
        "working_size": list(facts.image.shape[-2:]),
        "output_size": list(facts.native.size),
        "output": {
            "bits": facts.native.bits,
            "channels": 3,
            "icc_profile": facts.native.icc is not None,
            "exif": facts.native.exif is not None,
            "jpeg_quality": sess.config.run.jpeg_quality,
        },
        "windows": [dict(w) for w in facts.windows],
        "budget": {"bytes": facts.budget, "text": format_size(facts.budget)},
        "segmenter": dict(facts.segmenter),
        "instances": instance_rows(facts.segmentation),
        "targets": [
            {
                "selector": t.selector,
                "style": t.style_name,
                "strength": t.strength,
                "instance_ids": list(t.instance_ids),
                "area": round(float(t.mask.mean()), 5),
                **({"options": t.options.given()} if t.options.given() else {}),
                **({"model_style": t.model_style.parts} if t.model_style else {}),
            }
            for t in facts.targets
        ],
        "config": sess.config.to_dict(sess.host),
        "inputs": sess.inputs(photo, facts.requests),
        "timings": {k: round(v, 4) for k, v in facts.timings.items()},
        "final_losses": stylized.losses[-1] if stylized.losses else {},
        "engine": stylized.info,
        "versions": {
            "tst": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            **{p.name: p.version for p in sess.host.plugins if p.name in used and p.version},
        },
    }
