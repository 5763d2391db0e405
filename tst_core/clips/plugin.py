"""Registers the ``iou`` tracker (entry point ``iou`` in group ``tst``); lazily, so listing the
plugins imports no torch."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..registry import Register


@hookimpl
def tst_register_trackers(register: Register) -> None:
    register(
        "iou",
        "tst_core.clips.tracks:IouTracker",
        options="tst_core.clips.tracker_options:IouOptions",
        description="links each frame's masks to tracks by overlap along the optical flow "
        "(no weights)",
    )
