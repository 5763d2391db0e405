"""Registers the ``iou`` tracker (entry point ``iou`` in group ``tst``)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..registry import Register
from ..types import Env
from .tracks import IouOptions


def make_iou(options: IouOptions, env: Env) -> Any:
    from .tracks import IouTracker

    return IouTracker(options, env)


@hookimpl
def tst_register_trackers(register: Register) -> None:
    register(
        "iou",
        make_iou,
        options=IouOptions,
        description="links each frame's masks to tracks by overlap along the optical flow "
        "(no weights)",
    )
