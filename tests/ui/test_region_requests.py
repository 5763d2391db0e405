"""Regions drawn in the page, without a browser: the request checked into a prompt (one
sentence for anything else), cut by grabcut (no weights), added after the segmenter's
instances (their ids stay) or put in place of one, and exported as mask files for the job."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tst_core.errors import InputError

from .helpers import make_service, paintings

pytest.importorskip("cv2")

from tst_ui.regions import MAX_POINTS, parse_region, parse_stroke


@pytest.fixture
def service(tmp_path):
    return make_service(tmp_path, styles=paintings(tmp_path / "styles"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "a region request must be a JSON object"),
        ({}, "drag a box around the object, or click on it"),
        ({"box": [1, 2, 3]}, r"a box is \[x0, y0, x1, y1\]"),
        ({"box": [0, 0, "9", 9]}, "a box corner must be a number of photo pixels, got '9'"),
        ({"box": [0, 0, float("nan"), 9]}, "a box corner must be a number"),
        ({"box": [90, 70, 200, 300]}, "covers less than 2×2 pixels of the 80×60 photo"),
        ({"points": [[5, 5, 0]]}, "drag a box around the object, or click on it"),
        ({"points": [[5, 5, 2]]}, r"a click is \[x, y, 1\]"),
        ({"points": [[5, 5, True]]}, r"a click is \[x, y, 1\]"),
        ({"points": [[80, 5, 1]]}, "the click 80,5 is outside the 80×60 photo"),
        ({"points": [[5, 5, 1]] * (MAX_POINTS + 1)}, f"at most {MAX_POINTS}"),
        ({"box": [0, 0, 9, 9], "label": "x" * 41}, "at most 40 printable characters"),
        ({"box": [0, 0, 9, 9], "label": "a\nb"}, "printable"),
        ({"box": [0, 0, 9, 9], "edit": 3}, "there is no instance 3 to edit"),
        ({"box": [0, 0, 9, 9], "edit": True}, "there is no instance True to edit"),
    ],
)
def test_a_bad_region_request_is_one_sentence(body, message):
    with pytest.raises(InputError, match=message) as err:
        parse_region(body, (60, 80), 3)
    assert "\n" not in str(err.value)


def test_a_box_is_ordered_and_clipped_to_the_photo():
    got = parse_region({"box": [70, 50, -5, 10.5], "points": [[20, 30, 1]]}, (60, 80), 0)
    assert tuple(got.prompt.box) == (0.0, 10.5, 70.0, 50.0)
    assert got.prompt.points == ((20.0, 30.0, 1),) and got.edit is None


def disc_photo(service):
    """80 × 60 noisy green with a red disc (centre 20,30, radius 10), added as an upload."""
    rng = np.random.default_rng(0)
    arr = (np.array([110, 140, 90]) + rng.normal(0, 6, (60, 80, 3))).clip(0, 255)
    ys, xs = np.mgrid[0:60, 0:80]
    arr[(ys - 30) ** 2 + (xs - 20) ** 2 <= 100] = (210, 40, 30)
    dest = service.uploads / "t" / "photo.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(dest)
    return service.add_photo(dest)


def test_a_drawn_region_comes_after_the_instances_and_an_edit_replaces_it(service, tmp_path):
    seg = service.segment(disc_photo(service).id, "fake-boxes")  # two people and a car
    before = [(i.label, i.score) for i in seg.segmentation]
    info = service.region(seg.id, {"box": [6, 16, 34, 44], "label": "coat"})
    assert info["cut_by"] == "grabcut" and info["region"] == 3 and info["version"] == 1
    assert [(i.label, i.score) for i in seg.segmentation][:3] == before
    region = seg.segmentation.instances[3]
    assert region.label == "coat" and region.score == min(s for _, s in before)
    inside = region.mask.clone()
    inside[16:44, 6:34] = 0
    assert bool(region.mask.any()) and not bool(inside.any())  # inside its box
    again = service.region(seg.id, {"box": [6, 16, 34, 44], "points": [[8, 18, 1]], "edit": 3})
    assert again["region"] == 3 and again["version"] == 2 and len(seg.segmentation) == 4
    assert float(region.mask[18, 8]) == 0.0  # a click on the object: now it is
    assert float(seg.segmentation.instances[3].mask[18, 8]) == 1.0
    folder = service.export_masks(seg)
    assert sorted(p.name for p in folder.iterdir())[-2:] == ["003_coat.png", "instances.json"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": 5, "mode": "add", "points": [[1, 1]], "radius": 2}, "no instance 5 to paint"),
        ({"id": 0, "mode": "fill", "points": [[1, 1]], "radius": 2}, "adds or erases"),
        ({"id": 0, "mode": "add", "points": [], "radius": 2}, "a list of 1 to 2000"),
        ({"id": 0, "mode": "add", "points": [[1]], "radius": 2}, r"point is \[x, y\]"),
        ({"id": 0, "mode": "add", "points": [[1, 1]], "radius": 0}, "radius must be 0.5 to"),
        ({"id": 0, "mode": "add", "points": [[1, 1]], "radius": 2, "soft": 1}, "soft is true"),
    ],
)
def test_a_bad_stroke_is_one_sentence(body, message):
    with pytest.raises(InputError, match=message):
        parse_stroke(body, (60, 80), 3)


def test_strokes_paint_erase_and_undo_exactly(service):
    seg = service.segment(disc_photo(service).id, "fake-boxes")
    m0 = seg.segmentation.instances[0].mask.clone()
    line = {"id": 0, "points": [[2, 5], [40, 5]], "radius": 3}
    service.paint(seg.id, {**line, "mode": "add"})
    m1 = seg.segmentation.instances[0].mask.clone()
    assert bool((m1 >= m0).all()) and float(m1[5, 20]) == 1.0 and float(m1[20, 20]) == m0[20, 20]
    service.paint(seg.id, {**line, "mode": "erase", "soft": True, "radius": 8})
    m2 = seg.segmentation.instances[0].mask
    assert float(m2[5, 20]) == 0.0 and 0 < float(m2[11, 20]) < 1  # a soft edge
    assert torch.equal((m2 * 255).round() / 255, m2)  # what a mask file holds
    info = service.step(seg.id, back=True)
    assert torch.equal(seg.segmentation.instances[0].mask, m1) and info["history"]["redo"] == 1
    service.step(seg.id, back=True)
    assert torch.equal(seg.segmentation.instances[0].mask, m0)
    with pytest.raises(InputError, match="nothing to undo"):
        service.step(seg.id, back=True)
    service.step(seg.id, back=False)
    assert torch.equal(seg.segmentation.instances[0].mask, m1)


def test_cut_again_starts_from_the_instances_own_mask(service):
    """The page's --refine: a fake box over the disc and more is cut back to the disc."""
    seg = service.segment(disc_photo(service).id, "fake-boxes")
    with pytest.raises(InputError, match="say which instance to refine"):
        service.region(seg.id, {"refine": True})
    seg.paint(0, 14, 4, torch.ones(34, 34), add=True)  # a loose mask around the disc
    info = service.region(seg.id, {"edit": 0, "refine": True})
    mask = seg.segmentation.instances[0].mask > 0.5
    ys, xs = torch.meshgrid(torch.arange(60), torch.arange(80), indexing="ij")
    disc = (ys - 30) ** 2 + (xs - 20) ** 2 <= 100
    assert info["region"] == 0 and float((mask & disc).sum() / (mask | disc).sum()) > 0.8
    assert seg.segmentation.instances[0].label == "person"  # an edit keeps its name


def test_the_text_box_adds_the_regions_it_names(tmp_path):
    """The page's text box through the text segmenter (a tiny random OWLv2 whose boxes are
    its grid cells: the one around the disc is cut to it)."""
    pytest.importorskip("transformers")
    from ..plugins.test_text import tiny_owlv2

    owl = tiny_owlv2(tmp_path / "owl")
    sets = (f"segmenter.text.weights={owl}", "segmenter.text.threshold=0.0")
    service = make_service(tmp_path, styles=paintings(tmp_path / "styles"), sets=sets)
    rng = np.random.default_rng(0)
    arr = (np.array([110, 140, 90]) + rng.normal(0, 6, (80, 80, 3))).clip(0, 255)
    ys, xs = np.mgrid[0:80, 0:80]
    arr[(ys - 40) ** 2 + (xs - 40) ** 2 <= 64] = (210, 40, 30)
    dest = service.uploads / "t" / "photo.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(dest)
    seg = service.segment(service.add_photo(dest).id, "fake-boxes")
    with pytest.raises(InputError, match="type what to find"):
        service.text_regions(seg.id, {"prompt": " "})
    with pytest.warns(UserWarning, match="was not cut"):  # the cells of plain background
        info = service.text_regions(seg.id, {"prompt": "red ball"})
    assert info["regions"] and info["regions"][0] == 3
    found = [seg.segmentation.instances[i] for i in info["regions"]]
    assert {i.label for i in found} == {"red ball"}
    disc = torch.from_numpy((ys - 40) ** 2 + (xs - 40) ** 2 <= 64)
    best = max(float(((i.mask > 0.5) & disc).sum() / ((i.mask > 0.5) | disc).sum()) for i in found)
    assert best > 0.8


def test_a_targets_options_are_checked_as_the_grammar_checks_them(tmp_path):
    from tst_ui.spec import parse_targets

    from tst_core.boxes import Box
    from tst_core.errors import TstError
    from tst_core.types import Instance, Segmentation

    seg = Segmentation((Instance("a", 1.0, Box(0, 0, 2, 2), torch.ones(4, 4)),), (4, 4))
    styles = {"s": tmp_path / "s.png"}
    item = {"select": "id:0", "style": "s", "deg": 0}
    got = parse_targets([{**item, "options": {"color": "keep", "mask": "hard"}}], seg, styles)
    assert got[0].options == (("color", "keep"),)  # the default (hard) is left out
    assert got[0].style_arg() == f"id:0={tmp_path / 's.png'}@color=keep"
    with pytest.raises(TstError, match="@color of a 0 must be style or keep"):
        parse_targets([{**item, "options": {"color": "grey"}}], seg, styles)
    with pytest.raises(TstError, match="unknown target option '@x'"):
        parse_targets([{**item, "options": {"x": 1}}], seg, styles)
