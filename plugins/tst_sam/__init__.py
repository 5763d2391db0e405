"""``sam`` segmenter: Segment Anything (Kirillov et al. 2023) as a tst plugin.

Three modes (``--set segmenter.sam.mode=...``):

* ``prompts`` (default): one instance per ``--box X0,Y0,X1,Y1`` and per group of
  ``--point X,Y[,GROUP]`` (GROUP 1, 2, ... foreground of object 1, 2, ...; 0 background);
* ``automatic``: SAM's automatic mask generator; every region is labelled ``region``;
* ``refine``: the instances of another segmenter (``segmenter.sam.source``, e.g. ``yolo``), each
  cut out again by SAM inside its box, keeping that segmenter's label and score.

Needs the ``segment-anything`` package (``pip install "targeted-style-transfer[sam]"``) and a
SAM checkpoint (``--weights``, or ``sam_vit_b_01ec64.pth`` etc. in the ``$TORCH_HOME`` cache,
fetched there and hash-checked on first use; records ``sam-vit-b``, ``sam-vit-l``, ``sam-vit-h``).
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, RegisterWeights, lazy_names

from .options import SamOptions
from .records import RECORDS

__all__ = ["SamOptions", "SamSegmenter"]
__getattr__ = lazy_names(__name__, {"SamSegmenter": "segmenter"})


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "sam",
        "tst_sam.segmenter:SamSegmenter",
        options=SamOptions,
        description="Segment Anything: --point/--box prompts, automatic, or refine another "
        "segmenter's boxes (needs [sam] and a SAM checkpoint)",
    )


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    for record in RECORDS.values():
        register(record)
