"""Regions from prompts: GrabCut and SAM cut one region from a box, clicks or a mask to start
from (what the page sends), and ``--refine`` re-cuts a segmenter's instances from their boxes
and masks."""

from __future__ import annotations

import pytest
import torch

from tst_core.api import Pipeline, session
from tst_core.boxes import Box
from tst_core.errors import ConfigError, InputError
from tst_core.plugins import load_host
from tst_core.types import Env, Instance, Prompt, PromptSegmenter, Segmentation

from .. import fakes
from .test_grabcut import iou, scene

pytest.importorskip("cv2")

from tst_grabcut import GrabCutOptions, GrabCutSegmenter


def prompter(**options) -> GrabCutSegmenter:
    return GrabCutSegmenter(GrabCutOptions(**options), Env(seed=0, interactive=True))


def test_built_for_prompts_it_needs_no_box_until_it_is_given_one():
    assert isinstance(prompter(), PromptSegmenter)
    with pytest.raises(ConfigError, match="needs at least one box"):
        GrabCutSegmenter(GrabCutOptions(), Env(seed=0))  # the command line still needs --box


def test_a_box_prompt_cuts_the_object_in_it():
    photo, disc, _ = scene()
    inst = prompter().segment_prompt(photo, Prompt(box=Box(18, 26, 62, 70), label="Ball"))
    assert inst.label == "ball" and iou(inst.mask, disc) > 0.9
    assert inst.box == Box.around(inst.mask) and inst.mask.shape == (96, 128)


def test_a_mask_that_runs_past_the_object_is_cut_back_to_it():
    """A segmenter's mask grown 6 px into the background (yolo's mask past the forearm):
    refined from its own box and mask, it fits the disc again."""
    photo, disc, _ = scene()
    grown = torch.nn.functional.max_pool2d(disc.float()[None, None], 13, 1, 6)[0, 0]
    assert iou(grown, disc) < 0.75
    inst = prompter().segment_prompt(photo, Prompt(mask=grown))
    assert iou(inst.mask, disc) > 0.9


def test_clicks_mark_what_is_and_is_not_the_object():
    """A box over both objects takes both; a click outside on the square takes it away, a
    click inside the disc alone (no box) finds the disc."""
    photo, _, square = scene()
    both = Box(10, 20, 124, 76)
    everything = prompter().segment_prompt(photo, Prompt(box=both))
    assert float((everything.mask > 0.5)[square].float().mean()) > 0.9
    fixed = prompter().segment_prompt(photo, Prompt(box=both, points=((98.0, 48.0, 0),)))
    assert float((fixed.mask > 0.5)[square].float().mean()) < 0.8
    assert float(fixed.mask[48, 98]) == 0.0
    clicked = prompter().segment_prompt(photo, Prompt(points=((40.0, 48.0, 1),)))
    assert float(clicked.mask[48, 40]) == 1.0


def test_a_large_box_is_cut_small_and_brought_back_along_the_photos_edges():
    """The scene enlarged 6×: cut at 200 px on the crop's long side, the mask still fits the
    disc's edge at the photo's size."""
    photo, disc, _ = scene()
    big = torch.nn.functional.interpolate(photo[None], scale_factor=6, mode="nearest")[0]
    truth = torch.nn.functional.interpolate(disc.float()[None, None], scale_factor=6)[0, 0] > 0.5
    fast = prompter(prompt_side=200).segment_prompt(big, Prompt(box=Box(108, 156, 372, 420)))
    assert fast.mask.shape == big.shape[-2:] and iou(fast.mask, truth) > 0.95


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (Prompt(), r"needs a box around the object"),
        (Prompt(box=Box(0, 0, 128, 96)), r"covers the whole photo"),
        (Prompt(box=Box(5, 5, 6, 60)), r"too small to cut"),
    ],
)
def test_prompts_that_cannot_be_cut_are_one_sentence(prompt, message):
    photo, _, _ = scene()
    with pytest.raises(InputError, match=message):
        prompter().segment_prompt(photo, prompt)


def test_refine_recuts_every_instance_from_its_box_and_mask():
    """``--refine grabcut``: the fake segmenter's boxes and masks (too large) cut again; labels
    and scores stay the segmenter's."""
    photo, disc, square = scene()
    host = load_host(extra=[("tests-fakes", fakes)])
    grow = torch.nn.functional.max_pool2d
    loose = [grow(m.float()[None, None], 11, 1, 5)[0, 0] for m in (disc, square)]
    given = Segmentation(
        tuple(
            Instance(label, score, Box.around(m), m)
            for label, score, m in zip(("ball", "tile"), (0.9, 0.7), loose, strict=True)
        ),
        (96, 128),
    )
    pipe = Pipeline(session(host=host, refine="grabcut", seed=0))
    refined = pipe.refined(photo, given)
    assert [(i.label, i.score) for i in refined] == [("ball", 0.9), ("tile", 0.7)]
    assert iou(refined.instances[0].mask, disc) > iou(loose[0], disc) + 0.1
    assert iou(refined.instances[1].mask, square) > 0.9


def test_refine_with_a_segmenter_that_takes_no_prompts_is_one_line():
    from tst_core.errors import PluginError

    host = load_host(extra=[("tests-fakes", fakes)])
    pipe = Pipeline(session(host=host, refine="fake-boxes"))
    seg = Segmentation((Instance("a", 1.0, Box(0, 0, 4, 4), torch.ones(8, 8)),), (8, 8))
    with pytest.raises(PluginError, match="does not cut regions from prompts"):
        pipe.refined(torch.rand(3, 8, 8), seg)


def test_sam_cuts_a_prompt_and_keeps_the_photos_embedding():
    pytest.importorskip("segment_anything")
    from tst_sam import SamOptions, SamSegmenter

    from .test_sam import FixedDecoder, rect_logits, with_decoder

    decoder = FixedDecoder(rect_logits((8, 4, 40, 30)), [0.8])
    sam = SamSegmenter(SamOptions(), Env(interactive=True), model=with_decoder(decoder))
    encodes = []
    encoder = sam.model.image_encoder.forward
    sam.model.image_encoder.forward = lambda x: (encodes.append(1), encoder(x))[1]
    photo = torch.rand(3, 48, 64)
    first = sam.segment_prompt(photo, Prompt(box=Box(0, 0, 64, 48), label="Car"))
    again = sam.segment_prompt(photo, Prompt(points=((20.0, 20.0, 1), (50.0, 40.0, 0))))
    assert first.label == "car" and first.box == (8.0, 4.0, 40.0, 30.0)
    assert torch.equal(first.mask, again.mask)
    assert len(encodes) == 1  # one embedding for both prompts
    with pytest.raises(InputError, match="sam needs a box"):
        sam.segment_prompt(photo, Prompt(points=((5.0, 5.0, 0),)))
