"""``text`` segmenter: regions named in words (``--prompt "red car"``), an open-vocabulary
detector for the boxes and a segmenter that cuts regions from prompts for the masks.

::

    tst segment photo.jpg --segmenter text --prompt "shirt. red car" --weights owlv2/ --overlay ids.png
    tst run photo.jpg --segmenter text --prompt shirt --weights owlv2/ --style "shirt=wave.jpg"

The detector is OWLv2 (Minderer, Gritsenko & Houlsby 2023) through Hugging Face
``transformers`` (the ``[text]`` extra); the masks come from ``grabcut`` (no weights) or
``sam`` (``--set segmenter.text.cutter=sam``). Each instance is labelled with the words of its
prompt, so ``--style "red car=..."`` selects it. Registering imports nothing heavy.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register, RegisterFlag, RegisterWeights

from .options import TextOptions
from .records import OWLV2


@hookimpl
def tst_register_segmenters(register: Register) -> None:
    def factory(options: TextOptions, env: object = None) -> object:
        from .segmenter import TextSegmenter

        return TextSegmenter(options, env)  # type: ignore[arg-type]

    register(
        "text",
        factory,
        options=TextOptions,
        description="regions named in words (--prompt 'red car'): OWLv2 boxes, grabcut/sam masks",
    )


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    register(OWLV2)


@hookimpl
def tst_register_flags(register: RegisterFlag) -> None:
    register(
        "--prompt",
        kind="segmenter",
        name="text",
        option="prompt",
        help='text: what to find, in words ("red car"; phrases separated by ".")',
        metavar="WORDS",
    )
