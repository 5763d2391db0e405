"""The Python API: one function wires the stages; the CLI calls it too.

>>> import tst_core
>>> result = tst_core.run("bus.jpg", ["person#0=starry_night.jpg", "person#1=the_scream.jpg:2"],
...                       segmenter="yolo", segmenter_options={"weights": "yolov8n-seg.tflite"},
...                       engine_options={"iterations": 100}, blend_options={"radius": 4})
>>> result.save("out.png")          # writes out.png and out.json
>>> result.to_pil()                 # or look at it in a notebook

The names live in the modules of each job: :mod:`~tst_core.sessions` (the configuration),
:mod:`~tst_core.pipeline` (the stages), :mod:`~tst_core.results` (what is returned and
saved), :mod:`~tst_core.report` (the run's report), :func:`~tst_core.select.style_requests`
(``--style`` in every form) and :func:`~tst_core.files.load_photo`; this module gathers them.
"""

from __future__ import annotations

from .files import PhotoLike, load_photo
from .pipeline import SOURCE_HEADROOM, Pipeline, run, segment
from .results import (
    RunResult,
    SegmentResult,
    estimated_bytes,
    mask_file_name,
    run_outputs,
    segment_outputs,
)
from .select import StylesLike, style_requests
from .sessions import Session, session

__all__ = [
    "SOURCE_HEADROOM",
    "PhotoLike",
    "Pipeline",
    "RunResult",
    "SegmentResult",
    "Session",
    "StylesLike",
    "estimated_bytes",
    "load_photo",
    "mask_file_name",
    "run",
    "run_outputs",
    "segment",
    "segment_outputs",
    "session",
    "style_requests",
]
