"""``detectron2`` segmenter: any Detectron2 instance-segmentation model as a tst plugin.

Give a model-zoo config name (``--set segmenter.detectron2.config=COCO-InstanceSegmentation/
mask_rcnn_R_101_FPN_3x.yaml``) or a config file, and the checkpoint with ``--weights``; a zoo
model's checkpoint (``model_final_*.pkl``) is also found in the ``$TORCH_HOME`` cache. tst never
downloads it. Detectron2 is not on PyPI: install it from its source repository.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, lazy_names

from .options import Detectron2Options

__all__ = ["Detectron2Options", "Detectron2Segmenter"]
__getattr__ = lazy_names(__name__, {"Detectron2Segmenter": "segmenter"})


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    register(
        "detectron2",
        "tst_detectron2.segmenter:Detectron2Segmenter",
        options=Detectron2Options,
        description="Detectron2 instance segmentation, any model-zoo config or config file "
        "(needs detectron2 from source and its checkpoint)",
    )
