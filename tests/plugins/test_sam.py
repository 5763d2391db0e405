"""sam plugin: the three modes with a tiny random SAM, weights and dependency errors.

A random SAM cuts meaningless masks, so geometry is checked with a stub mask decoder whose
output is known (:class:`FixedDecoder`): what it marks in SAM's low-resolution frame must come
back at the right place of the photo, clipped, boxed and scored as the plugin promises.
"""

from __future__ import annotations

import sys
import warnings

import pytest
import torch
from tst_sam import SamOptions, SamSegmenter
from tst_sam.model import build_sam, load_weights

from tst_core.api import session
from tst_core.boxes import Box
from tst_core.errors import ConfigError, DependencyError, PluginError, WeightsError
from tst_core.types import Env, Segmentation

from .tiny_sam import IMG_SIZE, tiny_sam

pytest.importorskip("segment_anything")

# A 64×48 photo is resized to 256×192 for the 256-px tiny encoder, so one pixel of SAM's
# 64×64 low-resolution mask is exactly one photo pixel (the bottom rows are padding).
H, W = 48, 64
LOW = IMG_SIZE // 4


@pytest.fixture
def photo() -> torch.Tensor:
    return torch.rand(3, H, W)


class FixedDecoder(torch.nn.Module):
    """A mask decoder that returns ``logits`` (C, 64, 64) and ``ious`` (C,) for every prompt.

    With ``multimask_output=False`` only the first mask is returned, as SAM's decoder does.
    """

    def __init__(self, logits: torch.Tensor, ious: list[float]) -> None:
        super().__init__()
        self.logits, self.ious = logits, torch.tensor(ious)
        self.prompts: list[int] = []

    def forward(
        self,
        image_embeddings,
        image_pe,
        sparse_prompt_embeddings,
        dense_prompt_embeddings,
        multimask_output,
    ):
        b = sparse_prompt_embeddings.shape[0]
        self.prompts.append(b)
        logits, ious = (
            (self.logits, self.ious) if multimask_output else (self.logits[:1], self.ious[:1])
        )
        return logits.expand(b, -1, -1, -1), ious.expand(b, -1)


def rect_logits(*rects: tuple[int, int, int, int]) -> torch.Tensor:
    """(len(rects), 64, 64) logits: +10 inside rectangle ``(x0, y0, x1, y1)``, -10 outside."""
    out = torch.full((len(rects), LOW, LOW), -10.0)
    for i, (x0, y0, x1, y1) in enumerate(rects):
        out[i, y0:y1, x0:x1] = 10.0
    return out


def with_decoder(decoder: torch.nn.Module) -> torch.nn.Module:
    model = tiny_sam()
    model.mask_decoder = decoder
    return model


def record_prompts(model: torch.nn.Module) -> list[dict]:
    """Record the points and boxes the prompt encoder receives (SAM's 256-px input frame)."""
    calls: list[dict] = []
    forward = model.prompt_encoder.forward

    def spy(points, boxes, masks):
        calls.append({"points": points, "boxes": boxes})
        return forward(points, boxes, masks)

    model.prompt_encoder.forward = spy
    return calls


# --- prompts mode -------------------------------------------------------------------------


def test_prompts_give_one_instance_each_with_photo_sized_masks(photo):
    opts = SamOptions(points=((10, 10), (30, 20, 2), (5, 5, 0)), boxes=((0, 0, 20, 30),))
    seg = SamSegmenter(opts, model=tiny_sam()).segment(photo)
    assert isinstance(seg, Segmentation) and seg.size == (H, W) and len(seg) == 3
    for inst in seg:
        assert inst.label == "region"
        assert inst.mask.shape == (H, W) and inst.mask.dtype == torch.float32
        assert set(inst.mask.unique().tolist()) <= {0.0, 1.0}
        assert 0.0 <= inst.score <= 1.0
        assert inst.box == Box.around(inst.mask)


def test_prompts_reach_sam_in_its_input_frame(photo):
    model = tiny_sam()
    calls = record_prompts(model)
    opts = SamOptions(points=((10, 20), (6, 10, 0)), boxes=((4, 8, 20, 40),), labels=("car", "dog"))
    seg = SamSegmenter(opts, model=model).segment(photo)
    scale = IMG_SIZE / W  # 4: the long side goes to 256
    box_call, point_call = calls
    assert box_call["boxes"].reshape(-1, 4).tolist() == [
        [4 * scale, 8 * scale, 20 * scale, 40 * scale]
    ]
    coords, labels = box_call["points"]
    assert coords.tolist() == [[[6 * scale, 10 * scale]]] and labels.tolist() == [[0]]
    coords, labels = point_call["points"]
    assert coords.tolist() == [[[10 * scale, 20 * scale], [6 * scale, 10 * scale]]]
    assert labels.tolist() == [[1, 0]]
    assert point_call["boxes"] is None
    assert sorted(seg.labels()) == ["car", "dog"]


def test_a_mask_marked_by_sam_lands_on_the_same_photo_pixels(photo):
    decoder = FixedDecoder(rect_logits((8, 4, 40, 30)), [0.8])
    seg = SamSegmenter(SamOptions(boxes=((0, 0, 64, 48),)), model=with_decoder(decoder)).segment(
        photo
    )
    (inst,) = seg.instances
    assert inst.box == (8.0, 4.0, 40.0, 30.0)
    assert inst.mask.sum() == 32 * 26
    assert inst.score == pytest.approx(0.8)


def test_a_single_click_keeps_the_mask_sam_rates_best(photo):
    decoder = FixedDecoder(
        rect_logits((0, 0, 5, 5), (10, 10, 30, 30), (0, 0, 64, 48)), [0.2, 0.9, 0.5]
    )
    seg = SamSegmenter(SamOptions(points=((20, 20),)), model=with_decoder(decoder)).segment(photo)
    (inst,) = seg.instances
    assert inst.box == (10.0, 10.0, 30.0, 30.0) and inst.score == pytest.approx(0.9)


def test_predicted_iou_outside_unit_range_is_clamped(photo):
    decoder = FixedDecoder(rect_logits((0, 0, 10, 10)), [1.07])
    seg = SamSegmenter(SamOptions(boxes=((0, 0, 20, 20),)), model=with_decoder(decoder)).segment(
        photo
    )
    assert seg.instances[0].score == 1.0


def test_prompts_mode_without_prompts_says_what_to_do():
    with pytest.raises(ConfigError, match=r"--point X,Y or --box .*mode=automatic"):
        SamSegmenter(SamOptions(), model=tiny_sam())


# --- automatic mode -----------------------------------------------------------------------


def test_automatic_mode_labels_regions(photo):
    opts = SamOptions(
        mode="automatic", points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0
    )
    seg = SamSegmenter(opts, model=tiny_sam()).segment(photo)
    assert len(seg) >= 1
    for inst in seg:
        assert inst.label == "region" and inst.mask.shape == (H, W)
        assert 0.0 <= inst.score <= 1.0 and inst.box == Box.around(inst.mask)


def test_automatic_mode_returns_what_sam_marks_once(photo):
    decoder = FixedDecoder(rect_logits((8, 4, 40, 30)).expand(3, -1, -1), [0.95, 0.95, 0.95])
    opts = SamOptions(mode="automatic", points_per_side=3)
    seg = SamSegmenter(opts, model=with_decoder(decoder)).segment(photo)
    (inst,) = seg.instances  # 9 points × 3 masks, all the same: duplicates removed
    assert inst.label == "region" and inst.box == (8.0, 4.0, 40.0, 30.0)
    assert inst.score == pytest.approx(0.95)


def test_automatic_mode_thresholds_filter(photo):
    decoder = FixedDecoder(rect_logits((8, 4, 40, 30)).expand(3, -1, -1), [0.5, 0.5, 0.5])
    opts = SamOptions(mode="automatic", points_per_side=3, pred_iou_thresh=0.88)
    assert len(SamSegmenter(opts, model=with_decoder(decoder)).segment(photo)) == 0


# --- refine mode --------------------------------------------------------------------------


def refine_env(host, *sets: str) -> Env:
    sess = session(host=host, segmenter="sam", sets=["segmenter.sam.mode=refine", *sets])
    return sess.env


def test_refine_keeps_label_and_score_and_cuts_inside_each_box(host, photo):
    env = refine_env(host, "segmenter.sam.source=fake-boxes")
    source = env.make("segmenter", "fake-boxes").segment(photo)
    everything = FixedDecoder(torch.full((1, LOW, LOW), 10.0), [0.3])
    model = with_decoder(everything)
    calls = record_prompts(model)
    sam = SamSegmenter(SamOptions(mode="refine", source="fake-boxes"), env, model=model)
    seg = sam.segment(photo)
    assert [(i.label, i.score) for i in seg] == [(i.label, i.score) for i in source]
    for ours, theirs in zip(seg, source, strict=True):
        # SAM marked the whole photo; clipping keeps exactly the source box
        assert torch.equal(ours.mask, theirs.mask) and ours.box == theirs.box
    scale = IMG_SIZE / W
    sent = calls[0]["boxes"] / scale
    assert torch.allclose(sent, torch.tensor([i.box for i in source]), atol=1e-4)
    assert everything.prompts == [3]  # all boxes in one batch


def test_refine_without_clipping_keeps_sams_whole_mask(host, photo):
    env = refine_env(host, "segmenter.sam.source=fake-boxes")
    model = with_decoder(FixedDecoder(rect_logits((0, 0, 64, 48)), [0.3]))
    opts = SamOptions(mode="refine", source="fake-boxes", clip_to_box=False)
    seg = SamSegmenter(opts, env, model=model).segment(photo)
    assert all(inst.mask.sum() == H * W for inst in seg)


def test_refine_keeps_the_source_mask_and_warns_when_sam_finds_nothing(host, photo):
    env = refine_env(host, "segmenter.sam.source=fake-boxes")
    source = env.make("segmenter", "fake-boxes").segment(photo)
    model = with_decoder(FixedDecoder(rect_logits((0, 0, 0, 0)), [0.3]))
    sam = SamSegmenter(SamOptions(mode="refine", source="fake-boxes"), env, model=model)
    with pytest.warns(UserWarning, match="sam found no mask inside box"):
        seg = sam.segment(photo)
    assert all(torch.equal(a.mask, b.mask) for a, b in zip(seg, source, strict=True))


def test_refine_of_nothing_is_nothing(host, photo):
    env = refine_env(host, "segmenter.sam.source=fake-boxes", "segmenter.fake-boxes.boxes=[]")
    sam = SamSegmenter(SamOptions(mode="refine", source="fake-boxes"), env, model=tiny_sam())
    assert len(sam.segment(photo)) == 0


def test_refine_with_a_real_random_sam_keeps_masks_inside_boxes(host, photo):
    env = refine_env(host, "segmenter.sam.source=fake-boxes")
    sam = SamSegmenter(SamOptions(mode="refine", source="fake-boxes"), env, model=tiny_sam())
    source = env.make("segmenter", "fake-boxes").segment(photo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a random SAM may find nothing in a box
        seg = sam.segment(photo)
    for ours, theirs in zip(seg, source, strict=True):
        assert float((ours.mask * (1 - theirs.mask)).sum()) == 0.0


def test_refine_needs_a_known_source(host):
    env = refine_env(host)
    with pytest.raises(PluginError, match="unknown segmenter 'nope'"):
        SamSegmenter(SamOptions(mode="refine", source="nope"), env, model=tiny_sam())


def test_refine_needs_an_environment_that_builds_plugins():
    with pytest.raises(PluginError, match="refine mode"):
        SamSegmenter(SamOptions(mode="refine", source="fake-boxes"), Env(), model=tiny_sam())


# --- weights, dependency, device ---------------------------------------------------------


def test_missing_checkpoint_names_file_place_and_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        SamSegmenter(SamOptions(model_type="vit_l", boxes=((0, 0, 5, 5),)))
    msg = str(err.value)
    assert "sam_vit_l_0b3195.pth" in msg and str(tmp_path) in msg
    assert "--weights FILE" in msg and "--segmenter yolo" in msg
    assert "`tst weights fetch sam-vit-l`" in msg and "TST_OFFLINE=1" in msg


def test_a_given_checkpoint_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.pth' does not exist"):
        build_sam("vit_b", weights=tmp_path / "nope.pth")


def test_checkpoints_load_with_weights_only(tmp_path):
    a, b = tiny_sam(seed=1), tiny_sam(seed=2)
    path = tmp_path / "tiny.pth"
    torch.save(a.state_dict(), path)
    load_weights(b, path, "vit_b")
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_a_checkpoint_of_another_model_type_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match=r"does not fit SAM vit_b.*model_type"):
        load_weights(tiny_sam(), path, "vit_b")


class Evil:
    def __reduce__(self):
        return (print, ("this must not run",))


def test_a_checkpoint_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(WeightsError, match="weights_only=True"):
        load_weights(tiny_sam(), path, "vit_b")


def test_missing_segment_anything_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(DependencyError, match=r'pip install "targeted-style-transfer\[sam\]"'):
        SamSegmenter(SamOptions(boxes=((0, 0, 5, 5),)))


def test_device_comes_from_the_environment(photo):
    sam = SamSegmenter(SamOptions(boxes=((0, 0, 5, 5),)), Env(device="cpu"), model=tiny_sam())
    assert next(sam.model.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            SamSegmenter(SamOptions(boxes=((0, 0, 5, 5),)), Env(device="cuda"), model=tiny_sam())


def test_a_photo_larger_than_sams_input_keeps_masks_at_that_size(photo, monkeypatch):
    """SAM sees at most WORK_SIDE pixels: a larger photo is shrunk first, the prompts follow
    it, the masks stay at that size and the boxes come back in photo pixels."""
    import tst_sam.segmenter as segmenter

    monkeypatch.setattr(segmenter, "WORK_SIDE", 32)  # the 64×48 photo counts as large
    model = tiny_sam()
    calls = record_prompts(model)
    seg = SamSegmenter(SamOptions(boxes=((8, 4, 40, 30),)), model=model).segment(photo)
    (inst,) = seg.instances
    assert seg.size == (H, W) and inst.mask.shape == (24, 32)
    scale = IMG_SIZE / 32  # the shrunk photo's long side goes to 256
    assert calls[0]["boxes"].reshape(-1, 4).tolist() == [
        [4 * scale, 2 * scale, 20 * scale, 15 * scale]
    ]
    assert inst.box == Box.around(inst.mask).scaled(2.0, 2.0)
