"""The official Segment Anything checkpoints (sizes and digests of the release)."""

from __future__ import annotations

from tst_core.records import WeightsRecord


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


#: by model type
RECORDS = {
    "vit_b": _sam(
        "vit_b",
        "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
    ),
    "vit_l": _sam(
        "vit_l",
        "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        1_249_524_607,
    ),
    "vit_h": _sam(
        "vit_h",
        "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        2_564_550_879,
    ),
}
