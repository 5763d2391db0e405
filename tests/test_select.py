"""The selection grammar (tst_core.select)."""

from __future__ import annotations

import re

import pytest
import torch

from tst_core.errors import SelectionError
from tst_core.select import (
    StyleRequest,
    build_targets,
    parse_selector,
    parse_style_arg,
    resolve_overlaps,
    select,
)
from tst_core.types import Instance, Segmentation


def box_mask(h, w, x0, y0, x1, y1):
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = 1.0
    return m


@pytest.fixture
def seg():
    """Three people (scores .6, .9, .7), a car, on a 20×30 photo; nothing in the top-left corner."""
    h, w = 20, 30
    items = [
        ("person", 0.6, (2, 2, 6, 10)),
        ("person", 0.9, (8, 2, 12, 10)),
        ("car", 0.8, (14, 12, 28, 18)),
        ("Person", 0.7, (20, 2, 24, 10)),
    ]
    insts = [
        Instance(lbl.lower(), s, tuple(map(float, b)), box_mask(h, w, *b)) for lbl, s, b in items
    ]
    return Segmentation(tuple(insts), (h, w))


def test_ids_rank_instances_by_score(seg):
    assert [round(i.score, 1) for i in seg.instances] == [0.9, 0.8, 0.7, 0.6]
    assert [i.label for i in seg.instances] == ["person", "car", "person", "person"]


def test_label_selects_every_instance_of_it(seg):
    mask, ids = select(seg, "person")
    assert ids == (0, 2, 3)
    assert mask.sum() == 3 * 4 * 8


def test_label_is_case_insensitive(seg):
    assert select(seg, "PERSON")[1] == (0, 2, 3)


def test_rank_counts_within_the_label_highest_score_first(seg):
    assert select(seg, "person#0")[1] == (0,)
    assert select(seg, "person#1")[1] == (2,)
    assert select(seg, "person#2")[1] == (3,)
    assert select(seg, "car#0")[1] == (1,)


def test_id_selects_by_global_rank(seg):
    mask, ids = select(seg, "id:1")
    assert ids == (1,)
    assert torch.equal(mask, seg.instances[1].mask)


def test_background_is_everything_no_instance_covers(seg):
    mask, ids = select(seg, "background")
    assert ids == ()
    assert torch.equal(mask, 1 - seg.covered())
    assert mask[0, 0] == 1 and mask[5, 10] == 0


def test_all_is_the_whole_frame(seg):
    mask, _ = select(seg, "all")
    assert torch.equal(mask, torch.ones(20, 30))


def test_comma_joins_selectors_into_a_union(seg):
    mask, ids = select(seg, "car, person#0")
    assert ids == (1, 0)
    assert torch.equal(mask, torch.maximum(seg.instances[0].mask, seg.instances[1].mask))


@pytest.mark.parametrize(
    ("selector", "expect"),
    [
        ("dog", "labels found: person (3), car"),
        ("person#3", "only 3 'person' found"),
        ("id:4", "ids run from 0 to 3"),
    ],
)
def test_a_selector_that_matches_nothing_says_what_exists(seg, selector, expect):
    with pytest.raises(SelectionError, match="matches nothing") as err:
        select(seg, selector)
    assert expect in str(err.value)


def test_background_of_a_fully_covered_photo_matches_nothing():
    full = Segmentation((Instance("wall", 1.0, (0, 0, 4, 4), torch.ones(4, 4)),), (4, 4))
    with pytest.raises(SelectionError, match="cover the whole photo"):
        select(full, "background")


def test_no_instances_at_all():
    empty = Segmentation((), (4, 4))
    with pytest.raises(SelectionError, match="found no instances"):
        select(empty, "person")
    assert select(empty, "background")[0].sum() == 16


@pytest.mark.parametrize("bad", ["", "id:x", "per:son", "a=b", "#1"])
def test_malformed_selectors_are_errors(bad):
    with pytest.raises(SelectionError):
        parse_selector(bad)


def test_parse_selector_kinds():
    assert parse_selector("traffic light#2").kind == "rank"
    assert parse_selector("traffic light#2").label == "traffic light"
    assert parse_selector("id:12").index == 12
    assert parse_selector("Background").kind == "background"


def test_style_argument_with_strength_and_degree():
    assert parse_style_arg("person=a.jpg") == StyleRequest("person", "a.jpg", 1.0)
    assert parse_style_arg("car#1=dir/scream.jpg:2") == StyleRequest("car#1", "dir/scream.jpg", 2.0)
    assert parse_style_arg("car=s.jpg:deg=-1").strength == pytest.approx(0.1)
    assert parse_style_arg("car=s.jpg:deg=2").strength == pytest.approx(100.0)
    # a colon that is not a strength stays part of the path
    assert parse_style_arg("car=C:/art/s.jpg").style == "C:/art/s.jpg"


def test_a_bare_style_is_the_whole_frame(tmp_path):
    assert parse_style_arg("starry.jpg") == StyleRequest("all", "starry.jpg", 1.0)
    assert parse_style_arg("dir/starry.jpg:2") == StyleRequest("all", "dir/starry.jpg", 2.0)
    odd = tmp_path / "a=b.jpg"  # an existing file is one path, even with a '=' in its name
    odd.write_bytes(b"")
    assert parse_style_arg(str(odd)) == StyleRequest("all", str(odd), 1.0)
    assert parse_style_arg("person=a.jpg").selector == "person"


def test_only_whole_frame_requests_need_no_segmentation():
    from tst_core.select import needs_segmentation

    assert not needs_segmentation([parse_style_arg("a.jpg"), parse_style_arg("all,all=b.jpg")])
    assert needs_segmentation([parse_style_arg("a.jpg"), parse_style_arg("all,person=b.jpg")])
    assert needs_segmentation([parse_style_arg("background=b.jpg")])


@pytest.mark.parametrize(
    "bad", ["=a.jpg", "person=", "person=a.jpg:0", "person=a.jpg:-2", "x#=a.jpg"]
)
def test_bad_style_arguments(bad):
    with pytest.raises(SelectionError):
        parse_style_arg(bad)


def test_later_style_wins_on_overlaps():
    a = torch.tensor([[1.0, 1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0, 1.0]])
    ra, rb = resolve_overlaps([a, b])
    assert torch.equal(ra, torch.tensor([[1.0, 0.0, 0.0]]))
    assert torch.equal(rb, b)


def test_soft_overlaps_keep_masks_and_photo_summing_to_one():
    g = torch.Generator().manual_seed(1)
    masks = [torch.rand(8, 8, generator=g) for _ in range(3)]
    resolved = resolve_overlaps(masks)
    keep = torch.ones(8, 8)
    for m in masks:
        keep = keep * (1 - m)
    assert torch.allclose(sum(resolved) + keep, torch.ones(8, 8))
    assert torch.equal(resolved[-1], masks[-1])


def test_build_targets_orders_and_loads_styles(seg):
    loaded = []

    def load(src):
        loaded.append(src)
        return torch.full((3, 4, 4), 0.5)

    reqs = [parse_style_arg("person=a.jpg:2"), parse_style_arg("person#0=b.png")]
    targets = build_targets(seg, reqs, load)
    assert loaded == ["a.jpg", "b.png"]
    assert [t.selector for t in targets] == ["person", "person#0"]
    assert targets[0].strength == 2.0 and targets[0].style_name == "a.jpg"
    # person#0 came later, so it owns its pixels; the first target lost them
    assert torch.equal(targets[1].mask, seg.instances[0].mask)
    assert float((targets[0].mask * targets[1].mask).sum()) == 0
    assert torch.allclose(targets.masks().sum(0) + targets.keep(), torch.ones(20, 30))


def test_a_target_hidden_entirely_by_later_ones_is_an_error(seg):
    reqs = [parse_style_arg("person#0=a.jpg"), parse_style_arg("person=b.jpg")]
    with pytest.raises(SelectionError, match="entirely covered by later"):
        build_targets(seg, reqs, lambda s: torch.zeros(3, 2, 2))


def test_no_styles_is_an_error(seg):
    with pytest.raises(SelectionError, match="no --style"):
        build_targets(seg, [], lambda s: torch.zeros(3, 2, 2))


@pytest.mark.parametrize(
    ("text", "style", "strength", "options"),
    [
        ("person=a.jpg@scale=1.5", "a.jpg", 1.0, {"scale": 1.5}),
        ("person=a.jpg:2@scale=1.5@supersample=2", "a.jpg", 2.0, {"scale": 1.5, "supersample": 2}),
        ("person=a.jpg@supersample=2:deg=1", "a.jpg", 10.0, {"supersample": 2}),
        ("person=art@2x.png", "art@2x.png", 1.0, {}),  # an @ in a file name is the file's
        ("person=a.jpg@SCALE=0.5", "a.jpg", 1.0, {"scale": 0.5}),
    ],
)
def test_per_target_options_after_the_style(text, style, strength, options):
    req = parse_style_arg(text)
    assert (req.style, req.strength, req.options.given()) == (style, strength, options)
    assert parse_style_arg(req.text()) == req  # a batch sends it to workers as text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("person=a.jpg@size=2", "unknown target option '@size'; known: @scale=, @supersample="),
        ("person=a.jpg@scale=0", "@scale must be a number from 0.05 to 16, got '0'"),
        ("person=a.jpg@scale=nan", "@scale must be a number from 0.05 to 16"),
        ("person=a.jpg@supersample=0.5", "@supersample must be a number from 1 to 8"),
        ("person=a.jpg@scale=x", "@scale must be a number from 0.05 to 16, got 'x'"),
        ("person=a.jpg@scale=1@scale=2", "target option @scale is given twice"),
    ],
)
def test_bad_per_target_options_are_selection_errors(text, message):
    with pytest.raises(SelectionError, match=re.escape(message)):
        parse_style_arg(text)


def test_targets_carry_their_options_and_style_size_fills_the_rest(seg):
    requests = [parse_style_arg("person#0=a.jpg@scale=2"), parse_style_arg("car=b.jpg")]
    t = build_targets(seg, requests, lambda s: torch.zeros(3, 4, 4))
    assert t[0].options.scale == 2 and t[1].options.given() == {}
    sized = t.with_style_size(256)
    assert sized[0].options.given() == {"scale": 2}  # its own scale wins
    assert sized[1].options.given() == {"style_size": 256}
    assert sized.resized((8, 8))[1].options == sized[1].options
