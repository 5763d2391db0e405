"""Every checkpoint tst knows, as a record (torchvision's ``Weights`` pattern).

A :class:`WeightsRecord` says where a checkpoint comes from (URL, file name), how to check it
(a full SHA-256, or torchvision's hash prefix in the file name), how big it is, under which
licence it is published, and which plugin and architecture it fits. :mod:`tst_core.hub` fetches
a record into the ``$TORCH_HOME`` cache on first use; ``tst weights list`` shows the table.

Each plugin registers the records of the checkpoints it loads, beside its code, through the
``tst_register_weights`` hook (SAM's in ``tst_sam``, Mask R-CNN's in ``tst_torchvision``, the
semantic models' in ``tst_semantic``, the engine networks' in ``tst_core.engine.plugin``);
:func:`records` collects them. Records of torchvision models carry torchvision's own URLs
and sizes (:func:`torchvision_record`; a test checks them against its weights enums). Nothing here downloads or imports torchvision at
import time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import WeightsError

#: torchvision's (and ``torch.hub``'s) convention: ``name-<hex sha256 prefix>.ext``
HASH_PREFIX = re.compile(r"-([a-f0-9]{8,})\.")

#: torchvision publishes its weights with its code; the training data's terms may also apply
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision)"


@dataclass(frozen=True)
class WeightsRecord:
    """One known checkpoint.

    :param name: the name users type (``tst weights fetch maskrcnn-v2-coco``).
    :param url: where it is published.
    :param plugin: the plugin that loads it (``torchvision``, ``semantic``, ``sam``, ``gatys``).
    :param architecture: the model it fits (``maskrcnn_resnet50_fpn_v2``, ``vit_b``...).
    :param licence: the licence it is published under.
    :param sha256: the full hex SHA-256; ``None``: the hash prefix in :attr:`file_name` is checked.
    :param size: the exact size in bytes when known (then checked), else ``None``.
    :param size_mib: the approximate size in MiB, for display.
    :param file_name: the cache file name; default: the URL's last part.
    :param description: one line for ``tst weights list``.
    :param revision: the upstream revision the URL pins (a Hugging Face commit), for display.
    :param pending: why the digest is not recorded yet; such a record is listed but never
        fetched (an unverified download is refused): the user passes the file with
        ``--weights`` instead.
    :param torchvision: the torchvision weights it was read from (``module:Enum.MEMBER``, see
        :func:`torchvision_record`), for their metadata (class names); ``None`` for others.
    """

    name: str
    url: str
    plugin: str
    architecture: str
    licence: str
    sha256: str | None = None
    size: int | None = None
    size_mib: float | None = None
    file_name: str = ""
    description: str = ""
    revision: str = ""
    pending: str = ""
    torchvision: str | None = None

    def __post_init__(self) -> None:
        if not self.file_name:
            object.__setattr__(self, "file_name", self.url.rsplit("/", 1)[-1])
        if self.size is not None and self.size_mib is None:
            object.__setattr__(self, "size_mib", round(self.size / 2**20, 1))
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"record {self.name}: sha256 must be 64 lower-case hex digits")
        if self.sha256 is None and self.hash_prefix is None and not self.pending:
            raise ValueError(
                f"record {self.name}: give a sha256 or a file name with a hash prefix (name-abc12345.pth)"
            )

    @property
    def hash_prefix(self) -> str | None:
        """The SHA-256 prefix in the file name (torchvision's ``vgg19-dcbb9e9d.pth``), if any."""
        m = HASH_PREFIX.search(self.file_name)
        return m[1] if m else None

    def matches(self, digest: str) -> bool:
        """Whether a file's hex SHA-256 ``digest`` is this record's."""
        if self.sha256 is not None:
            return digest == self.sha256
        return digest.startswith(self.hash_prefix or "\0")

    @property
    def expected(self) -> str:
        """The expected digest, for messages (``dcbb9e9d…`` for a prefix)."""
        return self.sha256 or f"{self.hash_prefix}…"


def torchvision_weights(path: str) -> Any:
    """The torchvision weights enum member named ``module:Enum.MEMBER`` (module under
    ``torchvision.models``; empty for ``torchvision.models`` itself)."""
    import importlib

    module, _, attr = path.partition(":")
    enum_name, member = attr.split(".")
    mod = importlib.import_module("torchvision.models" + (f".{module}" if module else ""))
    return getattr(getattr(mod, enum_name), member)


#: the URL and size (MiB) of the torchvision weights the first-party plugins register, as the
#: installed torchvision's enums give them (a test checks they still agree), so that listing
#: the records (``tst weights list``) imports neither torchvision nor torch
TORCHVISION_FILES: dict[str, tuple[str, float]] = {
    ":VGG11_Weights.IMAGENET1K_V1": ("vgg11-8a719046.pth", 506.84),
    ":VGG16_Weights.IMAGENET1K_V1": ("vgg16-397923af.pth", 527.796),
    ":VGG19_Weights.IMAGENET1K_V1": ("vgg19-dcbb9e9d.pth", 548.051),
    ":ResNet50_Weights.IMAGENET1K_V1": ("resnet50-0676ba61.pth", 97.781),
    "segmentation:DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1": (
        "deeplabv3_resnet50_coco-cd0a2569.pth",
        160.515,
    ),
    "segmentation:DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1": (
        "deeplabv3_resnet101_coco-586e9e4e.pth",
        233.217,
    ),
    "segmentation:FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1": (
        "fcn_resnet50_coco-1167a1af.pth",
        135.009,
    ),
    "segmentation:LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1": (
        "lraspp_mobilenet_v3_large-d234d4ea.pth",
        12.49,
    ),
    "detection:MaskRCNN_ResNet50_FPN_Weights.COCO_V1": (
        "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
        169.84,
    ),
    "detection:MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1": (
        "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        177.219,
    ),
}
#: where torchvision publishes its weights
TORCHVISION_URL = "https://download.pytorch.org/models/"


def torchvision_record(
    name: str, weights: str, *, plugin: str, architecture: str, description: str
) -> WeightsRecord:
    """A record of torchvision's weights enum ``weights`` (``module:Enum.MEMBER``, see
    :func:`torchvision_weights`): its URL and hash prefix are torchvision's, so a file
    torchvision already fetched is reused. Read from :data:`TORCHVISION_FILES` when listed
    there, else from the installed torchvision's enums (which imports torchvision)."""
    if weights in TORCHVISION_FILES:
        file_name, size_mib = TORCHVISION_FILES[weights]
        url = TORCHVISION_URL + file_name
    else:
        tv = torchvision_weights(weights)
        url, size_mib = tv.url, tv.meta.get("_file_size")
    return WeightsRecord(
        name=name,
        url=url,
        plugin=plugin,
        architecture=architecture,
        licence=TORCHVISION_LICENCE,
        size_mib=size_mib,
        description=description,
        torchvision=weights,
    )


def records() -> dict[str, WeightsRecord]:
    """Every known record by name: those the installed plugins register through
    :func:`~tst_core.hookspecs.tst_register_weights`, collected on the first call (which may
    import torchvision's model enums)."""
    from .plugins import default_host

    return default_host().weights()


def record(name: str) -> WeightsRecord:
    """The record called ``name``; an unknown name is a :class:`WeightsError` listing the known."""
    table = records()
    try:
        return table[name]
    except KeyError:
        raise WeightsError(
            f"no known weights called '{name}'; known: {', '.join(sorted(table))} "
            "(see `tst weights list`)"
        ) from None
