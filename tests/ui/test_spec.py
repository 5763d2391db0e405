"""The page's targets as the command line writes them (tst_ui.spec)."""

from __future__ import annotations

import torch
from tst_ui.spec import cli_selector, page_name

from tst_core.types import Segmentation, make_instances


def segmentation(labels: list[str]) -> Segmentation:
    n = len(labels)
    boxes = [[0, 0, 4, 4]] * n
    scores = [1.0 - i / 10 for i in range(n)]
    masks = torch.zeros((n, 8, 8))
    masks[:, :4, :4] = 1.0
    return Segmentation(make_instances(labels, scores, boxes, masks), (8, 8))


def test_the_command_line_names_instances_as_a_person_would():
    """``id:N`` ranks every instance; the command line writes ``label#rank`` within the label,
    which picks the same instance; labels a selector cannot hold stay ``id:N``."""
    seg = segmentation(["person", "dog", "person", "traffic light", "a,b", "region"])
    got = [cli_selector(f"id:{i}", seg) for i in range(6)]
    assert got == ["person#0", "dog#0", "person#1", "traffic light#0", "id:4", "region#0"]
    assert [cli_selector(s, seg) for s in ("all", "background", "id:9")] == [
        "all",
        "background",
        "id:9",
    ]


def test_error_messages_use_the_page_names():
    seg = segmentation(["person", "dog"])
    assert [page_name(s, seg) for s in ("all", "background", "id:1")] == [
        "the whole photo",
        "the background",
        "dog 1",
    ]
