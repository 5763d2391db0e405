"""Every checkpoint tst knows, as a record (torchvision's ``Weights`` pattern, one table for all
plugins).

A :class:`WeightsRecord` says where a checkpoint comes from (URL, file name), how to check it
(a full SHA-256, or torchvision's hash prefix in the file name), how big it is, under which
licence it is published, and which plugin and architecture it fits. :mod:`tst_core.hub` fetches
a record into the ``$TORCH_HOME`` cache on first use; ``tst weights list`` shows the table.

The torchvision records (Mask R-CNN, the semantic segmentation models, VGG and ResNet-50) are
read from torchvision's own weights enums, so their URLs and hash prefixes are the ones the
installed torchvision uses and a file torchvision already fetched is reused. Nothing here
downloads or imports torchvision at import time.
"""

from __future__ import annotations

import functools
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


def _sam(model_type: str, file_name: str, sha256: str, size: int) -> WeightsRecord:
    return WeightsRecord(
        name=f"sam-{model_type.replace('_', '-')}",
        url=f"https://dl.fbaipublicfiles.com/segment_anything/{file_name}",
        plugin="sam",
        architecture=model_type,
        licence="Apache-2.0 (Meta, Segment Anything)",
        sha256=sha256,
        size=size,
        description=f"Segment Anything {model_type.replace('_', '-').upper()} (SA-1B)",
    )


#: SAM's official checkpoints (sizes and digests of the Segment Anything release)
SAM_RECORDS = (
    _sam(
        "vit_b",
        "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
    ),
    _sam(
        "vit_l",
        "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        1_249_524_607,
    ),
    _sam(
        "vit_h",
        "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        2_564_550_879,
    ),
)

#: name → (torchvision weights, plugin, architecture, description); the weights are read from
#: the installed torchvision (``module:Enum.MEMBER``)
TORCHVISION_RECORDS = {
    "maskrcnn-v1-coco": (
        "detection:MaskRCNN_ResNet50_FPN_Weights.COCO_V1",
        "torchvision",
        "maskrcnn_resnet50_fpn",
        "Mask R-CNN ResNet-50-FPN v1, COCO (segmenter torchvision, model=v1)",
    ),
    "maskrcnn-v2-coco": (
        "detection:MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
        "torchvision",
        "maskrcnn_resnet50_fpn_v2",
        "Mask R-CNN ResNet-50-FPN v2, COCO (the default segmenter)",
    ),
    "deeplabv3-resnet50-voc": (
        "segmentation:DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
        "semantic",
        "deeplabv3_resnet50",
        "DeepLabV3 ResNet-50, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "deeplabv3-resnet101-voc": (
        "segmentation:DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1",
        "semantic",
        "deeplabv3_resnet101",
        "DeepLabV3 ResNet-101, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "fcn-resnet50-voc": (
        "segmentation:FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
        "semantic",
        "fcn_resnet50",
        "FCN ResNet-50, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "lraspp-mobilenetv3-voc": (
        "segmentation:LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1",
        "semantic",
        "lraspp_mobilenet_v3_large",
        "LR-ASPP MobileNetV3-Large, COCO with the 20 VOC classes (segmenter semantic)",
    ),
    "vgg11-imagenet": (
        ":VGG11_Weights.IMAGENET1K_V1",
        "gatys",
        "vgg11",
        "torchvision VGG-11, ImageNet (engine network torchvision-vgg11)",
    ),
    "vgg16-imagenet": (
        ":VGG16_Weights.IMAGENET1K_V1",
        "gatys",
        "vgg16",
        "torchvision VGG-16, ImageNet (engine network torchvision-vgg16)",
    ),
    "vgg19-imagenet": (
        ":VGG19_Weights.IMAGENET1K_V1",
        "gatys",
        "vgg19",
        "torchvision VGG-19, ImageNet (engine network torchvision-vgg19)",
    ),
    "resnet50-imagenet": (
        ":ResNet50_Weights.IMAGENET1K_V1",
        "gatys",
        "resnet50",
        "torchvision ResNet-50, ImageNet (engine network torchvision-resnet50)",
    ),
}


def torchvision_weights(path: str) -> Any:
    """The torchvision weights enum member named ``module:Enum.MEMBER`` (module under
    ``torchvision.models``; empty for ``torchvision.models`` itself)."""
    import importlib

    module, _, attr = path.partition(":")
    enum_name, member = attr.split(".")
    mod = importlib.import_module("torchvision.models" + (f".{module}" if module else ""))
    return getattr(getattr(mod, enum_name), member)


def _from_torchvision(name: str) -> WeightsRecord:
    weights_path, plugin, architecture, description = TORCHVISION_RECORDS[name]
    weights = torchvision_weights(weights_path)
    return WeightsRecord(
        name=name,
        url=weights.url,
        plugin=plugin,
        architecture=architecture,
        licence=TORCHVISION_LICENCE,
        size_mib=weights.meta.get("_file_size"),
        description=description,
    )


#: OWLv2 (Minderer, Gritsenko & Houlsby 2023) for the ``text`` segmenter, in Hugging Face's
#: layout. Its digests could not be read where this table was written (no network): the
#: records are listed, never fetched, until a maintainer pins the revision and its SHA-256.
OWLV2_PENDING = (
    "its revision and SHA-256 are not recorded yet: download the folder "
    "google/owlv2-base-patch16-ensemble (config.json, model.safetensors, vocab.json, "
    "merges.txt) and pass it with --weights FOLDER"
)
TEXT_RECORDS = (
    WeightsRecord(
        name="owlv2-base-patch16-ensemble",
        url="https://huggingface.co/google/owlv2-base-patch16-ensemble/resolve/main/model.safetensors",
        plugin="text",
        architecture="owlv2-base-patch16",
        licence="Apache-2.0 (Google, OWLv2)",
        size_mib=591.0,
        file_name="owlv2-base-patch16-ensemble.safetensors",
        description="OWLv2 ViT-B/16 open-vocabulary detector (segmenter text)",
        pending=OWLV2_PENDING,
    ),
)


@functools.lru_cache(maxsize=1)
def records() -> dict[str, WeightsRecord]:
    """Every known record by name (built on first call; imports torchvision's model enums)."""
    table = {name: _from_torchvision(name) for name in TORCHVISION_RECORDS}
    table.update({r.name: r for r in SAM_RECORDS})
    table.update({r.name: r for r in TEXT_RECORDS})
    return table


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
