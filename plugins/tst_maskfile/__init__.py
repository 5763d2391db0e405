"""``maskfile`` segmenter: instances from mask files the user (or ``tst segment``) made.

Two layouts are read:

* a **folder of PNG masks**, one per instance. The file name gives the label:
  ``person.png``, ``person_2.png``, ``003_person.png`` all mean ``person`` (a leading
  ``NNN_`` fixes the order, a trailing ``_N``/``-N`` tells instances apart). A mask is white
  (or opaque) on the instance; gray values are a soft mask. If the folder has an
  ``instances.json`` (as ``tst segment --export-masks`` writes), only the files it lists are
  read (other files there, an overlay picture say, are not instances), and labels, scores and
  boxes come from it (a box only while its mask still lies inside it).
* one **indexed label PNG** (palette or grayscale integers): 0 is background, each other value
  an instance; labels from the ``labels`` option (value 1 → first label), else ``region``.

Every mask must have the photo's exact size and must not be empty.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, lazy_names

__all__ = ["MaskFileOptions", "MaskFileSegmenter", "label_from_name"]
__getattr__ = lazy_names(
    __name__, {**dict.fromkeys(__all__, "segmenter"), "MaskFileOptions": "options"}
)


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "maskfile",
        "tst_maskfile.segmenter:MaskFileSegmenter",
        options="tst_maskfile.options:MaskFileOptions",
        description="instances from PNG mask files (a folder, one per instance, or one label PNG)",
    )
