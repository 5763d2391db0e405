"""Registers the ``gatys`` and ``gatys-full`` engines (entry point ``gatys`` in group ``tst``) and
the records of the torchvision networks they may use (``network = "torchvision-vgg19"``...)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..records import torchvision_record
from ..registry import Register, RegisterWeights

#: the engines and their options are imported on first use (``tst plugins`` imports neither)
OPTIONS = "tst_core.engine.options:GatysOptions"


@hookimpl
def tst_register_engines(register: Register) -> None:
    register(
        "gatys",
        "tst_core.engine.gatys:GatysEngine",
        options=OPTIONS,
        description="masked Gram loss on VGG-19: every target in its own style, one optimisation",
    )
    register(
        "gatys-full",
        "tst_core.engine.gatys:GatysFullEngine",
        options=OPTIONS,
        description="baseline: whole-frame Gatys stylisation once per target; the compositor cuts",
    )


#: the torchvision networks of ``network = "torchvision-..."``: record name → (weights, model)
NETWORK_WEIGHTS = {
    "vgg11-imagenet": (":VGG11_Weights.IMAGENET1K_V1", "vgg11", "VGG-11"),
    "vgg16-imagenet": (":VGG16_Weights.IMAGENET1K_V1", "vgg16", "VGG-16"),
    "vgg19-imagenet": (":VGG19_Weights.IMAGENET1K_V1", "vgg19", "VGG-19"),
    "resnet50-imagenet": (":ResNet50_Weights.IMAGENET1K_V1", "resnet50", "ResNet-50"),
}


@hookimpl
def tst_register_weights(register: RegisterWeights) -> None:
    for name, (weights, model, title) in NETWORK_WEIGHTS.items():
        register(
            torchvision_record(
                name,
                weights,
                plugin="gatys",
                architecture=model,
                description=f"torchvision {title}, ImageNet (engine network torchvision-{model})",
            )
        )
