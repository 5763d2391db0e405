"""``grabcut`` segmenter: one box per instance from the command line, cut out with OpenCV's
GrabCut (no weights needed; extra ``[grabcut]``).

A weight-free way to cut an object the detectors miss::

    tst segment photo.jpg --segmenter grabcut --box 120,40,380,460 --overlay ids.png

``--point X,Y,1`` inside a box marks a pixel that surely belongs to the object, ``--point X,Y,0``
one that surely does not; they fix a cut that went wrong.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, lazy_names

__all__ = ["GrabCutOptions", "GrabCutSegmenter"]
__getattr__ = lazy_names(__name__, {"GrabCutOptions": "options", "GrabCutSegmenter": "segmenter"})


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "grabcut",
        "tst_grabcut.segmenter:GrabCutSegmenter",
        options="tst_grabcut.options:GrabCutOptions",
        description="OpenCV GrabCut: one instance per --box (points refine), no weights",
    )
