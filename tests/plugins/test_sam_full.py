"""sam at full size on the bus photo: random vit_b (slow) and the real checkpoint (if present)."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import tst_sam.segmenter
from tst_sam import SamOptions, SamSegmenter
from tst_sam.model import build_sam, checkpoint_path

from tst_core.api import load_photo, session
from tst_core.errors import WeightsError

pytest.importorskip("segment_anything")

# Seen in the 554×740 photo: the man in the beige coat on the left, and the bus.
LEFT_MAN = (30.0, 270.0, 165.0, 620.0)
BUS = (15.0, 155.0, 554.0, 495.0)


@pytest.fixture
def bus(shared):
    return load_photo(shared("images/content/bus.jpg"))


@pytest.mark.slow
@pytest.mark.needs_shared
def test_random_vit_b_at_full_size_built_through_the_host(host, bus, monkeypatch):
    """The factory path (options → random vit_b, env.make for the source) on a real photo."""
    monkeypatch.setattr(tst_sam.segmenter, "build_sam", partial(build_sam, pretrained=False))
    sets = ["segmenter.sam.mode=refine", "segmenter.sam.source=fake-boxes"]
    sess = session(host=host, segmenter="sam", sets=sets)
    sam = sess.build("segmenter", "sam")
    assert sum(p.numel() for p in sam.model.parameters()) > 90e6  # the real vit_b
    seg = sam.segment(bus)
    source = sess.build("segmenter", "fake-boxes").segment(bus)
    assert seg.size == (740, 554)
    assert [(i.label, i.score) for i in seg] == [(i.label, i.score) for i in source]
    for ours, theirs in zip(seg, source, strict=True):
        assert float((ours.mask * (1 - theirs.mask)).sum()) == 0.0

    prompts = SamOptions(boxes=(LEFT_MAN,), points=((400, 300),))
    seg = SamSegmenter(prompts, sess.env, model=sam.model).segment(bus)
    assert len(seg) == 2 and all(i.mask.shape == (740, 554) for i in seg)


def real_checkpoint():
    try:
        return checkpoint_path("vit_b", None)
    except WeightsError as exc:
        pytest.skip(f"needs the real SAM vit_b checkpoint: {exc}")


def box_fraction(mask: torch.Tensor, box: tuple[float, ...]) -> tuple[float, float]:
    """(share of the mask inside ``box``, share of ``box`` the mask covers)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = float(mask[y0:y1, x0:x1].sum())
    return inside / max(float(mask.sum()), 1.0), inside / ((x1 - x0) * (y1 - y0))


@pytest.mark.needs_weights
@pytest.mark.needs_shared
def test_real_vit_b_cuts_the_man_and_the_bus(bus):
    real_checkpoint()
    seg = SamSegmenter(SamOptions(boxes=(LEFT_MAN, BUS), labels=("person", "bus"))).segment(bus)
    by_label = {i.label: i for i in seg}
    precision, coverage = box_fraction(by_label["person"].mask, LEFT_MAN)
    assert precision > 0.95 and coverage > 0.35
    precision, coverage = box_fraction(by_label["bus"].mask, BUS)
    assert precision > 0.9 and coverage > 0.5
